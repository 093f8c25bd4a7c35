//! Live delivery is gapless and in seq order on every socket, whatever pub/sub does: inversions
//! between two senders' publishes are put right, and a message that was committed but never
//! published (a node that died in between) is filled in from Postgres.
use std::collections::HashMap;
use std::time::Duration;

use chatwire_core::model::{MessageKind, NewMessage};
use chatwire_core::ports::Store;
use chatwire_core::{ConversationId, UserId};
use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

/// The contents of a conversation's history in seq order, after `after`.
async fn history(cluster: &TestCluster, user: &TestUser, conv: i64, after: i64) -> Vec<String> {
    let (_, page) =
        cluster.get(0, user, &format!("/api/v1/conversations/{conv}/messages?after={after}&limit=200")).await;
    page.as_array().expect("list").iter().map(|m| m["content"].as_str().expect("content").to_owned()).collect()
}

/// Reads `ws` until it has `n` frames of `ty` whose `path` holds a string; returns those strings.
async fn collect(ws: &mut WsClient, ty: &str, path: &[&str], n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let Some(frame) = ws.recv_within(Duration::from_secs(10)).await else { break };
        if frame.get("type").or(frame.get("action")).and_then(Value::as_str) != Some(ty) {
            continue;
        }
        let value = path.iter().fold(&frame, |v, k| &v[*k]);
        if let Some(s) = value.as_str() {
            out.push(s.to_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_on_two_nodes_are_seen_in_seq_order() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let (_, group) = cluster
        .post(0, &alice, "/api/v1/conversations/groups", json!({"title": "race", "member_ids": [bob.id, carol.id]}))
        .await;
    let conv = group["conversation"]["id"].as_i64().expect("id");
    let start = group["conversation"]["last_seq"].as_i64().unwrap_or(0);
    let mut readers = Vec::new();
    for node in 0..2 {
        readers.push((cluster.socket(node, &carol).await, "native"));
        readers.push((
            WsClient::connect(&cluster.node(node).ws_url("/ws/chat/", &carol.token)).await.expect("dotted"),
            "dotted",
        ));
    }
    // Let the creation note reach every reader before the race starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (ws, _) in &mut readers {
        ws.drain(Duration::from_millis(100)).await;
    }
    let per_sender = 60;
    let mut a = cluster.socket(0, &alice).await;
    let mut b = cluster.socket(1, &bob).await;
    for i in 0..per_sender {
        a.send(json!({"type": "send", "conversation_id": conv, "content": format!("a{i}")})).await;
        b.send(json!({"type": "send", "conversation_id": conv, "content": format!("b{i}")})).await;
    }
    let expected = loop {
        let h = history(&cluster, &alice, conv, start).await;
        if h.iter().filter(|c| c.starts_with('a') || c.starts_with('b')).count() == 2 * per_sender {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (ws, kind) in &mut readers {
        let got = match *kind {
            "native" => collect(ws, "message_created", &["message", "content"], expected.len()).await,
            _ => collect(ws, "chat.message", &["message", "content"], expected.len()).await,
        };
        assert_eq!(got, expected, "{kind}: every message once, in seq order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_committed_but_never_published_is_filled_in_on_every_socket() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let (_, room) = cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": bob.id})).await;
    let room_path = format!("/ws/chat/{}/", room["id"]);
    let node = cluster.node(1);
    let mut sockets: HashMap<&str, WsClient> = HashMap::new();
    for path in ["/ws/v1", "/ws/chat/", "/ws/chat/?dialect=spherespace", "/ws/chat/room/", "/messages/ws/", &room_path]
    {
        sockets.insert(path, WsClient::connect(&node.ws_url(path, &bob.token)).await.expect(path));
    }
    let first =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "one"})).await;
    assert_eq!(first.0, 201);

    // A node stored "two" and died before publishing it: the row is there, no event ever was.
    let store = cluster.store();
    let sender = store.get_user(&UserId::from_int(alice.id)).await.expect("user").expect("alice");
    let msg = NewMessage { content: "two".into(), ..NewMessage::default() };
    store
        .insert_message(ConversationId(conv), Some(&sender), MessageKind::Text, &msg)
        .await
        .expect("insert")
        .expect("member");

    cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "three"})).await;
    let kinds: [(&str, &str, &[&str]); 6] = [
        ("/ws/v1", "message_created", &["message", "content"]),
        ("/ws/chat/", "chat.message", &["message", "content"]),
        ("/ws/chat/?dialect=spherespace", "new_message", &["message", "content"]),
        ("/ws/chat/room/", "re_message", &["message_body"]),
        ("/messages/ws/", "new_message", &["message", "content"]),
        ("", "message", &["message", "content"]),
    ];
    for (path, ty, field) in kinds {
        let path = if path.is_empty() { room_path.as_str() } else { path };
        let ws = sockets.get_mut(path).expect("socket");
        let got = collect(ws, ty, field, 3).await;
        assert_eq!(got, vec!["one", "two", "three"], "{path}: the unpublished message, filled in, in order");
        let extra = ws.drain(Duration::from_millis(300)).await;
        assert!(extra.iter().all(|f| f["type"] != ty && f["action"] != ty), "{path}: sent twice: {extra:?}");
    }
}

