//! The native socket protocol at `/ws/v1`: one socket per device, all of a user's conversations.
//!
//! Client frames carry an optional `ref`, echoed on the matching `ack` or `error` frame.
//! Server frames are the domain [`Event`]s as they are (`{"type": "message_created", ...}`),
//! plus the session frames below.
use chatwire_core::model::{Attachment, Message, User};
use chatwire_core::service::SyncCursor;
use chatwire_core::{ConversationId, Event};
use serde::{Deserialize, Serialize};

use crate::DecodeError;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Sends a message; `client_key` makes a retry return the original instead of a duplicate.
    Send {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        content: String,
        #[serde(default)]
        client_key: Option<String>,
        #[serde(default)]
        attachment: Option<Attachment>,
    },
    Typing {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        is_typing: bool,
    },
    /// Marks read up to `seq` (default: everything).
    Read {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        #[serde(default)]
        seq: Option<i64>,
    },
    Delivered {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        #[serde(default)]
        seq: Option<i64>,
    },
    /// "I have seen these conversations up to these seqs": the server replays what was missed,
    /// then answers `resumed`.
    Resume {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        cursors: Vec<SyncCursor>,
    },
    Ping {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
    },
    /// A fresh token for this socket (same user), sent before the current one expires.
    Refresh {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        token: String,
    },
}

const TYPES: &[&str] = &["send", "typing", "read", "delivered", "resume", "ping", "refresh"];

impl ClientFrame {
    pub fn reference(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { reference, .. }
            | ClientFrame::Typing { reference, .. }
            | ClientFrame::Read { reference, .. }
            | ClientFrame::Delivered { reference, .. }
            | ClientFrame::Resume { reference, .. }
            | ClientFrame::Ping { reference }
            | ClientFrame::Refresh { reference, .. } => reference.as_deref(),
        }
    }
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    crate::decode_tagged(text, "type", TYPES).map(|(_, f)| f)
}

/// A conversation's state after a resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumedConversation {
    pub conversation_id: ConversationId,
    pub last_seq: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "built and serialized at once, never stored")]
pub enum SessionFrame {
    /// First frame on every socket.
    /// `token_expires_at`: the token's `exp` (Unix seconds); the socket is closed with 4001
    /// `token_expired` then, unless a `refresh` moved it.
    Hello { user: User, node: String, heartbeat_interval: u64, token_expires_at: u64 },
    /// A `refresh` was taken: the socket now lives until `token_expires_at`.
    Refreshed {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        token_expires_at: u64,
    },
    /// The stored message for a `send`; `duplicate` when the client key had been used before.
    Ack {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        client_key: Option<String>,
        message: Message,
        duplicate: bool,
    },
    /// Success for frames that return nothing else.
    Ok {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        frame_type: String,
    },
    Resumed {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        conversations: Vec<ResumedConversation>,
    },
    /// The server may have missed events (its broker connection dropped): send `resume`.
    Resync,
    Pong {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The type of the frame that failed, when it could be read.
        frame_type: Option<String>,
        code: String,
        message: String,
    },
}

pub fn encode_event(event: &Event) -> String {
    // Serializing a tree of plain structs and strings cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

pub fn encode(frame: &SessionFrame) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_send_and_tells_errors_apart() {
        let f = decode(r#"{"type":"send","ref":"r1","conversation_id":7,"content":"hi"}"#).unwrap();
        assert_eq!(f.reference(), Some("r1"));
        let as_string = decode(r#"{"type":"send","ref":"r1","conversation_id":"7","content":"hi"}"#).unwrap();
        assert_eq!(f, as_string, "an id in either JSON type");
        assert!(matches!(decode("{"), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode(r#"{"type":"dance"}"#), Err(DecodeError::UnknownType(t)) if t == "dance"));
        let bad = decode(r#"{"type":"send","conversation_id":"nope","content":"x"}"#).unwrap_err();
        assert_eq!(bad.frame_type(), Some("send"));
        assert_eq!(bad.code(), "invalid_frame");
    }
}
