//! The `django_messaging` dialect (specs/003): REST under `/messages/api/` in Django REST
//! framework's shapes, and broadcast events on `/messages/ws/`. Readings taken where the
//! document is vague are in docs/dialects/django_messaging.md.
use chatwire_core::model::{ConversationKind, ConversationView, Message, ReactionGroup, User};
use chatwire_core::{ConversationId, UserId};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A user, as the document shows one in lists and messages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserOut {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
        }
    }
}

/// A user in search results (with email).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub avatar_url: Option<String>,
}

impl From<&User> for SearchUser {
    fn from(u: &User) -> Self {
        let out = UserOut::from(u);
        SearchUser {
            id: u.id.clone(),
            username: out.username,
            display_name: out.display_name,
            email: u.email.clone(),
            avatar_url: out.avatar_url,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReactionOut {
    pub emoji: String,
    pub count: i64,
    pub users: Vec<UserId>,
}

impl From<&ReactionGroup> for ReactionOut {
    fn from(r: &ReactionGroup) -> Self {
        ReactionOut { emoji: r.emoji.clone(), count: r.count, users: r.users.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageOut {
    pub id: i64,
    pub chat: ConversationId,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_edited: bool,
    pub is_deleted: bool,
    /// Always set for new messages (system notes carry who made the change); `None` only for a note
    /// migrated from a group left with no members.
    pub sender: Option<UserOut>,
    pub reactions: Vec<ReactionOut>,
    /// Members whose read watermark covers the message.
    pub read_by: Vec<UserId>,
}

/// `read_by` needs the conversation's members; without them (a live event) it is empty.
pub fn message(m: &Message, view: Option<&ConversationView>) -> MessageOut {
    MessageOut {
        id: m.id.0,
        chat: m.conversation_id,
        content: m.content.clone(),
        created_at: m.created_at,
        updated_at: m.updated_at(),
        is_edited: m.is_edited(),
        is_deleted: m.is_deleted(),
        sender: m.sender.as_ref().map(UserOut::from),
        reactions: m.reactions.iter().map(ReactionOut::from).collect(),
        read_by: view
            .map(|v| v.members.iter().filter(|x| x.last_read_seq >= m.seq).map(|x| x.user.id.clone()).collect())
            .unwrap_or_default(),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastMessage {
    pub id: i64,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub sender: Option<UserOut>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatOut {
    pub id: ConversationId,
    pub title: String,
    pub chat_type: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Option<LastMessage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    pub members: Vec<UserOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admins: Option<Vec<UserId>>,
}

/// How a chat looks to `viewer`: a DM is titled with the other member's name.
fn title(view: &ConversationView, viewer: &UserId) -> String {
    match view.conversation.kind {
        ConversationKind::Group => view.conversation.title.clone(),
        ConversationKind::Dm => view
            .members
            .iter()
            .find(|m| m.user.id != *viewer)
            .map(|m| UserOut::from(&m.user).display_name)
            .unwrap_or_default(),
    }
}

fn base(view: &ConversationView, viewer: &UserId) -> ChatOut {
    ChatOut {
        id: view.conversation.id,
        title: title(view, viewer),
        chat_type: view.conversation.kind.as_str(),
        created_at: view.conversation.created_at,
        updated_at: view.conversation.updated_at,
        last_message: None,
        unread_count: None,
        members: view.members.iter().map(|m| UserOut::from(&m.user)).collect(),
        admins: None,
    }
}

/// A chat in the list: with its last message and unread count.
pub fn chat_in_list(view: &ConversationView, viewer: &UserId) -> ChatOut {
    ChatOut {
        last_message: Some(view.last_message.as_ref().map(|m| LastMessage {
            id: m.id.0,
            content: m.content.clone(),
            created_at: m.created_at,
            sender: m.sender.as_ref().map(UserOut::from),
        })),
        unread_count: Some(view.unread_count),
        ..base(view, viewer)
    }
}

/// A chat's detail: with its admins.
pub fn chat_detail(view: &ConversationView, viewer: &UserId) -> ChatOut {
    ChatOut {
        admins: Some(view.members.iter().filter(|m| m.role.is_admin()).map(|m| m.user.id.clone()).collect()),
        ..base(view, viewer)
    }
}

/// Whether `query` (lower-cased) matches a chat's title or a member's names.
pub fn chat_matches(view: &ConversationView, viewer: &UserId, query: &str) -> bool {
    let q = query.to_lowercase();
    title(view, viewer).to_lowercase().contains(&q)
        || view
            .members
            .iter()
            .any(|m| m.user.username.to_lowercase().contains(&q) || m.user.display_name.to_lowercase().contains(&q))
}

/// Events on the socket.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    NewMessage {
        message: MessageOut,
    },
    MessageUpdated {
        message: MessageOut,
    },
    MessageDeleted {
        message_id: i64,
    },
    ReactionUpdated {
        message_id: i64,
        reactions: Vec<ReactionOut>,
    },
    /// `chat` is chatwire's addition: which chat the user is typing in.
    Typing {
        user_id: UserId,
        is_typing: bool,
        chat: ConversationId,
    },
    /// Not in the document: the answer to a frame this receive-only socket does not take.
    Error {
        code: String,
        message: String,
    },
}

pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}
