export { ChatwireClient, SocketError } from "./socket.js";
export type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  WebSocketClass,
  WebSocketLike,
} from "./socket.js";
export type { DomainEvent } from "./events.js";
export { ChatwireError, ChatwireRest, tokenOf } from "./rest.js";
export type {
  Conversation,
  ConversationView,
  Id,
  Message,
  PresenceEntry,
  RestOptions,
  Schemas,
  SyncBatch,
  TokenSource,
  User,
} from "./rest.js";
