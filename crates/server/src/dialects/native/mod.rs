//! The native API: REST under `/api/v1` (with its generated OpenAPI document) and `/ws/v1`.
pub mod rest;
pub mod socket;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(rest::routes).route("/ws/v1", web::get().to(socket)).route("/ws/v1/", web::get().to(socket));
}

/// `GET /ws/v1?token=<jwt>`: the native socket. A bad token is refused with 401 before the upgrade.
async fn socket(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    crate::socket::upgrade(&req, body, state, socket::Native).await
}
