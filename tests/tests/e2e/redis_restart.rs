use std::time::Duration;

use chatwire_test_support::{RedisServer, TestCluster};
use serde_json::json;

/// Redis goes away and comes back: nodes re-subscribe by themselves, sockets are told to resync,
/// and a resume restores what pub/sub dropped meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_come_back_and_resync_restores_what_was_dropped() {
    let mut redis = RedisServer::start().await;
    let cluster = TestCluster::start_with(2, Some(redis.url()), |_| {}).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let path = format!("/api/v1/conversations/{conv}/messages");

    cluster.post(0, &alice, &path, json!({"content": "before"})).await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["seq"], 1);

    redis.stop();
    // Written while pub/sub is down: stored, not delivered live.
    for text in ["during 1", "during 2"] {
        let (status, body) = cluster.post(0, &alice, &path, json!({"content": text})).await;
        assert_eq!(status, 201, "sends must still succeed without Redis: {body}");
    }
    redis.restart().await;

    let resync = bob_ws.expect_type("resync").await;
    assert_eq!(resync["type"], "resync");
    bob_ws.send(json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": 1}]})).await;
    let mut seqs = Vec::new();
    loop {
        let f = bob_ws.recv().await;
        match f["type"].as_str() {
            Some("message_created") => seqs.push(f["message"]["seq"].as_i64().expect("seq")),
            Some("resumed") => break,
            _ => {}
        }
    }
    assert_eq!(seqs, vec![2, 3]);

    // Live delivery works again once node 0's publish pool reconnects (its pool retries per call).
    let mut delivered = false;
    for _ in 0..20 {
        cluster.post(0, &alice, &path, json!({"content": "after"})).await;
        if let Some(f) = bob_ws.recv_within(Duration::from_millis(500)).await
            && f["type"] == "message_created"
        {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "no live delivery after Redis came back");
    let metrics = cluster.metrics(1).await;
    let reconnects = chatwire_test_support::metric(&metrics, "chatwire_redis_reconnects_total");
    assert!(reconnects.is_some_and(|n| n >= 1.0), "the reconnect is counted: {metrics}");
}

/// Nodes may start before Redis: they run, say they are not ready, and catch up when it appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_start_before_redis_and_become_ready_when_it_comes() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let cluster = TestCluster::start_with(2, Some(redis.url()), |_| {}).await;
    let ready = |node: usize| {
        let url = format!("{}/readyz", cluster.node(node).http());
        let http = cluster.http.clone();
        async move { http.get(url).send().await.expect("readyz").status().as_u16() }
    };
    assert_eq!(ready(0).await, 503, "no Redis, not ready");
    assert_eq!(cluster.get(0, &cluster.user("early").await, "/healthz").await.0, 200);

    redis.restart().await;
    let mut up = false;
    for _ in 0..50 {
        if ready(0).await == 200 && ready(1).await == 200 {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "nodes became ready once Redis answered");
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "late"})).await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["content"], "late");
}

/// The dialects have no frame to say "you may have missed messages": after a Redis reconnect
/// their sockets are closed with 1012 `resync` (rooms says `reconnect_suggested` first), so their
/// clients reconnect and refetch instead of silently missing what pub/sub dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialect_sockets_are_closed_for_a_reconnect_when_redis_comes_back() {
    let mut redis = RedisServer::start().await;
    let cluster = TestCluster::start_with(1, Some(redis.url()), |_| {}).await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let (_, room) = cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": bob.id})).await;
    let node = cluster.node(0);
    let room_path = format!("/ws/chat/{}/", room["id"]);
    let paths = ["/ws/chat/", "/ws/chat/?dialect=spherespace", "/ws/chat/room/", "/messages/ws/", room_path.as_str()];
    let mut sockets = Vec::new();
    for path in paths {
        let ws = chatwire_test_support::WsClient::connect(&node.ws_url(path, &alice.token)).await.expect(path);
        sockets.push((path, ws));
    }
    let mut native = cluster.socket(0, &alice).await;

    redis.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().await;

    native.expect_type("resync").await;
    for (path, mut ws) in sockets {
        let frames = ws.drain(Duration::from_secs(5)).await;
        let frame = ws.closed.clone().flatten().unwrap_or_else(|| panic!("{path}: not closed; got {frames:?}"));
        assert_eq!((u16::from(frame.code), frame.reason.as_str()), (1012, "resync"), "{path}");
        if path == room_path {
            let suggested = frames.iter().find(|f| f["type"] == "reconnect_suggested").expect("reconnect_suggested");
            assert_eq!(suggested["reason"], "resync");
        }
    }
}

/// A decline whose notice was lost (stored while Redis was down, by a node that then died with
/// its publish still queued): after the resync the socket re-reads its user's memberships and
/// receives nothing more of that conversation. (In a DM no system note leaves a gap that would
/// reveal it otherwise.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_lost_in_an_outage_is_caught_up_at_the_resync() {
    let mut redis = RedisServer::start().await;
    let mut cluster = TestCluster::start_with(3, Some(redis.url()), |_| {}).await;
    let (alice, bob) = (cluster.user("alice").await, cluster.user("bob").await);
    let (status, request) = cluster.post(2, &alice, "/api/conversations/", json!({"username": "bob"})).await;
    assert_eq!(status, 201, "{request}");
    let uuid = request["id"].as_str().expect("uuid").to_owned();
    let mut bob_ws = cluster.socket(1, &bob).await;
    cluster.post(2, &alice, &format!("/api/conversations/{uuid}/messages/"), json!({"content": "hello?"})).await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["content"], "hello?");

    redis.stop();
    let (status, _) =
        cluster.post(0, &bob, &format!("/api/conversations/{uuid}/action/"), json!({"action": "decline"})).await;
    assert_eq!(status, 200);
    cluster.nodes[0].kill().await;
    redis.restart().await;
    bob_ws.expect_type("resync").await;
    bob_ws.drain(Duration::from_millis(300)).await;

    cluster.post(2, &alice, &format!("/api/conversations/{uuid}/messages/"), json!({"content": "still there?"})).await;
    let got = bob_ws.drain(Duration::from_millis(800)).await;
    let leaked: Vec<_> = got.iter().filter(|f| f["message"]["content"] == "still there?").collect();
    assert!(leaked.is_empty(), "a member who declined received {leaked:?}");
}
