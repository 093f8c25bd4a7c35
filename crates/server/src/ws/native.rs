//! One native socket: frames in, events out, until either side goes away.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use chatwire_bus::{Outbound, Subscription};
use chatwire_core::model::{MemberState, MessagePage, NewMessage};
use chatwire_core::service::Actor;
use chatwire_core::seen::SeenSeqs;
use chatwire_core::{Channel, ConversationId, CoreError, Event};
use chatwire_protocol::native::{self, ClientFrame, ResumedConversation, SessionFrame};
use futures_util::FutureExt;

use super::WRITE_TIMEOUT;
use crate::state::AppState;

/// Why a socket ends; each becomes a close frame the client can act on.
enum Close {
    ClientGone,
    Normal(Option<CloseReason>),
    Slow,
    Timeout,
    Draining,
}

struct Socket {
    state: Arc<AppState>,
    actor: Actor,
    sub: Subscription,
    session: Session,
    /// Seqs already sent, so a resume replay and live delivery that overlap send each once.
    seen: SeenSeqs,
    /// Conversations the user left while this socket was open: their queued events are dropped.
    left: HashSet<ConversationId>,
    last_heard: Instant,
}

pub async fn run(
    state: Arc<AppState>,
    actor: Actor,
    sub: Subscription,
    conversations: Vec<ConversationId>,
    session: Session,
    stream: AggregatedMessageStream,
) {
    let mut socket = Socket { state, actor, sub, session, seen: SeenSeqs::default(), left: HashSet::new(), last_heard: Instant::now() };
    if let Err(err) = socket.state.service.connected(&socket.actor, &conversations).await {
        tracing::warn!(%err, "presence update failed");
    }
    let mut close = socket.serve(stream).await;
    if socket.sub.slow.is_raised() {
        close = Close::Slow;
    }
    if let Err(err) = socket.state.service.disconnected(&socket.actor).await {
        tracing::warn!(%err, "presence update failed");
    }
    let reason = match close {
        Close::ClientGone => return,
        Close::Normal(reason) => reason,
        Close::Slow => Some(CloseReason { code: CloseCode::Again, description: Some("slow_consumer".into()) }),
        Close::Timeout => Some(CloseReason { code: CloseCode::Away, description: Some("timeout".into()) }),
        Close::Draining => Some(CloseReason { code: CloseCode::Restart, description: Some("reconnect".into()) }),
    };
    let _ = socket.session.close(reason).await;
}

