//! The `spherespace` socket on `/ws/chat/` (specs/000): `chat_message`, `typing`, `mark_read`
//! in; `new_message`, `typing`, `mark_read` out.
use chatwire_core::model::NewMessage;
use chatwire_core::{CoreError, Event};
use chatwire_protocol::DecodeError;
use chatwire_protocol::spherespace::{self, ClientFrame, MessageOut, ServerFrame};

use super::socket::{Dialect, SocketCore};

pub(crate) struct Spherespace;

impl Dialect for Spherespace {
    type Frame = ClientFrame;

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        spherespace::decode(text)
    }

    fn describe(frame: &ClientFrame) -> (Option<String>, &'static str) {
        (None, frame.type_name())
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let state = core.state.clone();
        let svc = &state.service;
        match frame {
            ClientFrame::ChatMessage { conversation_id, content } => {
                let sent = svc.send_message(&core.actor, conversation_id, NewMessage { content, ..NewMessage::default() }).await?;
                // The sender's socket gets its `new_message` once, now, like everyone else.
                core.seen.first_time(conversation_id, sent.message.seq);
                Ok(Some(spherespace::encode(&ServerFrame::NewMessage {
                    conversation_id,
                    message: MessageOut::from(&sent.message),
                })))
            }
            ClientFrame::Typing { conversation_id, is_typing } => {
                svc.typing(&core.actor, conversation_id, is_typing).await?;
                Ok(None)
            }
            ClientFrame::MarkRead { conversation_id } => {
                svc.mark_read(&core.actor, conversation_id, None).await?;
                Ok(None)
            }
        }
    }

    fn error(&self, _reference: Option<&str>, frame_type: Option<&str>, code: &str, message: &str) -> String {
        spherespace::encode(&ServerFrame::Error {
            code: code.to_owned(),
            message: message.to_owned(),
            request_type: frame_type.map(str::to_owned),
        })
    }

    async fn greeting(&mut self, _core: &mut SocketCore) -> Option<String> {
        None
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        let frame = match event {
            Event::MessageCreated { message } => {
                ServerFrame::NewMessage { conversation_id: message.conversation_id, message: MessageOut::from(message) }
            }
            Event::Typing { conversation_id, user, is_typing, .. } if user.id != core.actor.id() => ServerFrame::Typing {
                conversation_id: *conversation_id,
                user_id: user.id,
                username: user.username.clone(),
                is_typing: *is_typing,
            },
            Event::Read { conversation_id, user, .. } => {
                ServerFrame::MarkRead { conversation_id: *conversation_id, user_id: user.id }
            }
            _ => return None,
        };
        Some(spherespace::encode(&frame))
    }

    fn resync(&self) -> Option<String> {
        None
    }
}
