//! The socket loop every dialect shares: frames in, events out, heartbeats, slow-consumer and
//! shutdown handling, membership following and exactly-once message delivery. A dialect only
//! decodes its frames, handles them through the service, and encodes events (see [`Dialect`]).
//!
//! What every dialect would otherwise have to remember lives here: a send made through
//! [`SocketCore::send_message`] is never echoed twice on the sending socket; errors reach the
//! dialect typed ([`SocketError`]), as do close reasons ([`CloseWhy`]); and a dialect with no way
//! to say "you may have missed events" has its socket closed for a reconnect ([`Resync`]).
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use chatwire_bus::{Outbound, Subscription};
use chatwire_core::delivery::{DeliveryOrder, Gap};
use chatwire_core::model::{ConversationKind, MemberState, MessagePage, NewMessage, Sent};
use chatwire_core::seen::SeenSeqs;
use chatwire_core::service::{Actor, Requests};
use chatwire_core::{Channel, ConversationId, CoreError, Event};
use chatwire_protocol::DecodeError;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use tracing::Instrument;

use super::Opened;
use crate::error::ApiError;
use crate::metrics::DialectMetrics;
use crate::state::AppState;

/// Why a frame could not be served; the dialect renders it in its own error frame.
#[derive(Debug)]
pub(crate) enum SocketError {
    /// The frame could not be read (not JSON, an unknown type, a bad field).
    Decode(DecodeError),
    /// The service refused it.
    Core(CoreError),
    /// A binary frame: every dialect speaks JSON text.
    Binary,
    /// Handling the frame panicked; the socket lives on.
    Panic,
}

impl SocketError {
    /// A stable snake_case code, the same in every dialect that shows one.
    pub fn code(&self) -> &'static str {
        match self {
            SocketError::Decode(e) => e.code(),
            SocketError::Core(e) => e.code(),
            SocketError::Binary => "unsupported",
            SocketError::Panic => "internal",
        }
    }

    /// What the client is told (internal details stay in the log).
    pub fn message(&self) -> String {
        match self {
            SocketError::Decode(e) => e.to_string(),
            SocketError::Core(e) => ApiError::Core(e.clone()).body().message,
            SocketError::Binary => "binary frames are not supported; send JSON text".to_owned(),
            SocketError::Panic => "internal server error".to_owned(),
        }
    }
}

/// Why the server closes a socket; a dialect may say goodbye in its own frame first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseWhy {
    /// Nothing heard from the client for a heartbeat interval plus `CHATWIRE_PING_TIMEOUT`.
    PingTimeout,
    /// The socket reached its maximum lifetime (`CHATWIRE_CONNECTION_TIMEOUT`).
    ConnectionTimeout,
    /// The node is draining.
    ServerShutdown,
    /// The client read too slowly and its queue overflowed.
    SlowConsumer,
    /// The node may have missed events (a Redis reconnect) and the dialect cannot say so in a frame.
    Resync,
    /// The token the socket was opened (or last refreshed) with expired.
    TokenExpired,
    /// The user was disconnected everywhere (`ChatService::disconnect_user`).
    Disconnected,
}

impl CloseWhy {
    pub const ALL: [CloseWhy; 7] = [
        CloseWhy::PingTimeout,
        CloseWhy::ConnectionTimeout,
        CloseWhy::ServerShutdown,
        CloseWhy::SlowConsumer,
        CloseWhy::Resync,
        CloseWhy::TokenExpired,
        CloseWhy::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseWhy::PingTimeout => "ping_timeout",
            CloseWhy::ConnectionTimeout => "connection_timeout",
            CloseWhy::ServerShutdown => "server_shutdown",
            CloseWhy::SlowConsumer => "slow_consumer",
            CloseWhy::Resync => "resync",
            CloseWhy::TokenExpired => "token_expired",
            CloseWhy::Disconnected => "disconnected",
        }
    }

    /// The close frame: a code clients know to reconnect on, and the reason's name.
    fn close_reason(self) -> CloseReason {
        let (code, description) = match self {
            CloseWhy::PingTimeout => (CloseCode::Away, "timeout"),
            CloseWhy::ConnectionTimeout => (CloseCode::Away, "connection_timeout"),
            CloseWhy::ServerShutdown => (CloseCode::Restart, "reconnect"),
            CloseWhy::SlowConsumer => (CloseCode::Again, "slow_consumer"),
            CloseWhy::Resync => (CloseCode::Restart, "resync"),
            // An application code: the client must come back with a fresh token.
            CloseWhy::TokenExpired => (CloseCode::Other(4001), "token_expired"),
            CloseWhy::Disconnected => (CloseCode::Other(4003), "disconnected"),
        };
        CloseReason { code, description: Some(description.into()) }
    }
}

