/// With no DATABASE_URL, `chatwire serve` runs on a private Postgres it initialises in its data
/// folder: it must come up, take the migrations, and stop again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_postgres_starts_migrates_and_stops() {
    let (pg, url, dir) = chatwire_test_support::private_postgres().await;
    let port: u16 = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()).expect("port");
    assert!(dir.join("pg/PG_VERSION").exists());
    let applied = chatwire_store::run_migrations(&url).await.expect("migrations on the private Postgres");
    assert!(!applied.is_empty());
    tokio::task::spawn_blocking(move || pg.stop()).await.expect("join");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
