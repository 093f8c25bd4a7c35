//! `GET /metrics`: what each node counts, read the way Prometheus reads it.
use std::time::Duration;

use chatwire_test_support::{TestCluster, WsClient, metric};
use serde_json::json;

/// A message sent on one node and delivered on another shows up in both nodes' counters:
/// sockets by dialect, sends by dialect, deliveries, fan-out latency, subscriptions; and no
/// token, email or message text ever appears in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_nodes_count_a_message_that_crossed_between_them() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut sender = cluster.socket(0, &alice).await;
    let mut receiver = cluster.socket(1, &bob).await;
    let secret = "the secret text of a message";
    sender.send(json!({"type": "send", "ref": "r1", "conversation_id": conv, "content": secret})).await;
    sender.expect_type("ack").await;
    receiver.expect_type("message_created").await;
    let (status, _) =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "by rest"})).await;
    assert_eq!(status, 201);
    receiver.expect_type("message_created").await;

    let sending = cluster.metrics(0).await;
    assert_eq!(metric(&sending, r#"chatwire_sockets{dialect="native"}"#), Some(1.0), "{sending}");
    assert_eq!(metric(&sending, r#"chatwire_messages_sent_total{dialect="native"}"#), Some(2.0), "{sending}");
    let receiving = cluster.metrics(1).await;
    assert_eq!(metric(&receiving, r#"chatwire_sockets{dialect="native"}"#), Some(1.0), "{receiving}");
    // Both messages, and whatever else Bob's socket was handed (Alice coming online).
    assert!(metric(&receiving, "chatwire_deliveries_total").is_some_and(|n| n >= 2.0), "{receiving}");
    assert_eq!(metric(&receiving, "chatwire_fanout_latency_seconds_count"), Some(2.0), "{receiving}");
    // Bob's own channel and the conversation's.
    assert_eq!(metric(&receiving, "chatwire_subscribed_channels"), Some(2.0), "{receiving}");
    assert!(metric(&receiving, "chatwire_db_pool_wait_seconds_count").is_some_and(|n| n > 0.0), "{receiving}");
    assert_eq!(metric(&receiving, "chatwire_redis_reconnects_total"), Some(0.0), "{receiving}");
    assert_eq!(metric(&receiving, "chatwire_draining"), Some(0.0), "{receiving}");
    for text in [&sending, &receiving] {
        assert!(!text.contains(secret) && !text.contains(&alice.token) && !text.contains('@'), "{text}");
    }

    // A socket that closes is counted out.
    receiver.close().await;
    let mut gone = false;
    for _ in 0..50 {
        if metric(&cluster.metrics(1).await, r#"chatwire_sockets{dialect="native"}"#) == Some(0.0) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the closed socket is still counted");
}

/// A refusal by a limit is counted with the limit's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_by_limit() {
    let cluster = TestCluster::start_with(1, None, |s| s.max_sockets_per_user = 1).await;
    let alice = cluster.user("alice").await;
    let url = cluster.node(0).ws_url("/ws/v1", &alice.token);
    let mut first = WsClient::connect(&url).await.expect("the first socket");
    first.expect_type("hello").await;
    assert!(WsClient::connect(&url).await.is_err(), "a second socket over the cap of one");
    let text = cluster.metrics(0).await;
    assert_eq!(metric(&text, r#"chatwire_refusals_total{limit="sockets_per_user"}"#), Some(1.0), "{text}");
}

/// The Grafana dashboard in deploy/ plots only series a node really exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_uses_only_metrics_a_node_exports() {
    let cluster = TestCluster::start(1).await;
    let exported: std::collections::HashSet<String> = cluster
        .metrics(0)
        .await
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/chatwire-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut used = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("chatwire_") {
                    used.push(word.to_owned());
                }
            }
        }
    }
    assert!(used.len() >= 10, "{used:?}");
    for series in used {
        // A counter's samples end in _total, a histogram's in _bucket: the family is what TYPE names.
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| series.strip_suffix(suffix))
            .unwrap_or(&series);
        assert!(exported.contains(family), "the dashboard plots {series}, which no node exports: {exported:?}");
    }
}
