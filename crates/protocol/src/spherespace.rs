//! The `spherespace` dialect (specs/000): REST under `/api/` with message requests, and its
//! socket on `/ws/chat/`. The document shows no response bodies; the shapes here are chatwire's
//! reading, written down in docs/dialects/spherespace.md.
use chatwire_core::model::{ConversationView, MemberState, Message, User};
use chatwire_core::{ConversationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DecodeError;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserOut {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut { id: u.id, username: u.username.clone(), display_name: u.display_name.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageOut {
    pub id: i64,
    pub conversation: ConversationId,
    /// `null` for a system message.
    pub sender: Option<UserOut>,
    /// Empty once unsent.
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub is_unsent: bool,
}

impl From<&Message> for MessageOut {
    fn from(m: &Message) -> Self {
        MessageOut {
            id: m.id.0,
            conversation: m.conversation_id,
            sender: m.sender.as_ref().map(UserOut::from),
            content: m.content.clone(),
            created_at: m.created_at,
            is_unsent: m.is_deleted(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationOut {
    pub id: ConversationId,
    pub participants: Vec<UserOut>,
    /// In a DM, the other participant.
    pub other_user: Option<UserOut>,
    pub last_message: Option<MessageOut>,
    pub unread_count: i64,
    /// The viewer's own standing: `active`, or `pending` for a message request waiting for them.
    pub status: MemberState,
    pub is_request: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn conversation(view: &ConversationView, viewer: UserId) -> ConversationOut {
    let status = view.member(viewer).map_or(MemberState::Active, |m| m.state);
    ConversationOut {
        id: view.conversation.id,
        participants: view.members.iter().map(|m| UserOut::from(&m.user)).collect(),
        other_user: (view.conversation.kind == chatwire_core::model::ConversationKind::Dm)
            .then(|| view.members.iter().find(|m| m.user.id != viewer).map(|m| UserOut::from(&m.user)))
            .flatten(),
        last_message: view.last_message.as_ref().map(MessageOut::from),
        unread_count: view.unread_count,
        status,
        is_request: status == MemberState::Pending,
        created_at: view.conversation.created_at,
        updated_at: view.conversation.updated_at,
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    ChatMessage { conversation_id: ConversationId, content: String },
    Typing { conversation_id: ConversationId, is_typing: bool },
    MarkRead { conversation_id: ConversationId },
}

impl ClientFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::ChatMessage { .. } => "chat_message",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::MarkRead { .. } => "mark_read",
        }
    }
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "type", &["chat_message", "typing", "mark_read"]).map(|(_, f)| f)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    NewMessage { conversation_id: ConversationId, message: MessageOut },
    Typing { conversation_id: ConversationId, user_id: UserId, username: String, is_typing: bool },
    MarkRead { conversation_id: ConversationId, user_id: UserId },
    Error { code: String, message: String, request_type: Option<String> },
}

pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}
