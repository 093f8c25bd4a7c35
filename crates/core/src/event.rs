//! What happened, once, for every node and every dialect.
//!
//! An event is published on one channel (see [`Event::channel`]) and serialized once on the wire;
//! each socket's dialect decides how (and whether) to show it to its user.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Channel, ConversationId, MessageId, UserId};
use crate::model::{Conversation, MemberState, Message, ReactionChange, ReactionGroup, User};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    MessageCreated {
        message: Message,
    },
    MessageEdited {
        message: Message,
    },
    MessageDeleted {
        message: Message,
    },
    ReactionChanged {
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
        change: ReactionChange,
        reactions: Vec<ReactionGroup>,
    },
    /// A member's read watermark moved up to `seq`, newly covering `covered` messages from others.
    Read {
        conversation_id: ConversationId,
        user: User,
        seq: i64,
        #[serde(default)]
        covered: i64,
        at: DateTime<Utc>,
    },
    /// A member's delivery watermark moved up to `seq`.
    Delivered {
        conversation_id: ConversationId,
        user: User,
        seq: i64,
        at: DateTime<Utc>,
    },
    Typing {
        conversation_id: ConversationId,
        user: User,
        is_typing: bool,
        at: DateTime<Utc>,
    },
    /// A user came online or went offline (their last connection anywhere closed).
    Presence {
        conversation_id: ConversationId,
        user: User,
        is_online: bool,
        last_seen: Option<DateTime<Utc>>,
    },
    /// Sent on `user_<id>` of a user who can now see a conversation (created, added, DM opened).
    ConversationJoined {
        user_id: UserId,
        conversation: Conversation,
        state: MemberState,
    },
    /// Sent on `user_<id>` of a user who can no longer see a conversation (removed, left, deleted).
    ConversationLeft {
        user_id: UserId,
        conversation_id: ConversationId,
    },
    ConversationUpdated {
        conversation: Conversation,
    },
    MemberAdded {
        conversation_id: ConversationId,
        user: User,
        by: Option<UserId>,
    },
    MemberRemoved {
        conversation_id: ConversationId,
        user_id: UserId,
        by: Option<UserId>,
    },
    /// A member's request state changed (accepted, declined).
    MemberStateChanged {
        conversation_id: ConversationId,
        user_id: UserId,
        state: MemberState,
    },
    ConversationDeleted {
        conversation_id: ConversationId,
    },
    /// Sent on `user_<id>`: every socket of this user, on every node, closes (the user was
    /// signed out everywhere, their tokens revoked, their account suspended).
    UserDisconnected {
        user_id: UserId,
    },
    /// Never published: a node tells its own sockets that Postgres holds messages of the
    /// conversation up to `last_seq` that never came live (a node died between commit and
    /// publish), so each socket that owes them reads them from the store.
    SeqHint {
        conversation_id: ConversationId,
        last_seq: i64,
    },
    /// A member asked every connected client of the conversation to report it is alive.
    HealthCheck {
        conversation_id: ConversationId,
        requested_by: UserId,
    },
    /// An ephemeral event from the operator's backend (the server API), for every socket of a
    /// conversation or of a user: what a Django view or Celery task does with `group_send`.
    /// Never stored.
    ServerEvent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<ConversationId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<UserId>,
        /// The backend's name for it (`order.shipped`).
        event: String,
        data: serde_json::Value,
    },
}

impl Event {
    /// The one channel this event is published on.
    pub fn channel(&self) -> Channel {
        match self {
            Event::MessageCreated { message }
            | Event::MessageEdited { message }
            | Event::MessageDeleted { message } => Channel::Conversation(message.conversation_id),
            Event::ReactionChanged { conversation_id, .. }
            | Event::Read { conversation_id, .. }
            | Event::Delivered { conversation_id, .. }
            | Event::Typing { conversation_id, .. }
            | Event::Presence { conversation_id, .. }
            | Event::MemberAdded { conversation_id, .. }
            | Event::MemberRemoved { conversation_id, .. }
            | Event::MemberStateChanged { conversation_id, .. }
            | Event::ConversationDeleted { conversation_id }
            | Event::SeqHint { conversation_id, .. }
            | Event::HealthCheck { conversation_id, .. } => Channel::Conversation(*conversation_id),
            Event::ConversationUpdated { conversation } => Channel::Conversation(conversation.id),
            Event::ConversationJoined { user_id, .. }
            | Event::ConversationLeft { user_id, .. }
            | Event::UserDisconnected { user_id } => Channel::User(user_id.clone()),
            Event::ServerEvent { conversation_id: Some(id), .. } => Channel::Conversation(*id),
            Event::ServerEvent { conversation_id: None, user_id, .. } => {
                Channel::User(user_id.clone().unwrap_or_else(|| UserId::from_int(0)))
            }
        }
    }

    /// The conversation this event is about, if any.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Event::ConversationJoined { conversation, .. } => Some(conversation.id),
            Event::ConversationLeft { conversation_id, .. } => Some(*conversation_id),
            other => match other.channel() {
                Channel::Conversation(id) => Some(id),
                Channel::User(_) => None,
            },
        }
    }
}
