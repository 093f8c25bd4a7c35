//! The domain's nouns. Every dialect renders these; none adds fields of its own to storage.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, MessageId, UserId};

/// A user as others see them. Rows are upserted from token claims; chatwire owns no passwords.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    /// Empty when no token ever carried a `username` claim (a stock SimpleJWT token has none).
    pub username: String,
    pub email: String,
    /// Never empty: the `display_name` claim, else the username, else `User <id>`.
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl User {
    /// What a user with neither a display name nor a username is shown as: `User 5`.
    pub fn fallback_name(id: &UserId) -> String {
        format!("User {id}")
    }

    /// The name to show for stored profile fields, applying the fallbacks in order.
    pub fn shown_name(id: &UserId, username: &str, display_name: String) -> String {
        match (display_name.is_empty(), username.is_empty()) {
            (false, _) => display_name,
            (true, false) => username.to_owned(),
            (true, true) => User::fallback_name(id),
        }
    }
}

/// What a token says about its bearer; `None` fields leave the stored value alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub id: Option<UserId>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Dm,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Dm => "dm",
            ConversationKind::Group => "group",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
    pub created_by: Option<UserId>,
    /// The seq of the newest message; a client that has seen this much is up to date.
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A member's standing: message requests (a DM from someone not yet accepted) are `Pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    Active,
    Pending,
    Declined,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Pending => "pending",
            MemberState::Declined => "declined",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub state: MemberState,
    /// Watermarks: a message is read by this member iff its seq <= `last_read_seq`.
    pub last_read_seq: i64,
    pub last_delivered_seq: i64,
    pub read_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub joined_at: DateTime<Utc>,
}

/// A conversation as one member sees it: what list and detail endpoints render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationView {
    pub conversation: Conversation,
    pub members: Vec<Member>,
    pub last_message: Option<Message>,
    /// Messages from others after the viewer's read watermark, not counting deleted or system ones.
    pub unread_count: i64,
}

impl ConversationView {
    pub fn member(&self, user: &UserId) -> Option<&Member> {
        self.members.iter().find(|m| m.user.id == *user)
    }

    /// In a DM, the member who is not `viewer`; `None` in a group.
    pub fn peer(&self, viewer: &UserId) -> Option<&Member> {
        if self.conversation.kind != ConversationKind::Dm {
            return None;
        }
        self.members.iter().find(|m| m.user.id != *viewer)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"^[^\u0000]*$"))]
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\u0000]*$"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\u0000]*$"))]
    pub mime: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub size: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    /// A group's record of a change (a member joined, a title changed); its sender is who made it.
    System,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::System => "system",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionGroup {
    pub emoji: String,
    pub count: i64,
    pub users: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Gapless and strictly increasing within the conversation: the resume cursor.
    pub seq: i64,
    pub sender: Option<User>,
    pub kind: MessageKind,
    /// Empty once deleted: the row and its seq stay so cursors and counts hold.
    pub content: String,
    pub attachment: Option<Attachment>,
    /// The sender's idempotency key; shown only to make acknowledgements matchable.
    pub client_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionGroup>,
}

impl Message {
    pub fn sender_id(&self) -> Option<&UserId> {
        self.sender.as_ref().map(|s| &s.id)
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
    pub fn is_edited(&self) -> bool {
        self.edited_at.is_some()
    }
    /// When the message last changed: its deletion, else its last edit, else its creation.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.deleted_at.or(self.edited_at).unwrap_or(self.created_at)
    }
}

/// Which fields a user search matches (case-insensitive substring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchScope {
    /// Username, display name and email.
    Everything,
    /// Username only (the dotted document's rule).
    Username,
}

/// What a sender asks for; the service validates it before anything is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct NewMessage {
    pub content: String,
    pub attachment: Option<Attachment>,
    pub client_key: Option<String>,
}

/// A page request by seq: `before`/`after` are exclusive bounds; newest first unless `after` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessagePage {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// The outcome of a send: the stored message and whether this call created it (false on a retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub message: Message,
    pub created: bool,
}

/// What a reaction toggle did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReactionChange {
    Added,
    Removed,
}
