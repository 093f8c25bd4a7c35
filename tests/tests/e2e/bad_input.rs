use std::time::Duration;

use chatwire_test_support::TestCluster;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Garbage on a socket gets an error frame naming the offending frame, the socket stays open,
/// and another client's traffic is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_and_the_socket_lives_on() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let mallory = cluster.user("mallory").await;
    let conv = cluster.dm(&alice, &bob).await;
    let mut bad = cluster.socket(0, &mallory).await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let mut alice_ws = cluster.socket(0, &alice).await;

    bad.send_raw(Message::text("{not json")).await;
    let e = bad.expect_type("error").await;
    assert_eq!(e["code"], "malformed_frame");

    bad.send(json!({"type": "dance", "ref": "d"})).await;
    let e = bad.expect_type("error").await;
    assert_eq!(e["code"], "unknown_type");
    assert_eq!(e["frame_type"], "dance");
    assert_eq!(e["ref"], "d", "a frame that cannot be decoded still gets its ref back");

    bad.send(json!({"type": "send", "conversation_id": "not-an-id", "content": "x"})).await;
    let e = bad.expect_type("error").await;
    assert_eq!(e["code"], "invalid_frame");
    assert_eq!(e["frame_type"], "send");

    // Someone else's conversation and one that does not exist look the same.
    bad.send(json!({"type": "send", "ref": "a", "conversation_id": conv, "content": "let me in"})).await;
    let e1 = bad.expect_type("error").await;
    bad.send(json!({"type": "send", "ref": "b", "conversation_id": conv + 1000, "content": "x"})).await;
    let e2 = bad.expect_type("error").await;
    assert_eq!(e1["code"], "not_found");
    assert_eq!((e1["code"].clone(), e1["message"].clone()), (e2["code"].clone(), e2["message"].clone()));
    assert_eq!(e1["ref"], "a");

    // Oversized (1001 characters; the default limit is 1000, as the rooms document states).
    alice_ws.send(json!({"type": "send", "ref": "big", "conversation_id": conv, "content": "x".repeat(1001)})).await;
    let e = alice_ws.expect_type("error").await;
    assert_eq!(e["code"], "too_long");
    assert_eq!(e["frame_type"], "send");
    assert_eq!(e["ref"], "big");
    assert!(e["message"].as_str().expect("message").contains("1000"));

    bad.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(bad.expect_type("error").await["code"], "unsupported");

    // Every socket is still alive and the conversation still works.
    bad.send(json!({"type": "ping", "ref": "p"})).await;
    assert_eq!(bad.expect_type("pong").await["ref"], "p");
    alice_ws.send(json!({"type": "send", "conversation_id": conv, "content": "fine"})).await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["content"], "fine");
    let leaked = bad.drain(Duration::from_millis(400)).await;
    assert!(leaked.iter().all(|f| f["type"] != "message_created"), "{leaked:?}");
}

/// REST: bad bodies, bad ids, strangers and oversized messages each get a clear JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_errors_are_json_with_stable_codes() {
    let cluster = TestCluster::start_local().await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let eve = cluster.user("eve").await;
    let conv = cluster.dm(&alice, &bob).await;
    let base = cluster.node(0).http();

    let resp = cluster
        .http
        .post(format!("{base}/api/v1/conversations/{conv}/messages"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json")["code"], "invalid");

    let (status, body) = cluster.get(0, &alice, "/api/v1/conversations/not-an-id").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");

    let (s1, b1) = cluster.get(0, &eve, &format!("/api/v1/conversations/{conv}")).await;
    let (s2, b2) = cluster.get(0, &eve, &format!("/api/v1/conversations/{}", conv + 1000)).await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(b1, b2, "a stranger must not tell a real conversation from a missing one");
    let (s, _) =
        cluster.post(0, &eve, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "hi"})).await;
    assert_eq!(s, 404);

    let (status, body) = cluster
        .post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "é".repeat(1001)}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "too_long");
    let (status, body) =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "  "})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));

    let (status, body) = cluster.get(0, &alice, "/api/v1/nowhere").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    // Nothing of the above was stored.
    let (_, page) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages")).await;
    assert_eq!(page.as_array().expect("list").len(), 0);
}