/// How a dialect tells its client that the node may have missed events.
pub(crate) enum Resync {
    /// A frame the client answers by catching up (the native `resync`).
    Frame(String),
    /// Close with 1012 `resync`: the client reconnects and refetches, as every real client does
    /// on a non-1000 close.
    Reconnect,
}

/// The conversation a per-room socket serves, and the kind it must be (else: 404 at the handshake).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Room {
    pub id: ConversationId,
    pub kind: Option<ConversationKind>,
}

/// A send a dialect hands to the shared loop instead of handling it itself, so several of one
/// socket's sends are in flight at once (they meet in the node's group commit). Replies still
/// go out in the order the frames came.
pub(crate) struct Submit<R> {
    pub conversation: ConversationId,
    pub message: NewMessage,
    pub requests: Requests,
    /// What the reply needs besides the stored message (the client's `ref`, say).
    pub reply: R,
}

/// What one dialect adds to the shared loop.
pub(crate) trait Dialect {
    /// The dialect's name in metrics (`specs/README.md`'s names, and `native`).
    const NAME: &'static str;
    type Frame;
    /// See [`Submit::reply`]; `()` for a dialect that submits nothing.
    type SendReply: 'static;

    /// A plain send becomes a [`Submit`]; every other frame comes back for [`Dialect::handle`].
    fn submit(&self, frame: Self::Frame) -> Result<Submit<Self::SendReply>, Self::Frame> {
        Err(frame)
    }
    /// The reply to a submitted send, once it is stored.
    fn sent(&mut self, _reply: Self::SendReply, _sent: &Sent) -> Option<String> {
        None
    }

    /// The one conversation this socket is about, for dialects with a socket per room.
    fn room(&self) -> Option<Room> {
        None
    }

