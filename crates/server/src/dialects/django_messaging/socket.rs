//! The `django_messaging` socket on `/messages/ws/` (specs/003): broadcast events only —
//! `new_message`, `message_updated`, `message_deleted`, `reaction_updated`, `typing`. The
//! document names no client frames; writes go through its REST API.
use chatwire_core::{CoreError, Event};
use chatwire_protocol::DecodeError;
use chatwire_protocol::django_messaging::{self, ReactionOut, ServerFrame, message};

use crate::socket::{Dialect, SocketCore, SocketError};

pub(crate) struct DjangoMessaging;

/// There is no client frame to decode.
pub(crate) enum NoFrame {}

impl Dialect for DjangoMessaging {
    const NAME: &'static str = "django_messaging";
    type Frame = NoFrame;
    type SendReply = ();

    fn decode(&self, text: &str) -> Result<NoFrame, DecodeError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let ty = value.get("type").and_then(|t| t.as_str()).unwrap_or("").to_owned();
        Err(DecodeError::UnknownType(ty))
    }

    fn describe(frame: &NoFrame) -> (Option<String>, &'static str) {
        match *frame {}
    }

    async fn handle(&mut self, _core: &mut SocketCore, frame: NoFrame) -> Result<Option<String>, CoreError> {
        match frame {}
    }

    fn error(&self, _reference: Option<&str>, _frame_type: Option<&str>, error: &SocketError) -> String {
        let message = match error {
            SocketError::Decode(DecodeError::UnknownType(_)) => {
                "This socket only sends events; use the REST API under /messages/api/ to act.".to_owned()
            }
            other => other.message(),
        };
        django_messaging::encode(&ServerFrame::Error { code: error.code().to_owned(), message })
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        let frame = match event {
            Event::MessageCreated { message: m } => ServerFrame::NewMessage { message: message(m, None) },
            Event::MessageEdited { message: m } => ServerFrame::MessageUpdated { message: message(m, None) },
            Event::MessageDeleted { message: m } => ServerFrame::MessageDeleted { message_id: m.id.0 },
            Event::ReactionChanged { message_id, reactions, .. } => ServerFrame::ReactionUpdated {
                message_id: message_id.0,
                reactions: reactions.iter().map(ReactionOut::from).collect(),
            },
            Event::Typing { conversation_id, user, is_typing, .. } if user.id != *core.actor.id() => {
                ServerFrame::Typing { user_id: user.id.clone(), is_typing: *is_typing, chat: *conversation_id }
            }
            _ => return None,
        };
        Some(django_messaging::encode(&frame))
    }
}
