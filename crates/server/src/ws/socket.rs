//! The socket loop every dialect shares: frames in, events out, heartbeats, slow-consumer and
//! shutdown handling, membership following and exactly-once message delivery. A dialect only
//! decodes its frames, handles them through the service, and encodes events (see [`Dialect`]).
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use chatwire_bus::{Outbound, Subscription};
use chatwire_core::model::MemberState;
use chatwire_core::seen::SeenSeqs;
use chatwire_core::service::Actor;
use chatwire_core::{Channel, ConversationId, CoreError, Event};
use chatwire_protocol::DecodeError;
use futures_util::FutureExt;

use super::WRITE_TIMEOUT;
use crate::state::AppState;

/// What one dialect adds to the shared loop.
pub(crate) trait Dialect {
    type Frame;

    /// The one conversation this socket is about, for dialects with a socket per room.
    fn room(&self) -> Option<ConversationId> {
        None
    }

    fn decode(&self, text: &str) -> Result<Self::Frame, DecodeError>;
    /// The client's reference (echoed on replies, when the dialect has one) and the frame's type.
    fn describe(frame: &Self::Frame) -> (Option<String>, &'static str);
    /// Handles one frame through the service; returns the reply to write, if any. May also
    /// write frames itself through `core.send` (a replay, say).
    async fn handle(&mut self, core: &mut SocketCore, frame: Self::Frame) -> Result<Option<String>, CoreError>;
    /// The dialect's error frame; the socket stays open after it.
    fn error(&self, reference: Option<&str>, frame_type: Option<&str>, code: &str, message: &str) -> String;
    /// Runs once after the upgrade (a dialect may load what it needs); returns a greeting frame.
    async fn greeting(&mut self, core: &mut SocketCore) -> Option<String>;
    /// How this dialect shows an event; `None` for events it has no frame for. May look up what
    /// it lacks (once per conversation, not per message).
    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String>;
    /// What to tell the client after the node may have missed events.
    fn resync(&self) -> Option<String>;
    /// A frame of the dialect's own heartbeat, sent every heartbeat interval (besides the
    /// protocol-level ping every socket gets).
    fn heartbeat(&mut self, _core: &SocketCore) -> Option<String> {
        None
    }
    /// The last frame before the server closes the socket for `reason` (`ping_timeout`,
    /// `connection_timeout`, `server_shutdown`, `slow_consumer`).
    fn farewell(&self, _reason: &str) -> Option<String> {
        None
    }
}

/// Why a socket ends; each becomes a close frame the client can act on.
enum Close {
    ClientGone,
    Normal(Option<CloseReason>),
    Slow,
    Timeout,
    /// The socket reached its maximum lifetime (`CHATWIRE_CONNECTION_TIMEOUT`).
    Expired,
    Draining,
}

/// The state every socket has, whatever its dialect.
pub(crate) struct SocketCore {
    pub state: Arc<AppState>,
    pub actor: Actor,
    pub sub: Subscription,
    session: Session,
    /// Seqs already sent, so a resume replay and live delivery that overlap send each once.
    pub seen: SeenSeqs,
    /// Conversations the user left while this socket was open: their queued events are dropped.
    left: HashSet<ConversationId>,
    last_heard: Instant,
    pub connected_at: Instant,
    /// When the client last sent anything (for status reports).
    pub last_activity: DateTime<Utc>,
}

pub(crate) async fn run<D: Dialect>(
    state: Arc<AppState>,
    actor: Actor,
    sub: Subscription,
    conversations: Vec<ConversationId>,
    session: Session,
    stream: AggregatedMessageStream,
    mut dialect: D,
) {
    let mut core =
        SocketCore {
            state,
            actor,
            sub,
            session,
            seen: SeenSeqs::default(),
            left: HashSet::new(),
            last_heard: Instant::now(),
            connected_at: Instant::now(),
            last_activity: Utc::now(),
        };
    if let Err(err) = core.state.service.connected(&core.actor, &conversations).await {
        tracing::warn!(%err, "presence update failed");
    }
    let mut close = core.serve(&mut dialect, stream).await;
    if core.sub.slow.is_raised() {
        close = Close::Slow;
    }
    if let Err(err) = core.state.service.disconnected(&core.actor).await {
        tracing::warn!(%err, "presence update failed");
    }
    let (reason, why) = match close {
        Close::ClientGone => return,
        Close::Normal(reason) => (reason, None),
        Close::Slow => (Some(CloseReason { code: CloseCode::Again, description: Some("slow_consumer".into()) }), Some("slow_consumer")),
        Close::Timeout => (Some(CloseReason { code: CloseCode::Away, description: Some("timeout".into()) }), Some("ping_timeout")),
        Close::Expired => (
            Some(CloseReason { code: CloseCode::Away, description: Some("connection_timeout".into()) }),
            Some("connection_timeout"),
        ),
        Close::Draining => (Some(CloseReason { code: CloseCode::Restart, description: Some("reconnect".into()) }), Some("server_shutdown")),
    };
    if let Some(frame) = why.and_then(|why| dialect.farewell(why)) {
        // A slow client may not take it; the close frame follows either way.
        let _ = tokio::time::timeout(Duration::from_secs(1), core.session.text(frame)).await;
    }
    let _ = core.session.close(reason).await;
}

impl SocketCore {
    async fn serve<D: Dialect>(&mut self, dialect: &mut D, mut stream: AggregatedMessageStream) -> Close {
        if let Some(greeting) = Box::pin(dialect.greeting(self)).await
            && !self.send(greeting).await {
                return Close::ClientGone;
            }
        let interval = Duration::from_secs(self.state.settings.heartbeat_interval_secs);
        let patience = interval + Duration::from_secs(self.state.settings.ping_timeout_secs);
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let slow = self.sub.slow.clone();
        let mut shutdown = self.state.shutdown.subscribe();
        let lifetime = Some(self.state.settings.connection_timeout_secs).filter(|s| *s > 0).map(Duration::from_secs);
        loop {
            tokio::select! {
                msg = stream.recv() => {
                    self.last_heard = Instant::now();
                    self.last_activity = Utc::now();
                    match msg {
                        None => return Close::ClientGone,
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            // Boxed: a frame's handling is deep (service, store); an idle socket's
                            // future should not carry that state all its life.
                            if !Box::pin(self.on_text(dialect, &text)).await { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            let err = dialect.error(None, None, "unsupported", "binary frames are not supported; send JSON text");
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
                    if !Box::pin(self.on_outbound(dialect, out)).await { return Close::ClientGone; }
                }
                _ = slow.wait() => return Close::Slow,
                _ = shutdown.wait_for(|down| *down) => return Close::Draining,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > patience {
                        return Close::Timeout;
                    }
                    if lifetime.is_some_and(|max| self.connected_at.elapsed() > max) {
                        return Close::Expired;
                    }
                    if self.session.ping(b"").await.is_err() { return Close::ClientGone; }
                    if let Some(frame) = dialect.heartbeat(self)
                        && !self.send(frame).await { return Close::ClientGone; }
                }
            }
        }
    }

    /// Writes one frame; false when the client is gone, stopped reading, or fell so far behind
    /// that its queue overflowed meanwhile.
    pub async fn send(&mut self, text: String) -> bool {
        let slow = self.sub.slow.clone();
        tokio::select! {
            written = tokio::time::timeout(WRITE_TIMEOUT, self.session.text(text)) => matches!(written, Ok(Ok(()))),
            _ = slow.wait() => false,
        }
    }

    async fn on_outbound<D: Dialect>(&mut self, dialect: &mut D, out: Outbound) -> bool {
        let event = match out {
            Outbound::Resync => {
                return match dialect.resync() {
                    Some(frame) => self.send(frame).await,
                    None => true,
                };
            }
            Outbound::Event(event) => event,
        };
        if !self.follow(&event).await {
            return true;
        }
        if let Event::MessageCreated { message } = event.as_ref()
            && !self.seen.first_time(message.conversation_id, message.seq) {
                return true;
            }
        match dialect.encode_event(self, &event).await {
            Some(frame) => self.send(frame).await,
            None => true,
        }
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
    async fn on_text<D: Dialect>(&mut self, dialect: &mut D, text: &str) -> bool {
        let frame = match dialect.decode(text) {
            Ok(f) => f,
            Err(e) => {
                let reply = dialect.error(None, e.frame_type(), e.code(), &e.to_string());
                return self.send(reply).await;
            }
        };
        let (reference, frame_type) = D::describe(&frame);
        // A panic in one frame's handling must not take the socket (or the worker) down with it.
        let result = std::panic::AssertUnwindSafe(dialect.handle(self, frame)).catch_unwind().await;
        let reply = match result {
            Ok(Ok(Some(reply))) => reply,
            Ok(Ok(None)) => return true,
            Ok(Err(e)) => {
                let body = crate::error::ApiError::from(e).body();
                dialect.error(reference.as_deref(), Some(frame_type), body.code, &body.message)
            }
            Err(_) => dialect.error(reference.as_deref(), Some(frame_type), "internal", "internal server error"),
        };
        self.send(reply).await
    }
}