impl Socket {
    async fn serve(&mut self, mut stream: AggregatedMessageStream) -> Close {
        let hello = SessionFrame::Hello {
            user: self.actor.user.clone(),
            node: self.state.node_id.clone(),
            heartbeat_interval: self.state.settings.heartbeat_interval_secs,
        };
        if !self.send(native::encode(&hello)).await {
            return Close::ClientGone;
        }
        let interval = Duration::from_secs(self.state.settings.heartbeat_interval_secs);
        let patience = interval + Duration::from_secs(self.state.settings.ping_timeout_secs);
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let slow = self.sub.slow.clone();
        let mut shutdown = self.state.shutdown.subscribe();
        loop {
            tokio::select! {
                msg = stream.recv() => {
                    self.last_heard = Instant::now();
                    match msg {
                        None => return Close::ClientGone,
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            if !self.on_text(&text).await { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            let err = error_frame(None, None, "unsupported", "binary frames are not supported; send JSON text");
                            if !self.send(err).await { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(reason))) => return Close::Normal(reason),
                        Some(Err(err)) => {
                            // The protocol itself was violated (oversized or broken frames): close.
                            let code = match err { actix_ws::ProtocolError::Overflow => CloseCode::Size, _ => CloseCode::Protocol };
                            return Close::Normal(Some(CloseReason { code, description: Some(err.to_string()) }));
                        }
                    }
                }
                out = self.sub.rx.recv() => {
                    let Some(out) = out else { return Close::ClientGone };
                    if !self.on_outbound(out).await { return Close::ClientGone; }
                }
                _ = slow.wait() => return Close::Slow,
                _ = shutdown.wait_for(|down| *down) => return Close::Draining,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > patience {
                        return Close::Timeout;
                    }
                    if self.session.ping(b"").await.is_err() { return Close::ClientGone; }
                }
            }
        }
    }

    /// Writes one frame; false when the client is gone, stopped reading, or fell so far behind
    /// that its queue overflowed meanwhile.
    async fn send(&mut self, text: String) -> bool {
        let slow = self.sub.slow.clone();
        tokio::select! {
            written = tokio::time::timeout(WRITE_TIMEOUT, self.session.text(text)) => matches!(written, Ok(Ok(()))),
            _ = slow.wait() => false,
        }
    }

    async fn on_outbound(&mut self, out: Outbound) -> bool {
        let event = match out {
            Outbound::Resync => return self.send(native::encode(&SessionFrame::Resync)).await,
            Outbound::Event(event) => event,
        };
        if !self.follow(&event).await {
            return true;
        }
        if let Event::MessageCreated { message } = event.as_ref() {
            if !self.seen.first_time(message.conversation_id, message.seq) {
                return true;
            }
        }
        self.send(native::encode_event(&event)).await
    }

    /// Keeps the socket's subscriptions in step with the user's memberships; `false` for an event
    /// of a conversation the user has just left (it was already queued when they left).
    async fn follow(&mut self, event: &Event) -> bool {
        let me = self.actor.id();
        let left = match event {
            Event::ConversationJoined { user_id, conversation, .. } if *user_id == me => {
                self.left.remove(&conversation.id);
                if let Err(err) = self.sub.join(&[Channel::Conversation(conversation.id)]).await {
                    tracing::warn!(%err, "could not follow a new conversation; the client will see it on resync");
                }
                return true;
            }
            Event::ConversationLeft { user_id, conversation_id } if *user_id == me => Some(*conversation_id),
            Event::MemberRemoved { user_id, conversation_id, .. } if *user_id == me => Some(*conversation_id),
            Event::MemberStateChanged { user_id, conversation_id, state: MemberState::Declined } if *user_id == me => {
                Some(*conversation_id)
            }
            Event::ConversationDeleted { conversation_id } => Some(*conversation_id),
            _ => None,
        };
        if let Some(id) = left {
            // The notice of leaving is delivered; nothing after it.
            self.left.insert(id);
            self.sub.leave(Channel::Conversation(id));
            return true;
        }
        !event.conversation_id().is_some_and(|id| self.left.contains(&id))
    }

    /// Handles one client frame; false only when the client is gone.
    async fn on_text(&mut self, text: &str) -> bool {
        let frame = match native::decode(text) {
            Ok(f) => f,
            Err(e) => return self.send(error_frame(None, e.frame_type(), e.code(), &e.to_string())).await,
        };
        let reference = frame.reference().map(str::to_owned);
        let frame_type = frame_type(&frame);
        // A panic in one frame's handling must not take the socket (or the worker) down with it.
        let result = std::panic::AssertUnwindSafe(self.handle(frame)).catch_unwind().await;
        let reply = match result {
            Ok(Ok(Some(frame))) => native::encode(&frame),
            Ok(Ok(None)) => return true,
            Ok(Err(e)) => {
                let e = crate::error::ApiError::from(e);
                let body = e.body();
                error_frame(reference.as_deref(), Some(frame_type), body.code, &body.message)
            }
            Err(_) => error_frame(reference.as_deref(), Some(frame_type), "internal", "internal server error"),
        };
        self.send(reply).await
    }

    async fn handle(&mut self, frame: ClientFrame) -> Result<Option<SessionFrame>, CoreError> {
        let state = self.state.clone();
        let svc = &state.service;
        match frame {
            ClientFrame::Send { reference, conversation_id, content, client_key, attachment } => {
                let sent = svc
                    .send_message(&self.actor, conversation_id, NewMessage { content, attachment, client_key: client_key.clone() })
                    .await?;
                // The ack carries the message: its live echo on this same socket would be a duplicate.
                self.seen.first_time(sent.message.conversation_id, sent.message.seq);
                Ok(Some(SessionFrame::Ack { reference, client_key, message: sent.message, duplicate: !sent.created }))
            }
            ClientFrame::Typing { reference, conversation_id, is_typing } => {
                svc.typing(&self.actor, conversation_id, is_typing).await?;
                Ok(Some(SessionFrame::Ok { reference, frame_type: "typing".into() }))
            }
            ClientFrame::Read { reference, conversation_id, seq } => {
                svc.mark_read(&self.actor, conversation_id, seq).await?;
                Ok(Some(SessionFrame::Ok { reference, frame_type: "read".into() }))
            }
            ClientFrame::Delivered { reference, conversation_id, seq } => {
                svc.mark_delivered(&self.actor, conversation_id, seq).await?;
                Ok(Some(SessionFrame::Ok { reference, frame_type: "delivered".into() }))
            }
            ClientFrame::Resume { reference, cursors } => self.resume(reference, cursors).await.map(Some),
            ClientFrame::Ping { reference } => Ok(Some(SessionFrame::Pong { reference })),
        }
    }

    /// Replays every message after each cursor, page by page, before any queued live event is
    /// written; `seen` drops whatever live delivery already sent. Exactly once, in seq order.
    async fn resume(
        &mut self,
        reference: Option<String>,
        cursors: Vec<chatwire_core::service::SyncCursor>,
    ) -> Result<SessionFrame, CoreError> {
        let state = self.state.clone();
        let svc = &state.service;
        let page = svc.limits().max_page;
        for cursor in &cursors {
            self.seen.client_has(cursor.conversation_id, cursor.seq);
        }
        let batches = svc.sync(&self.actor, &cursors, page).await?;
        let mut conversations = Vec::with_capacity(batches.len());
        for batch in batches {
            let id = batch.conversation_id;
            let mut messages = batch.messages;
            let mut more = batch.has_more;
            loop {
                let mut last = None;
                for message in messages {
                    last = Some(message.seq);
                    if !self.seen.first_time(id, message.seq) {
                        continue;
                    }
                    if !self.send(native::encode_event(&Event::MessageCreated { message })).await {
                        return Err(CoreError::Unavailable("client went away".into()));
                    }
                }
                let Some(after) = last.filter(|_| more) else { break };
                messages = svc.messages(&self.actor, id, MessagePage { before: None, after: Some(after), limit: page }).await?;
                more = messages.len() as i64 == page;
            }
            conversations.push(ResumedConversation { conversation_id: id, last_seq: batch.last_seq });
        }
        Ok(SessionFrame::Resumed { reference, conversations })
    }
}

fn frame_type(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Send { .. } => "send",
        ClientFrame::Typing { .. } => "typing",
        ClientFrame::Read { .. } => "read",
        ClientFrame::Delivered { .. } => "delivered",
        ClientFrame::Resume { .. } => "resume",
        ClientFrame::Ping { .. } => "ping",
    }
}

fn error_frame(reference: Option<&str>, frame_type: Option<&str>, code: &str, message: &str) -> String {
    native::encode(&SessionFrame::Error {
        reference: reference.map(str::to_owned),
        frame_type: frame_type.map(str::to_owned),
        code: code.to_owned(),
        message: message.to_owned(),
    })
}
