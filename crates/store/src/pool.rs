use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};

use diesel_async::pooled_connection::deadpool::{Object, PoolError};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::error::StoreError;

pub type PgPool = Pool<AsyncPgConnection>;

/// How long Postgres may take before a call gives up: a stalled or dead database turns into a
/// quick 503, never a hung request or socket.
#[derive(Clone, Copy, Debug)]
pub struct DbTimeouts {
    /// Waiting for a free connection, and opening one.
    pub acquire: Duration,
    /// One statement (`statement_timeout`) or one lock wait (`lock_timeout`), on the server; and,
    /// on the client, how long a query may go unanswered on a link that stopped carrying
    /// packets (`tcp_user_timeout`), after which the connection is dropped, never reused.
    pub statement: Duration,
}

impl Default for DbTimeouts {
    fn default() -> Self {
        DbTimeouts { acquire: Duration::from_secs(5), statement: Duration::from_secs(5) }
    }
}

/// A pool that opens connections lazily, so a node starts (and says it is not ready) while
/// Postgres is still coming up.
pub fn connect_pool(url: &str, max_size: usize) -> Result<PgPool, StoreError> {
    connect_pool_with(url, max_size, DbTimeouts::default())
}

/// [`connect_pool`] with explicit timeouts. Checkouts run no test query (`RecyclingMethod::Fast`):
/// a connection whose link died is closed by the TCP user timeout and never handed out again,
/// and the round trip a check would cost on every checkout is saved.
pub fn connect_pool_with(url: &str, max_size: usize, timeouts: DbTimeouts) -> Result<PgPool, StoreError> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    if let Some(settings) = session_settings(url, timeouts) {
        config.custom_setup = Box::new(move |url| {
            let (url, settings) = (url.to_owned(), settings.clone());
            Box::pin(async move {
                use diesel_async::{AsyncConnection, SimpleAsyncConnection};
                let mut conn = AsyncPgConnection::establish(&url).await?;
                conn.batch_execute(&settings).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
    }
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(with_timeouts(url, timeouts), config);
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(timeouts.acquire))
        .create_timeout(Some(timeouts.acquire))
        .recycle_timeout(Some(timeouts.acquire))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// The server-side timeouts, set once on each new connection. Not as the `options` startup
/// parameter: PgBouncer refuses a connection that carries one ("unsupported startup parameter"),
/// and a `SET` on a session-pooled connection lasts as long as the client's session. `None`
/// when the operator's URL sets `options` itself.
fn session_settings(url: &str, t: DbTimeouts) -> Option<String> {
    let ms = t.statement.as_millis();
    (!url.contains("options=")).then(|| format!("SET statement_timeout = {ms}; SET lock_timeout = {ms}"))
}

/// The URL with the client-side timeouts as connection parameters; ones the operator already
/// set are kept.
fn with_timeouts(url: &str, t: DbTimeouts) -> String {
    let ms = t.statement.as_millis();
    let mut out = url.to_owned();
    let mut add = |key: &str, value: String| {
        if !url.contains(&format!("{key}=")) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(key);
            out.push('=');
            out.push_str(&value);
        }
    };
    add("connect_timeout", t.acquire.as_secs().max(1).to_string());
    add("tcp_user_timeout", ms.to_string());
    add("keepalives_idle", "30".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_join_the_url_without_overriding_the_operators() {
        let t = DbTimeouts { acquire: Duration::from_secs(2), statement: Duration::from_millis(1500) };
        assert_eq!(
            with_timeouts("postgres://u@h/db", t),
            "postgres://u@h/db?connect_timeout=2&tcp_user_timeout=1500&keepalives_idle=30"
        );
        assert_eq!(
            session_settings("postgres://u@h/db", t).as_deref(),
            Some("SET statement_timeout = 1500; SET lock_timeout = 1500")
        );
        assert_eq!(session_settings("postgres://u@h/db?options=-c%20statement_timeout%3D99", t), None);
        let own = with_timeouts("postgres://u@h/db?sslmode=require&connect_timeout=9", t);
        assert!(own.starts_with("postgres://u@h/db?sslmode=require&connect_timeout=9&tcp_user_timeout=1500"), "{own}");
        assert_eq!(own.matches("connect_timeout").count(), 1);
    }
}

/// What the store counts, for the node's `/metrics`.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// How long each call waited for a pooled connection (`chatwire_db_pool_wait_seconds`).
    pub pool_wait: Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        // 0.1 ms to about 3 s.
        StoreMetrics { pool_wait: Histogram::new(exponential_buckets(0.0001, 2.0, 16)) }
    }
}

/// A pooled connection, its wait timed into `wait`.
pub(crate) async fn checkout(pool: &PgPool, wait: &Histogram) -> Result<Object<AsyncPgConnection>, PoolError> {
    let start = std::time::Instant::now();
    let conn = pool.get().await;
    wait.observe(start.elapsed().as_secs_f64());
    conn
}