    fn decode(&self, text: &str) -> Result<Self::Frame, DecodeError>;
    /// The client's reference (echoed on replies, when the dialect has one) and the frame's type.
    fn describe(frame: &Self::Frame) -> (Option<String>, &'static str);
    /// The client's reference in a frame that could not be decoded, so its error still names it.
    fn reference_in(_text: &str) -> Option<String> {
        None
    }
    /// Handles one frame through the service; returns the reply to write, if any. May also
    /// write frames itself through `core.send` (a replay, say). Sends go through
    /// [`SocketCore::send_message`], which keeps the echo rule.
    async fn handle(&mut self, core: &mut SocketCore, frame: Self::Frame) -> Result<Option<String>, CoreError>;
    /// The dialect's error frame; the socket stays open after it.
    fn error(&self, reference: Option<&str>, frame_type: Option<&str>, error: &SocketError) -> String;
    /// Runs once after the upgrade (a dialect may load what it needs); returns a greeting frame.
    async fn greeting(&mut self, _core: &mut SocketCore) -> Option<String> {
        None
    }
    /// This dialect's frame for a live `message_created` when it is the same for every socket
    /// that shows it, so it is encoded once per node thread and shared; `None` (the default):
    /// encoded per socket through [`Dialect::encode_event`].
    fn shared_message_frame(&self, _event: &Event) -> Option<String> {
        None
    }
    /// How this dialect shows an event; `None` for events it has no frame for. May look up what
    /// it lacks (once per conversation, not per message).
    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String>;
    /// How this dialect shows a server event (the server API's `group_send`): by default the
    /// event's `data` is the frame, as the backend that sends it writes what its own clients
    /// expect, the way a Django consumer's handler would.
    fn server_event(&self, event: &Event) -> Option<String> {
        match event {
            Event::ServerEvent { data, .. } => serde_json::to_string(data).ok(),
            _ => None,
        }
    }
    /// What to tell the client after the node may have missed events.
    fn resync(&self) -> Resync {
        Resync::Reconnect
    }
    /// A frame of the dialect's own heartbeat, sent every heartbeat interval (besides the
    /// protocol-level ping every socket gets).
    fn heartbeat(&mut self, _core: &SocketCore) -> Option<String> {
        None
    }
    /// The last frame before the server closes the socket.
    fn farewell(&self, _why: CloseWhy) -> Option<String> {
        None
    }
}

/// Why a socket ends.
enum Close {
    ClientGone,
    Normal(Option<CloseReason>),
    Server(CloseWhy),
}

/// A submitted send, answered.
struct Done<R> {
    reference: Option<String>,
    frame_type: &'static str,
    conversation: ConversationId,
    reply: R,
    result: Result<Sent, SocketError>,
}

type InFlight<R> = FuturesOrdered<Pin<Box<dyn Future<Output = Done<R>>>>>;

/// The state every socket has, whatever its dialect.
pub(crate) struct SocketCore {
    pub state: Arc<AppState>,
    pub actor: Actor,
    pub sub: Subscription,
    session: Session,
    /// This socket's dialect's counters.
    metrics: DialectMetrics,
    /// Seqs already sent, so a resume replay and live delivery that overlap send each once.
    pub seen: SeenSeqs,
    /// What this socket owes per conversation, so live messages go out in seq order and a gap
    /// (a publish lost or late) is filled from the store.
    pub order: DeliveryOrder<Arc<Event>>,
    /// The one conversation a per-room socket follows.
    room: Option<ConversationId>,
    /// Set when something below the loop (a gap fill inside a send) must end the socket.
    pending_close: Option<Close>,
    /// Conversations the user left while this socket was open: their queued events are dropped.
    left: HashSet<ConversationId>,
    /// Submitted sends not yet answered, per conversation; events of those conversations wait in
    /// `deferred` until they are, so a live copy of a send never overtakes its reply.
    sending: HashMap<ConversationId, usize>,
    deferred: VecDeque<Outbound>,
    /// Counted in presence (after its greeting); only then does closing count it out.
    online: bool,
    last_heard: Instant,
    pub connected_at: Instant,
    /// When the client last sent anything (for status reports).
    pub last_activity: DateTime<Utc>,
    /// When the socket's token expires (and its `exp`); a refresh (native) moves it.
    token_expires: tokio::time::Instant,
    token_exp: u64,
}

/// Whether a write finished in time and succeeded.
fn written<E>(r: Result<Result<(), E>, tokio::time::error::Elapsed>) -> bool {
    matches!(r, Ok(Ok(())))
}

/// The monotonic instant of a Unix time in seconds (now, if it is already past).
fn instant_of(unix_secs: u64) -> tokio::time::Instant {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(unix_secs);
    let left = at.duration_since(std::time::SystemTime::now()).unwrap_or_default();
    tokio::time::Instant::now() + left
}

pub(crate) async fn run<D: Dialect>(
    state: Arc<AppState>,
    opened: Opened,
    session: Session,
    stream: AggregatedMessageStream,
    mut dialect: D,
) {
    let Opened { slot: _slot, actor, token_expires_at, sub, floors, room } = opened;
    let conversations: Vec<ConversationId> = floors.iter().map(|(c, _)| *c).collect();
    let mut order = DeliveryOrder::new(state.settings.order_hold);
    order.follow_all(floors);
    let metrics = state.metrics.dialect(D::NAME);
    let _open = metrics.open();
    let mut core = SocketCore {
        metrics,
        order,
        room,
        pending_close: None,
        state,
        actor,
        sub,
        session,
        token_expires: instant_of(token_expires_at),
        token_exp: token_expires_at,
        seen: SeenSeqs::default(),
        left: HashSet::new(),
        sending: HashMap::new(),
        deferred: VecDeque::new(),
        online: false,
        last_heard: Instant::now(),
        connected_at: Instant::now(),
        last_activity: Utc::now(),
    };
    let mut close = core.serve(&mut dialect, stream, &conversations).await;
    if core.sub.slow.is_raised() {
        close = Close::Server(CloseWhy::SlowConsumer);
    }
    if core.online
        && let Err(err) = core.state.service.disconnected(&core.actor).await
    {
        tracing::warn!(%err, "presence update failed");
    }
    let reason = match close {
        Close::ClientGone => return,
        Close::Normal(reason) => reason,
        Close::Server(why) => {
            core.state.metrics.socket_closed(why.as_str(), why == CloseWhy::SlowConsumer);
            if let Some(frame) = dialect.farewell(why) {
                // A slow client may not take it; the close frame follows either way.
                let _ = tokio::time::timeout(Duration::from_secs(1), core.session.text(frame)).await;
            }
            Some(why.close_reason())
        }
    };
    // A client that stopped reading cannot hold the task (and its memory) with the close either.
    let _ = tokio::time::timeout(core.state.settings.write_timeout, core.session.close(reason)).await;
}

impl SocketCore {
    async fn serve<D: Dialect>(
        &mut self,
        dialect: &mut D,
        mut stream: AggregatedMessageStream,
        conversations: &[ConversationId],
    ) -> Close {
        if let Some(greeting) = Box::pin(dialect.greeting(self)).await
            && !self.send(greeting).await
        {
            return Close::ClientGone;
        }
        // After the greeting: the client can start while its contacts hear it came online.
        self.online = true;
        if let Err(err) = self.state.service.connected(&self.actor, conversations).await {
            tracing::warn!(%err, "presence update failed");
        }
        let interval = Duration::from_secs(self.state.settings.heartbeat_interval_secs);
        let patience = interval + Duration::from_secs(self.state.settings.ping_timeout_secs);
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let slow = self.sub.slow.clone();
        let write_timeout = self.state.settings.write_timeout;
        let mut shutdown = self.state.shutdown.subscribe();
        let lifetime = Some(self.state.settings.connection_timeout_secs).filter(|s| *s > 0).map(Duration::from_secs);
        let expiry = tokio::time::sleep_until(self.token_expires);
        tokio::pin!(expiry);
        let pipeline = self.state.settings.socket_pipeline;
        let mut in_flight: InFlight<D::SendReply> = FuturesOrdered::new();
        loop {
            if expiry.deadline() != self.token_expires {
                expiry.as_mut().reset(self.token_expires);
            }
            if let Some(close) = self.pending_close.take() {
                return close;
            }
            let due = self.order.next_due();
            tokio::select! {
                _ = &mut expiry => return Close::Server(CloseWhy::TokenExpired),
                _ = tokio::time::sleep_until(due.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std)),
                    if due.is_some() =>
                {
                    for gap in self.order.due(Instant::now()) {
                        if let Err(close) = Box::pin(self.fill(dialect, gap)).await { return close; }
                    }
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    if !self.complete(dialect, done).await { return Close::ClientGone; }
                }
                // A socket at its pipeline reads no more frames until a send is answered: TCP
                // pushes back on the client, which just waits. (Refusing instead would make a
                // dialect client that bursts a few dozen messages, and never retries, lose them.)
                msg = stream.recv(), if in_flight.len() < pipeline => {
                    self.last_heard = Instant::now();
                    self.last_activity = Utc::now();
                    match msg {
                        None => return Close::ClientGone,
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            // Boxed: a frame's handling is deep (service, store); an idle socket's
                            // future should not carry that state all its life.
                            if !Box::pin(self.on_text(dialect, &text, &mut in_flight)).await { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            let err = dialect.error(None, None, &SocketError::Binary);
                            if !self.send(err).await { return Close::ClientGone; }
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if !written(tokio::time::timeout(write_timeout, self.session.pong(&bytes)).await) { return Close::ClientGone; }
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
                out = self.sub.recv() => {
                    let Some(out) = out else { return Close::ClientGone };
                    if self.waits_for_a_reply(&out) {
                        if self.deferred.len() >= self.state.settings.socket_queue {
                            return Close::Server(CloseWhy::SlowConsumer);
                        }
                        self.deferred.push_back(out);
                        continue;
                    }
                    if let Some(close) = Box::pin(self.on_outbound(dialect, out)).await { return close; }
                }
                _ = slow.wait() => return Close::Server(CloseWhy::SlowConsumer),
                _ = shutdown.wait_for(|down| *down) => return Close::Server(CloseWhy::ServerShutdown),
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > patience {
                        return Close::Server(CloseWhy::PingTimeout);
                    }
                    if lifetime.is_some_and(|max| self.connected_at.elapsed() > max) {
                        return Close::Server(CloseWhy::ConnectionTimeout);
                    }
                    if !written(tokio::time::timeout(write_timeout, self.session.ping(b"")).await) { return Close::ClientGone; }
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
            written = tokio::time::timeout(self.state.settings.write_timeout, self.session.text(text)) => {
                matches!(written, Ok(Ok(())))
            }
            _ = slow.wait() => false,
        }
    }

    /// When this socket's token expires, in Unix seconds.
    pub fn token_expires_at(&self) -> u64 {
        self.token_exp
    }

    /// Takes a fresh token for this socket (native `refresh`): it must name the same user, and the
    /// socket then lives until the new token's `exp`.
    pub fn refresh_token(&mut self, token: &str) -> Result<u64, CoreError> {
        let verified = self.state.verifier.verify(token).map_err(|e| CoreError::invalid("token", e.to_string()))?;
        if verified.id != *self.actor.id() {
            return Err(CoreError::Forbidden("a refreshed token must name the same user"));
        }
        self.token_expires = instant_of(verified.expires_at);
        self.token_exp = verified.expires_at;
        Ok(verified.expires_at)
    }

    /// Sends a message as this socket's user. The reply the dialect writes carries the message,
    /// so its live copy on this same socket is dropped: each socket shows a message once. Messages
    /// before it that this socket still owes (another sender's, in flight) are written first, so
    /// the reply never overtakes them.
    pub async fn send_message<D: Dialect>(
        &mut self,
        dialect: &mut D,
        conversation: ConversationId,
        message: NewMessage,
        requests: Requests,
    ) -> Result<Sent, CoreError> {
        let sent = self.state.service.send(&self.actor, conversation, message, requests).await;
        self.state.metrics.send_result(&self.metrics.sent, &sent);
        let sent = sent?;
        self.own(dialect, &sent).await;
        Ok(sent)
    }

    /// Books this socket's own stored send: what it owed before it is written first, and its live
    /// copy is dropped when it comes.
    async fn own<D: Dialect>(&mut self, dialect: &mut D, sent: &Sent) {
        let (conversation, seq) = (sent.message.conversation_id, sent.message.seq);
        if let Err(gap) = self.order.own(conversation, seq) {
            if let Err(close) = Box::pin(self.fill(dialect, gap)).await {
                self.pending_close = Some(close);
            }
            let _ = self.order.own(conversation, seq);
        }
        self.seen.first_time(conversation, seq);
    }

    /// Starts a submitted send without waiting for it.
    fn start_send<R: 'static>(
        &mut self,
        in_flight: &mut InFlight<R>,
        submit: Submit<R>,
        reference: Option<String>,
        frame_type: &'static str,
        span: tracing::Span,
    ) {
        let Submit { conversation, message, requests, reply } = submit;
        *self.sending.entry(conversation).or_default() += 1;
        let (service, actor) = (self.state.service.clone(), self.actor.clone());
        let (metrics, sent) = (self.state.metrics.clone(), self.metrics.sent.clone());
        in_flight.push_back(Box::pin(
            async move {
                let sending = std::panic::AssertUnwindSafe(service.send(&actor, conversation, message, requests));
                let result = sending.catch_unwind().await;
                if let Ok(result) = &result {
                    metrics.send_result(&sent, result);
                }
                let result = match result {
                    Ok(result) => result.map_err(SocketError::Core),
                    Err(_) => Err(SocketError::Panic),
                };
                Done { reference, frame_type, conversation, reply, result }
            }
            .instrument(span),
        ));
    }

    /// Writes a submitted send's reply. What of its conversation waited for it goes out around it:
    /// events before its seq first, the rest once nothing of the conversation is in flight any
    /// more (so a socket that never stops sending still gets everyone else's messages). False
    /// only when the client is gone.
    async fn complete<D: Dialect>(&mut self, dialect: &mut D, done: Done<D::SendReply>) -> bool {
        let Done { reference, frame_type, conversation, reply, result } = done;
        let frame = match result {
            Ok(sent) => {
                self.release(dialect, conversation, Some(sent.message.seq)).await;
                self.own(dialect, &sent).await;
                dialect.sent(reply, &sent)
            }
            Err(e) => {
                if let SocketError::Core(CoreError::Internal(detail) | CoreError::Unavailable(detail)) = &e {
                    tracing::error!(%detail, frame_type, "socket send failed");
                }
                Some(dialect.error(reference.as_deref(), Some(frame_type), &e))
            }
        };
        if let Some(frame) = frame
            && !self.send(frame).await
        {
            return false;
        }
        match self.sending.get_mut(&conversation) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.sending.remove(&conversation);
                self.release(dialect, conversation, None).await;
            }
        }
        true
    }

