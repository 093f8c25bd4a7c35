//! Fan-out and ephemeral state.
//!
//! - [`hub`]: the node-local registry of sockets per channel. The first local listener of a
//!   channel subscribes it at the broker, the last one to leave unsubscribes it; one task
//!   applies these changes in order, batched, so a subscribe and an unsubscribe never cross.
//! - [`broker`]: where events travel between nodes — [`broker::LocalBroker`] (one process) or
//!   [`redis_broker::RedisBroker`] (Redis pub/sub, reconnecting and re-subscribing by itself, on one
//!   Redis or the primary Sentinel names), or [`cluster_broker::ClusterBroker`] (sharded pub/sub).
//! - [`presence`]: who is online and who is typing, with TTLs, in memory or in Redis.
pub mod broker;
pub mod cluster_broker;
pub mod error;
pub mod hub;
pub mod metrics;
pub mod presence;
pub mod primary;
pub mod redis_broker;

pub use broker::{Broker, LocalBroker};
pub use cluster_broker::ClusterBroker;
pub use error::BusError;
pub use hub::{Hub, Outbound, QueueLimits, SessionId, Subscription};
pub use metrics::BusMetrics;
pub use presence::{LocalPresence, PresenceConnection, RedisPresence};
pub use primary::{Primary, PrimaryConnection};
pub use redis_broker::RedisBroker;

/// Locks a std mutex; a panic while holding one leaves plain maps behind, still fit to serve.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
