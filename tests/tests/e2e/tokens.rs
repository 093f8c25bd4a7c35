//! A socket does not outlive its token: dialect sockets are closed with 4001 `token_expired` at
//! `exp`; the native socket can take a fresh token before then.
use std::time::{Duration, Instant};

use chatwire_test_support::{TestCluster, WsClient, sign};
use serde_json::json;

fn token(id: i64, name: &str, ttl_secs: u64) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + ttl_secs;
    sign(&json!({"token_type": "access", "user_id": id.to_string(), "username": name, "exp": exp}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_close_when_their_token_expires() {
    let cluster = TestCluster::start_local().await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let (_, room) = cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": bob.id})).await;
    let short = token(alice.id, "alice", 2);
    let node = cluster.node(0);
    let room_path = format!("/ws/chat/{}/", room["id"]);
    let paths = ["/ws/v1", "/ws/chat/", "/ws/chat/?dialect=spherespace", "/ws/chat/room/", "/messages/ws/", &room_path];
    let mut sockets = Vec::new();
    for path in paths {
        sockets.push((path, WsClient::connect(&node.ws_url(path, &short)).await.expect(path)));
    }
    let opened = Instant::now();
    for (path, mut ws) in sockets {
        let frames = ws.drain(Duration::from_secs(6)).await;
        let frame = ws.closed.clone().flatten().unwrap_or_else(|| panic!("{path}: still open; got {frames:?}"));
        assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4001, "token_expired"), "{path}");
        assert!(opened.elapsed() < Duration::from_secs(5), "{path}: closed {:?} after opening", opened.elapsed());
        if path == room_path {
            let goodbye = frames.iter().find(|f| f["type"] == "reconnect_suggested").expect("reconnect_suggested");
            assert_eq!(goodbye["reason"], "token_expired");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_socket_takes_a_fresh_token() {
    let cluster = TestCluster::start_local().await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let mut ws =
        WsClient::connect(&cluster.node(0).ws_url("/ws/v1", &token(alice.id, "alice", 2))).await.expect("socket");
    let hello = ws.expect_type("hello").await;
    let exp = hello["token_expires_at"].as_u64().expect("token_expires_at");
    assert!(exp <= jsonwebtoken::get_current_timestamp() + 2);

    // Someone else's token, or no token at all, is refused and changes nothing.
    ws.send(json!({"type": "refresh", "ref": "r0", "token": token(bob.id, "bob", 600)})).await;
    let e = ws.expect_type("error").await;
    assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("forbidden"), Some("r0")));
    ws.send(json!({"type": "refresh", "ref": "r1", "token": "garbage"})).await;
    assert_eq!(ws.expect_type("error").await["code"], "invalid");

    ws.send(json!({"type": "refresh", "ref": "r2", "token": token(alice.id, "alice", 600)})).await;
    let refreshed = ws.expect_type("refreshed").await;
    assert_eq!(refreshed["ref"], "r2");
    assert!(refreshed["token_expires_at"].as_u64().expect("exp") > exp + 500);
    tokio::time::sleep(Duration::from_secs(3)).await;
    ws.send(json!({"type": "ping", "ref": "p"})).await;
    assert_eq!(ws.expect_type("pong").await["ref"], "p", "alive past the first token's exp");
    assert!(ws.closed.is_none());
}

/// A user can be disconnected everywhere at once: every socket of theirs, on every node and in
/// every dialect, closes with 4003 `disconnected`; nobody else's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_disconnected_everywhere_at_once() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, _) = cluster.alice_and_bob().await;
    let mut alices = Vec::new();
    for (node, path) in [(0, "/ws/v1"), (1, "/ws/chat/"), (1, "/messages/ws/"), (0, "/ws/chat/room/")] {
        alices.push(WsClient::connect(&cluster.node(node).ws_url(path, &alice.token)).await.expect(path));
    }
    let mut bobs = cluster.socket(1, &bob).await;
    cluster.node(0).service().disconnect_user(&chatwire_core::UserId::from_int(alice.id)).await.expect("publish");
    for mut ws in alices {
        ws.drain(Duration::from_secs(5)).await;
        let frame = ws.closed.clone().flatten().expect("closed with a frame");
        assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4003, "disconnected"));
    }
    bobs.send(json!({"type": "ping", "ref": "still"})).await;
    assert_eq!(bobs.expect_type("pong").await["ref"], "still");
}
