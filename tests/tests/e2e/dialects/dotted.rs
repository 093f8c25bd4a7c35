//! specs/002 (`dotted`), every client frame and every server frame, across two nodes.
use std::time::Duration;

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

use super::assert_shape;

async fn dotted(cluster: &TestCluster, node: usize, user: &TestUser) -> WsClient {
    WsClient::connect(&cluster.node(node).ws_url("/ws/chat/", &user.token)).await.expect("socket")
}

async fn ask(ws: &mut WsClient, frame: Value, answer: &str) -> Value {
    ws.send(frame).await;
    ws.expect_type(answer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_frame_works_across_nodes() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let mut a = dotted(&cluster, 0, &alice).await;
    let mut b = dotted(&cluster, 1, &bob).await;
    let mut c = dotted(&cluster, 1, &carol).await;

    // 4. Search: usernames containing the keyword, not the caller, not other fields.
    let found = ask(&mut a, json!({"type": "chat.search_user", "keyword": "BO"}), "chat.search_results").await;
    assert_shape(&found, r#"{"type": "chat.search_results", "results": [{"id": 45, "username": "john_doe"}]}"#);
    assert_eq!(found["results"], json!([{"id": bob.id, "username": "bob"}]));
    let none = ask(&mut a, json!({"type": "chat.search_user", "keyword": "example.com"}), "chat.search_results").await;
    assert_eq!(none["results"], json!([]), "emails are not searched");
    let me = ask(&mut a, json!({"type": "chat.search_user", "keyword": "alice"}), "chat.search_results").await;
    assert_eq!(me["results"], json!([]), "the current user is excluded");

    // 5. Start (or get) a conversation.
    let started =
        ask(&mut a, json!({"type": "chat.start_conversation", "receiver_id": bob.id}), "chat.conversation_started")
            .await;
    assert_shape(
        &started,
        r#"{"type": "chat.conversation_started", "conversation": {"id": 123, "participants": [{"id": 1, "username": "alice"}]}}"#,
    );
    let conv = started["conversation"]["id"].as_i64().expect("an integer id");
    let again =
        ask(&mut a, json!({"type": "chat.start_conversation", "receiver_id": bob.id}), "chat.conversation_started")
            .await;
    assert_eq!(again["conversation"]["id"], conv, "an existing conversation is returned");

    // 6. Conversations list, with the document's Django field names.
    let list = ask(&mut b, json!({"type": "chat.get_conversations"}), "chat.conversations").await;
    assert_shape(
        &list,
        r#"{"type": "chat.conversations", "conversations": [{"id": 123, "participants": [{"user__id": 1, "user__username": "alice"}]}]}"#,
    );
    let mut names: Vec<&str> = list["conversations"][0]["participants"]
        .as_array()
        .expect("p")
        .iter()
        .map(|p| p["user__username"].as_str().expect("n"))
        .collect();
    names.sort();
    assert_eq!(names, vec!["alice", "bob"]);

    // 1. A message: broadcast to the other participant and echoed, once, to the sender.
    a.send(json!({"type": "chat.message", "conversation_id": conv, "content": "Hello!"})).await;
    let echo = a.expect_type("chat.message").await;
    let got = b.expect_type("chat.message").await;
    let example = r#"{"type": "chat.message", "message": {"id": 789, "conversation_id": 123, "sender": {"id": 1, "username": "alice"},
        "content": "Hello!", "timestamp": "2025-07-07T12:34:56.789Z", "is_system": false, "attachment": null}}"#;
    assert_shape(&got, example);
    assert_eq!(echo, got);
    assert_eq!(got["message"]["sender"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(
        (got["message"]["content"].as_str(), got["message"]["is_system"].as_bool()),
        (Some("Hello!"), Some(false))
    );
    let extra = a.drain(Duration::from_millis(300)).await;
    assert!(extra.iter().all(|f| f["type"] != "chat.message"), "echoed twice: {extra:?}");
    assert_eq!(got["message"]["sender"]["id"], alice.id, "the integer id the client got at login");

    // Later real clients acknowledge delivery: `chat.delivered {message_id}` moves bob's watermark.
    b.send(json!({"type": "chat.delivered", "message_id": got["message"]["id"]})).await;
    let delivered = async {
        loop {
            let (_, view) = cluster.get(0, &bob, &format!("/api/v1/conversations/{conv}")).await;
            let me = view["members"].as_array().expect("members").iter().find(|m| m["user"]["id"] == bob.id).cloned();
            if me.is_some_and(|m| m["last_delivered_seq"] == 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), delivered).await.expect("chat.delivered moved the delivery watermark");
    let e = ask(&mut b, json!({"type": "chat.delivered", "message_id": 999_999}), "chat.error").await;
    assert_eq!((e["code"].as_str(), e["request_type"].as_str()), (Some("not_found"), Some("chat.delivered")));

    // 2. Typing, addressed to a user.
    b.send(json!({"type": "chat.typing", "receiver_id": alice.id, "is_typing": true})).await;
    let typing = a.expect_type("chat.typing").await;
    assert_shape(&typing, r#"{"type": "chat.typing", "sender_id": 1, "is_typing": true}"#);
    assert_eq!((typing["sender_id"].as_i64(), typing["is_typing"].as_bool()), (Some(bob.id), Some(true)));

    // 3. Read.
    b.send(json!({"type": "chat.read", "conversation_id": conv})).await;
    let read = a.expect_type("chat.read").await;
    assert_shape(&read, r#"{"type": "chat.read", "conversation_id": 123, "reader_id": 1}"#);
    assert_eq!(read["reader_id"], bob.id);

    // 7. History.
    let history = ask(&mut b, json!({"type": "chat.get_messages", "conversation_id": conv}), "chat.messages").await;
    let example = r#"{"type": "chat.messages", "messages": [{"id": 789, "conversation_id": 123, "sender": {"id": 1, "username": "alice"},
        "content": "Hello!", "timestamp": "2025-07-07T12:34:56.789Z", "is_system": false, "attachment": null}]}"#;
    assert_shape(&history, example);
    assert_eq!(history["messages"][0]["content"], "Hello!");

    // The bystander saw none of it and learns nothing by asking.
    let seen = c.drain(Duration::from_millis(300)).await;
    assert!(seen.is_empty(), "a non-member received {seen:?}");
    let refused = ask(&mut c, json!({"type": "chat.get_messages", "conversation_id": conv}), "chat.error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["request_type"].as_str()),
        (Some("not_found"), Some("chat.get_messages"))
    );
    let missing = ask(&mut c, json!({"type": "chat.get_messages", "conversation_id": conv + 1000}), "chat.error").await;
    assert_eq!(refused["message"], missing["message"]);
    let refused =
        ask(&mut c, json!({"type": "chat.message", "conversation_id": conv, "content": "hi"}), "chat.error").await;
    assert_eq!(refused["code"], "not_found");
    let refused =
        ask(&mut c, json!({"type": "chat.typing", "receiver_id": alice.id, "is_typing": true}), "chat.error").await;
    assert_eq!(refused["code"], "not_found", "typing needs an existing conversation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_chat_errors_and_the_socket_lives_on() {
    let cluster = TestCluster::start(1).await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let mut a = dotted(&cluster, 0, &alice).await;
    a.send_raw(tokio_tungstenite::tungstenite::Message::text("{oops")).await;
    assert_eq!(a.expect_type("chat.error").await["code"], "malformed_frame");
    let e = ask(&mut a, json!({"type": "chat.dance"}), "chat.error").await;
    assert_eq!((e["code"].as_str(), e["request_type"].as_str()), (Some("unknown_type"), Some("chat.dance")));
    let e = ask(&mut a, json!({"type": "chat.message", "conversation_id": "one", "content": "x"}), "chat.error").await;
    assert_eq!((e["code"].as_str(), e["request_type"].as_str()), (Some("invalid_frame"), Some("chat.message")));
    let e = ask(
        &mut a,
        json!({"type": "chat.message", "conversation_id": conv, "content": "x".repeat(1001)}),
        "chat.error",
    )
    .await;
    assert_eq!(e["code"], "too_long");
    assert!(e["message"].as_str().expect("message").contains("1000"));
    let ok =
        ask(&mut a, json!({"type": "chat.message", "conversation_id": conv, "content": "still here"}), "chat.message")
            .await;
    assert_eq!(ok["message"]["content"], "still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_and_dotted_is_the_default_owner_of_ws_chat() {
    let cluster = TestCluster::start_local().await;
    let refused = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", "not-a-token")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected a 401 handshake, got {:?}", other.map(|_| "a socket")),
    }
    let alice = cluster.user("alice").await;
    let mut explicit =
        WsClient::connect(&cluster.node(0).ws_url("/ws/chat/?dialect=dotted", &alice.token)).await.expect("socket");
    ask(&mut explicit, json!({"type": "chat.get_conversations"}), "chat.conversations").await;
    // `/ws/chat/<digits>/` is a rooms socket by default: there is no room 5.
    match WsClient::connect(&cluster.node(0).ws_url("/ws/chat/5/", &alice.token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("expected a 404 handshake, got {:?}", other.map(|_| "a socket")),
    }
}

/// The real dotted client connects to `/ws/chat/<user_id>/`: `CHATWIRE_WS_CHAT_ID_DIALECT=dotted`
/// gives that path to dotted (the number is ignored; the user comes from the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_gives_ws_chat_id_to_dotted() {
    let cluster = TestCluster::start_with(2, Some(chatwire_test_support::redis_url()), |s| {
        s.ws_chat_id_dialect = chatwire_server::config::WsChatIdDialect::Dotted;
    })
    .await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut a = WsClient::connect(&cluster.node(0).ws_url(&format!("/ws/chat/{}/", alice.id), &alice.token))
        .await
        .expect("socket");
    let mut b = WsClient::connect(&cluster.node(1).ws_url("/ws/chat/12345/", &bob.token)).await.expect("any number");
    a.send(json!({"type": "chat.message", "conversation_id": conv, "content": "via the user path"})).await;
    let got = b.expect_type("chat.message").await;
    assert_eq!(
        (got["message"]["content"].as_str(), got["message"]["sender"]["id"].as_i64()),
        (Some("via the user path"), Some(alice.id))
    );
    let list = ask(&mut b, json!({"type": "chat.get_conversations"}), "chat.conversations").await;
    assert_eq!(list["conversations"][0]["id"], conv);
    // `?dialect=rooms` still reaches a room socket on that path.
    let (_, room) = cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": bob.id})).await;
    let url = cluster.node(0).ws_url(&format!("/ws/chat/{}/?dialect=rooms", room["id"]), &alice.token);
    let mut r = WsClient::connect(&url).await.expect("rooms socket");
    r.expect_type("connection_established").await;
}
