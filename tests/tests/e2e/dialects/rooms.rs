//! specs/004 (`rooms`): REST, the per-room socket, the status flow and presence across nodes.
use std::time::Duration;

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

use super::assert_shape;

const API: &str = "/api/v1.0/chat";

async fn room_socket(cluster: &TestCluster, node: usize, user: &TestUser, room: i64) -> WsClient {
    let mut ws =
        WsClient::connect(&cluster.node(node).ws_url(&format!("/ws/chat/{room}/"), &user.token)).await.expect("socket");
    let hello = ws.expect_type("connection_established").await;
    assert_shape(
        &hello,
        r#"{"type": "connection_established", "room_id": 1, "user_id": 123, "timestamp": "t",
        "heartbeat_interval": 30, "connection_timeout": 14400}"#,
    );
    ws
}

const PARTICIPANT: &str =
    r#"{"id": 1, "username": "u", "display_name": "U", "imageUrls": [], "is_online": true, "last_seen": "t"}"#;

fn room_example() -> String {
    format!(
        r#"{{"id": 1, "participant1": {PARTICIPANT}, "participant2": {PARTICIPANT}, "other_participant": {PARTICIPANT},
        "match": 123, "last_message": {{"id": 456, "content": "c", "sender_id": 2, "status": "read", "created_at": "t"}},
        "unread_count": 0, "typing_users": [{{"id": 2, "username": "j", "display_name": "J"}}], "created_at": "t"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_socket_status_flow_and_presence_across_nodes() {
    let cluster =
        TestCluster::start_with(2, Some(chatwire_test_support::redis_url()), |s| s.heartbeat_interval_secs = 1).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;

    // Get or create the room (the contract's addition), twice: one room.
    let (status, room) = cluster.post(0, &alice, &format!("{API}/rooms/"), json!({"user_id": bob.id})).await;
    assert_eq!(status, 200, "{room}");
    let id = room["id"].as_i64().expect("an integer id");
    let (_, again) = cluster.post(1, &bob, &format!("{API}/rooms/"), json!({"user_id": alice.id})).await;
    assert_eq!(again["id"], id);

    let mut a = room_socket(&cluster, 0, &alice, id).await;
    let mut b = room_socket(&cluster, 1, &bob, id).await;
    // Bob came online after alice: she is told.
    let online = a.expect_type("user_status_change").await;
    assert_shape(
        &online,
        r#"{"type": "user_status_change", "user_id": 789, "username": "j", "is_online": true, "last_seen": "t"}"#,
    );
    assert_eq!((online["user_id"].as_i64(), online["is_online"].as_bool()), (Some(bob.id), Some(true)));

    // A message with a temp_id; a retry of the same temp_id does not duplicate.
    a.send(json!({"type": "message", "content": "Hello, world!", "temp_id": "temp_1", "timestamp": "2024-12-25T10:30:00Z"})).await;
    let mine = a.expect_type("message").await;
    assert_eq!(
        (mine["message"]["temp_id"].as_str(), mine["message"]["status"].as_str()),
        (Some("temp_1"), Some("sent"))
    );
    let got = b.expect_type("message").await;
    assert_shape(
        &got,
        r#"{"type": "message", "message": {"id": 456, "content": "Hello, world!", "sender_id": 123,
        "sender_username": "john_doe", "status": "sent", "created_at": "t", "room_id": 1, "room": 1}, "delivery_id": "msg_456_1703419800.123"}"#,
    );
    let mid = got["message"]["id"].as_i64().expect("id");
    assert!(got["delivery_id"].as_str().expect("delivery id").starts_with(&format!("msg_{mid}_")));
    a.send(json!({"type": "message", "content": "Hello, world!", "temp_id": "temp_1"})).await;
    assert_eq!(a.expect_type("message").await["message"]["id"], mid, "the retry returns the original");
    let dup = b.drain(Duration::from_millis(400)).await;
    assert!(dup.iter().all(|f| f["type"] != "message"), "a retried temp_id was delivered twice: {dup:?}");

    // sent -> delivered -> read, each reported to the sender.
    b.send(json!({"type": "message_delivered", "message_id": mid})).await;
    let upd = a.expect_type("message_status_update").await;
    assert_shape(
        &upd,
        r#"{"type": "message_status_update", "message_id": 456, "status": "read", "timestamp": "t", "updated_by": 789}"#,
    );
    assert_eq!((upd["message_id"].as_i64(), upd["status"].as_str()), (Some(mid), Some("delivered")));
    b.send(json!({"type": "message_read", "message_id": mid})).await;
    let upd = a.expect_type("message_status_update").await;
    assert_eq!((upd["status"].as_str(), upd["updated_by"].as_i64()), (Some("read"), Some(bob.id)));

    // Typing on and off.
    b.send(json!({"type": "typing_on", "timestamp": "t"})).await;
    let typing = a.expect_type("typing").await;
    assert_shape(
        &typing,
        r#"{"type": "typing", "user_id": 789, "username": "j", "is_typing": true, "timestamp": "t"}"#,
    );
    let (_, detail) = cluster.get(0, &alice, &format!("{API}/rooms/{id}/")).await;
    assert_eq!(detail["typing_users"][0]["username"], "bob");
    b.send(json!({"type": "typing_off"})).await;
    assert_eq!(a.expect_type("typing").await["is_typing"], false);

    // Heartbeat both ways, and a connection check.
    b.send(json!({"type": "ping", "timestamp": "t"})).await;
    let pong = b.expect_type("pong").await;
    assert_shape(&pong, r#"{"type": "pong", "timestamp": "t", "server_time": "t"}"#);
    let ping = a.expect_type("ping").await;
    assert_shape(&ping, r#"{"type": "ping", "timestamp": "t", "sequence": 1}"#);
    a.send(json!({"type": "pong", "timestamp": "t", "client_time": "t"})).await;
    a.send(json!({"type": "connection_check"})).await;
    let check = a.expect_type("connection_status").await;
    assert_shape(
        &check,
        r#"{"type": "connection_status", "status": "healthy", "duration_seconds": 1, "last_activity": "t", "timestamp": "t"}"#,
    );

    // The size limit, in the document's words; the socket lives on.
    a.send(json!({"type": "message", "content": "x".repeat(1001), "temp_id": "big"})).await;
    let err = a.expect_type("error").await;
    assert_shape(&err, r#"{"type": "error", "message": "m", "timestamp": "t"}"#);
    assert_eq!(err["message"], "Message too long (max 1000 characters)");

    // REST: list, detail, messages, send, stats, health.
    let (status, list) = cluster.get(1, &bob, &format!("{API}/rooms/")).await;
    assert_eq!((status, list["count"].as_i64()), (200, Some(1)));
    assert_eq!(list["results"][0]["other_participant"]["username"], "alice");
    assert_eq!(list["results"][0]["other_participant"]["is_online"], true);
    let (_, detail) = cluster.get(0, &alice, &format!("{API}/rooms/{id}/")).await;
    let mut detail_shape = detail.clone();
    detail_shape["typing_users"] = json!([{"id": 2, "username": "j", "display_name": "J"}]);
    assert_shape(&detail_shape, &room_example());
    assert_eq!(detail["last_message"]["status"], "read");
    let (status, sent) =
        cluster.post(1, &bob, &format!("{API}/messages/"), json!({"room": id, "content": "Hello there!"})).await;
    assert_eq!((status, sent["status"].as_str()), (201, Some("sent")));
    assert_eq!(a.expect_type("message").await["message"]["content"], "Hello there!");
    let (_, page) = cluster.get(0, &alice, &format!("{API}/rooms/{id}/messages/?page=1")).await;
    assert_eq!(page["count"], 2);
    let first = &page["results"][0];
    assert_shape(
        first,
        r#"{"id": 456, "room": 1, "sender": {"id": 2, "username": "j", "display_name": "J", "imageUrls": [], "is_online": false, "last_seen": "t"},
        "content": "c", "status": "read", "status_display": "Read", "sent_at": "t", "delivered_at": "t", "read_at": "t",
        "is_read": true, "created_at": "t", "updated_at": "t"}"#,
    );
    assert_eq!((first["status"].as_str(), first["is_read"].as_bool()), (Some("read"), Some(true)));
    assert_eq!(
        (page["results"][1]["status"].as_str(), page["results"][1]["status_display"].as_str()),
        (Some("sent"), Some("Sent"))
    );
    let (status, _) = cluster.get(0, &alice, &format!("{API}/rooms/{id}/messages/?page=2")).await;
    assert_eq!(status, 404);
    let (_, stats) = cluster.get(0, &alice, &format!("{API}/stats/")).await;
    assert_shape(
        &stats,
        r#"{"user_id": 1, "total_rooms": 3, "active_rooms_today": 2, "recent_messages_24h": 15,
        "channel_layer_status": "available", "timestamp": "t", "connection_settings": {"heartbeat_interval": 30,
        "connection_timeout": 14400, "ping_timeout": 10, "max_reconnect_attempts": 5}}"#,
    );
    assert_eq!((stats["total_rooms"].as_i64(), stats["recent_messages_24h"].as_i64()), (Some(1), Some(2)));
    assert_eq!(stats["connection_settings"]["max_reconnect_attempts"], 5);
    let (_, health) = cluster.get(1, &bob, &format!("{API}/rooms/{id}/health/")).await;
    assert_shape(
        &health,
        r#"{"room_id": 1, "group_name": "chat_1", "health_check_sent": true, "recent_messages_count": 5, "timestamp": "t"}"#,
    );
    assert_eq!(health["group_name"], format!("chat_{id}"));
    for ws in [&mut a, &mut b] {
        let resp = ws.expect_type("health_check_response").await;
        assert_shape(
            &resp,
            r#"{"type": "health_check_response", "room_id": 1, "user_id": 123, "connection_duration": 3600,
            "last_activity": "t", "is_alive": true, "timestamp": "t"}"#,
        );
    }
    let (_, all) = cluster.post(0, &alice, &format!("{API}/health-check/"), json!({})).await;
    assert_eq!((all["health_checks_sent"].as_i64(), all["total_rooms"].as_i64()), (Some(1), Some(1)));

    // Bob leaves: alice sees him go offline.
    b.close().await;
    loop {
        let f = a.expect_type("user_status_change").await;
        if f["is_online"] == false {
            assert!(f["last_seen"].is_string());
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_get_nothing_and_learn_nothing() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let eve = cluster.user("eve").await;
    let (_, room) = cluster.post(0, &alice, &format!("{API}/rooms/"), json!({"user_id": bob.id})).await;
    let id = room["id"].as_i64().expect("an integer id");
    let missing = id + 1000;
    for path in [
        format!("{API}/rooms/{id}/"),
        format!("{API}/rooms/{missing}/"),
        format!("{API}/rooms/{id}/messages/"),
        format!("{API}/rooms/{id}/health/"),
    ] {
        let (status, body) = cluster.get(1, &eve, &path).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})), "{path}");
    }
    let (status, _) = cluster.post(1, &eve, &format!("{API}/messages/"), json!({"room": id, "content": "x"})).await;
    assert_eq!(status, 404);
    for room in [id, missing] {
        match WsClient::connect(&cluster.node(1).ws_url(&format!("/ws/chat/{room}/"), &eve.token)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
            other => panic!("a stranger's socket was not refused: {:?}", other.map(|_| "socket")),
        }
    }
    let (_, list) = cluster.get(1, &eve, &format!("{API}/rooms/")).await;
    assert_eq!(list, json!({"count": 0, "next": null, "previous": null, "results": []}));
    let resp = cluster.http.get(format!("{}{API}/rooms/", cluster.node(0).http())).send().await.expect("request");
    assert_eq!(resp.status(), 401);
    // A group is not a room.
    let (_, group) =
        cluster.post(0, &alice, "/api/v1/conversations/groups", json!({"title": "g", "member_ids": [bob.id]})).await;
    let gid = group["conversation"]["id"].as_i64().expect("an integer id");
    let (status, _) = cluster.get(0, &alice, &format!("{API}/rooms/{gid}/")).await;
    assert_eq!(status, 404);
    match WsClient::connect(&cluster.node(0).ws_url(&format!("/ws/chat/{gid}/"), &alice.token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404, "a group's socket"),
        other => panic!("a group's room socket was not refused: {:?}", other.map(|_| "socket")),
    }
    let _ = Value::Null;
}

