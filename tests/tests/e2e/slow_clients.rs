//! Clients that stop reading or reconnect in a storm: each is refused or cut within a bounded
//! time, and nobody else notices.
use std::time::{Duration, Instant};

use chatwire_test_support::{TestCluster, WsClient};
use serde_json::json;

/// A client that stops reading is cut once its queue passes its byte budget (or one write
/// stalls past the write timeout), its place under the per-user cap is given back, and a member
/// who reads gets every message in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_nobody_else_is() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.socket_queue_bytes = 256 * 1024;
        s.write_timeout = Duration::from_secs(1);
        s.max_sockets_per_user = 1;
        s.limits.max_message_chars = 32_000;
    })
    .await;
    let (alice, bob) = (cluster.user("alice").await, cluster.user("bob").await);
    let carol = cluster.user("carol").await;
    let (status, group) = cluster
        .post(0, &alice, "/api/v1/conversations/groups", json!({"title": "g", "member_ids": [bob.id, carol.id]}))
        .await;
    assert_eq!(status, 201, "{group}");
    let conv = group["conversation"]["id"].as_i64().expect("id");

    let url = cluster.node(0).ws_url("/ws/v1", &bob.token);
    let mut stalled = WsClient::connect_with_receive_buffer(&url, 4096).await.expect("socket");
    stalled.expect_type("hello").await;
    let mut reader = cluster.socket(0, &carol).await;

    // 200 messages of 30,000 characters: 6 MB, far more than any kernel buffer holds.
    let (total, body) = (200, "x".repeat(30_000));
    let mut sender = cluster.socket(0, &alice).await;
    let started = Instant::now();
    let mut carol_seqs = Vec::new();
    for i in 0..total {
        sender.send(json!({"type": "send", "ref": format!("s{i}"), "conversation_id": conv, "content": body})).await;
        assert_eq!(sender.expect_type("ack").await["ref"], format!("s{i}"));
        let frame = reader.expect_type("message_created").await;
        carol_seqs.push(frame["message"]["seq"].as_i64().expect("seq"));
    }
    let expected: Vec<i64> = (carol_seqs[0]..carol_seqs[0] + total).collect();
    assert_eq!(carol_seqs, expected, "the reading member got every message once, in order");

    // Bob's place under the cap of one comes back once the server let go of the stalled socket.
    let mut freed_after = None;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(mut ws) = WsClient::connect(&url).await {
            ws.expect_type("hello").await;
            freed_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let freed_after = freed_after.expect("the stalled socket was never let go");
    let metrics = cluster.metrics(0).await;
    assert_eq!(chatwire_test_support::metric(&metrics, "chatwire_slow_consumer_closes_total"), Some(1.0), "{metrics}");
    eprintln!("stalled socket let go {freed_after:?} after the first send of {total}");
    // What the stalled client got before the cut is a prefix, in order, without duplicates.
    let mut seqs = Vec::new();
    while let Some(frame) = stalled.recv_within(Duration::from_secs(2)).await {
        if frame["type"] == "message_created" {
            seqs.push(frame["message"]["seq"].as_i64().expect("seq"));
        }
    }
    assert!(seqs.len() < total as usize, "the stalled client was cut before it got everything");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "what it got is gapless and in order");
}

/// A reconnect storm from one address is refused at the handshake with a 429 and Retry-After;
/// another address (through a trusted proxy) is untouched, and so is a client on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_rate_limited_per_client_address() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.handshake_rate = 1;
        s.handshake_burst = 3;
    })
    .await;
    let alice = cluster.user("alice").await;
    let url = cluster.node(0).ws_url("/ws/v1", &alice.token);
    let open = |forwarded_for: &'static str| {
        let url = url.clone();
        async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut req = url.into_client_request().expect("request");
            req.headers_mut().insert("x-forwarded-for", forwarded_for.parse().expect("header"));
            tokio_tungstenite::connect_async(req).await.map(|_| ())
        }
    };
    for _ in 0..3 {
        open("203.0.113.7").await.expect("within the burst");
    }
    match open("203.0.113.7").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            assert!(resp.headers().get("retry-after").is_some(), "Retry-After");
            let body: serde_json::Value =
                serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).expect("json");
            assert_eq!(body["code"], "rate_limited", "{body}");
        }
        other => panic!("the fourth handshake was not refused: {other:?}"),
    }
    open("198.51.100.9").await.expect("another client behind the same proxy is untouched");
    // A client on the node's own machine (no proxy in between) is never limited.
    for _ in 0..6 {
        tokio_tungstenite::connect_async(url.as_str()).await.expect("a loopback client");
    }
}
