//! The `django_messaging` dialect (specs/003): REST under `/messages/api/` and the event socket
//! at `/messages/ws/`.
pub mod rest;
pub mod socket;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(rest::routes)
        .route("/messages/ws/", web::get().to(socket))
        .route("/messages/ws", web::get().to(socket));
}

/// `GET /messages/ws/?token=<jwt>`: the django_messaging dialect's event socket.
async fn socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    crate::socket::upgrade(&req, body, state, socket::DjangoMessaging).await
}
