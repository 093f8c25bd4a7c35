//! What the dialects that speak Django REST framework share: errors as DRF renders them, request
//! bodies as DRF parses them (`body`), and page-number pagination (`paging`). Knows no dialect.
pub mod body;
pub mod paging;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chatwire_core::CoreError;
use serde_json::{Value, json};

use body::BodyError;
use chatwire_core::service::Actor;

use crate::auth::{self, AuthError};
use crate::error::ApiError;
use crate::state::AppState;

/// A refusal: a status and a JSON body in the dialect's shape.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub body: Value,
    /// Seconds for a `Retry-After` header (a 429).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        resp.json(&self.body)
    }
}

pub fn refuse(status: StatusCode, detail: impl Into<String>) -> Refusal {
    Refusal { retry_after: None, status, body: json!({ "detail": detail.into() }) }
}

/// `{"detail": "..."}` with the status the error maps to, in DRF's and SimpleJWT's words where
/// clients expect them.
pub fn detail(err: &ApiError) -> Refusal {
    let text = match err {
        ApiError::Auth(AuthError::Missing) => "Authentication credentials were not provided.".to_owned(),
        ApiError::Auth(_) => "Given token not valid for any token type".to_owned(),
        ApiError::Core(CoreError::NotFound(_)) => "Not found.".to_owned(),
        ApiError::Core(CoreError::RateLimited { retry_after }) => {
            // DRF's throttling words.
            let secs = retry_after_secs(*retry_after);
            return Refusal {
                retry_after: Some(secs),
                ..refuse(err.status_code(), format!("Request was throttled. Expected available in {secs} seconds."))
            };
        }
        other => other.body().message,
    };
    Refusal { retry_after: err.retry_after().map(retry_after_secs), ..refuse(err.status_code(), text) }
}

/// Whole seconds to wait, rounded up (never 0: "now" would be tried at once and refused again).
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

pub fn core(err: CoreError) -> Refusal {
    detail(&err.into())
}

pub fn not_found() -> Refusal {
    core(CoreError::NotFound("record"))
}

pub fn bad_request(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, message)
}

pub fn body_error(e: BodyError) -> Refusal {
    match e {
        BodyError::TooLarge => refuse(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
        BodyError::Invalid(message) => bad_request(message),
    }
}

/// The caller of a request with a bearer token, or DRF's 401.
pub async fn caller(req: &actix_web::HttpRequest, state: &AppState) -> Result<Actor, Refusal> {
    auth::authenticate(state, auth::bearer(req)).await.map_err(|e| detail(&e))
}
