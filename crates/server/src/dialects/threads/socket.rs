//! The `threads` dialect's socket on `/ws/chat/room/` (specs/001): `chat_message` in,
//! `conf_message` to the sender and `re_message` to every device of the receiver.
use std::collections::HashMap;

use chatwire_core::model::NewMessage;
use chatwire_core::ports::ListFilter;
use chatwire_core::service::Requests;
use chatwire_core::{ConversationId, CoreError, Event, UserId};
use chatwire_protocol::DecodeError;
use chatwire_protocol::threads::{self, ClientFrame, ServerFrame};

use crate::socket::{Dialect, SocketCore, SocketError};

/// Threads are DMs: per conversation, the other user (`None` for a group, which has no frame here).
#[derive(Default)]
pub(crate) struct Threads {
    peers: HashMap<ConversationId, Option<UserId>>,
}

impl Threads {
    /// The other user of a DM, looked up once per conversation.
    async fn peer(&mut self, core: &SocketCore, conversation: ConversationId) -> Option<UserId> {
        if let Some(peer) = self.peers.get(&conversation) {
            return peer.clone();
        }
        let view = core.state.service.conversation(&core.actor, conversation).await.ok()?;
        let peer = view.peer(core.actor.id()).map(|m| m.user.id.clone());
        self.peers.insert(conversation, peer.clone());
        peer
    }
}

impl Dialect for Threads {
    const NAME: &'static str = "threads";
    type Frame = ClientFrame;
    type SendReply = ();

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        threads::decode(text)
    }

    fn describe(_frame: &ClientFrame) -> (Option<String>, &'static str) {
        (None, "chat_message")
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let ClientFrame::ChatMessage { message_body, receiver_id } = frame;
        // "Addresses a DM by the other user's id, creating the thread on first message."
        let view = core.state.service.open_dm(&core.actor, receiver_id.clone(), false).await?;
        let conversation = view.conversation.id;
        self.peers.insert(conversation, Some(receiver_id.clone()));
        let msg = NewMessage { content: message_body, ..NewMessage::default() };
        let sent = core.send_message(self, conversation, msg, Requests::ReplyAccepts).await?;
        Ok(Some(threads::encode(&ServerFrame::Conf {
            sender_id: core.actor.id().clone(),
            receiver_id,
            message_body: sent.message.content,
            timestamp: threads::isoformat(&sent.message.created_at),
            created_msg_id: sent.message.id.0,
        })))
    }

    fn error(&self, _reference: Option<&str>, frame_type: Option<&str>, error: &SocketError) -> String {
        threads::encode(&ServerFrame::Error {
            code: error.code().to_owned(),
            message: error.message(),
            request_action: frame_type.map(str::to_owned),
        })
    }

    async fn greeting(&mut self, core: &mut SocketCore) -> Option<String> {
        // Learn the peers of existing DMs in one go rather than one lookup each later.
        if let Ok(views) = core.state.service.list_conversations(&core.actor, ListFilter::Visible).await {
            for view in views {
                let peer = view.peer(core.actor.id()).map(|m| m.user.id.clone());
                self.peers.insert(view.conversation.id, peer);
            }
        }
        None
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        let Event::MessageCreated { message } = event else { return None };
        let sender = message.sender.as_ref()?.id.clone();
        let peer = self.peer(core, message.conversation_id).await?;
        let me = core.actor.id().clone();
        let (timestamp, body, id) = (threads::isoformat(&message.created_at), message.content.clone(), message.id.0);
        let frame = if sender == me {
            // Sent from another of my devices: confirm it here too.
            ServerFrame::Conf { sender_id: me, receiver_id: peer, message_body: body, timestamp, created_msg_id: id }
        } else {
            ServerFrame::Re { message_body: body, sender_id: sender, receiver_id: me, timestamp, created_msg_id: id }
        };
        Some(threads::encode(&frame))
    }
}
