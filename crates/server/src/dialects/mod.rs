//! One wing per dialect: its REST routes (`rest`) and its socket (`socket`, a [`Dialect`] for the
//! shared loop in `crate::socket`), beside its pure codec in `chatwire_protocol::<dialect>`.
//!
//! This module is the table that maps paths to wings, including the paths two documents claim:
//! `/ws/chat/` (`dotted` or `spherespace`, `CHATWIRE_WS_CHAT_DIALECT`, `?dialect=` per
//! connection) and `/ws/chat/<id>/` (`rooms` or `dotted`, `CHATWIRE_WS_CHAT_ID_DIALECT`).
//!
//! [`Dialect`]: crate::socket::Dialect
pub mod django_messaging;
pub mod dotted;
pub mod native;
pub mod rooms;
pub mod spherespace;
pub mod threads;

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::{WsChatDialect, WsChatIdDialect};
use crate::error::ApiError;
use crate::socket::upgrade;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(native::routes)
        .configure(threads::routes)
        .configure(spherespace::routes)
        .configure(django_messaging::routes)
        .configure(rooms::routes)
        // Registered after `/ws/chat/room/` (threads), which it would otherwise swallow.
        .route("/ws/chat/", web::get().to(chat_socket))
        .route("/ws/chat", web::get().to(chat_socket))
        .route("/ws/chat/{id}/", web::get().to(chat_id_socket))
        .route("/ws/chat/{id}", web::get().to(chat_id_socket));
}

/// The `Idempotency-Key` header of a send: a retry with the same key returns the original.
pub(crate) fn idempotency_key(req: &HttpRequest) -> Option<String> {
    req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The answer to a send, in every API: 201 for a new message, 200 for a retry's original.
pub(crate) fn sent(created: bool) -> actix_web::HttpResponseBuilder {
    if created { HttpResponse::Created() } else { HttpResponse::Ok() }
}

fn dialect_param(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid", e.to_string()))?;
    Ok(query.get("dialect").cloned())
}

/// `GET /ws/chat/?token=<jwt>[&dialect=dotted|spherespace]`: two documents claim this path;
/// `?dialect=` picks per connection, `CHATWIRE_WS_CHAT_DIALECT` otherwise.
async fn chat_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let dialect = match dialect_param(&req)?.as_deref() {
        None => state.settings.ws_chat_dialect,
        Some("dotted") => WsChatDialect::Dotted,
        Some("spherespace") => WsChatDialect::Spherespace,
        Some(other) => {
            return Err(ApiError::bad_request("unknown_dialect", format!("no dialect `{other}` on /ws/chat/")));
        }
    };
    match dialect {
        WsChatDialect::Dotted => upgrade(&req, body, state, dotted::socket::Dotted).await,
        WsChatDialect::Spherespace => upgrade(&req, body, state, spherespace::socket::Spherespace).await,
    }
}

/// `GET /ws/chat/<id>/?token=<jwt>[&dialect=rooms|dotted]`: a rooms socket for room `<id>`, or,
/// for deployments whose `dotted` clients connect to `/ws/chat/<user_id>/`, the dotted socket
/// (the number is ignored: the user comes from the token).
async fn chat_id_socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let dialect = match dialect_param(&req)?.as_deref() {
        None => state.settings.ws_chat_id_dialect,
        Some("rooms") => WsChatIdDialect::Rooms,
        Some("dotted") => WsChatIdDialect::Dotted,
        Some(other) => {
            return Err(ApiError::bad_request("unknown_dialect", format!("no dialect `{other}` on /ws/chat/<id>/")));
        }
    };
    match dialect {
        WsChatIdDialect::Rooms => rooms::socket::open(req, body, state, &id).await,
        WsChatIdDialect::Dotted => upgrade(&req, body, state, dotted::socket::Dotted).await,
    }
}
