//! The native dialect on `/ws/v1`: domain events as they are, acks, resume.
use chatwire_core::model::{MessagePage, NewMessage, Sent};
use chatwire_core::service::{Requests, SyncCursor};
use chatwire_core::{CoreError, Event};
use chatwire_protocol::DecodeError;
use chatwire_protocol::native::{self, ClientFrame, ResumedConversation, SessionFrame};

use crate::socket::{Dialect, Resync, SocketCore, SocketError, Submit};

pub(crate) struct Native;

impl Dialect for Native {
    const NAME: &'static str = "native";
    type Frame = ClientFrame;
    /// The client's `ref` and key, echoed on the `ack`.
    type SendReply = (Option<String>, Option<String>);

    fn submit(&self, frame: ClientFrame) -> Result<Submit<Self::SendReply>, ClientFrame> {
        match frame {
            ClientFrame::Send { reference, conversation_id, content, client_key, attachment } => Ok(Submit {
                conversation: conversation_id,
                message: NewMessage { content, attachment, client_key: client_key.clone() },
                requests: Requests::MustAccept,
                reply: (reference, client_key),
            }),
            other => Err(other),
        }
    }

    fn sent(&mut self, (reference, client_key): Self::SendReply, sent: &Sent) -> Option<String> {
        let ack = SessionFrame::Ack { reference, client_key, message: sent.message.clone(), duplicate: !sent.created };
        Some(native::encode(&ack))
    }

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        native::decode(text)
    }

    fn describe(frame: &ClientFrame) -> (Option<String>, &'static str) {
        let ty = match frame {
            ClientFrame::Send { .. } => "send",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Delivered { .. } => "delivered",
            ClientFrame::Resume { .. } => "resume",
            ClientFrame::Ping { .. } => "ping",
            ClientFrame::Refresh { .. } => "refresh",
        };
        (frame.reference().map(str::to_owned), ty)
    }

    fn reference_in(text: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        value.get("ref")?.as_str().map(str::to_owned)
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let svc = &core.state.service;
        let reply = match frame {
            // The loop takes sends through `submit`, so they never come here.
            ClientFrame::Send { .. } => return Err(CoreError::Internal("a send reached handle".into())),
            ClientFrame::Typing { reference, conversation_id, is_typing } => {
                svc.typing(&core.actor, conversation_id, is_typing).await?;
                SessionFrame::Ok { reference, frame_type: "typing".into() }
            }
            ClientFrame::Read { reference, conversation_id, seq } => {
                svc.mark_read(&core.actor, conversation_id, seq).await?;
                SessionFrame::Ok { reference, frame_type: "read".into() }
            }
            ClientFrame::Delivered { reference, conversation_id, seq } => {
                svc.mark_delivered(&core.actor, conversation_id, seq).await?;
                SessionFrame::Ok { reference, frame_type: "delivered".into() }
            }
            ClientFrame::Resume { reference, cursors } => resume(core, reference, cursors).await?,
            ClientFrame::Ping { reference } => SessionFrame::Pong { reference },
            ClientFrame::Refresh { reference, token } => {
                SessionFrame::Refreshed { reference, token_expires_at: core.refresh_token(&token)? }
            }
        };
        Ok(Some(native::encode(&reply)))
    }

    fn error(&self, reference: Option<&str>, frame_type: Option<&str>, error: &SocketError) -> String {
        native::encode(&SessionFrame::Error {
            reference: reference.map(str::to_owned),
            frame_type: frame_type.map(str::to_owned),
            code: error.code().to_owned(),
            message: error.message(),
        })
    }

    async fn greeting(&mut self, core: &mut SocketCore) -> Option<String> {
        Some(native::encode(&SessionFrame::Hello {
            user: core.actor.user.clone(),
            node: core.state.node_id.clone(),
            heartbeat_interval: core.state.settings.heartbeat_interval_secs,
            token_expires_at: core.token_expires_at(),
        }))
    }

    fn shared_message_frame(&self, event: &Event) -> Option<String> {
        Some(native::encode_event(event))
    }

    async fn encode_event(&mut self, _core: &mut SocketCore, event: &Event) -> Option<String> {
        Some(native::encode_event(event))
    }

    /// Native clients get the whole event: `{"type":"server_event","event":..,"data":..}`.
    fn server_event(&self, event: &Event) -> Option<String> {
        Some(native::encode_event(event))
    }

    fn resync(&self) -> Resync {
        Resync::Frame(native::encode(&SessionFrame::Resync))
    }
}

/// Replays every message after each cursor, page by page, before any queued live event is
/// written; `seen` drops whatever live delivery already sent. Exactly once, in seq order.
async fn resume(
    core: &mut SocketCore,
    reference: Option<String>,
    cursors: Vec<SyncCursor>,
) -> Result<SessionFrame, CoreError> {
    let state = core.state.clone();
    let svc = &state.service;
    let page = svc.limits().max_page;
    let batches = svc.sync(&core.actor, &cursors, page).await?;
    // Only cursors of conversations the user can see are remembered: a client cannot make the
    // socket keep state for ids it made up.
    let visible: std::collections::HashSet<_> = batches.iter().map(|b| b.conversation_id).collect();
    for cursor in cursors.iter().filter(|c| visible.contains(&c.conversation_id)) {
        core.seen.client_has(cursor.conversation_id, cursor.seq);
        core.order.client_has(cursor.conversation_id, cursor.seq);
    }
    let mut conversations = Vec::with_capacity(batches.len());
    for batch in batches {
        let id = batch.conversation_id;
        let mut messages = batch.messages;
        let mut more = batch.has_more;
        loop {
            let mut last = None;
            for message in messages {
                last = Some(message.seq);
                let seq = message.seq;
                if core.seen.first_time(id, seq)
                    && !core.send(native::encode_event(&Event::MessageCreated { message })).await
                {
                    return Err(CoreError::Unavailable("client went away".into()));
                }
                // Live messages held behind this one go out now, in order.
                for held in core.order.passed(id, seq) {
                    if let Event::MessageCreated { message } = held.as_ref()
                        && core.seen.first_time(id, message.seq)
                        && !core.send(native::encode_event(&held)).await
                    {
                        return Err(CoreError::Unavailable("client went away".into()));
                    }
                }
            }
            let Some(after) = last.filter(|_| more) else { break };
            messages =
                svc.messages(&core.actor, id, MessagePage { before: None, after: Some(after), limit: page }).await?;
            more = messages.len() as i64 == page;
        }
        conversations.push(ResumedConversation { conversation_id: id, last_seq: batch.last_seq });
    }
    Ok(SessionFrame::Resumed { reference, conversations })
}