    /// Hands on the waiting events of `conversation`: all of them, or (`below`) all but the
    /// messages at or above that seq, which may be this socket's own sends still in flight.
    async fn release<D: Dialect>(&mut self, dialect: &mut D, conversation: ConversationId, below: Option<i64>) {
        if self.deferred.is_empty() {
            return;
        }
        let held = |out: &Outbound| match out {
            Outbound::Event(event) if event.conversation_id() == Some(conversation) => match (event.as_ref(), below) {
                (Event::MessageCreated { message }, Some(seq)) => message.seq >= seq,
                _ => false,
            },
            _ => true,
        };
        let deferred = std::mem::take(&mut self.deferred);
        let (waiting, ready): (VecDeque<Outbound>, VecDeque<Outbound>) = deferred.into_iter().partition(held);
        self.deferred = waiting;
        for out in ready {
            if let Some(close) = Box::pin(self.on_outbound(dialect, out)).await {
                self.pending_close.get_or_insert(close);
                return;
            }
        }
    }

    /// Whether an event must wait: a send of this socket to its conversation is in flight.
    fn waits_for_a_reply(&self, out: &Outbound) -> bool {
        match out {
            Outbound::Event(event) => event.conversation_id().is_some_and(|c| self.sending.contains_key(&c)),
            Outbound::Resync => false,
        }
    }

