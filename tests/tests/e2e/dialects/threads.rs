//! specs/001 (`threads`): both REST endpoints and the socket, across two nodes.
use std::time::Duration;

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

use super::assert_shape;

async fn room(cluster: &TestCluster, node: usize, user: &TestUser) -> WsClient {
    WsClient::connect(&cluster.node(node).ws_url("/ws/chat/room/", &user.token)).await.expect("socket")
}

async fn next_action(ws: &mut WsClient, action: &str) -> Value {
    loop {
        let f = ws.recv().await;
        if f["action"] == action {
            return f;
        }
    }
}

const MESSAGE_EXAMPLE: &str = r#"{"id": 1, "sender": {"id": "b5", "email": "a@b", "username": "admin", "role": null, "is_active": true},
    "receiver": {"id": "83", "email": "o@g", "username": "", "role": null, "is_active": true},
    "message": "hello there, how are you", "updated": "2024-12-22T23:12:31.700748Z",
    "created": "2024-12-22T23:12:31.700748Z", "seen": false, "thread": 1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_and_rest_work_as_documented_across_nodes() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let mut a = room(&cluster, 0, &alice).await;
    let mut b_phone = room(&cluster, 1, &bob).await;
    let mut b_laptop = room(&cluster, 0, &bob).await;
    let mut c = room(&cluster, 1, &carol).await;

    // No thread yet: an empty list, not an error.
    let (status, empty) = cluster.get(0, &alice, &format!("/chat/messages/{}/", bob.id)).await;
    assert_eq!(status, 200);
    assert_eq!(empty["entity"]["messages"], json!([]));

    // The first message creates the thread.
    a.send(json!({"action": "chat_message", "message_body": "do me 2k fast", "receiver_id": bob.id})).await;
    let conf = next_action(&mut a, "conf_message").await;
    assert_shape(
        &conf,
        r#"{"sender_id": "a", "receiver_id": "b", "message_body": "do me 2k fast",
        "timestamp": "2024-12-23T05:25:14.763401+00:00", "created_msg_id": 3, "action": "conf_message"}"#,
    );
    assert_eq!((conf["sender_id"].as_i64(), conf["receiver_id"].as_i64()), (Some(alice.id), Some(bob.id)));
    assert!(conf["timestamp"].as_str().expect("ts").ends_with("+00:00"), "Python isoformat: {conf}");
    for device in [&mut b_phone, &mut b_laptop] {
        let re = next_action(device, "re_message").await;
        assert_shape(
            &re,
            r#"{"message_body": "hello", "sender_id": "96", "receiver_id": "87",
            "timestamp": "2024-06-17T12:48:28.228342+00:00", "created_msg_id": 34, "action": "re_message"}"#,
        );
        assert_eq!(re["created_msg_id"], conf["created_msg_id"]);
        assert_eq!(re["receiver_id"], bob.id);
    }
    // Bob answers from the laptop: alice gets re_message, his phone a conf_message.
    b_laptop.send(json!({"action": "chat_message", "message_body": "ok", "receiver_id": alice.id})).await;
    next_action(&mut b_laptop, "conf_message").await;
    assert_eq!(next_action(&mut a, "re_message").await["message_body"], "ok");
    assert_eq!(next_action(&mut b_phone, "conf_message").await["message_body"], "ok");
    assert!(c.drain(Duration::from_millis(300)).await.is_empty(), "a bystander hears nothing");

    // REST: the messages, in the envelope.
    let (status, body) = cluster.get(1, &bob, &format!("/chat/messages/{}/", alice.id)).await;
    assert_eq!(status, 200);
    assert_eq!((body["status"].as_str(), body["success"].as_bool()), (Some("success"), Some(true)));
    assert_eq!(body["message"], "Messages retreived successfully");
    let messages = body["entity"]["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_shape(&messages[0], MESSAGE_EXAMPLE);
    assert_eq!(messages[0]["message"], "do me 2k fast");
    assert_eq!(messages[0]["sender"]["username"], "alice");
    assert_eq!(messages[0]["receiver"]["username"], "bob");
    assert_eq!(messages[0]["seen"], false);
    // `seen` follows read state (bob reads through any dialect; here the native API).
    let thread = messages[0]["thread"].as_i64().expect("the thread id is an integer");
    cluster.post(1, &bob, &format!("/api/v1/conversations/{thread}/read"), json!({})).await;
    let (_, body) = cluster.get(0, &alice, &format!("/chat/messages/{}/", bob.id)).await;
    assert_eq!(body["entity"]["messages"][0]["seen"], true);
    assert_eq!(body["entity"]["messages"][1]["seen"], false, "alice has not read bob's answer");

    // Threads list.
    let (status, threads) = cluster.get(0, &alice, "/chat/user/threads/").await;
    assert_eq!(status, 200);
    assert_eq!((threads["message"].clone(), threads["success"].as_bool()), (Value::Null, Some(true)));
    let t = &threads["entity"][0];
    let example = format!(
        r#"{{"id": 1, "other_user": {{"id": "83", "email": "o", "username": "", "role": null, "is_active": true}},
        "last_message": {MESSAGE_EXAMPLE}}}"#
    );
    assert_shape(t, &example);
    assert_eq!(t["other_user"]["username"], "bob");
    assert_eq!(t["last_message"]["message"], "ok");
    let (_, none) = cluster.get(1, &carol, "/chat/user/threads/").await;
    assert_eq!(none["entity"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_the_envelope_and_on_the_socket() {
    let cluster = TestCluster::start(1).await;
    let alice = cluster.user("alice").await;
    for bad in ["not-a-uuid".to_owned(), uuid::Uuid::new_v4().to_string(), "999999".to_owned(), alice.id.to_string()] {
        let (status, body) = cluster.get(0, &alice, &format!("/chat/messages/{bad}/")).await;
        assert_eq!(status, 404, "{bad}");
        assert_eq!(
            body,
            json!({"status": "failure", "entity": null, "message": "Invalid recipient", "success": false})
        );
    }
    let resp =
        cluster.http.get(format!("{}/chat/user/threads/", cluster.node(0).http())).send().await.expect("request");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!((body["status"].as_str(), body["success"].as_bool()), (Some("failure"), Some(false)));

    let mut a = room(&cluster, 0, &alice).await;
    a.send(json!({"action": "dance"})).await;
    let e = next_action(&mut a, "error").await;
    assert_eq!((e["code"].as_str(), e["request_action"].as_str()), (Some("unknown_type"), Some("dance")));
    a.send(json!({"action": "chat_message", "message_body": "hi", "receiver_id": uuid::Uuid::new_v4()})).await;
    assert_eq!(next_action(&mut a, "error").await["code"], "not_found");
    a.send(json!({"action": "chat_message", "message_body": "hi", "receiver_id": 999_999})).await;
    assert_eq!(next_action(&mut a, "error").await["code"], "not_found", "an unknown integer id");
    a.send(json!({"action": "chat_message", "message_body": "hi", "receiver_id": [1]})).await;
    assert_eq!(next_action(&mut a, "error").await["code"], "invalid_frame", "a malformed id");
    a.send(json!({"action": "chat_message", "message_body": "x".repeat(1001), "receiver_id": alice.id})).await;
    assert_eq!(next_action(&mut a, "error").await["code"], "invalid", "not to oneself");
    let bob = cluster.user("bob").await;
    a.send(json!({"action": "chat_message", "message_body": "x".repeat(1001), "receiver_id": bob.id})).await;
    assert_eq!(next_action(&mut a, "error").await["code"], "too_long");
    a.send(json!({"action": "chat_message", "message_body": "fine", "receiver_id": bob.id})).await;
    assert_eq!(next_action(&mut a, "conf_message").await["message_body"], "fine");
}
