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
            .map_err(|e| StoreError::Connect { target: redact(&url), detail: e.to_string() })?;
        // Serialize concurrent starters; the lock ends with the session.
        diesel::connection::SimpleConnection::batch_execute(&mut conn, "SELECT pg_advisory_lock(727274)")?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(applied.into_iter().map(|v| v.to_string()).collect())
    })
    .await
    .map_err(|e| StoreError::Migration(e.to_string()))?
}

/// Migrations not yet applied to the database (versions), for a node that must not apply them
/// itself.
pub async fn pending_migrations(database_url: &str) -> Result<Vec<String>, StoreError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, StoreError> {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
            .map_err(|e| StoreError::Connect { target: redact(&url), detail: e.to_string() })?;
        let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(pending.iter().map(|m| m.name().version().to_string()).collect())
    })
    .await
    .map_err(|e| StoreError::Migration(e.to_string()))?
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let Some(at) = url[scheme_end..].find('@').map(|i| i + scheme_end) else { return url.to_owned() };
    match url[scheme_end..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..scheme_end + colon], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_only_the_password() {
        assert_eq!(super::redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
