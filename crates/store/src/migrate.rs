use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies pending migrations; returns the versions applied. Safe to run from many nodes at
/// once: diesel takes each migration in its own transaction and the second runner finds it done.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, StoreError> {
    let url = database_url.to_owned();
    // diesel_migrations is synchronous; the wrapper blocks on the async connection, which must
    // not happen on a runtime worker.
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, StoreError> {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        // Serialize concurrent starters; the lock ends with the session.
        diesel::connection::SimpleConnection::batch_execute(&mut conn, "SELECT pg_advisory_lock(727274)")?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(applied.into_iter().map(|v| v.to_string()).collect())
    })
    .await
    .map_err(|e| StoreError::Migration(e.to_string()))?
}
