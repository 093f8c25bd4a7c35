//! WebSockets: the handshake (authenticate, subscribe, then upgrade) and the per-socket loop.
//!
//! A socket is subscribed to `user_<id>` and to `chat_<id>` of every conversation the user can
//! see *before* the upgrade is answered, so it receives every event published after its
//! handshake completes.
mod django_messaging;
mod dotted;
mod native;
mod rooms;
mod socket;
mod spherespace;
mod threads;

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_bus::Subscription;
use chatwire_core::{Channel, ConversationId};
use chatwire_core::service::Actor;

use crate::auth;
use crate::config::WsChatDialect;
use socket::Dialect;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/v1", web::get().to(native_socket))
        .route("/ws/v1/", web::get().to(native_socket))
        .route("/ws/chat/", web::get().to(chat_socket))
        .route("/ws/chat", web::get().to(chat_socket))
        .route("/messages/ws/", web::get().to(django_messaging_socket))
        .route("/messages/ws", web::get().to(django_messaging_socket))
        .route("/ws/chat/room/", web::get().to(threads_socket))
        .route("/ws/chat/room", web::get().to(threads_socket))
        .route("/ws/chat/{room_id}/", web::get().to(rooms_socket))
        .route("/ws/chat/{room_id}", web::get().to(rooms_socket));
}

/// `GET /ws/v1?token=<jwt>`: the native socket. A bad token is refused with 401 before the upgrade.
async fn native_socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    upgrade(&req, body, state, native::Native).await
}

/// `GET /messages/ws/?token=<jwt>`: the django_messaging dialect's event socket.
async fn django_messaging_socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    upgrade(&req, body, state, django_messaging::DjangoMessaging).await
}

/// `GET /ws/chat/room/?token=<jwt>`: the threads dialect's socket.
async fn threads_socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    upgrade(&req, body, state, threads::Threads::default()).await
}

/// `GET /ws/chat/{room_id}/?token=<jwt>`: the rooms dialect's socket for one room. A room the
/// caller is not in is refused like one that does not exist (404).
async fn rooms_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    room_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room: ConversationId =
        room_id.parse().map_err(|_| ApiError::from(chatwire_core::CoreError::NotFound("room")))?;
    let dialect = rooms::Rooms::new(room, state.settings.limits.max_message_chars, state.settings.max_reconnect_attempts);
    upgrade(&req, body, state, dialect).await
}

/// `GET /ws/chat/?token=<jwt>[&dialect=dotted|spherespace]`: two documents claim this path;
/// `?dialect=` picks per connection, `CHATWIRE_WS_CHAT_DIALECT` otherwise.
async fn chat_socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid", e.to_string()))?;
    let dialect = match query.get("dialect").map(String::as_str) {
        None => state.settings.ws_chat_dialect,
        Some("dotted") => WsChatDialect::Dotted,
        Some("spherespace") => WsChatDialect::Spherespace,
        Some(other) => return Err(ApiError::bad_request("unknown_dialect", format!("no dialect `{other}` on /ws/chat/"))),
    };
    match dialect {
        WsChatDialect::Dotted => upgrade(&req, body, state, dotted::Dotted).await,
        WsChatDialect::Spherespace => upgrade(&req, body, state, spherespace::Spherespace).await,
    }
}

/// Authenticates, subscribes, upgrades, and runs the socket loop with `dialect`.
async fn upgrade<D: Dialect + 'static>(
    req: &HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    dialect: D,
) -> Result<HttpResponse, ApiError> {
    let (actor, sub, conversations) = open(req, &state, dialect.room()).await?;
    let (response, session, stream) =
        actix_ws::handle(req, body).map_err(|e| ApiError::bad_request("not_websocket", e.to_string()))?;
    let stream = stream.max_frame_size(64 * 1024).aggregate_continuations().max_continuation_size(256 * 1024);
    actix_web::rt::spawn(socket::run(state.into_inner(), actor, sub, conversations, session, stream, dialect));
    Ok(response)
}

/// Authenticates a socket request and subscribes it to everything its user can see; returns the
/// conversations it follows.
pub(crate) async fn open(
    req: &HttpRequest,
    state: &AppState,
    room: Option<ConversationId>,
) -> Result<(Actor, Subscription, Vec<ConversationId>), ApiError> {
    if state.is_draining() {
        return Err(chatwire_core::CoreError::Unavailable("node is shutting down".into()).into());
    }
    let token = auth::socket_token(req);
    let actor = auth::authenticate(state, token.as_deref()).await?;
    let conversations = match room {
        // A socket for one room follows only that room (and its user's own channel).
        Some(room) => vec![state.service.conversation(&actor, room).await?.conversation.id],
        None => state.service.conversation_ids(&actor).await?,
    };
    let sub = state.hub.register(state.settings.socket_queue);
    let mut channels = vec![Channel::User(actor.id())];
    channels.extend(conversations.iter().copied().map(Channel::Conversation));
    sub.join(&channels).await.map_err(chatwire_core::CoreError::from)?;
    Ok((actor, sub, conversations))
}

/// How long one write to a client may take before the client counts as gone.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