/// Limits are settings and their refusals are clear: group size, resume cursors, absurd pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_clearly() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.limits.max_group_members = 3;
        s.limits.max_cursors = 2;
    })
    .await;
    let (alice, bob, dm) = cluster.alice_and_bob().await;
    let (carol, dave) = (cluster.user("carol").await, cluster.user("dave").await);
    let (status, group) =
        cluster.post(0, &alice, "/api/v1/conversations/groups", json!({"title": "g", "member_ids": [bob.id]})).await;
    assert_eq!(status, 201, "{group}");
    let gid = group["conversation"]["id"].as_i64().expect("id");
    let path = format!("/api/v1/conversations/{gid}/members");
    let (status, body) = cluster.post(0, &alice, &path, json!({"user_ids": [carol.id, dave.id]})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid")), "{body}");
    assert!(body["message"].as_str().expect("message").contains("at most 3"));
    let (status, _) = cluster.post(0, &alice, &path, json!({"user_ids": [carol.id, bob.id]})).await;
    assert!(status < 300, "re-adding a member does not count against the limit");

    let cursors: Vec<_> = (0..3).map(|i| json!({"conversation_id": dm + i, "seq": 0})).collect();
    let mut ws = cluster.socket(0, &alice).await;
    ws.send(json!({"type": "resume", "ref": "r", "cursors": cursors})).await;
    let e = ws.expect_type("error").await;
    assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("invalid"), Some("r")));
    let (status, _) = cluster.post(0, &alice, "/api/v1/sync", json!({"cursors": cursors})).await;
    assert_eq!(status, 400);

    for page in ["9223372036854775807", "-1", "0", "x"] {
        let (status, body) = cluster.get(0, &alice, &format!("/messages/api/chats/{gid}/messages/?page={page}")).await;
        assert_eq!((status, body["detail"].as_str()), (404, Some("Invalid page.")), "page={page}");
    }
    let (status, _) = cluster.get(0, &alice, "/api/v1.0/chat/rooms/?page=9223372036854775807").await;
    assert_eq!(status, 404);
}

/// One user's flood is refused (429 with Retry-After, an error frame on a socket that stays
/// open) and nobody else is slowed; sockets per user are capped per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_for_its_sender_only() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.limits.send_rate = 2;
        s.limits.send_burst = 5;
        s.max_sockets_per_user = 2;
    })
    .await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    for i in 0..5 {
        let (status, _) = cluster.post(0, &alice, &path, json!({"content": format!("burst {i}")})).await;
        assert_eq!(status, 201, "within the burst");
    }
    let resp = cluster
        .http
        .post(format!("{}{path}", cluster.node(0).http()))
        .bearer_auth(&alice.token)
        .json(&json!({"content": "one too many"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some(), "Retry-After");
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json")["code"], "rate_limited");
    let (status, body) =
        cluster.post(0, &alice, &format!("/messages/api/chats/{conv}/messages/"), json!({"content": "x"})).await;
    assert_eq!(status, 429);
    assert!(body["detail"].as_str().is_some_and(|d| d.starts_with("Request was throttled.")), "{body}");
    let mut ws = cluster.socket(0, &alice).await;
    ws.send(json!({"type": "send", "ref": "s", "conversation_id": conv, "content": "x"})).await;
    let e = ws.expect_type("error").await;
    assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("rate_limited"), Some("s")));
    ws.send(json!({"type": "ping", "ref": "p"})).await;
    assert_eq!(ws.expect_type("pong").await["ref"], "p", "the socket lives on");
    let (status, _) = cluster.post(0, &bob, &path, json!({"content": "bob is not slowed"})).await;
    assert_eq!(status, 201);

    // A second socket is fine, a third is refused before the upgrade, and closing one frees it.
    let second = cluster.socket(0, &alice).await;
    match chatwire_test_support::WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!("a third socket was not refused: {:?}", other.map(|_| "socket")),
    }
    second.close().await;
    let mut freed = None;
    for _ in 0..20 {
        if let Ok(ws) =
            chatwire_test_support::WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await
        {
            freed = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed.is_some(), "a closed socket gives its place back");
}