    /// Writes the messages of a gap, read from the store, then the held ones they unblocked. A
    /// conversation the user is no longer in (a leave lost on the way) is dropped; a store that
    /// cannot answer closes the socket for a reconnect, so the gap is never silent.
    async fn fill<D: Dialect>(&mut self, dialect: &mut D, gap: Gap) -> Result<(), Close> {
        let mut after = gap.after;
        let mut fetched = Vec::new();
        while after + 1 < gap.before {
            let page = MessagePage { before: None, after: Some(after), limit: gap.before - after - 1 };
            match self.state.service.messages(&self.actor, gap.conversation, page).await {
                Ok(messages) => {
                    let Some(last) = messages.last().map(|m| m.seq) else { break };
                    after = last;
                    fetched.extend(
                        messages
                            .into_iter()
                            .filter(|m| m.seq < gap.before)
                            .map(|m| (m.seq, Arc::new(Event::MessageCreated { message: m }))),
                    );
                }
                Err(CoreError::NotFound(_)) => {
                    self.forget(gap.conversation);
                    return Ok(());
                }
                Err(err) => {
                    tracing::warn!(%err, conversation = %gap.conversation, "could not fill a gap; closing for a reconnect");
                    return Err(Close::Server(CloseWhy::Resync));
                }
            }
        }
        for event in self.order.filled(gap.conversation, fetched) {
            if !self.write_message(dialect, &event).await {
                return Err(Close::ClientGone);
            }
        }
        Ok(())
    }

