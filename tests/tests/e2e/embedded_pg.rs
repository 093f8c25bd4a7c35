use chatwire_server::embedded_pg::EmbeddedPg;

/// With no DATABASE_URL, `chatwire serve` runs on a private Postgres it initialises in its data
/// folder: it must come up, take the migrations, and stop again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_postgres_starts_migrates_and_stops() {
    let dir = std::env::temp_dir().join(format!("chatwire-embedded-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let (pg, url) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || EmbeddedPg::start(&dir, port)
    })
    .await
    .expect("join")
    .expect("a private Postgres from the machine's binaries");
    assert!(dir.join("pg/PG_VERSION").exists());
    let applied = chatwire_store::run_migrations(&url).await.expect("migrations on the private Postgres");
    assert!(!applied.is_empty());
    tokio::task::spawn_blocking(move || pg.stop()).await.expect("join");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
