//! The seams the service runs on. Postgres implements [`Store`]; Redis and an in-process hub
//! implement [`Bus`] and [`Presence`]. All return [`CoreResult`] so the service needs no adapters.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::CoreResult;
use crate::event::Event;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::model::{
    Conversation, ConversationView, MemberState, Message, MessageKind, MessagePage, NewMessage, Profile,
    ReactionChange, ReactionGroup, Role, SearchScope, Sent, User,
};

/// A member's standing in one conversation: what authorization needs, in one cheap query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub conversation: Conversation,
    pub role: Role,
    pub state: MemberState,
    pub last_read_seq: i64,
    pub last_delivered_seq: i64,
}

/// Which conversations a listing shows, by the viewer's own member state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFilter {
    /// Active and pending (what most dialects call "my conversations").
    Visible,
    /// Only where the viewer is active.
    Active,
    /// Only message requests waiting for the viewer.
    Pending,
}

/// A watermark move: where it is now and how many messages it newly covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatermarkMove {
    pub seq: i64,
    pub covered: i64,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> CoreResult<()>;

    async fn upsert_user(&self, id: &UserId, profile: &Profile) -> CoreResult<User>;
    async fn get_user(&self, id: &UserId) -> CoreResult<Option<User>>;
    async fn get_users(&self, ids: &[UserId]) -> CoreResult<Vec<User>>;
    async fn find_user_by_username(&self, username: &str) -> CoreResult<Option<User>>;
    /// Case-insensitive substring match on the fields `scope` names.
    async fn search_users(
        &self,
        query: &str,
        scope: SearchScope,
        exclude: &UserId,
        limit: i64,
    ) -> CoreResult<Vec<User>>;
    async fn set_last_seen(&self, id: &UserId, at: DateTime<Utc>) -> CoreResult<()>;

    /// Race-free: two callers for the same pair end with the same conversation. `true` if created.
    async fn get_or_create_dm(
        &self,
        initiator: &UserId,
        other: &UserId,
        other_state: MemberState,
    ) -> CoreResult<(Conversation, bool)>;
    async fn create_group(&self, creator: &UserId, title: &str, members: &[UserId]) -> CoreResult<Conversation>;
    /// The conversation a UUID named before conversation ids became integers.
    async fn conversation_by_legacy_uuid(&self, uuid: uuid::Uuid) -> CoreResult<Option<ConversationId>>;
    async fn membership(&self, conversation: ConversationId, user: &UserId) -> CoreResult<Option<Membership>>;
    /// The DM between two users, if there is one.
    async fn find_dm(&self, a: &UserId, b: &UserId) -> CoreResult<Option<ConversationId>>;
    async fn conversation_view(
        &self,
        conversation: ConversationId,
        viewer: &UserId,
    ) -> CoreResult<Option<ConversationView>>;
    /// Newest activity first.
    async fn list_conversations(&self, viewer: &UserId, filter: ListFilter) -> CoreResult<Vec<ConversationView>>;
    /// Every conversation the user may receive events from (active or pending).
    async fn conversation_ids_of(&self, user: &UserId) -> CoreResult<Vec<ConversationId>>;
    /// Each visible conversation with its `last_seq`, newest activity first (one cheap query).
    async fn last_seqs_of(&self, user: &UserId) -> CoreResult<Vec<(ConversationId, i64)>>;
    async fn member_ids(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>>;
    /// The `last_seq` of each of these conversations (one query, by primary key).
    async fn last_seqs(&self, conversations: &[ConversationId]) -> CoreResult<Vec<(ConversationId, i64)>>;
    async fn set_title(&self, conversation: ConversationId, title: &str) -> CoreResult<Conversation>;
    /// Returns the users that were not members before.
    async fn add_members(&self, conversation: ConversationId, users: &[UserId]) -> CoreResult<Vec<UserId>>;
    async fn remove_member(&self, conversation: ConversationId, user: &UserId) -> CoreResult<bool>;
    async fn set_role(&self, conversation: ConversationId, user: &UserId, role: Role) -> CoreResult<()>;
    async fn set_member_state(&self, conversation: ConversationId, user: &UserId, state: MemberState)
    -> CoreResult<()>;
    async fn delete_conversation(&self, conversation: ConversationId) -> CoreResult<()>;

    /// Stores a message with the next seq, in one transaction. `None` if `sender` is not an
    /// active member. A repeated `client_key` returns the original with `created: false`.
    async fn insert_message(
        &self,
        conversation: ConversationId,
        sender: Option<&User>,
        kind: MessageKind,
        message: &NewMessage,
    ) -> CoreResult<Option<Sent>>;
    async fn get_message(&self, id: MessageId) -> CoreResult<Option<Message>>;
    /// Always returned in ascending seq order, with reactions filled in.
    async fn list_messages(&self, conversation: ConversationId, page: MessagePage) -> CoreResult<Vec<Message>>;
    async fn count_messages(&self, conversation: ConversationId) -> CoreResult<i64>;
    async fn edit_message(&self, id: MessageId, content: &str) -> CoreResult<Message>;
    async fn delete_message(&self, id: MessageId) -> CoreResult<Message>;
    async fn toggle_reaction(
        &self,
        message: MessageId,
        user: &UserId,
        emoji: &str,
    ) -> CoreResult<(ReactionChange, Vec<ReactionGroup>)>;
    /// Moves the read watermark up to `up_to` (or the newest seq); never down. `None` if unchanged.
    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>>;
    async fn mark_delivered(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>>;
    async fn unread_total(&self, user: &UserId) -> CoreResult<i64>;
    /// Messages created since `since` in `conversations`.
    async fn count_messages_since(&self, conversations: &[ConversationId], since: DateTime<Utc>) -> CoreResult<i64>;
}

/// Publishes an event on its channel to every node. Delivery is at-most-once; Postgres is the truth.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, event: &Event) -> CoreResult<()>;
    async fn ping(&self) -> CoreResult<()>;
}

/// Ephemeral, expiring state: who is online, who is typing.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Marks one more live connection of `user` on this node; `true` if the user was offline everywhere.
    async fn connect(&self, user: &UserId) -> CoreResult<bool>;
    /// One connection of `user` on this node closed; `true` if the user is now offline everywhere.
    async fn disconnect(&self, user: &UserId) -> CoreResult<bool>;
    async fn online(&self, users: &[UserId]) -> CoreResult<Vec<bool>>;
    /// Users who went offline because the node holding their sockets died (its heartbeat lapsed).
    /// Each such user is returned by exactly one node's sweep.
    async fn sweep(&self) -> CoreResult<Vec<UserId>>;
    async fn set_typing(&self, conversation: ConversationId, user: &UserId, is_typing: bool) -> CoreResult<()>;
    async fn typing(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>>;
}
