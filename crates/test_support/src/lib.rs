//! What chatwire's tests stand on — all real parts:
//! - [`TestDb`]: a fresh Postgres database per test, copied from a template migrated once.
//! - [`TestCluster`]: N real nodes (each its own actix system on its own thread, bound to port 0)
//!   on one database and one Redis prefix, with handles to kill a node.
//! - [`WsClient`] / [`Api`]: a real WebSocket client and an HTTP client with a user's token.
//! - [`RedisServer`]: a private redis-server process a test may stop and start again.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test harness fails loudly on purpose")]
mod cluster;
mod db;
mod redis_server;
mod ws;

pub use cluster::{Node, TestCluster, TestUser};
pub use db::TestDb;
pub use redis_server::RedisServer;
pub use ws::WsClient;

pub const JWT_SECRET: &str = "chatwire-test-secret";

pub fn redis_url() -> String {
    std::env::var("CHATWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A channel/key prefix no other test uses, so tests share one Redis without seeing each other.
pub fn redis_prefix() -> String {
    format!("t{}:", uuid::Uuid::new_v4().simple())
}

/// Mints a token the test nodes accept.
pub fn token(user_id: uuid::Uuid, username: &str) -> String {
    let claims = chatwire_server::auth::Claims {
        sub: Some(user_id.to_string()),
        user_id: None,
        username: Some(username.to_owned()),
        email: Some(format!("{username}@example.com")),
        display_name: Some(username.to_uppercase()),
        exp: jsonwebtoken::get_current_timestamp() + 3600,
    };
    chatwire_server::auth::mint(JWT_SECRET.as_bytes(), &claims).expect("minting a test token")
}
