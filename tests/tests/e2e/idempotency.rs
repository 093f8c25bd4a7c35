//! Retries never duplicate: every send path takes an idempotency key (REST: the
//! `Idempotency-Key` header), a key is scoped to its conversation (rooms' temp_ids are numbered
//! per room), and a different message under a used key is refused, not answered with the old one.
use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

async fn post_keyed(cluster: &TestCluster, user: &TestUser, path: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = cluster
        .http
        .post(format!("{}{path}", cluster.node(0).http()))
        .bearer_auth(&user.token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_send_takes_an_idempotency_key() {
    let cluster = TestCluster::start_local().await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let uuid = chatwire_core::ConversationId(conv).uuid();
    let paths = [
        (format!("/api/v1/conversations/{conv}/messages"), json!({"content": "native"})),
        (format!("/api/conversations/{uuid}/messages/"), json!({"content": "spherespace"})),
        (format!("/messages/api/chats/{conv}/messages/"), json!({"content": "django_messaging"})),
        ("/api/v1.0/chat/messages/".to_owned(), json!({"room": conv, "content": "rooms"})),
    ];
    for (i, (path, body)) in paths.iter().enumerate() {
        let key = format!("retry-{i}");
        let (first, sent) = post_keyed(&cluster, &alice, path, &key, body.clone()).await;
        let (again, resent) = post_keyed(&cluster, &alice, path, &key, body.clone()).await;
        assert_eq!((first, again), (201, 200), "{path}: {sent} / {resent}");
        assert_eq!(sent["id"], resent["id"], "{path}: the retry returns the original");
        let mut other = body.clone();
        other["content"] = json!("something else");
        let (status, refused) = post_keyed(&cluster, &alice, path, &key, other).await;
        assert_eq!(status, 409, "{path}: a different message under a used key: {refused}");
    }
    let (_, history) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages")).await;
    let contents: Vec<&str> =
        history.as_array().expect("list").iter().map(|m| m["content"].as_str().expect("c")).collect();
    assert_eq!(contents, vec!["native", "spherespace", "django_messaging", "rooms"], "stored once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temp_id_is_scoped_to_its_room() {
    let cluster = TestCluster::start_local().await;
    let alice = cluster.user("alice").await;
    let (bob, carol) = (cluster.user("bob").await, cluster.user("carol").await);
    let mut ids = Vec::new();
    for other in [&bob, &carol] {
        let (_, room) = cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": other.id})).await;
        let url = cluster.node(0).ws_url(&format!("/ws/chat/{}/", room["id"]), &alice.token);
        let mut ws = WsClient::connect(&url).await.expect("socket");
        ws.expect_type("connection_established").await;
        ws.send(json!({"type": "message", "content": "hi", "temp_id": "temp_1"})).await;
        let sent = ws.expect_type("message").await;
        assert_eq!(sent["message"]["temp_id"], "temp_1");
        ids.push(sent["message"]["id"].clone());
        ws.send(json!({"type": "message", "content": "not hi", "temp_id": "temp_1"})).await;
        let e = ws.expect_type("error").await;
        assert!(e["message"].as_str().is_some_and(|m| m.contains("different message")), "{e}");
    }
    assert_ne!(ids[0], ids[1], "the same temp_id in two rooms is two messages");
}
