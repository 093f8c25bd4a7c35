//! One Redis primary with a replica and three Sentinels, all private processes from the
//! machine's redis-server: nodes find the primary through Sentinel and follow it when it moves.
//! (The unplanned failover, a SIGKILLed primary under a conversation, is in `drills`.)
use std::time::Duration;

use chatwire_test_support::{RedisSentinels, TestCluster};
use serde_json::json;

/// A planned switchover (`SENTINEL FAILOVER`) under two nodes: messages cross before and after,
/// both nodes report ready, and every subscription sits on the new primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_a_planned_switchover_of_the_primary() {
    let redis = RedisSentinels::start().await;
    let cluster = TestCluster::start_on_redis_sentinels(2, &redis).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut alice_ws = cluster.socket(0, &alice).await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let send = |n: i64| json!({"type": "send", "conversation_id": conv, "content": format!("m{n}"), "client_key": format!("k{n}")});

    alice_ws.send(send(1)).await;
    alice_ws.expect_type("ack").await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["content"], "m1");

    let old = redis.primary().expect("a primary");
    let new = redis.switch_over().await;
    assert_ne!(new, old);

    // The nodes move on their next reconnect or keep-alive; a message sent meanwhile reaches
    // Bob live or by the resync that follows the move, and exactly once.
    alice_ws.send(send(2)).await;
    alice_ws.expect_type("ack").await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < 2 && tokio::time::Instant::now() < deadline {
        if redis.channels(new).iter().any(|c| c.ends_with(&format!("chat_{conv}"))) {
            alice_ws.send(send(got.len() as i64 + 3)).await;
            alice_ws.expect_type("ack").await;
        }
        for frame in bob_ws.drain(Duration::from_millis(500)).await {
            if frame["type"] == "message_created" {
                got.push(frame["message"]["content"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    // Gap fill hands over "m2" before whatever followed it.
    assert_eq!(got.first().map(String::as_str), Some("m2"), "after the switchover Bob got {got:?}");
    assert_eq!(got.iter().filter(|c| *c == "m2").count(), 1, "m2 delivered twice: {got:?}");

    let channel = format!("{}chat_{conv}", cluster.prefix);
    assert!(redis.channels(new).contains(&channel), "{channel} not on the new primary: {:?}", redis.channels(new));
    assert!(redis.channels(old).is_empty(), "subscriptions left on the demoted primary: {:?}", redis.channels(old));
    for node in 0..2 {
        let ready = cluster.http.get(format!("{}/readyz", cluster.node(node).http())).send().await.expect("readyz");
        assert_eq!(ready.status(), 200, "node {node} not ready after the switchover");
    }
}
