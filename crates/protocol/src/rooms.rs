//! The `rooms` dialect (specs/004): WhatsApp-style DM rooms under `/api/v1.0/chat/` and one
//! socket per room at `/ws/chat/{room_id}/`, with the sent -> delivered -> read status flow,
//! presence and heartbeats. Readings taken are in docs/dialects/rooms.md.
use chatwire_core::model::{ConversationView, Member, Message, User};
use chatwire_core::{ConversationId, MessageId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// A participant: who, and whether they are online now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Participant {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(rename = "imageUrls")]
    pub image_urls: Vec<String>,
    pub is_online: bool,
    pub last_seen: Option<DateTime<Utc>>,
}

impl Participant {
    pub fn new(user: &User, is_online: bool) -> Self {
        Participant {
            id: user.id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            image_urls: user.avatar_url.iter().cloned().collect(),
            is_online,
            last_seen: user.last_seen,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypingUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

impl From<&User> for TypingUser {
    fn from(u: &User) -> Self {
        let p = Participant::new(u, false);
        TypingUser { id: p.id, username: p.username, display_name: p.display_name }
    }
}

/// `sending` exists only on the client; the server knows `sent`, `delivered` and `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Sent,
    Delivered,
    Read,
}

impl Status {
    pub fn display(self) -> &'static str {
        match self {
            Status::Sent => "Sent",
            Status::Delivered => "Delivered",
            Status::Read => "Read",
        }
    }
}

/// A message's status: how far its recipient's watermarks have come.
pub fn status(m: &Message, recipient: Option<&Member>) -> Status {
    match recipient {
        Some(r) if r.last_read_seq >= m.seq => Status::Read,
        Some(r) if r.last_delivered_seq >= m.seq => Status::Delivered,
        _ => Status::Sent,
    }
}

/// The member a message in a DM is addressed to.
pub fn recipient<'a>(view: &'a ConversationView, m: &Message) -> Option<&'a Member> {
    let sender = m.sender_id();
    view.members.iter().find(|x| Some(&x.user.id) != sender)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastMessage {
    pub id: i64,
    pub content: String,
    pub sender_id: Option<UserId>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Room {
    pub id: ConversationId,
    pub participant1: Participant,
    pub participant2: Participant,
    pub other_participant: Participant,
    /// The document's app-specific link (a dating match); chatwire has none.
    #[serde(rename = "match")]
    pub match_id: Option<i64>,
    pub last_message: Option<LastMessage>,
    pub unread_count: i64,
    pub typing_users: Vec<TypingUser>,
    pub created_at: DateTime<Utc>,
}

/// A DM as a room seen by `viewer`; `online` answers for each member in order. `None` for a
/// conversation that is not a two-person DM.
pub fn room(view: &ConversationView, viewer: &UserId, online: &[bool], typing: &[User]) -> Option<Room> {
    let [a, b] = view.members.as_slice() else { return None };
    let p = |i: usize, m: &Member| Participant::new(&m.user, online.get(i).copied().unwrap_or(false));
    let (p1, p2) = (p(0, a), p(1, b));
    let other = if a.user.id == *viewer { p2.clone() } else { p1.clone() };
    Some(Room {
        id: view.conversation.id,
        participant1: p1,
        participant2: p2,
        other_participant: other,
        match_id: None,
        last_message: view.last_message.as_ref().map(|m| LastMessage {
            id: m.id.0,
            content: m.content.clone(),
            sender_id: m.sender_id().cloned(),
            status: status(m, recipient(view, m)),
            created_at: m.created_at,
        }),
        unread_count: view.unread_count,
        typing_users: typing.iter().map(TypingUser::from).collect(),
        created_at: view.conversation.created_at,
    })
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoomMessage {
    pub id: i64,
    pub room: ConversationId,
    pub sender: Option<Participant>,
    pub content: String,
    pub status: Status,
    pub status_display: &'static str,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub is_read: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A message with its status; `online` tells whether its sender is online.
pub fn room_message(view: &ConversationView, m: &Message, sender_online: bool) -> RoomMessage {
    let to = recipient(view, m);
    let status = status(m, to);
    // Watermarks keep when they last moved, not when each message passed them: the times are
    // those of the move that covered the message.
    let delivered_at = to.filter(|_| status >= Status::Delivered).and_then(|r| r.delivered_at);
    let read_at = to.filter(|_| status == Status::Read).and_then(|r| r.read_at);
    RoomMessage {
        id: m.id.0,
        room: m.conversation_id,
        sender: m.sender.as_ref().map(|u| Participant::new(u, sender_online)),
        content: m.content.clone(),
        status,
        status_display: status.display(),
        sent_at: Some(m.created_at),
        delivered_at,
        read_at,
        is_read: status == Status::Read,
        created_at: m.created_at,
        updated_at: m.updated_at(),
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Message {
        content: String,
        #[serde(default)]
        temp_id: Option<String>,
    },
    TypingOn {},
    TypingOff {},
    MessageRead {
        message_id: MessageId,
    },
    MessageDelivered {
        message_id: MessageId,
    },
    Ping {},
    Pong {},
    ConnectionCheck {},
    /// The real Flutter client's send: `{"type":"chat_message","message":<text>,"timestamp"}`.
    ChatMessage {
        message: String,
    },
    /// The real client's typing indicator, one frame for on and off.
    Typing {
        is_typing: bool,
    },
    /// The real client's read receipt.
    MarkRead {
        message_id: MessageId,
    },
}

pub const TYPES: &[&str] = &[
    "message",
    "typing_on",
    "typing_off",
    "message_read",
    "message_delivered",
    "ping",
    "pong",
    "connection_check",
    "chat_message",
    "typing",
    "mark_read",
];

impl ClientFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Message { .. } => "message",
            ClientFrame::TypingOn {} => "typing_on",
            ClientFrame::TypingOff {} => "typing_off",
            ClientFrame::MessageRead { .. } => "message_read",
            ClientFrame::MessageDelivered { .. } => "message_delivered",
            ClientFrame::Ping {} => "ping",
            ClientFrame::Pong {} => "pong",
            ClientFrame::ConnectionCheck {} => "connection_check",
            ClientFrame::ChatMessage { .. } => "chat_message",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::MarkRead { .. } => "mark_read",
        }
    }
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "type", TYPES).map(|(_, f)| f)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveMessage {
    pub id: i64,
    pub content: String,
    pub sender_id: Option<UserId>,
    pub sender_username: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub room_id: ConversationId,
    /// chatwire's addition: the room again under the name the REST message uses, which the
    /// real Flutter client's message model reads.
    pub room: ConversationId,
    /// chatwire's addition, on the sender's own frame only: the `temp_id` it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_id: Option<String>,
}

impl LiveMessage {
    pub fn new(m: &Message, temp_id: Option<String>) -> Self {
        LiveMessage {
            id: m.id.0,
            content: m.content.clone(),
            sender_id: m.sender_id().cloned(),
            sender_username: m.sender.as_ref().map(|s| s.username.clone()).unwrap_or_default(),
            status: Status::Sent,
            created_at: m.created_at,
            room_id: m.conversation_id,
            room: m.conversation_id,
            temp_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    ConnectionEstablished {
        room_id: ConversationId,
        user_id: UserId,
        timestamp: DateTime<Utc>,
        heartbeat_interval: u64,
        connection_timeout: u64,
    },
    Message {
        message: LiveMessage,
        delivery_id: String,
    },
    MessageStatusUpdate {
        message_id: i64,
        status: Status,
        timestamp: DateTime<Utc>,
        updated_by: UserId,
    },
    Typing {
        user_id: UserId,
        username: String,
        is_typing: bool,
        timestamp: DateTime<Utc>,
    },
    UserStatusChange {
        user_id: UserId,
        username: String,
        is_online: bool,
        last_seen: Option<DateTime<Utc>>,
    },
    Ping {
        timestamp: DateTime<Utc>,
        sequence: u64,
    },
    Pong {
        timestamp: DateTime<Utc>,
        server_time: DateTime<Utc>,
    },
    ConnectionStatus {
        status: &'static str,
        duration_seconds: u64,
        last_activity: DateTime<Utc>,
        timestamp: DateTime<Utc>,
    },
    HealthCheckResponse {
        room_id: ConversationId,
        user_id: UserId,
        connection_duration: u64,
        last_activity: DateTime<Utc>,
        is_alive: bool,
        timestamp: DateTime<Utc>,
    },
    ReconnectSuggested {
        reason: String,
        attempts: u32,
        max_attempts: u32,
    },
    Error {
        message: String,
        timestamp: DateTime<Utc>,
    },
}

/// `msg_<id>_<unix seconds with millis>`, as in the document.
pub fn delivery_id(m: &Message) -> String {
    format!("msg_{}_{}.{:03}", m.id.0, m.created_at.timestamp(), m.created_at.timestamp_subsec_millis())
}

pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}
