//! Postgres that stops answering in time: every call is bounded by CHATWIRE_DB_TIMEOUT_MS and
//! refused as unavailable (503 on REST, an `unavailable` error frame on a socket), the socket
//! lives on, and everything works again the moment Postgres does.
use std::time::{Duration, Instant};

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

/// Node 0's readiness status.
async fn ready(cluster: &TestCluster) -> u16 {
    let url = format!("{}/readyz", cluster.node(0).http());
    cluster.http.get(url).send().await.expect("readyz").status().as_u16()
}

/// How soon node 0 is ready and serves `user` again; `None` if not within `limit`.
async fn serving_again(cluster: &TestCluster, user: &TestUser, limit: Duration) -> Option<Duration> {
    let back = Instant::now();
    while back.elapsed() < limit {
        if ready(cluster).await == 200 && cluster.get(0, user, "/api/v1/conversations").await.0 == 200 {
            return Some(back.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_behind_a_lock_is_bounded() {
    let cluster = TestCluster::start_with(1, None, |s| s.db_timeout = Duration::from_millis(800)).await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let mut dotted = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await.expect("socket");

    // Another session takes the members table and sits on it.
    let mut blocker = AsyncPgConnection::establish(&cluster.db.url).await.expect("connect");
    diesel::sql_query("BEGIN").execute(&mut blocker).await.expect("begin");
    diesel::sql_query("LOCK TABLE members IN ACCESS EXCLUSIVE MODE").execute(&mut blocker).await.expect("lock");

    let started = Instant::now();
    let (status, body) = cluster.get(0, &alice, "/api/v1/conversations").await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    let (status, _) =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "stuck"})).await;
    assert_eq!(status, 503, "a send that could not be stored is refused, never acknowledged");
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    let e = dotted.expect_type("chat.error").await;
    assert_eq!(e["code"], "unavailable", "{e}");

    diesel::sql_query("COMMIT").execute(&mut blocker).await.expect("commit");
    let (status, list) = cluster.get(0, &alice, "/api/v1/conversations").await;
    assert_eq!(status, 200, "{list}");
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    dotted.expect_type("chat.conversations").await;
    let (_, history) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages")).await;
    assert_eq!(history, json!([]), "the refused send stored nothing");
}

/// A frame that waits on Postgres does not stop the socket's heartbeat: the client keeps getting
/// pings while the answer is pending, so a slow answer is never taken for a dead connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_go_on_while_a_frame_waits_on_postgres() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.db_timeout = Duration::from_millis(3500);
        s.heartbeat_interval_secs = 1;
    })
    .await;
    let (alice, _bob, _conv) = cluster.alice_and_bob().await;
    let mut dotted = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await.expect("socket");
    let mut blocker = AsyncPgConnection::establish(&cluster.db.url).await.expect("connect");
    diesel::sql_query("BEGIN").execute(&mut blocker).await.expect("begin");
    diesel::sql_query("LOCK TABLE members IN ACCESS EXCLUSIVE MODE").execute(&mut blocker).await.expect("lock");
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    let before = dotted.pings;
    let e = dotted.expect_type("chat.error").await;
    assert_eq!(e["code"], "unavailable");
    assert!(dotted.pings >= before + 2, "pings while waiting: {}", dotted.pings - before);
    diesel::sql_query("COMMIT").execute(&mut blocker).await.expect("commit");
}

/// The link to Postgres stalls (a TCP proxy stops carrying bytes, as a black-holed network
/// does), with queries already in flight on it: readiness, REST and sockets answer
/// `unavailable` within the bound instead of hanging, and all is well once the link carries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_link_to_postgres_is_bounded_and_recovers() {
    let db = chatwire_test_support::TestDb::new().await;
    let proxy = chatwire_test_support::TcpProxy::start(("127.0.0.1".into(), 5432)).await;
    let url = db.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    let cluster =
        TestCluster::start_through(db, Some(url), 1, None, |s| s.db_timeout = Duration::from_millis(1000)).await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let mut dotted = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await.expect("socket");
    assert_eq!(ready(&cluster).await, 200);

    proxy.stall();
    let started = Instant::now();
    let send_path = format!("/api/v1/conversations/{conv}/messages");
    let (a, b, c) = tokio::join!(
        async { (ready(&cluster).await, started.elapsed()) },
        cluster.get(0, &alice, "/api/v1/conversations"),
        cluster.post(0, &alice, &send_path, json!({"content": "in the stall"})),
    );
    let (a, readiness_took) = a;
    assert_eq!((a, b.0, c.0), (503, 503, 503), "{b:?} {c:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "answered after {:?}", started.elapsed());
    // The chart's readiness probe times out after 2 s: "not ready" must come before that.
    assert!(readiness_took < Duration::from_secs(2), "readiness answered after {readiness_took:?}");
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    assert_eq!(dotted.expect_type("chat.error").await["code"], "unavailable");

    proxy.pass();
    let back = serving_again(&cluster, &alice, Duration::from_secs(5)).await;
    let back = back.expect("not ready again 5 s after the link came back");
    println!(
        "drill postgres-stall: readiness 503 in {readiness_took:?}, requests 503 in {:?}; ready again {back:?} after the link came back",
        started.elapsed(),
    );
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    dotted.expect_type("chat.conversations").await;
}

/// Postgres itself frozen: a private cluster (the machine's binaries, on a free port) whose
/// server processes are all SIGSTOPped under a node, then SIGCONTinued. Only the processes of
/// the cluster this test started are signalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigstopped_postgres_is_bounded_and_recovers() {
    let (pg, url, dir) = chatwire_test_support::private_postgres().await;
    chatwire_store::run_migrations(&url).await.expect("migrate");
    let db = chatwire_test_support::TestDb::external(&url);
    let cluster =
        TestCluster::start_through(db, Some(url.clone()), 1, None, |s| s.db_timeout = Duration::from_millis(1000))
            .await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    assert_eq!(ready(&cluster).await, 200);

    // The postmaster and every backend of this cluster.
    let pidfile = std::fs::read_to_string(dir.join("pg/postmaster.pid")).expect("postmaster.pid");
    let postmaster = pidfile.lines().next().expect("pid").trim().to_owned();
    let children = std::process::Command::new("pgrep").args(["-P", &postmaster]).output().expect("pgrep");
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout).lines().map(str::to_owned).collect();
    pids.push(postmaster);
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill").arg(sig).args(&pids).status().expect("kill");
        assert!(status.success(), "kill {sig}");
    };

    signal("-STOP");
    let started = Instant::now();
    let send_path = format!("/api/v1/conversations/{conv}/messages");
    let (a, b, c) = tokio::join!(
        ready(&cluster),
        cluster.get(0, &alice, "/api/v1/conversations"),
        cluster.post(0, &alice, &send_path, json!({"content": "frozen"})),
    );
    let answered = started.elapsed();
    signal("-CONT");
    assert_eq!((a, b.0, c.0), (503, 503, 503), "{b:?} {c:?}");
    assert!(answered < Duration::from_secs(4), "answered after {answered:?}");

    let back = serving_again(&cluster, &alice, Duration::from_secs(10)).await;
    println!("drill postgres-sigstop: answered 503 in {answered:?}; serving again {back:?} after SIGCONT");
    assert!(back.is_some(), "not serving again 10 s after SIGCONT");
    drop(cluster);
    tokio::task::spawn_blocking(move || pg.stop()).await.expect("join");
    let _ = std::fs::remove_dir_all(&dir);
}
