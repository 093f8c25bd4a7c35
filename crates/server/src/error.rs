//! The HTTP edge's one error type: every failure maps here once, to one status and stable code.
//! The native API renders it as `{"code", "message"}`; other dialects render the same value in
//! their own shapes.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chatwire_core::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Over a per-user or per-client limit that is not a rate (429).
    #[error("{message}")]
    TooMany { code: &'static str, message: String },
}

/// The native error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, snake_case: `not_found`, `forbidden`, `invalid`, `too_long`, `unauthorized`, ...
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Core(e) => e.code(),
            ApiError::Auth(_) => "unauthorized",
            ApiError::BadRequest { code, .. } | ApiError::TooMany { code, .. } => code,
        }
    }

    /// How long the client should wait (`Retry-After`), for refusals that say.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ApiError::Core(e) => e.retry_after(),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let message = match self {
            // Internal details stay in the log.
            ApiError::Core(CoreError::Internal(_)) => "internal server error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody { code: self.code(), message }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Core(e) => match e {
                CoreError::NotFound(_) => StatusCode::NOT_FOUND,
                CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
                CoreError::Invalid { .. } | CoreError::TooLong { .. } => StatusCode::BAD_REQUEST,
                CoreError::Conflict(_) => StatusCode::CONFLICT,
                CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                CoreError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Core(CoreError::Internal(detail) | CoreError::Unavailable(detail)) = self {
            tracing::error!(%detail, "request failed");
        }
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(wait) = self.retry_after() {
            resp.insert_header(("Retry-After", crate::drf::retry_after_secs(wait).to_string()));
        }
        resp.json(self.body())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
