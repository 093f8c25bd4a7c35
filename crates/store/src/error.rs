use chatwire_core::CoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("cannot connect to Postgres at {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    #[error("this idempotency key was already used for a different message")]
    KeyReused,
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Messages of errors that say "the database is not answering in time", not "the request is bad":
/// a server shutting down, a statement or lock wait over its timeout, a connection gone.
fn is_outage(message: &str) -> bool {
    ["terminating connection", "statement timeout", "lock timeout", "connection closed", "timed out"]
        .iter()
        .any(|m| message.contains(m))
}

impl StoreError {
    /// The database is not answering (pool, timeout, connection gone), as opposed to refusing.
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            StoreError::Pool(_) => true,
            StoreError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                *kind == diesel::result::DatabaseErrorKind::ClosedConnection || is_outage(info.message())
            }
            _ => false,
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Query(diesel::result::Error::NotFound) => CoreError::NotFound("record"),
            StoreError::KeyReused => CoreError::Conflict(StoreError::KeyReused.to_string()),
            StoreError::Pool(msg) => CoreError::Unavailable(msg),
            StoreError::Query(diesel::result::Error::DatabaseError(_, ref info)) if err.is_outage() => {
                CoreError::Unavailable(info.message().to_owned())
            }
            // Text that reached a query without validation (a token's claims, say) and holds a NUL.
            StoreError::Query(diesel::result::Error::DatabaseError(_, ref info)) if info.message().contains("0x00") => {
                CoreError::invalid("text", "must not contain NUL (\\u0000) characters")
            }
            other => CoreError::Internal(other.to_string()),
        }
    }
}
