//! chatwire behind PgBouncer (Debian's 1.18), the pooler most Django deployments already run:
//! two nodes reach the test database only through a private PgBouncer.
use chatwire_test_support::{PgBouncer, PoolMode, TestCluster, TestDb};
use serde_json::json;

/// `pairs` conversations at once, each sending `n` messages from node 0 to node 1: (acked,
/// refused, delivered), and the first refusals.
async fn exchange(cluster: &TestCluster, pairs: usize, n: usize) -> (usize, usize, usize, Vec<String>) {
    let mut flows = Vec::new();
    for _ in 0..pairs {
        let (alice, bob, conv) = cluster.alice_and_bob().await;
        let mut alice_ws = cluster.socket(0, &alice).await;
        let mut bob_ws = cluster.socket(1, &bob).await;
        flows.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (0, Vec::new());
            for i in 0..n {
                let key = format!("k{i}");
                alice_ws
                    .send(
                        json!({"type": "send", "conversation_id": conv, "content": format!("m{i}"), "client_key": key}),
                    )
                    .await;
                loop {
                    let reply = alice_ws.recv().await;
                    match reply["type"].as_str() {
                        Some("ack") => acked += 1,
                        Some("error") => refused.push(reply.to_string()),
                        _ => continue,
                    }
                    break;
                }
            }
            let frames = bob_ws.drain(std::time::Duration::from_millis(800)).await;
            (acked, refused, frames.iter().filter(|f| f["type"] == "message_created").count())
        }));
    }
    let (mut acked, mut refused, mut delivered) = (0, Vec::new(), 0);
    for flow in flows {
        let (a, r, d) = flow.await.expect("flow");
        acked += a;
        refused.extend(r);
        delivered += d;
    }
    let count = refused.len();
    refused.truncate(3);
    (acked, count, delivered, refused)
}

async fn through(mode: PoolMode) -> (TestCluster, PgBouncer) {
    let db = TestDb::new().await;
    // Two nodes of 4 + 1 (readiness) connections each; fewer servers than clients in
    // transaction mode, which is the point of it.
    let pool = match mode {
        PoolMode::Session => 12,
        PoolMode::Transaction => 3,
    };
    let bouncer = PgBouncer::start(&db.name, mode, pool).await;
    let url = bouncer.url(&db.name);
    let cluster = TestCluster::start_through(db, Some(url), 2, Some(chatwire_test_support::redis_url()), |_| {}).await;
    (cluster, bouncer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_carries_a_conversation_across_nodes() {
    let (cluster, _bouncer) = through(PoolMode::Session).await;
    let (acked, refused, delivered, first) = exchange(&cluster, 8, 40).await;
    println!("pgbouncer session mode: acked {acked}, refused {refused}, delivered {delivered} {first:?}");
    assert_eq!((acked, refused, delivered), (320, 0, 320), "{first:?}");
}

/// Transaction pooling hands each transaction whichever server is free, but diesel-async
/// prepares every query as a named statement on the connection's server and runs it in a later
/// round trip: on another server it does not exist. PgBouncer 1.21+ can track named statements
/// (`max_prepared_statements`); Debian's 1.18 cannot, so docs/scaling.md says to pool in session
/// mode. This keeps that statement true: if it stops failing, the docs must change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_breaks_named_prepared_statements() {
    let (cluster, _bouncer) = through(PoolMode::Transaction).await;
    let calls = (0..200i64).map(|i| {
        let id = 900_000 + i;
        let request = cluster
            .http
            .get(format!("{}/api/v1/users/me", cluster.node(i as usize % 2).http()))
            .bearer_auth(chatwire_test_support::token(id, &format!("u{id}")));
        async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let failed = statuses.iter().filter(|s| **s != 200).count();
    println!("pgbouncer transaction mode: {failed} of {} concurrent requests failed", statuses.len());
    assert!(failed > 0, "transaction pooling worked: update docs/scaling.md and this test");
    // 503: the node's own pool of 4 is briefly exhausted by 200 requests at once.
    assert!(statuses.iter().all(|s| [200, 500, 503].contains(s)), "{statuses:?}");
}
