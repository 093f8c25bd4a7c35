// What the native socket sends besides messages, as crates/core/src/event.rs serializes it (the
// socket's frames are not in the OpenAPI document; the values inside them are, and come from it).
import type { Schemas } from "./rest.js";

type UserId = Schemas["UserId"];
type ConversationId = Schemas["ConversationId"];
type At = { at: string };

/** Every domain event but `message_created`, which the client hands over as `message`. */
export type DomainEvent =
  | { type: "message_edited"; message: Schemas["Message"] }
  | { type: "message_deleted"; message: Schemas["Message"] }
  | {
      type: "reaction_changed";
      conversation_id: ConversationId;
      message_id: number;
      user_id: UserId;
      emoji: string;
      change: Schemas["ReactionChange"];
      reactions: Schemas["ReactionGroup"][];
    }
  | ({ type: "read"; conversation_id: ConversationId; user: Schemas["User"]; seq: number; covered: number } & At)
  | ({ type: "delivered"; conversation_id: ConversationId; user: Schemas["User"]; seq: number } & At)
  | ({ type: "typing"; conversation_id: ConversationId; user: Schemas["User"]; is_typing: boolean } & At)
  | { type: "presence"; conversation_id: ConversationId; user: Schemas["User"]; is_online: boolean; last_seen: string | null }
  | { type: "conversation_joined"; user_id: UserId; conversation: Schemas["Conversation"]; state: Schemas["MemberState"] }
  | { type: "conversation_left"; user_id: UserId; conversation_id: ConversationId }
  | { type: "conversation_updated"; conversation: Schemas["Conversation"] }
  | { type: "member_added"; conversation_id: ConversationId; user: Schemas["User"]; by: UserId | null }
  | { type: "member_removed"; conversation_id: ConversationId; user_id: UserId; by: UserId | null }
  | { type: "member_state_changed"; conversation_id: ConversationId; user_id: UserId; state: Schemas["MemberState"] }
  | { type: "conversation_deleted"; conversation_id: ConversationId }
  | { type: "health_check"; conversation_id: ConversationId; requested_by: UserId }
  | { type: "server_event"; conversation_id?: ConversationId; user_id?: UserId; event: string; data: unknown };
