//! The `spherespace` dialect (specs/000): REST under `/api/` with message requests, and its
//! socket on `/ws/chat/`. The document shows no response bodies; the shapes here are chatwire's
//! reading, written down in docs/dialects/spherespace.md.
use std::fmt;

use chatwire_core::model::{ConversationView, MemberState, Message, MessageKind, User};
use chatwire_core::{MessageId, UserId};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DecodeError;

/// How a spherespace client names a conversation or a message: by UUID, as upstream does (see
/// [`ConversationId::uuid`]). chatwire's integer id is accepted too, in either JSON type. A UUID
/// that is not a UUID name may still be a conversation's id from before ids were integers, which
/// only the store can tell: hence a reference, resolved by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdRef {
    Uuid(Uuid),
    Int(i64),
}

impl IdRef {
    pub fn parse(s: &str) -> Option<IdRef> {
        let s = s.trim();
        if let Ok(uuid) = Uuid::try_parse(s) {
            return Some(IdRef::Uuid(uuid));
        }
        s.parse().ok().map(IdRef::Int)
    }

    /// The message this names, if it names one at all (messages have no ids from before).
    pub fn message(self) -> Option<MessageId> {
        match self {
            IdRef::Uuid(u) => MessageId::from_uuid(u),
            IdRef::Int(n) => Some(MessageId(n)),
        }
    }
}

impl<'de> Deserialize<'de> for IdRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdRefVisitor;
        impl Visitor<'_> for IdRefVisitor {
            type Value = IdRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a UUID (or an integer id)")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<IdRef, E> {
                Ok(IdRef::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<IdRef, E> {
                i64::try_from(n).map(IdRef::Int).map_err(|_| E::custom("id out of range"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<IdRef, E> {
                IdRef::parse(s).ok_or_else(|| E::custom(format!("{s:?} is not a UUID")))
            }
        }
        d.deserialize_any(IdRefVisitor)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserOut {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut { id: u.id.clone(), username: u.username.clone(), display_name: u.display_name.clone() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageOut {
    pub id: Uuid,
    /// What the real client's hook reads.
    pub conversation_id: Uuid,
    /// The same, under the Django serializer's foreign-key name.
    pub conversation: Uuid,
    /// A group's system messages ("alice added bob") carry the member who made the change.
    pub sender: Option<UserOut>,
    /// Empty once unsent.
    pub content: String,
    /// `text`, or `system` for a group's record of a change.
    pub message_type: MessageKind,
    pub created_at: DateTime<Utc>,
    pub is_unsent: bool,
}

impl From<&Message> for MessageOut {
    fn from(m: &Message) -> Self {
        let conversation = m.conversation_id.uuid();
        MessageOut {
            id: m.id.uuid(),
            conversation_id: conversation,
            conversation,
            sender: m.sender.as_ref().map(UserOut::from),
            content: m.content.clone(),
            message_type: m.kind,
            created_at: m.created_at,
            is_unsent: m.is_deleted(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationOut {
    pub id: Uuid,
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

pub fn conversation(view: &ConversationView, viewer: &UserId) -> ConversationOut {
    let status = view.member(viewer).map_or(MemberState::Active, |m| m.state);
    ConversationOut {
        id: view.conversation.id.uuid(),
        participants: view.members.iter().map(|m| UserOut::from(&m.user)).collect(),
        other_user: view.peer(viewer).map(|m| UserOut::from(&m.user)),
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
    ChatMessage {
        conversation_id: IdRef,
        content: String,
        /// The real client sends `"text"`; nothing else can be sent over this socket.
        #[serde(default)]
        message_type: Option<String>,
    },
    Typing {
        conversation_id: IdRef,
        is_typing: bool,
    },
    MarkRead {
        conversation_id: IdRef,
    },
    /// The real client's heartbeat, every 30 s.
    Ping {},
}

pub const TYPES: &[&str] = &["chat_message", "typing", "mark_read", "ping"];

impl ClientFrame {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::ChatMessage { .. } => "chat_message",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::MarkRead { .. } => "mark_read",
            ClientFrame::Ping {} => "ping",
        }
    }
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "type", TYPES).map(|(_, f)| f)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Right after the upgrade; the real client waits for it before it sends.
    ConnectionEstablished {
        user_id: UserId,
        username: String,
        timestamp: DateTime<Utc>,
    },
    /// A message from someone else, or from this user on another device.
    NewMessage {
        conversation_id: Uuid,
        message: MessageOut,
    },
    /// To the socket that sent the message: it was stored.
    MessageSent {
        conversation_id: Uuid,
        message: MessageOut,
    },
    Typing {
        conversation_id: Uuid,
        user_id: UserId,
        username: String,
        is_typing: bool,
    },
    /// To the other members when one reads: `count` is how many messages the read newly covered.
    MessagesRead {
        conversation_id: Uuid,
        reader_id: UserId,
        count: i64,
    },
    Pong {
        timestamp: DateTime<Utc>,
    },
    Error {
        code: String,
        message: String,
        request_type: Option<String>,
    },
}

impl ServerFrame {
    pub fn new_message(m: &Message) -> ServerFrame {
        ServerFrame::NewMessage { conversation_id: m.conversation_id.uuid(), message: MessageOut::from(m) }
    }

    pub fn message_sent(m: &Message) -> ServerFrame {
        ServerFrame::MessageSent { conversation_id: m.conversation_id.uuid(), message: MessageOut::from(m) }
    }
}

pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_real_clients_frames() {
        let c = chatwire_core::ConversationId(7).uuid();
        for text in [
            format!(r#"{{"type":"chat_message","conversation_id":"{c}","content":"Hi!","message_type":"text"}}"#),
            format!(r#"{{"type":"typing","conversation_id":"{c}","is_typing":true}}"#),
            format!(r#"{{"type":"mark_read","conversation_id":"{c}"}}"#),
            r#"{"type":"ping"}"#.to_owned(),
        ] {
            let frame = decode(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(text.contains(frame.type_name()));
        }
        let frame = decode(r#"{"type":"mark_read","conversation_id":7}"#).unwrap();
        assert_eq!(frame, ClientFrame::MarkRead { conversation_id: IdRef::Int(7) });
        assert!(decode(r#"{"type":"mark_read","conversation_id":"nope"}"#).is_err());
    }
}