/// Before closing a socket itself, the server suggests reconnecting, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_is_suggested_before_server_side_closes() {
    let mut cluster = TestCluster::start_with(1, None, |s| {
        s.heartbeat_interval_secs = 1;
        s.ping_timeout_secs = 0;
    })
    .await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let (_, room) = cluster.post(0, &alice, &format!("{API}/rooms/"), json!({"user_id": bob.id})).await;
    let id = room["id"].as_i64().expect("an integer id");

    // A client that stops answering (it reads nothing, so it never pongs).
    let mut silent = room_socket(&cluster, 0, &alice, id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frames = silent.drain(Duration::from_secs(3)).await;
    let suggested = frames.iter().find(|f| f["type"] == "reconnect_suggested").cloned().expect("reconnect_suggested");
    assert_shape(
        &suggested,
        r#"{"type": "reconnect_suggested", "reason": "ping_timeout", "attempts": 3, "max_attempts": 5}"#,
    );
    assert_eq!((suggested["reason"].as_str(), suggested["max_attempts"].as_i64()), (Some("ping_timeout"), Some(5)));
    assert!(silent.closed.is_some(), "and the socket is closed");

    // A node shutting down.
    let mut ws = room_socket(&cluster, 0, &bob, id).await;
    let mut node = cluster.nodes.remove(0);
    let stop = tokio::spawn(async move { node.stop().await });
    let frames = ws.drain(Duration::from_secs(5)).await;
    let suggested = frames.iter().find(|f| f["type"] == "reconnect_suggested").expect("reconnect_suggested");
    assert_eq!(suggested["reason"], "server_shutdown");
    stop.await.expect("stopped");
}