    /// Writes one message event unless this socket already sent it.
    async fn write_message<D: Dialect>(&mut self, dialect: &mut D, event: &Arc<Event>) -> bool {
        if let Event::MessageCreated { message } = event.as_ref()
            && !self.seen.first_time(message.conversation_id, message.seq)
        {
            return true;
        }
        let shared = super::frames::shared(std::any::type_name::<D>(), event, |e| dialect.shared_message_frame(e));
        let frame = match shared {
            Some(frame) => Some(frame),
            None => dialect.encode_event(self, event).await,
        };
        match frame {
            Some(frame) => self.send(frame).await,
            None => true,
        }
    }

    /// After the node may have missed events: memberships are read again, so a leave (or join)
    /// lost on the way does not leave the socket on a conversation its user left (or off one
    /// they joined).
    async fn reconcile(&mut self) {
        let now = match self.state.service.last_seqs(&self.actor).await {
            Ok(now) => now,
            Err(err) => {
                tracing::warn!(%err, "could not re-read memberships after a resync");
                return;
            }
        };
        let visible: HashSet<ConversationId> = now.iter().map(|(c, _)| *c).collect();
        for gone in self.order.followed().into_iter().filter(|c| !visible.contains(c)) {
            self.forget(gone);
        }
        if self.room.is_some() {
            return;
        }
        let followed: HashSet<ConversationId> = self.order.followed().into_iter().collect();
        for (joined, last_seq) in now.into_iter().filter(|(c, _)| !followed.contains(c)) {
            self.left.remove(&joined);
            self.order.follow(joined, last_seq);
            if let Err(err) = self.sub.join(&[Channel::Conversation(joined)]).await {
                tracing::warn!(%err, "could not follow a conversation after a resync");
            }
        }
    }

