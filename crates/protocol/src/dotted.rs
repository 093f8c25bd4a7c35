//! The `dotted` dialect (specs/002): the whole API on one socket at `/ws/chat/`, frame types
//! `chat.*`. See docs/dialects/dotted.md for every reading taken where the document is silent.
use chatwire_core::model::{Attachment, ConversationView, Message, User};
use chatwire_core::{ConversationId, MessageId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DecodeError;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    #[serde(rename = "chat.message")]
    Message { conversation_id: ConversationId, content: String },
    #[serde(rename = "chat.typing")]
    Typing { receiver_id: UserId, is_typing: bool },
    #[serde(rename = "chat.read")]
    Read { conversation_id: ConversationId },
    #[serde(rename = "chat.search_user")]
    SearchUser { keyword: String },
    #[serde(rename = "chat.start_conversation")]
    StartConversation { receiver_id: UserId },
    #[serde(rename = "chat.get_conversations")]
    GetConversations {},
    #[serde(rename = "chat.get_messages")]
    GetMessages { conversation_id: ConversationId },
    /// Not in the document: the real client's later versions acknowledge delivery.
    #[serde(rename = "chat.delivered")]
    Delivered { message_id: MessageId },
}

pub const TYPES: &[&str] = &[
    "chat.message",
    "chat.typing",
    "chat.read",
    "chat.search_user",
    "chat.start_conversation",
    "chat.get_conversations",
    "chat.get_messages",
    "chat.delivered",
];

impl ClientFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Message { .. } => "chat.message",
            ClientFrame::Typing { .. } => "chat.typing",
            ClientFrame::Read { .. } => "chat.read",
            ClientFrame::SearchUser { .. } => "chat.search_user",
            ClientFrame::StartConversation { .. } => "chat.start_conversation",
            ClientFrame::GetConversations {} => "chat.get_conversations",
            ClientFrame::GetMessages { .. } => "chat.get_messages",
            ClientFrame::Delivered { .. } => "chat.delivered",
        }
    }
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "type", TYPES).map(|(_, f)| f)
}

/// `{ "id", "username" }`, how the document shows a user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserRef {
    pub id: UserId,
    pub username: String,
}

impl From<&User> for UserRef {
    fn from(u: &User) -> Self {
        UserRef { id: u.id.clone(), username: u.username.clone() }
    }
}

/// A participant in `chat.conversations`, with the document's Django `values()` field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Participant {
    #[serde(rename = "user__id")]
    pub user_id: UserId,
    #[serde(rename = "user__username")]
    pub username: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageOut {
    pub id: i64,
    pub conversation_id: ConversationId,
    /// Always set for new messages (system notes carry who made the change); `None` only for a note
    /// migrated from a group left with no members.
    pub sender: Option<UserRef>,
    pub content: String,
    pub timestamp: DateTime<Utc>,
    pub is_system: bool,
    pub attachment: Option<Attachment>,
}

impl From<&Message> for MessageOut {
    fn from(m: &Message) -> Self {
        MessageOut {
            id: m.id.0,
            conversation_id: m.conversation_id,
            sender: m.sender.as_ref().map(UserRef::from),
            content: m.content.clone(),
            timestamp: m.created_at,
            is_system: m.kind == chatwire_core::model::MessageKind::System,
            attachment: m.attachment.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationStarted {
    pub id: ConversationId,
    pub participants: Vec<UserRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationListed {
    pub id: ConversationId,
    pub participants: Vec<Participant>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    #[serde(rename = "chat.message")]
    Message { message: MessageOut },
    #[serde(rename = "chat.typing")]
    Typing { sender_id: UserId, is_typing: bool },
    #[serde(rename = "chat.read")]
    Read { conversation_id: ConversationId, reader_id: UserId },
    #[serde(rename = "chat.search_results")]
    SearchResults { results: Vec<UserRef> },
    #[serde(rename = "chat.conversation_started")]
    ConversationStarted { conversation: ConversationStarted },
    #[serde(rename = "chat.conversations")]
    Conversations { conversations: Vec<ConversationListed> },
    #[serde(rename = "chat.messages")]
    Messages { messages: Vec<MessageOut> },
    /// Not in the document (it names no error frame): chatwire's reading, see the dialect page.
    #[serde(rename = "chat.error")]
    Error { code: String, message: String, request_type: Option<String> },
}

impl ServerFrame {
    pub fn started(view: &ConversationView) -> ServerFrame {
        ServerFrame::ConversationStarted {
            conversation: ConversationStarted {
                id: view.conversation.id,
                participants: view.members.iter().map(|m| UserRef::from(&m.user)).collect(),
            },
        }
    }

    pub fn conversations(views: &[ConversationView]) -> ServerFrame {
        ServerFrame::Conversations {
            conversations: views
                .iter()
                .map(|v| ConversationListed {
                    id: v.conversation.id,
                    participants: v
                        .members
                        .iter()
                        .map(|m| Participant { user_id: m.user.id.clone(), username: m.user.username.clone() })
                        .collect(),
                })
                .collect(),
        }
    }
}

pub fn encode(frame: &ServerFrame) -> String {
    // Plain structs and strings: serialization cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_documented_client_frame() {
        for text in [
            r#"{"type":"chat.message","conversation_id":123,"content":"Hello!"}"#,
            r#"{"type":"chat.typing","receiver_id":45,"is_typing":true}"#,
            r#"{"type":"chat.read","conversation_id":123}"#,
            r#"{"type":"chat.search_user","keyword":"john"}"#,
            r#"{"type":"chat.start_conversation","receiver_id":45}"#,
            r#"{"type":"chat.get_conversations"}"#,
            r#"{"type":"chat.get_messages","conversation_id":"123"}"#,
            r#"{"type":"chat.delivered","message_id":789}"#,
        ] {
            let frame = decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(text.contains(frame.type_name()));
        }
        assert!(matches!(decode(r#"{"type":"chat.dance"}"#), Err(DecodeError::UnknownType(_))));
    }
}
