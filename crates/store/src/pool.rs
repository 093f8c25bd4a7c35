use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;

use crate::error::StoreError;

pub type PgPool = Pool<AsyncPgConnection>;

/// A pool that opens connections lazily, so a node starts (and says it is not ready) while
/// Postgres is still coming up. Waiting for a connection is bounded, so a dead database turns
/// into a quick 503 rather than a hung request.
pub fn connect_pool(url: &str, max_size: usize) -> Result<PgPool, StoreError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}
