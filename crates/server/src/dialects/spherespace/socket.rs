//! The `spherespace` socket on `/ws/chat/` (specs/000 and its real client, `useChatWebSocket`):
//! `chat_message`, `typing`, `mark_read` and `ping` in; `connection_established` right after the
//! upgrade, `message_sent` to the sending socket, `new_message` to every other, `typing`,
//! `messages_read`, `pong` and `error` out.
use chatwire_core::model::{NewMessage, Sent};
use chatwire_core::service::Requests;
use chatwire_core::{ConversationId, CoreError, Event};
use chatwire_protocol::DecodeError;
use chatwire_protocol::spherespace::{self, ClientFrame, IdRef, ServerFrame};
use chrono::Utc;

use crate::socket::{Dialect, SocketCore, SocketError, Submit};

pub(crate) struct Spherespace;

/// The conversation a frame names: a UUID (its UUID name, or its id from before ids were
/// integers) or chatwire's integer id.
pub(crate) async fn conversation(core: &SocketCore, id: IdRef) -> Result<ConversationId, CoreError> {
    match id {
        IdRef::Int(n) => Ok(ConversationId(n)),
        IdRef::Uuid(uuid) => core.state.service.conversation_by_uuid(uuid).await,
    }
}

impl Dialect for Spherespace {
    const NAME: &'static str = "spherespace";
    type Frame = ClientFrame;
    type SendReply = ();

    /// A text message to a conversation named by its id or its computed UUID goes straight into
    /// the pipeline; one named by a legacy UUID (a lookup first) or of another type is handled.
    fn submit(&self, frame: ClientFrame) -> Result<Submit<()>, ClientFrame> {
        match frame {
            ClientFrame::ChatMessage { conversation_id, content, message_type }
                if message_type.as_deref().is_none_or(|t| t == "text") =>
            {
                let known = match conversation_id {
                    IdRef::Int(n) => Some(ConversationId(n)),
                    IdRef::Uuid(uuid) => ConversationId::from_uuid(uuid),
                };
                match known {
                    Some(conversation) => Ok(Submit {
                        conversation,
                        message: NewMessage { content, ..NewMessage::default() },
                        requests: Requests::MustAccept,
                        reply: (),
                    }),
                    None => Err(ClientFrame::ChatMessage { conversation_id, content, message_type }),
                }
            }
            other => Err(other),
        }
    }

    fn sent(&mut self, _: (), sent: &Sent) -> Option<String> {
        Some(spherespace::encode(&ServerFrame::message_sent(&sent.message)))
    }

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        spherespace::decode(text)
    }

    fn describe(frame: &ClientFrame) -> (Option<String>, &'static str) {
        (None, frame.type_name())
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let reply = match frame {
            ClientFrame::ChatMessage { conversation_id, content, message_type } => {
                if message_type.as_deref().is_some_and(|t| t != "text") {
                    return Err(CoreError::invalid("message_type", "only text messages can be sent"));
                }
                let conversation = conversation(core, conversation_id).await?;
                let msg = NewMessage { content, ..NewMessage::default() };
                let sent = core.send_message(self, conversation, msg, Requests::MustAccept).await?;
                ServerFrame::message_sent(&sent.message)
            }
            ClientFrame::Typing { conversation_id, is_typing } => {
                let conversation = conversation(core, conversation_id).await?;
                core.state.service.typing(&core.actor, conversation, is_typing).await?;
                return Ok(None);
            }
            ClientFrame::MarkRead { conversation_id } => {
                let conversation = conversation(core, conversation_id).await?;
                core.state.service.mark_read(&core.actor, conversation, None).await?;
                return Ok(None);
            }
            ClientFrame::Ping {} => ServerFrame::Pong { timestamp: Utc::now() },
        };
        Ok(Some(spherespace::encode(&reply)))
    }

    fn error(&self, _reference: Option<&str>, frame_type: Option<&str>, error: &SocketError) -> String {
        spherespace::encode(&ServerFrame::Error {
            code: error.code().to_owned(),
            message: error.message(),
            request_type: frame_type.map(str::to_owned),
        })
    }

    async fn greeting(&mut self, core: &mut SocketCore) -> Option<String> {
        Some(spherespace::encode(&ServerFrame::ConnectionEstablished {
            user_id: core.actor.id().clone(),
            username: core.actor.user.username.clone(),
            timestamp: Utc::now(),
        }))
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        let me = core.actor.id();
        let frame = match event {
            Event::MessageCreated { message } => ServerFrame::new_message(message),
            Event::Typing { conversation_id, user, is_typing, .. } if user.id != *me => ServerFrame::Typing {
                conversation_id: conversation_id.uuid(),
                user_id: user.id.clone(),
                username: user.username.clone(),
                is_typing: *is_typing,
            },
            Event::Read { conversation_id, user, covered, .. } if user.id != *me => ServerFrame::MessagesRead {
                conversation_id: conversation_id.uuid(),
                reader_id: user.id.clone(),
                count: *covered,
            },
            _ => return None,
        };
        Some(spherespace::encode(&frame))
    }
}
