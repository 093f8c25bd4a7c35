//! What chatwire's tests stand on — all real parts:
//! - [`TestDb`]: a fresh Postgres database per test, copied from a template migrated once.
//! - [`TestCluster`]: N real nodes (each its own actix system on its own thread, bound to port 0)
//!   on one database and one Redis prefix, with handles to kill a node.
//! - [`WsClient`] / [`Api`]: a real WebSocket client and an HTTP client with a user's token.
//! - [`RedisServer`]: a private redis-server process a test may stop and start again;
//!   [`RedisCluster`] and [`RedisSentinels`]: a private cluster, or a primary with a replica and
//!   three Sentinels, from the same binary.
//! - [`TcpProxy`]: a link between a node and a real server that a test can stall.
//! - [`PgBouncer`]: a private PgBouncer in front of the machine's Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test harness fails loudly on purpose")]
mod cluster;
mod db;
mod pgbouncer;
mod proxy;
mod redis_cluster;
mod redis_sentinel;
mod redis_server;
mod ws;

pub use cluster::{Node, TestCluster, TestUser, metric};
pub use db::TestDb;
pub use pgbouncer::{PgBouncer, PoolMode};
pub use proxy::TcpProxy;
pub use redis_cluster::RedisCluster;
pub use redis_sentinel::RedisSentinels;
pub use redis_server::RedisServer;
pub use ws::WsClient;

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Waits up to 5 s for a server this harness started to accept connections on `port`.
pub(crate) async fn wait_for_port(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

pub const JWT_SECRET: &str = "chatwire-test-secret";

pub fn redis_url() -> String {
    std::env::var("CHATWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A channel/key prefix no other test uses, so tests share one Redis without seeing each other.
pub fn redis_prefix() -> String {
    format!("t{}:", uuid::Uuid::new_v4().simple())
}

/// A private Postgres from the machine's binaries on a free port, in a fresh folder: its server,
/// URL and folder (remove the folder after stopping the server).
pub async fn private_postgres() -> (chatwire_server::embedded_pg::EmbeddedPg, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("chatwire-pg-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let (pg, url) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || chatwire_server::embedded_pg::EmbeddedPg::start(&dir, port)
    })
    .await
    .expect("join")
    .expect("a private Postgres from the machine's binaries");
    (pg, url, dir)
}

/// A user id no other user of this test process has: integers, as a stock Django project's.
pub fn next_user_id() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Mints a token the test nodes accept, shaped as djangorestframework-simplejwt 5.5 mints one
/// (`token_type`, `user_id` as a digit string, `jti`), plus the profile claims tests name users by.
pub fn token(user_id: impl std::fmt::Display, username: &str) -> String {
    let claims = serde_json::json!({
        "token_type": "access",
        "exp": jsonwebtoken::get_current_timestamp() + 3600,
        "iat": jsonwebtoken::get_current_timestamp(),
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "user_id": user_id.to_string(),
        "username": username,
        "email": format!("{username}@example.com"),
        "display_name": username.to_uppercase(),
    });
    sign(&claims)
}

/// Signs any claims with the test nodes' secret (HS256), for tokens of every shape.
pub fn sign(claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
        .expect("signing a test token")
}