/// A node stored a message and died before publishing it; its client, with no answer, retries
/// on another node with the same idempotency key: the original is returned and, now, published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_delivers_what_a_dead_node_stored_but_never_published() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let store = cluster.store();
    let sender = store.get_user(&UserId::from_int(alice.id)).await.expect("user").expect("alice");
    let msg = NewMessage { content: "orphan".into(), client_key: Some("k-1".into()), ..NewMessage::default() };
    store
        .insert_message(ConversationId(conv), Some(&sender), MessageKind::Text, &msg)
        .await
        .expect("insert")
        .expect("member");

    let (status, again) = cluster
        .post(
            1,
            &alice,
            &format!("/api/v1/conversations/{conv}/messages"),
            json!({"content": "orphan", "client_key": "k-1"}),
        )
        .await;
    assert_eq!((status, again["seq"].as_i64()), (200, Some(1)), "{again}");
    let got = bob_ws.expect_type("message_created").await;
    assert_eq!((got["message"]["content"].as_str(), got["message"]["seq"].as_i64()), (Some("orphan"), Some(1)));
    // A second retry publishes again; the socket already has it and writes nothing.
    cluster
        .post(
            0,
            &alice,
            &format!("/api/v1/conversations/{conv}/messages"),
            json!({"content": "orphan", "client_key": "k-1"}),
        )
        .await;
    let extra = bob_ws.drain(Duration::from_millis(400)).await;
    assert!(extra.iter().all(|f| f["type"] != "message_created"), "delivered twice: {extra:?}");
}

/// A node stored a message and died before publishing it, and the conversation then goes quiet:
/// no later message reveals the gap, so each node's sweep (CHATWIRE_GAP_SWEEP_SECS) notices that
/// Postgres holds more than it delivered and its sockets read what they owe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_message_that_was_never_published_arrives_by_the_sweep() {
    let cluster = TestCluster::start_with(2, Some(chatwire_test_support::redis_url()), |s| {
        s.gap_sweep = Duration::from_secs(1);
    })
    .await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut native = cluster.socket(1, &bob).await;
    let mut dotted = WsClient::connect(&cluster.node(1).ws_url("/ws/chat/", &bob.token)).await.expect("dotted");
    cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "one"})).await;
    assert_eq!(native.expect_type("message_created").await["message"]["content"], "one");

    let store = cluster.store();
    let sender = store.get_user(&UserId::from_int(alice.id)).await.expect("user").expect("alice");
    let msg = NewMessage { content: "the last word".into(), ..NewMessage::default() };
    store
        .insert_message(ConversationId(conv), Some(&sender), MessageKind::Text, &msg)
        .await
        .expect("insert")
        .expect("member");
    let started = std::time::Instant::now();

    let got = collect(&mut native, "message_created", &["message", "content"], 1).await;
    assert_eq!(got, vec!["the last word"], "native");
    let got = collect(&mut dotted, "chat.message", &["message", "content"], 2).await;
    assert_eq!(got, vec!["one", "the last word"], "dotted");
    println!(
        "drill tail-gap: the unpublished last message reached the sockets {:?} after it was stored",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let extra = native.drain(Duration::from_millis(1500)).await;
    assert!(extra.iter().all(|f| f["type"] != "message_created"), "delivered twice: {extra:?}");
}

/// A socket keeps many sends in flight (they share the node's batches), yet its replies come in
/// the order of its frames, its own messages never come back to it live, a frame after the sends
/// is answered after all of them, and the user's other device and the other member get every
/// message once, in order: native and dotted both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_answer_in_order_and_are_never_echoed_twice() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut phone = cluster.socket(0, &alice).await;
    let mut other_member = cluster.socket(1, &bob).await;
    let mut native = cluster.socket(0, &alice).await;
    let n = 50;
    for i in 0..n {
        native
            .send(json!({"type": "send", "ref": format!("r{i}"), "conversation_id": conv, "content": format!("n{i}")}))
            .await;
    }
    native.send(json!({"type": "ping", "ref": "after"})).await;
    let mut refs = Vec::new();
    let mut seqs = Vec::new();
    loop {
        let frame = native.recv().await;
        match frame["type"].as_str() {
            Some("ack") => {
                refs.push(frame["ref"].as_str().expect("ref").to_owned());
                seqs.push(frame["message"]["seq"].as_i64().expect("seq"));
            }
            Some("pong") => break,
            Some("message_created") => panic!("the sender got its own message live: {frame}"),
            _ => {}
        }
    }
    assert_eq!(refs, (0..n).map(|i| format!("r{i}")).collect::<Vec<_>>(), "acks in frame order, before the pong");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one gapless run of seqs: {seqs:?}");
    let expected: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    assert_eq!(collect(&mut phone, "message_created", &["message", "content"], n).await, expected);
    assert_eq!(collect(&mut other_member, "message_created", &["message", "content"], n).await, expected);
    assert!(native.drain(Duration::from_millis(300)).await.iter().all(|f| f["type"] != "message_created"));

    let mut dotted = WsClient::connect(&cluster.node(0).ws_url("/ws/chat/", &alice.token)).await.expect("dotted");
    for i in 0..n {
        dotted.send(json!({"type": "chat.message", "conversation_id": conv, "content": format!("d{i}")})).await;
    }
    let echoes = collect(&mut dotted, "chat.message", &["message", "content"], n).await;
    assert_eq!(echoes, (0..n).map(|i| format!("d{i}")).collect::<Vec<_>>(), "each echo once, in order");
    let late = dotted.drain(Duration::from_millis(300)).await;
    assert!(late.iter().all(|f| f["type"] != "chat.message"), "no second echo: {late:?}");
    let expected: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    assert_eq!(collect(&mut other_member, "message_created", &["message", "content"], n).await, expected);
}