/// What the real Flutter client sends and calls beyond the document: `chat_message`, `typing`
/// and `mark_read` frames; `page_size`; `PATCH messages/<id>/mark_read/`; editing and deleting
/// one's own messages; every id an integer, every error text in `detail`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flutter_clients_frames_and_calls() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let (_, room) = cluster.post(0, &alice, &format!("{API}/rooms/"), json!({"user_id": bob.id})).await;
    let id = room["id"].as_i64().expect("an integer id");
    let mut a = room_socket(&cluster, 0, &alice, id).await;
    let mut b = room_socket(&cluster, 1, &bob, id).await;

    a.send(json!({"type": "chat_message", "message": "from flutter", "timestamp": "2024-12-25T10:30:00Z"})).await;
    let mine = a.expect_type("message").await;
    let got = b.expect_type("message").await;
    assert_eq!(mine["message"]["id"], got["message"]["id"]);
    assert_eq!((got["message"]["content"].as_str(), got["message"]["room"].as_i64()), (Some("from flutter"), Some(id)));
    assert_eq!(got["message"]["sender_id"], alice.id);
    let mid = got["message"]["id"].as_i64().expect("an integer message id");

    b.send(json!({"type": "typing", "is_typing": true, "timestamp": "t"})).await;
    let typing = a.expect_type("typing").await;
    assert_eq!((typing["user_id"].as_i64(), typing["is_typing"].as_bool()), (Some(bob.id), Some(true)));
    b.send(json!({"type": "typing", "is_typing": false, "timestamp": "t"})).await;
    assert_eq!(a.expect_type("typing").await["is_typing"], false);

    b.send(json!({"type": "mark_read", "message_id": mid, "timestamp": "t"})).await;
    let upd = a.expect_type("message_status_update").await;
    assert_eq!((upd["message_id"].as_i64(), upd["status"].as_str()), (Some(mid), Some("read")));

    // Three more messages, paged two at a time.
    for n in 2..=4 {
        cluster.post(0, &alice, &format!("{API}/messages/"), json!({"room": id, "content": format!("m{n}")})).await;
    }
    let (status, page) = cluster.get(1, &bob, &format!("{API}/rooms/{id}/messages/?page=1&page_size=2")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 4);
    let contents: Vec<&str> =
        page["results"].as_array().expect("results").iter().map(|m| m["content"].as_str().expect("c")).collect();
    assert_eq!(contents, vec!["m3", "m4"]);
    assert!(page["next"].as_str().expect("next").contains("page_size=2"));
    for m in page["results"].as_array().expect("results") {
        assert!(
            m["id"].is_i64() && m["room"].is_i64() && m["sender"]["id"].is_i64(),
            "ids the client parses `as int`: {m}"
        );
        assert!(m["sender"]["display_name"].is_string() && m["created_at"].is_string());
    }
    let (status, _) = cluster.get(1, &bob, &format!("{API}/rooms/{id}/messages/?page_size=0")).await;
    assert_eq!(status, 400);
    let m4 = page["results"][1]["id"].as_i64().expect("id");

    // PATCH mark_read: read up to that message.
    let (status, read) = cluster.send("PATCH", 1, &bob, &format!("{API}/messages/{m4}/mark_read/"), json!({})).await;
    assert_eq!((status, read["status"].as_str(), read["is_read"].as_bool()), (200, Some("read"), Some(true)), "{read}");
    let (_, detail) = cluster.get(1, &bob, &format!("{API}/rooms/{id}/")).await;
    assert_eq!(detail["unread_count"], 0);

    // Edit and delete: one's own only, errors in `detail`.
    let (status, edited) =
        cluster.send("PATCH", 0, &alice, &format!("{API}/messages/{m4}/"), json!({"content": "m4, edited"})).await;
    assert_eq!((status, edited["content"].as_str()), (200, Some("m4, edited")), "{edited}");
    let (status, refused) =
        cluster.send("PATCH", 1, &bob, &format!("{API}/messages/{m4}/"), json!({"content": "mine now"})).await;
    assert_eq!(status, 403);
    assert!(refused["detail"].as_str().is_some_and(|d| !d.is_empty()), "{refused}");
    let (status, refused) = cluster.send("DELETE", 1, &bob, &format!("{API}/messages/{m4}/"), json!({})).await;
    assert_eq!((status, refused["detail"].is_string()), (403, true));
    let (status, _) = cluster.send("DELETE", 0, &alice, &format!("{API}/messages/{m4}/"), json!({})).await;
    assert_eq!(status, 204);
    let (status, missing) = cluster.send("DELETE", 0, &alice, &format!("{API}/messages/999999/"), json!({})).await;
    assert_eq!((status, missing), (404, json!({"detail": "Not found."})));
    let (_, page) = cluster.get(1, &bob, &format!("{API}/rooms/{id}/messages/?page_size=1")).await;
    assert_eq!(page["results"][0]["content"], "", "deleted: content cleared, the row kept");
}
