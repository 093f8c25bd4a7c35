//! WebSockets: the handshake (authenticate, subscribe, then upgrade) and the per-socket loop
//! (`session`) every dialect's socket runs on. Which dialect serves which path is decided above,
//! in `dialects`.
//!
//! A socket is subscribed to `user_<id>` and to `chat_<id>` of every conversation the user can
//! see *before* the upgrade is answered, so it receives every event published after its
//! handshake completes.
mod frames;
mod session;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_bus::{QueueLimits, Subscription};
use chatwire_core::service::Actor;
use chatwire_core::{Channel, ConversationId, UserId};

use crate::auth;
use crate::error::ApiError;
use crate::metrics::Limit;
use crate::state::AppState;

pub(crate) use session::{CloseWhy, Dialect, Resync, Room, SocketCore, SocketError, Submit};

/// Authenticates, subscribes, upgrades, and runs the socket loop with `dialect`.
pub(crate) async fn upgrade<D: Dialect + 'static>(
    req: &HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    dialect: D,
) -> Result<HttpResponse, ApiError> {
    let opened = open(req, &state, dialect.room()).await?;
    let (response, session, stream) =
        actix_ws::handle(req, body).map_err(|e| ApiError::bad_request("not_websocket", e.to_string()))?;
    let stream = stream.max_frame_size(64 * 1024).aggregate_continuations().max_continuation_size(256 * 1024);
    actix_web::rt::spawn(session::run(state.into_inner(), opened, session, stream, dialect));
    Ok(response)
}

/// Open sockets per user on this node.
#[derive(Default)]
pub struct SocketCounts(std::sync::Mutex<HashMap<UserId, usize>>);

/// One open socket's place in [`SocketCounts`]; given back when the socket ends.
pub(crate) struct SocketSlot {
    counts: Arc<SocketCounts>,
    user: UserId,
}

impl SocketCounts {
    /// No socket is open on this node.
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn claim(self: &Arc<Self>, user: &UserId, max: usize) -> Option<SocketSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(user.clone()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SocketSlot { counts: self.clone(), user: user.clone() })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

/// A socket that passed its handshake: who, until when, and what it follows.
pub(crate) struct Opened {
    /// Held for the socket's life: its place under the per-user cap.
    pub slot: SocketSlot,
    pub actor: Actor,
    /// The token's `exp` (seconds since the Unix epoch): the socket is closed then.
    pub token_expires_at: u64,
    pub sub: Subscription,
    /// Each followed conversation with its newest seq when the socket started: what is owed live
    /// starts above it. (A message committed between that read and the subscription, whose
    /// publish came before it, is a gap like any other: filled when the next one arrives, or by
    /// the node's sweep.)
    pub floors: Vec<(ConversationId, i64)>,
    pub room: Option<ConversationId>,
}

/// Authenticates a socket request and subscribes it to everything its user can see.
///
/// The user's own channel is joined before the memberships are read: a removal that lands
/// between the read and the join is then seen (its `conversation_left` arrives on `user_<id>`)
/// instead of leaving the socket on a conversation its user just left.
pub(crate) async fn open(req: &HttpRequest, state: &AppState, room: Option<Room>) -> Result<Opened, ApiError> {
    if state.is_draining() {
        return Err(chatwire_core::CoreError::Unavailable("node is shutting down".into()).into());
    }
    // Refused before the token is even read: a reconnect storm from one address costs nothing.
    // A client on the node's own machine (a load test, a local tool) is not limited; one behind a
    // proxy there is known by its forwarded address.
    if let Some(ip) = crate::client_ip::client_ip(req, &state.settings.trusted_proxies)
        && !ip.is_loopback()
    {
        state.handshakes.check(&ip).map_err(|retry_after| {
            state.metrics.refused(Limit::HandshakeRate);
            chatwire_core::CoreError::RateLimited { retry_after }
        })?;
    }
    let token = auth::socket_token(req);
    let (actor, token_expires_at) = auth::authenticate_until(state, token.as_deref()).await?;
    let max = state.settings.max_sockets_per_user;
    let slot = state.sockets.claim(actor.id(), max).ok_or_else(|| {
        state.metrics.refused(Limit::SocketsPerUser);
        ApiError::TooMany {
            code: "too_many_sockets",
            message: format!("at most {max} open sockets per user on one node"),
        }
    })?;
    let sub = state
        .hub
        .register(QueueLimits { events: state.settings.socket_queue, bytes: state.settings.socket_queue_bytes });
    sub.join(&[Channel::User(actor.id().clone())]).await.map_err(chatwire_core::CoreError::from)?;
    // One query gives both what the socket follows and where it starts owing.
    let floors = match room {
        // A socket for one room follows only that room (and its user's own channel).
        Some(room) => {
            let view = state.service.conversation(&actor, room.id).await?;
            if room.kind.is_some_and(|kind| kind != view.conversation.kind) {
                return Err(chatwire_core::CoreError::NotFound("room").into());
            }
            vec![(view.conversation.id, view.conversation.last_seq)]
        }
        None => state.service.last_seqs(&actor).await?,
    };
    let channels: Vec<Channel> = floors.iter().map(|(c, _)| Channel::Conversation(*c)).collect();
    sub.join(&channels).await.map_err(chatwire_core::CoreError::from)?;
    Ok(Opened { slot, actor, token_expires_at, sub, floors, room: room.map(|r| r.id) })
}
