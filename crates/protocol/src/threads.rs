//! The `threads` dialect (specs/001): DMs addressed by the other user's id, REST in a
//! `{status, entity, message, success}` envelope, and the socket at `/ws/chat/room/` with
//! `action` frames. See docs/dialects/threads.md for the readings taken.
use chatwire_core::model::{ConversationView, Message, User};
use chatwire_core::{ConversationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// `{status, entity, message, success}` around every REST answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Envelope<T: Serialize> {
    pub status: &'static str,
    pub entity: Option<T>,
    pub message: Option<String>,
    pub success: bool,
}

impl<T: Serialize> Envelope<T> {
    pub fn success(entity: T, message: Option<&str>) -> Self {
        Envelope { status: "success", entity: Some(entity), message: message.map(str::to_owned), success: true }
    }
}

impl Envelope<()> {
    pub fn failure(message: impl Into<String>) -> Self {
        Envelope { status: "failure", entity: None, message: Some(message.into()), success: false }
    }
}

/// A user as the document shows one. chatwire has no roles or deactivated users.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThreadUser {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub role: Option<String>,
    pub is_active: bool,
}

impl From<&User> for ThreadUser {
    fn from(u: &User) -> Self {
        ThreadUser {
            id: u.id.clone(),
            email: u.email.clone(),
            username: u.username.clone(),
            role: None,
            is_active: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThreadMessage {
    pub id: i64,
    pub sender: ThreadUser,
    pub receiver: ThreadUser,
    pub message: String,
    pub updated: DateTime<Utc>,
    pub created: DateTime<Utc>,
    /// Whether the receiver has read it (their read watermark covers it).
    pub seen: bool,
    pub thread: ConversationId,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Messages {
    pub messages: Vec<ThreadMessage>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thread {
    pub id: ConversationId,
    pub other_user: ThreadUser,
    pub last_message: Option<ThreadMessage>,
}

/// Renders a DM's message; `None` for a message with no sender or a DM missing a member.
pub fn thread_message(view: &ConversationView, m: &Message) -> Option<ThreadMessage> {
    let sender = m.sender.as_ref()?;
    let receiver = view.members.iter().find(|x| x.user.id != sender.id)?;
    Some(ThreadMessage {
        id: m.id.0,
        sender: ThreadUser::from(sender),
        receiver: ThreadUser::from(&receiver.user),
        message: m.content.clone(),
        updated: m.updated_at(),
        created: m.created_at,
        seen: m.seq <= receiver.last_read_seq,
        thread: view.conversation.id,
    })
}

/// One DM as a thread seen by `viewer`.
pub fn thread(view: &ConversationView, viewer: &UserId) -> Option<Thread> {
    let other = view.peer(viewer)?;
    Some(Thread {
        id: view.conversation.id,
        other_user: ThreadUser::from(&other.user),
        last_message: view.last_message.as_ref().and_then(|m| thread_message(view, m)),
    })
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "action")]
pub enum ClientFrame {
    #[serde(rename = "chat_message")]
    ChatMessage { message_body: String, receiver_id: UserId },
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "action", &["chat_message"]).map(|(_, f)| f)
}

/// Python's `datetime.isoformat()` for UTC, as the document's socket frames show it.
pub fn isoformat(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action")]
pub enum ServerFrame {
    /// To the sender: the message was stored.
    #[serde(rename = "conf_message")]
    Conf { sender_id: UserId, receiver_id: UserId, message_body: String, timestamp: String, created_msg_id: i64 },
    /// To every device of the receiver.
    #[serde(rename = "re_message")]
    Re { message_body: String, sender_id: UserId, receiver_id: UserId, timestamp: String, created_msg_id: i64 },
    /// Not in the document: chatwire's reading, see the dialect page.
    #[serde(rename = "error")]
    Error { code: String, message: String, request_action: Option<String> },
}

pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}
