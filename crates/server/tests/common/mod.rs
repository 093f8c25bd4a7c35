//! What this crate's process-level tests share: where Postgres and Redis are, free ports,
//! fresh databases and tokens. (They cannot use chatwire_test_support, which depends on this
//! crate.)
#![allow(dead_code, reason = "each test binary uses a part of it")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

pub fn admin_url() -> String {
    std::env::var("CHATWIRE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("CHATWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A new empty database named `<tag>_<uuid>`: its name and URL.
pub async fn create_database(tag: &str) -> (String, String) {
    let name = format!("{tag}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("{}/{name}", admin_url().rsplit_once('/').unwrap().0);
    (name, url)
}

pub async fn drop_database(name: &str) {
    if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    }
}

/// An HS256 token for user `id` named `username`, valid for an hour.
pub fn token(secret: &str, id: i64, username: &str) -> String {
    let claims = chatwire_server::auth::Claims {
        username: Some(username.into()),
        ..chatwire_server::auth::Claims::for_user(id, 3600)
    };
    chatwire_server::auth::mint(secret.as_bytes(), &claims).unwrap()
}
