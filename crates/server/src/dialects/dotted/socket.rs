//! The `dotted` dialect on `/ws/chat/` (specs/002): every call is a `chat.*` frame on the socket,
//! plus `chat.delivered` that its real client's later versions send.
use chatwire_core::model::{NewMessage, SearchScope, Sent};
use chatwire_core::ports::ListFilter;
use chatwire_core::service::Requests;
use chatwire_core::{CoreError, Event};
use chatwire_protocol::DecodeError;
use chatwire_protocol::dotted::{self, ClientFrame, MessageOut, ServerFrame, UserRef};

use crate::socket::{Dialect, SocketCore, SocketError, Submit};

/// `chat.search_user` results.
const SEARCH_LIMIT: i64 = 20;

pub(crate) struct Dotted;

impl Dialect for Dotted {
    const NAME: &'static str = "dotted";
    type Frame = ClientFrame;
    type SendReply = ();

    fn submit(&self, frame: ClientFrame) -> Result<Submit<()>, ClientFrame> {
        match frame {
            ClientFrame::Message { conversation_id, content } => Ok(Submit {
                conversation: conversation_id,
                message: NewMessage { content, ..NewMessage::default() },
                requests: Requests::ReplyAccepts,
                reply: (),
            }),
            other => Err(other),
        }
    }

    /// The document's "echo": the sender gets the broadcast frame once, now.
    fn sent(&mut self, _: (), sent: &Sent) -> Option<String> {
        Some(dotted::encode(&ServerFrame::Message { message: MessageOut::from(&sent.message) }))
    }

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        dotted::decode(text)
    }

    fn describe(frame: &ClientFrame) -> (Option<String>, &'static str) {
        (None, frame.type_name())
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let svc = &core.state.service;
        let actor = &core.actor;
        let reply = match frame {
            // The loop takes sends through `submit`, so they never come here.
            ClientFrame::Message { .. } => return Err(CoreError::Internal("a send reached handle".into())),
            ClientFrame::Typing { receiver_id, is_typing } => {
                let conversation = svc.dm_with(actor, receiver_id).await?;
                svc.typing(actor, conversation, is_typing).await?;
                return Ok(None);
            }
            ClientFrame::Read { conversation_id } => {
                svc.mark_read(actor, conversation_id, None).await?;
                return Ok(None);
            }
            ClientFrame::Delivered { message_id } => {
                let message = svc.message(actor, message_id).await?;
                svc.mark_delivered(actor, message.conversation_id, Some(message.seq)).await?;
                return Ok(None);
            }
            ClientFrame::SearchUser { keyword } => {
                let users = svc.search_users(actor, &keyword, SearchScope::Username, SEARCH_LIMIT).await?;
                ServerFrame::SearchResults { results: users.iter().map(UserRef::from).collect() }
            }
            ClientFrame::StartConversation { receiver_id } => {
                ServerFrame::started(&svc.open_dm(actor, receiver_id, false).await?)
            }
            ClientFrame::GetConversations {} => {
                ServerFrame::conversations(&svc.list_conversations(actor, ListFilter::Visible).await?)
            }
            ClientFrame::GetMessages { conversation_id } => {
                let history = svc.history(actor, conversation_id, svc.limits().max_history).await?;
                ServerFrame::Messages { messages: history.iter().map(MessageOut::from).collect() }
            }
        };
        Ok(Some(dotted::encode(&reply)))
    }

    fn error(&self, _reference: Option<&str>, frame_type: Option<&str>, error: &SocketError) -> String {
        dotted::encode(&ServerFrame::Error {
            code: error.code().to_owned(),
            message: error.message(),
            request_type: frame_type.map(str::to_owned),
        })
    }

    fn shared_message_frame(&self, event: &Event) -> Option<String> {
        let Event::MessageCreated { message } = event else { return None };
        Some(dotted::encode(&ServerFrame::Message { message: MessageOut::from(message) }))
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        let frame = match event {
            Event::MessageCreated { message } => ServerFrame::Message { message: MessageOut::from(message) },
            Event::Typing { user, is_typing, .. } if user.id != *core.actor.id() => {
                ServerFrame::Typing { sender_id: user.id.clone(), is_typing: *is_typing }
            }
            Event::Read { conversation_id, user, .. } => {
                ServerFrame::Read { conversation_id: *conversation_id, reader_id: user.id.clone() }
            }
            _ => return None,
        };
        Some(dotted::encode(&frame))
    }
}
