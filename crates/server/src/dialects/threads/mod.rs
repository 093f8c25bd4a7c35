//! The `threads` dialect (specs/001): REST under `/chat/` and the socket at `/ws/chat/room/`.
pub mod rest;
pub mod socket;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(rest::routes)
        .route("/ws/chat/room/", web::get().to(socket))
        .route("/ws/chat/room", web::get().to(socket));
}

/// `GET /ws/chat/room/?token=<jwt>`: the threads dialect's socket.
async fn socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    crate::socket::upgrade(&req, body, state, socket::Threads::default()).await
}
