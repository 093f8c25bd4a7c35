use thiserror::Error;

/// Every way a domain operation can fail; the HTTP edge maps each to one status and stable code.
#[derive(Clone, Debug, Error)]
pub enum CoreError {
    /// Also what a non-member gets for a conversation that exists: they must not learn it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("{field} is too long (max {max} characters)")]
    TooLong { field: &'static str, max: usize },
    #[error("{0}")]
    Conflict(String),
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
    /// Over a per-user limit; the client may try again after `retry_after`.
    #[error("too many requests: try again in {} ms", retry_after.as_millis())]
    RateLimited { retry_after: std::time::Duration },
    /// The node is past what it can write in time: refused at once, rather than queued until
    /// every sender waits; try again after `retry_after`.
    #[error("the server is over capacity: try again in {} ms", retry_after.as_millis())]
    Overloaded { retry_after: std::time::Duration },
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid { field, message: message.into() }
    }

    /// How long the client should wait before trying again, for refusals that say.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            CoreError::RateLimited { retry_after } | CoreError::Overloaded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// A stable snake_case code, the same in every dialect that shows one.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotFound(_) => "not_found",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::Invalid { .. } => "invalid",
            CoreError::TooLong { .. } => "too_long",
            CoreError::Conflict(_) => "conflict",
            CoreError::Unavailable(_) => "unavailable",
            CoreError::RateLimited { .. } => "rate_limited",
            CoreError::Overloaded { .. } => "overloaded",
            CoreError::Internal(_) => "internal",
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
