use std::collections::BTreeMap;
use std::time::Duration;

use chatwire_test_support::TestCluster;
use serde_json::{Value, json};

/// A socket dropped while messages flow, then resumed from the last seq it saw, ends with every
/// message exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_drop_loses_and_duplicates_nothing() {
    const TOTAL: i64 = 60;
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;

    // Bob is connected (knowing nothing yet) before the first message is sent.
    let mut ws = cluster.socket(1, &bob).await;
    let sender = {
        let http = cluster.http.clone();
        let url = format!("{}/api/v1/conversations/{conv}/messages", cluster.node(0).http());
        let token = alice.token.clone();
        tokio::spawn(async move {
            for i in 1..=TOTAL {
                let resp = http.post(&url).bearer_auth(&token).json(&json!({"content": format!("m{i}")})).send().await;
                assert_eq!(resp.expect("send").status(), 201);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };

    let mut got: BTreeMap<i64, usize> = BTreeMap::new();
    let record = |frame: &Value, got: &mut BTreeMap<i64, usize>| {
        if frame["type"] == "message_created" {
            *got.entry(frame["message"]["seq"].as_i64().expect("seq")).or_default() += 1;
        }
    };
    // First connection: read a few messages, then vanish mid-stream.
    while got.values().sum::<usize>() < 10 {
        let f = ws.recv().await;
        record(&f, &mut got);
    }
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Reconnect (on the other node) and resume from the last seq seen.
    let last = *got.keys().last().expect("some messages");
    let mut ws = cluster.socket(0, &bob).await;
    ws.send(json!({"type": "resume", "ref": "x", "cursors": [{"conversation_id": conv, "seq": last}]})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < TOTAL as usize && tokio::time::Instant::now() < deadline {
        if let Some(f) = ws.recv_within(Duration::from_secs(2)).await {
            record(&f, &mut got);
        }
    }
    sender.await.expect("sender");
    // Anything still in flight arrives, and nothing arrives twice.
    for f in ws.drain(Duration::from_millis(500)).await {
        record(&f, &mut got);
    }
    let expected: Vec<i64> = (1..=TOTAL).collect();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), expected, "missing messages");
    let dups: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicated: {dups:?}");
}

/// The sync endpoint returns exactly what is after each cursor and lists other conversations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_endpoint_returns_what_was_missed() {
    let cluster = TestCluster::start(1).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let c1 = cluster.dm(&alice, &bob).await;
    let c2 = cluster.dm(&alice, &carol).await;
    for i in 1..=5 {
        cluster
            .post(0, &alice, &format!("/api/v1/conversations/{c1}/messages"), json!({"content": format!("{i}")}))
            .await;
    }
    cluster.post(0, &alice, &format!("/api/v1/conversations/{c2}/messages"), json!({"content": "x"})).await;
    let (status, batches) =
        cluster.post(0, &bob, "/api/v1/sync", json!({"cursors": [{"conversation_id": c1, "seq": 3}]})).await;
    assert_eq!(status, 200, "{batches}");
    let batches = batches.as_array().expect("array");
    assert_eq!(batches.len(), 1, "bob sees only his conversation");
    let seqs: Vec<i64> =
        batches[0]["messages"].as_array().expect("m").iter().map(|m| m["seq"].as_i64().expect("s")).collect();
    assert_eq!(seqs, vec![4, 5]);
    assert_eq!(batches[0]["last_seq"], 5);
    assert_eq!(batches[0]["has_more"], false);
    let (_, alice_view) = cluster.post(0, &alice, "/api/v1/sync", json!({"cursors": [], "limit": 2})).await;
    assert_eq!(alice_view.as_array().expect("array").len(), 2);
}
