use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

/// Where tests create their databases (a server with CREATE DATABASE rights).
pub fn admin_url() -> String {
    std::env::var("CHATWIRE_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_db(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) => format!("{}/{}", &url[..i], db),
        None => format!("{url}/{db}"),
    }
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Migrates a template database once per test process (and once per migration set across
/// processes: its name carries a hash of the migrations).
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let hash = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                for m in
                    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations")).expect("migrations dir")
                {
                    let p = m.expect("entry").path();
                    std::fs::read_to_string(p.join("up.sql")).unwrap_or_default().hash(&mut h);
                }
                h.finish()
            };
            let name = format!("chatwire_tpl_{hash:x}");
            let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect("connecting to the test Postgres");
            diesel::sql_query("SELECT pg_advisory_lock(727275)").execute(&mut admin).await.expect("lock");
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let exists: N =
                diesel::sql_query(format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"))
                    .get_result(&mut admin)
                    .await
                    .expect("query");
            if exists.n == 0 {
                let tmp = format!("{name}_building");
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {tmp}")).execute(&mut admin).await;
                diesel::sql_query(format!("CREATE DATABASE {tmp}")).execute(&mut admin).await.expect("create template");
                chatwire_store::run_migrations(&with_db(&admin_url(), &tmp)).await.expect("migrating the template");
                diesel::sql_query(format!("ALTER DATABASE {tmp} RENAME TO {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("rename");
            }
            diesel::sql_query("SELECT pg_advisory_unlock(727275)").execute(&mut admin).await.expect("unlock");
            name
        })
        .await
        .clone()
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let template = template().await;
        let name = format!("chatwire_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect("connecting to the test Postgres");
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let url = with_db(&admin_url(), &name);
        TestDb { name, url }
    }
}

impl TestDb {
    /// An empty database with only the migrations up to `last` (a version, e.g.
    /// `2026-11-21-000003`) applied: to fill it as an older release would have, then run the
    /// newer migrations over real rows with [`TestDb::migrate`].
    pub async fn migrated_until(last: &str) -> TestDb {
        let name = format!("chatwire_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect("connecting to the test Postgres");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let url = with_db(&admin_url(), &name);
        let (target, last) = (url.clone(), last.replace('-', ""));
        tokio::task::spawn_blocking(move || {
            use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
            use diesel_migrations::MigrationHarness;
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&target)
                .expect("connecting to the new database");
            loop {
                let version =
                    conn.run_next_migration(chatwire_store::migrate::MIGRATIONS).expect("a migration").to_string();
                if version.replace('-', "") == last {
                    break;
                }
            }
        })
        .await
        .expect("migrating");
        TestDb { name, url }
    }

    /// A database the test runs itself (a private cluster, say): nothing is created, and it is
    /// not dropped at the end (the test stops its server).
    pub fn external(url: &str) -> TestDb {
        TestDb { name: String::new(), url: url.to_owned() }
    }

    /// Applies every pending migration; returns the versions applied.
    pub async fn migrate(&self) -> Vec<String> {
        chatwire_store::run_migrations(&self.url).await.expect("migrating")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        if name.is_empty() {
            return;
        }
        // Drop runs outside any async context we can rely on: use a throwaway runtime on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}