    /// Stops following a conversation: its queued and future events are dropped.
    fn forget(&mut self, conversation: ConversationId) {
        self.left.insert(conversation);
        self.sub.leave(Channel::Conversation(conversation));
        self.order.unfollow(conversation);
    }

    /// Writes what an event means to this socket; `Some` when the socket must end.
    async fn on_outbound<D: Dialect>(&mut self, dialect: &mut D, out: Outbound) -> Option<Close> {
        let event = match out {
            Outbound::Resync => {
                return match dialect.resync() {
                    Resync::Frame(frame) => {
                        self.reconcile().await;
                        (!self.send(frame).await).then_some(Close::ClientGone)
                    }
                    Resync::Reconnect => Some(Close::Server(CloseWhy::Resync)),
                };
            }
            Outbound::Event(event) => event,
        };
        if let Event::UserDisconnected { user_id } = event.as_ref()
            && user_id == self.actor.id()
        {
            return Some(Close::Server(CloseWhy::Disconnected));
        }
        if let Event::SeqHint { conversation_id, last_seq } = event.as_ref() {
            // Only for this socket's bookkeeping: the fill, if anything is owed, runs from the loop.
            if !self.left.contains(conversation_id) {
                self.order.hint(*conversation_id, *last_seq, Instant::now());
            }
            return None;
        }
        if !self.follow(&event).await {
            return None;
        }
        if let Event::MessageCreated { message } = event.as_ref() {
            let ready = self.order.live(message.conversation_id, message.seq, event.clone(), Instant::now());
            for event in ready {
                if !self.write_message(dialect, &event).await {
                    return Some(Close::ClientGone);
                }
            }
            return None;
        }
        let frame = match event.as_ref() {
            Event::ServerEvent { .. } => dialect.server_event(&event)?,
            _ => dialect.encode_event(self, &event).await?,
        };
        (!self.send(frame).await).then_some(Close::ClientGone)
    }

