use chatwire_core::CoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("redis pool setup: {0}")]
    PoolSetup(#[from] deadpool_redis::CreatePoolError),
    #[error("event encoding: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the broker connection is down")]
    Disconnected,
    #[error("timed out waiting for the broker")]
    Timeout,
    #[error("CHATWIRE_REDIS_SENTINELS names no Sentinel")]
    NoSentinels,
}

impl From<BusError> for CoreError {
    fn from(err: BusError) -> Self {
        match err {
            BusError::Encode(e) => CoreError::Internal(e.to_string()),
            other => CoreError::Unavailable(other.to_string()),
        }
    }
}
