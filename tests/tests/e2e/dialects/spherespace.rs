//! specs/000 (`spherespace`): every REST endpoint and the socket, with message requests, across
//! nodes, as its real client (`useChatWebSocket`) uses them: UUID conversation and message ids,
//! integer user ids, `connection_established`, `message_sent`, `messages_read`, `pong`.
use std::time::Duration;

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

/// Opens the socket and reads the greeting the real client waits for.
async fn socket(cluster: &TestCluster, node: usize, user: &TestUser) -> WsClient {
    let mut ws = WsClient::connect(&cluster.node(node).ws_url("/ws/chat/?dialect=spherespace", &user.token))
        .await
        .expect("socket");
    let hello = ws.expect_type("connection_established").await;
    assert_eq!(hello["user_id"], user.id, "the integer id the client compares with");
    ws
}

/// A UUID string, as upstream names conversations and messages.
fn uuid_of(v: &Value) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("{v} is not a string"));
    uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("{s} is not a UUID"));
    s.to_owned()
}

async fn form_post(
    cluster: &TestCluster,
    node: usize,
    user: &TestUser,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let resp = cluster
        .http
        .post(format!("{}{}", cluster.node(node).http(), path))
        .bearer_auth(&user.token)
        .form(fields)
        .send()
        .await
        .expect("request");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_frame_with_a_message_request() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let mut a = socket(&cluster, 0, &alice).await;
    let mut b = socket(&cluster, 1, &bob).await;

    // Start by username: a message request for bob.
    let (status, conv) = cluster.post(0, &alice, "/api/conversations/", json!({"username": "bob"})).await;
    assert_eq!(status, 201, "{conv}");
    assert_eq!((conv["other_user"]["username"].as_str(), conv["status"].as_str()), (Some("bob"), Some("active")));
    let id = uuid_of(&conv["id"]);
    assert_eq!(conv["other_user"]["id"], bob.id, "user ids are integers");
    let msgs = format!("/api/conversations/{id}/messages/");

    // Send as JSON (the document's fetch example) and as form data.
    let (status, m1) = cluster.post(0, &alice, &msgs, json!({"content": "Hello!"})).await;
    assert_eq!((status, m1["content"].as_str()), (201, Some("Hello!")));
    uuid_of(&m1["id"]);
    assert_eq!((m1["conversation_id"].as_str(), m1["sender"]["id"].as_i64()), (Some(id.as_str()), Some(alice.id)));
    let (status, m2) = form_post(&cluster, 0, &alice, &msgs, &[("content", "as a form")]).await;
    assert_eq!((status, m2["content"].as_str()), (201, Some("as a form")));
    let multipart = reqwest::multipart::Form::new().text("content", "as FormData");
    let resp = cluster
        .http
        .post(format!("{}{msgs}", cluster.node(0).http()))
        .bearer_auth(&alice.token)
        .multipart(multipart)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 201);

    // Bob (other node) receives new_message live, even for a request.
    for expected in ["Hello!", "as a form", "as FormData"] {
        let f = b.expect_type("new_message").await;
        assert_eq!(
            (f["conversation_id"].as_str(), f["message"]["content"].as_str()),
            (Some(id.as_str()), Some(expected))
        );
        assert_eq!(f["message"]["sender"]["username"], "alice");
    }

    // It is a request for bob, not a conversation yet.
    let (_, requests) = cluster.get(1, &bob, "/api/message-requests/").await;
    assert_eq!(requests.as_array().expect("list").len(), 1);
    assert_eq!((requests[0]["is_request"].as_bool(), requests[0]["status"].as_str()), (Some(true), Some("pending")));
    let (_, convs) = cluster.get(1, &bob, "/api/conversations/").await;
    assert_eq!(convs, json!([]));
    let (_, unread) = cluster.get(1, &bob, "/api/unread-count/").await;
    assert_eq!(unread, json!({"unread_count": 3}));
    b.send(json!({"type": "chat_message", "conversation_id": id, "content": "who is this?", "message_type": "text"}))
        .await;
    let e = b.expect_type("error").await;
    assert_eq!(e["code"], "forbidden", "answer the request first");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "the client shows `message`");

    // Accept: now a conversation for both, and bob may write.
    let (status, done) =
        cluster.post(1, &bob, &format!("/api/conversations/{id}/action/"), json!({"action": "accept"})).await;
    assert_eq!(
        (status, done["status"].as_str(), done["detail"].as_str()),
        (200, Some("accepted"), Some("Request accepted"))
    );
    let (_, convs) = cluster.get(1, &bob, "/api/conversations/").await;
    assert_eq!(convs[0]["id"], id.as_str());
    assert_eq!(convs[0]["unread_count"], 3);

    // The real client's heartbeat.
    b.send(json!({"type": "ping"})).await;
    b.expect_type("pong").await;

    // Socket frames: chat_message (the sending socket gets `message_sent`, once), typing, mark_read.
    b.send(json!({"type": "chat_message", "conversation_id": id, "content": "Hi!", "message_type": "text"})).await;
    let sent = b.expect_type("message_sent").await;
    assert_eq!(
        (sent["message"]["content"].as_str(), sent["message"]["conversation_id"].as_str()),
        (Some("Hi!"), Some(id.as_str()))
    );
    uuid_of(&sent["message"]["id"]);
    // Alice's socket also carried her own REST sends; bob's answer comes after them.
    loop {
        let f = a.expect_type("new_message").await;
        if f["message"]["content"] == "Hi!" {
            assert_eq!(f["message"]["sender"]["username"], "bob");
            break;
        }
    }
    let extra = b.drain(Duration::from_millis(300)).await;
    assert!(extra.iter().all(|f| f["type"] != "new_message" && f["type"] != "message_sent"), "sent twice: {extra:?}");
    b.send(json!({"type": "typing", "conversation_id": id, "is_typing": true})).await;
    let typing = a.expect_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "conversation_id": id, "user_id": bob.id, "username": "bob", "is_typing": true})
    );
    b.send(json!({"type": "mark_read", "conversation_id": id})).await;
    let read = a.expect_type("messages_read").await;
    assert_eq!(read, json!({"type": "messages_read", "conversation_id": id, "reader_id": bob.id, "count": 3}));
    let own = b.drain(Duration::from_millis(300)).await;
    assert!(own.iter().all(|f| f["type"] != "messages_read"), "the reader is not told of its own read: {own:?}");
    b.send(json!({"type": "chat_message", "conversation_id": id, "content": "pic", "message_type": "image"})).await;
    assert_eq!(b.expect_type("error").await["code"], "invalid");
    let (_, unread) = cluster.get(1, &bob, "/api/unread-count/").await;
    assert_eq!(unread["unread_count"], 0);

    // History and unsend.
    let (status, history) = cluster.get(0, &alice, &msgs).await;
    assert_eq!(status, 200);
    let contents: Vec<&str> =
        history.as_array().expect("list").iter().map(|m| m["content"].as_str().expect("c")).collect();
    assert_eq!(contents, vec!["Hello!", "as a form", "as FormData", "Hi!"]);
    let mid = uuid_of(&m1["id"]);
    let (status, _) = cluster.post(1, &bob, &format!("/api/messages/{mid}/action/"), json!({"action": "unsend"})).await;
    assert_eq!(status, 403, "only the sender unsends");
    let (status, unsent) =
        cluster.post(0, &alice, &format!("/api/messages/{mid}/action/"), json!({"action": "unsend"})).await;
    assert_eq!((status, unsent["status"].as_str()), (200, Some("unsent")));
    let (status, body) =
        cluster.post(0, &alice, &format!("/api/messages/{mid}/action/"), json!({"action": "pin"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Invalid action")));
    let (_, history) = cluster.get(1, &bob, &msgs).await;
    assert_eq!((history[0]["is_unsent"].as_bool(), history[0]["content"].as_str()), (Some(true), Some("")));

    // Delete.
    let (status, done) =
        cluster.post(1, &bob, &format!("/api/conversations/{id}/action/"), json!({"action": "delete"})).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("deleted")));
    let (status, gone) = cluster.get(0, &alice, &msgs).await;
    assert_eq!((status, gone["error"].as_str()), (404, Some("Conversation not found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_and_the_authorization_matrix() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let eve = cluster.user("eve").await;
    let (_, conv) = cluster.post(0, &alice, "/api/conversations/", json!({"username": "bob"})).await;
    let id = uuid_of(&conv["id"]);
    cluster.post(0, &alice, &format!("/api/conversations/{id}/messages/"), json!({"content": "psst"})).await;
    let (status, _) =
        form_post(&cluster, 1, &bob, &format!("/api/conversations/{id}/action/"), &[("action", "decline")]).await;
    assert_eq!(status, 200);
    let (_, requests) = cluster.get(1, &bob, "/api/message-requests/").await;
    assert_eq!(requests, json!([]));
    let (status, _) = cluster.get(1, &bob, &format!("/api/conversations/{id}/messages/")).await;
    assert_eq!(status, 404, "declined: gone for bob");

    // A stranger learns nothing: every call answers as for a conversation that does not exist.
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/api/conversations/{id}/messages/"),
        format!("/api/conversations/{missing}/messages/"),
        "/api/conversations/junk/messages/".to_owned(),
    ] {
        let (status, body) = cluster.get(1, &eve, &path).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("Conversation not found")), "{path}");
    }
    let (s1, b1) = cluster.post(1, &eve, &format!("/api/conversations/{id}/messages/"), json!({"content": "x"})).await;
    let (s2, b2) =
        cluster.post(1, &eve, &format!("/api/conversations/{missing}/messages/"), json!({"content": "x"})).await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 404);
    let (status, _) =
        cluster.post(1, &eve, &format!("/api/conversations/{id}/action/"), json!({"action": "accept"})).await;
    assert_eq!(status, 404);
    let mut e = socket(&cluster, 1, &eve).await;
    e.send(json!({"type": "chat_message", "conversation_id": id, "content": "x"})).await;
    assert_eq!(e.expect_type("error").await["code"], "not_found");

    // Bad input, each as the upstream views answer it: `{"error": "..."}`.
    let (status, body) = cluster.post(0, &alice, "/api/conversations/", json!({"username": "nobody"})).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("User not found")));
    let (status, body) = cluster.post(0, &alice, "/api/conversations/", json!({"name": "bob"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Username is required")), "{body}");
    let (status, body) = cluster.post(0, &alice, "/api/conversations/", json!({"username": "alice"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Cannot message yourself")));
    let (status, body) =
        cluster.post(0, &alice, &format!("/api/conversations/{id}/messages/"), json!({"content": "  "})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Message cannot be empty")));
    let (status, body) =
        cluster.post(0, &alice, &format!("/api/conversations/{id}/action/"), json!({"action": "explode"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Invalid action")));
    let resp = cluster.http.get(format!("{}/api/unread-count/", cluster.node(0).http())).send().await.expect("request");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"detail": "Authentication credentials were not provided."})
    );
}

/// With `CHATWIRE_WS_CHAT_DIALECT=spherespace`, `/ws/chat/` speaks spherespace without `?dialect=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_gives_ws_chat_to_spherespace() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.ws_chat_dialect = chatwire_server::config::WsChatDialect::Spherespace;
    })
    .await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let mut ws = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await.expect("socket");
    ws.expect_type("connection_established").await;
    // The conversation's UUID name and, leniently, its integer id in either JSON type.
    let uuid = chatwire_core::ConversationId(conv).uuid().to_string();
    for (i, named) in [json!(uuid), json!(conv), json!(conv.to_string())].into_iter().enumerate() {
        ws.send(json!({"type": "chat_message", "conversation_id": named, "content": format!("hi {i}")})).await;
        let sent = ws.expect_type("message_sent").await;
        assert_eq!(
            (sent["message"]["content"].as_str(), sent["conversation_id"].as_str()),
            (Some(format!("hi {i}").as_str()), Some(uuid.as_str()))
        );
    }
    let mut dotted =
        WsClient::connect(&cluster.node(0).ws_url("/ws/chat/?dialect=dotted", &alice.token)).await.expect("socket");
    dotted.send(json!({"type": "chat.get_conversations"})).await;
    dotted.expect_type("chat.conversations").await;
}