    /// Keeps the socket's subscriptions in step with the user's memberships; `false` for an event
    /// of a conversation the user has just left (it was already queued when they left).
    async fn follow(&mut self, event: &Event) -> bool {
        let me = self.actor.id().clone();
        let left = match event {
            Event::ConversationJoined { user_id, conversation, .. } if *user_id == me => {
                if self.room.is_some_and(|room| room != conversation.id) {
                    // A per-room socket follows its room only.
                    return true;
                }
                self.left.remove(&conversation.id);
                // Messages posted after this notice was written are owed; a gap before the join
                // completes is filled when the next one arrives.
                self.order.follow(conversation.id, conversation.last_seq);
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
            self.forget(id);
            return true;
        }
        !event.conversation_id().is_some_and(|id| self.left.contains(&id))
    }

    /// Handles one client frame; false only when the client is gone. A send is started and left
    /// in flight; any other frame first waits for the sends before it, so it sees them done (a
    /// `read` after a `send` covers it).
    async fn on_text<D: Dialect>(
        &mut self,
        dialect: &mut D,
        text: &str,
        in_flight: &mut InFlight<D::SendReply>,
    ) -> bool {
        let frame = match dialect.decode(text) {
            Ok(f) => f,
            Err(e) => {
                let (reference, frame_type) = (D::reference_in(text), e.frame_type().map(str::to_owned));
                let reply = dialect.error(reference.as_deref(), frame_type.as_deref(), &SocketError::Decode(e));
                return self.send(reply).await;
            }
        };
        let (reference, frame_type) = D::describe(&frame);
        let frame = match dialect.submit(frame) {
            Ok(submit) => {
                let span =
                    crate::telemetry::frame_span(D::NAME, frame_type, self.actor.id(), Some(submit.conversation));
                self.start_send(in_flight, submit, reference, frame_type, span);
                return true;
            }
            Err(frame) => frame,
        };
        let span = crate::telemetry::frame_span(D::NAME, frame_type, self.actor.id(), None);
        while let Some(done) = in_flight.next().await {
            if !self.complete(dialect, done).await {
                return false;
            }
        }
        // A panic in one frame's handling must not take the socket (or the worker) down with it.
        // While the frame waits (on Postgres, say), the client still gets its pings, so a slow
        // answer is never mistaken for a dead connection.
        let mut pinger = self.session.clone();
        let interval = Duration::from_secs(self.state.settings.heartbeat_interval_secs);
        let write_timeout = self.state.settings.write_timeout;
        let result = {
            let handling = std::panic::AssertUnwindSafe(dialect.handle(self, frame)).catch_unwind().instrument(span);
            tokio::pin!(handling);
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tokio::select! {
                    result = &mut handling => break result,
                    _ = beat.tick() => {
                        let _ = tokio::time::timeout(write_timeout, pinger.ping(b"")).await;
                    }
                }
            }
        };
        let reply = match result {
            Ok(Ok(Some(reply))) => reply,
            Ok(Ok(None)) => return true,
            Ok(Err(e)) => {
                if let CoreError::Internal(detail) | CoreError::Unavailable(detail) = &e {
                    tracing::error!(%detail, frame_type, "socket frame failed");
                }
                dialect.error(reference.as_deref(), Some(frame_type), &SocketError::Core(e))
            }
            Err(_) => {
                tracing::error!(frame_type, "socket frame handling panicked");
                dialect.error(reference.as_deref(), Some(frame_type), &SocketError::Panic)
            }
        };
        self.send(reply).await
    }
}
