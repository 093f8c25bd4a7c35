//! The server API (`/api/v1/server/...`), called as a Django view or Celery task would: with
//! the server key, on one node, and seen by sockets on another.
use std::time::Duration;

use chatwire_test_support::{TestCluster, WsClient};
use serde_json::{Value, json};

const KEY: &str = "server-key-0123456789abcdef0123456789";

async fn call(cluster: &TestCluster, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = cluster.http.request(method, format!("{}/api/v1/server{path}", cluster.node(0).http()));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_configured_the_server_api_refuses_and_says_why() {
    let cluster = TestCluster::start(1).await;
    let (status, body) = call(&cluster, "GET", "/presence?user_ids=1", Some(KEY), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("CHATWIRE_SERVER_API_KEY")), "{body}");
}

/// Messages from the system and from a bot member, stored once per key and delivered live to
/// another node's sockets; a user's token is not a server key, nor is a wrong key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_posts_as_the_system_or_a_bot_and_members_see_it_live() {
    let cluster =
        TestCluster::start_with(2, Some(chatwire_test_support::redis_url()), |s| s.server_api_key = Some(KEY.into()))
            .await;
    let (alice, bob, dm) = cluster.alice_and_bob().await;
    let mut bob_ws = cluster.socket(1, &bob).await;

    for key in [None, Some("wrong-key"), Some(alice.token.as_str())] {
        let (status, body) = call(&cluster, "GET", "/presence?user_ids=1", key, None).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "{key:?}: {body}");
    }

    let post = json!({"content": "maintenance at 17:00", "client_key": "notice-1"});
    let (status, first) =
        call(&cluster, "POST", &format!("/conversations/{dm}/messages"), Some(KEY), Some(post.clone())).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["kind"], "system");
    assert_eq!(first["sender"]["id"], 0, "the system user, with an integer id");
    let live = bob_ws.expect_type("message_created").await;
    assert_eq!(live["message"]["id"], first["id"]);
    let (status, again) = call(&cluster, "POST", &format!("/conversations/{dm}/messages"), Some(KEY), Some(post)).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "a retried post is stored once");

    // A bot: its profile set by the backend, then a member of a group, then posting as itself.
    let (status, bot) = call(
        &cluster,
        "PUT",
        "/users/900",
        Some(KEY),
        Some(json!({"username": "deploybot", "display_name": "Deploy bot"})),
    )
    .await;
    assert_eq!((status, bot["username"].as_str(), &bot["id"]), (200, Some("deploybot"), &json!(900)), "{bot}");
    let as_bot = json!({"content": "build 41 is green", "sender_id": 900});
    let (status, body) =
        call(&cluster, "POST", &format!("/conversations/{dm}/messages"), Some(KEY), Some(as_bot.clone())).await;
    assert_eq!(status, 403, "a bot that is not a member may not post: {body}");
    let (status, group) = cluster
        .post(0, &alice, "/api/v1/conversations/groups", json!({"title": "builds", "member_ids": [bob.id, 900]}))
        .await;
    assert_eq!(status, 201, "{group}");
    let group = group["conversation"]["id"].as_i64().expect("group id");
    let (status, body) =
        call(&cluster, "POST", &format!("/conversations/{group}/messages"), Some(KEY), Some(as_bot)).await;
    assert_eq!((status, body["kind"].as_str(), &body["sender"]["id"]), (201, Some("text"), &json!(900)), "{body}");
    let live = loop {
        let f = bob_ws.expect_type("message_created").await;
        // The group's own system notes ("alice created ...") come first.
        if f["message"]["id"] == body["id"] {
            break f;
        }
    };
    assert_eq!(live["message"]["sender"]["username"], "deploybot");

    let (status, body) =
        call(&cluster, "POST", "/conversations/999999/messages", Some(KEY), Some(json!({"content": "x"}))).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = call(
        &cluster,
        "POST",
        &format!("/conversations/{dm}/messages"),
        Some(KEY),
        Some(json!({"content": "x", "from": 1})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid")), "an unknown field is refused: {body}");
}

/// Ephemeral events reach every socket of a conversation or of a user, in each dialect's way,
/// and nobody else; presence and disconnect act on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_presence_and_disconnect_reach_every_node() {
    let cluster =
        TestCluster::start_with(2, Some(chatwire_test_support::redis_url()), |s| s.server_api_key = Some(KEY.into()))
            .await;
    let (alice, bob, dm) = cluster.alice_and_bob().await;
    let carol = cluster.user("carol").await;
    let mut bob_native = cluster.socket(1, &bob).await;
    let mut bob_dotted = WsClient::connect(&cluster.node(1).ws_url("/ws/chat/", &bob.token)).await.expect("dotted");
    let mut alice_ws = cluster.socket(0, &alice).await;
    let mut carol_ws = cluster.socket(1, &carol).await;

    let event = json!({"event": "order.shipped", "data": {"type": "order.shipped", "order": 7}});
    let (status, body) = call(&cluster, "POST", &format!("/conversations/{dm}/events"), Some(KEY), Some(event)).await;
    assert_eq!(status, 202, "{body}");
    let native = bob_native.expect_type("server_event").await;
    assert_eq!(
        (native["event"].as_str(), &native["data"]["order"], &native["conversation_id"]),
        (Some("order.shipped"), &json!(7), &json!(dm))
    );
    assert_eq!(alice_ws.expect_type("server_event").await["data"]["order"], 7);
    // The dotted socket gets the data itself as its frame.
    assert_eq!(bob_dotted.expect_type("order.shipped").await, json!({"type": "order.shipped", "order": 7}));

    let to_bob = json!({"event": "badge", "data": {"type": "badge", "count": 3}});
    let (status, _) = call(&cluster, "POST", &format!("/users/{}/events", bob.id), Some(KEY), Some(to_bob)).await;
    assert_eq!(status, 202);
    assert_eq!(bob_native.expect_type("server_event").await["data"]["count"], 3);
    let others: Vec<Value> =
        [alice_ws.drain(Duration::from_millis(400)).await, carol_ws.drain(Duration::from_millis(100)).await]
            .concat()
            .into_iter()
            .filter(|f| f["type"] == "server_event")
            .collect();
    assert!(others.is_empty(), "only Bob got his event, and Carol got none of the DM's: {others:?}");

    for bad in [json!({"event": "has space", "data": {}}), json!({"event": "x", "data": {}, "extra": 1})] {
        let (status, body) = call(&cluster, "POST", &format!("/users/{}/events", bob.id), Some(KEY), Some(bad)).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid")), "{body}");
    }

    let (status, presence) =
        call(&cluster, "GET", &format!("/presence?user_ids={},{},404", bob.id, carol.id), Some(KEY), None).await;
    assert_eq!(status, 200, "{presence}");
    let online: Vec<bool> =
        presence.as_array().expect("list").iter().map(|p| p["is_online"].as_bool().expect("bool")).collect();
    assert_eq!(online, vec![true, true, false]);

    let (status, _) = call(&cluster, "POST", &format!("/users/{}/disconnect", bob.id), Some(KEY), None).await;
    assert_eq!(status, 202);
    while bob_native.recv_within(Duration::from_secs(5)).await.is_some() {}
    let code = bob_native.closed.clone().flatten().map(|f| u16::from(f.code));
    assert_eq!(code, Some(4003), "Bob's socket on the other node was closed as disconnected");
    assert!(alice_ws.drain(Duration::from_millis(300)).await.iter().all(|f| f["type"] != "session_closed"));
}
