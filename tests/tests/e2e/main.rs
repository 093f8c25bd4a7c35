#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]
//! chatwire end to end: every test starts real nodes on its own database and Redis prefix.
mod auth;
mod bad_input;
mod delivery;
mod demo_page;
mod dialects;
mod drills;
mod embedded_pg;
mod idempotency;
mod logs;
mod message_changes;
mod metrics;
mod migration;
mod multi_node;
mod native_api;
mod openapi;
mod pgbouncer;
mod postgres_stall;
mod redis_cluster;
mod redis_restart;
mod resume;
mod sentinel;
mod server_api;
mod slow_clients;
mod store;
mod tokens;

use serde_json::Value;

/// Frames of one type among `frames`.
pub fn of_type<'a>(frames: &'a [Value], ty: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == ty).collect()
}
