use std::time::Duration;

use chatwire_test_support::{RedisCluster, RedisSentinels, TestCluster};
use serde_json::json;

use crate::of_type;

/// Users on different nodes exchange messages both ways; a second device of the receiver on the
/// other node gets everything too; a non-member gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_nodes_to_every_device_and_no_one_else() {
    messages_cross_nodes_to_every_device_and_no_one_else_on(&TestCluster::start(2).await).await;
}

/// The same on a three-primary Redis Cluster with sharded pub/sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_nodes_to_every_device_and_no_one_else_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    messages_cross_nodes_to_every_device_and_no_one_else_on(&TestCluster::start_on_redis_cluster(2, &redis).await)
        .await;
}

/// The same on a primary found through Sentinel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_nodes_to_every_device_and_no_one_else_through_sentinel() {
    let redis = RedisSentinels::start().await;
    messages_cross_nodes_to_every_device_and_no_one_else_on(&TestCluster::start_on_redis_sentinels(2, &redis).await)
        .await;
}

async fn messages_cross_nodes_to_every_device_and_no_one_else_on(cluster: &TestCluster) {
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;

    // Bob's devices connect before the DM exists: they must follow it when it is created.
    let mut bob_phone = cluster.socket(1, &bob).await;
    let mut bob_laptop = cluster.socket(0, &bob).await;
    let mut carol_ws = cluster.socket(1, &carol).await;
    let mut alice_ws = cluster.socket(0, &alice).await;

    let conv = cluster.dm(&alice, &bob).await;
    let joined = bob_phone.expect_type("conversation_joined").await;
    assert_eq!(joined["conversation"]["id"], conv);
    bob_laptop.expect_type("conversation_joined").await;

    // Alice (node 0) -> Bob, over the socket, with an idempotency key.
    alice_ws
        .send(json!({"type": "send", "ref": "r1", "conversation_id": conv, "content": "hi bob", "client_key": "k1"}))
        .await;
    let ack = alice_ws.expect_type("ack").await;
    assert_eq!(ack["ref"], "r1");
    assert_eq!(ack["client_key"], "k1");
    assert_eq!(ack["message"]["seq"], 1);
    assert_eq!(ack["duplicate"], false);
    for device in [&mut bob_phone, &mut bob_laptop] {
        let got = device.expect_type("message_created").await;
        assert_eq!(got["message"]["content"], "hi bob");
        assert_eq!(got["message"]["sender"]["username"], "alice");
        assert_eq!(got["message"]["seq"], 1);
    }

    // Bob (node 1) -> Alice, over REST.
    let (status, sent) =
        cluster.post(1, &bob, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "hi alice"})).await;
    assert_eq!(status, 201, "{sent}");
    // Alice's own message came back only as her ack, so the next event is Bob's.
    let got = alice_ws.expect_type("message_created").await;
    assert_eq!(got["message"]["content"], "hi alice");
    assert_eq!(got["message"]["seq"], 2);
    // Bob's other device sees his own message too.
    assert_eq!(bob_laptop.expect_type("message_created").await["message"]["seq"], 2);

    // A retried send with the same key returns the original and delivers nothing new.
    alice_ws
        .send(json!({"type": "send", "ref": "r2", "conversation_id": conv, "content": "hi bob", "client_key": "k1"}))
        .await;
    let ack = alice_ws.expect_type("ack").await;
    assert_eq!(ack["duplicate"], true);
    assert_eq!(ack["message"]["seq"], 1);

    let carol_saw = carol_ws.drain(Duration::from_millis(700)).await;
    assert!(of_type(&carol_saw, "message_created").is_empty(), "a non-member received {carol_saw:?}");
    assert!(of_type(&carol_saw, "conversation_joined").is_empty());
    let phone_rest = bob_phone.drain(Duration::from_millis(300)).await;
    let created: Vec<_> = of_type(&phone_rest, "message_created");
    assert_eq!(created.len(), 1, "the retry must not be delivered again: {phone_rest:?}");

    // History and unread counts agree from either node.
    let (_, list) = cluster.get(1, &bob, "/api/v1/conversations").await;
    assert_eq!(list[0]["conversation"]["last_seq"], 2);
    assert_eq!(list[0]["unread_count"], 1);
    let (_, page) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages")).await;
    let seqs: Vec<i64> = page.as_array().expect("list").iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, vec![1, 2]);
}

/// A group: members on three nodes all receive, a removed member stops receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_fan_out_follows_membership() {
    group_fan_out_follows_membership_on(&TestCluster::start(3).await).await;
}

/// The same on a three-primary Redis Cluster with sharded pub/sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_fan_out_follows_membership_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    group_fan_out_follows_membership_on(&TestCluster::start_on_redis_cluster(3, &redis).await).await;
}

async fn group_fan_out_follows_membership_on(cluster: &TestCluster) {
    let owner = cluster.user("owner").await;
    let m1 = cluster.user("m1").await;
    let m2 = cluster.user("m2").await;
    let (status, group) = cluster
        .post(0, &owner, "/api/v1/conversations/groups", json!({"title": "team", "member_ids": [m1.id, m2.id]}))
        .await;
    assert_eq!(status, 201, "{group}");
    let conv = group["conversation"]["id"].as_i64().expect("an integer id");
    let mut s1 = cluster.socket(1, &m1).await;
    let mut s2 = cluster.socket(2, &m2).await;

    cluster.post(0, &owner, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "one"})).await;
    assert_eq!(s1.expect_type("message_created").await["message"]["content"], "one");
    assert_eq!(s2.expect_type("message_created").await["message"]["content"], "one");

    // A non-admin may not remove others.
    let (status, body) =
        cluster.send("DELETE", 1, &m1, &format!("/api/v1/conversations/{conv}/members/{}", m2.id), json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");

    let (status, _) =
        cluster.send("DELETE", 0, &owner, &format!("/api/v1/conversations/{conv}/members/{}", m2.id), json!({})).await;
    assert_eq!(status, 204);
    s2.expect_type("conversation_left").await;
    // The group records the change as a system message, for those still in it.
    let note = s1.expect_type("message_created").await;
    assert_eq!(note["message"]["kind"], "system");
    assert_eq!(note["message"]["content"], "OWNER removed M2");
    assert_eq!(note["message"]["sender"]["id"], owner.id, "a system message carries who made the change");
    cluster.post(0, &owner, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "two"})).await;
    assert_eq!(s1.expect_type("message_created").await["message"]["content"], "two");
    let after = s2.drain(Duration::from_millis(600)).await;
    assert!(of_type(&after, "message_created").is_empty(), "a removed member received {after:?}");
    let (status, _) = cluster.get(2, &m2, &format!("/api/v1/conversations/{conv}/messages")).await;
    assert_eq!(status, 404);

    // History: the creation note, "one", the removal note, "two"; system notes are never unread.
    let (_, page) = cluster.get(1, &m1, &format!("/api/v1/conversations/{conv}/messages")).await;
    let kinds: Vec<&str> = page.as_array().expect("list").iter().map(|m| m["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, vec!["system", "text", "system", "text"]);
    assert_eq!(page[0]["content"], "OWNER created the group");
    let (_, list) = cluster.get(1, &m1, "/api/v1/conversations").await;
    assert_eq!(list[0]["unread_count"], 2);
}

/// Typing and read receipts reach the other side across nodes; presence is visible from any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_and_presence_cross_nodes() {
    typing_receipts_and_presence_cross_nodes_on(&TestCluster::start(2).await).await;
}

/// The same on a three-primary Redis Cluster with sharded pub/sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_and_presence_cross_nodes_on_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    typing_receipts_and_presence_cross_nodes_on(&TestCluster::start_on_redis_cluster(2, &redis).await).await;
}

async fn typing_receipts_and_presence_cross_nodes_on(cluster: &TestCluster) {
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut alice_ws = cluster.socket(0, &alice).await;
    let mut bob_ws = cluster.socket(1, &bob).await;

    let (_, online) = cluster.get(0, &alice, &format!("/api/v1/presence?user_ids={}", bob.id)).await;
    assert_eq!(online[0]["is_online"], true, "{online}");

    bob_ws.send(json!({"type": "typing", "conversation_id": conv, "is_typing": true})).await;
    let typing = alice_ws.expect_type("typing").await;
    assert_eq!(typing["user"]["id"], bob.id);
    assert_eq!(typing["is_typing"], true);

    cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "m"})).await;
    bob_ws.expect_type("message_created").await;
    bob_ws.send(json!({"type": "read", "conversation_id": conv, "seq": 1})).await;
    let read = alice_ws.expect_type("read").await;
    assert_eq!(read["seq"], 1);
    assert_eq!(read["user"]["id"], bob.id);
    let (_, list) = cluster.get(1, &bob, "/api/v1/conversations").await;
    assert_eq!(list[0]["unread_count"], 0);

    bob_ws.close().await;
    loop {
        let presence = alice_ws.expect_type("presence").await;
        if presence["is_online"] == false {
            assert_eq!(presence["user"]["id"], bob.id);
            break;
        }
    }
}

/// A node that dies without a word: its users drop offline within the presence TTL, and their
/// contacts on other nodes are told so by a surviving node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_go_offline_by_themselves() {
    let mut cluster = TestCluster::start(2).await;
    let (alice, bob, _conv) = cluster.alice_and_bob().await;
    let mut alice_ws = cluster.socket(0, &alice).await;
    let _bob_ws = cluster.socket(1, &bob).await;
    let (_, online) = cluster.get(0, &alice, &format!("/api/v1/presence?user_ids={}", bob.id)).await;
    assert_eq!(online[0]["is_online"], true);
    cluster.nodes[1].kill().await;
    // The test cluster's presence TTL is 3 s: offline within it, never before a heartbeat lapses.
    let killed = std::time::Instant::now();
    loop {
        let (_, online) = cluster.get(0, &alice, &format!("/api/v1/presence?user_ids={}", bob.id)).await;
        if online[0]["is_online"] == false {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(8), "still online {:?} after the kill", killed.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The sweep (every TTL) turns the lapse into an event for Bob's contacts.
    loop {
        let frame = alice_ws.recv_within(Duration::from_secs(10)).await.expect("an offline event for bob");
        if frame["type"] == "presence" && frame["user"]["id"] == bob.id && frame["is_online"] == false {
            assert!(frame["last_seen"].is_string());
            break;
        }
    }
}

/// Stopping a node (SIGTERM) tells its sockets to reconnect elsewhere with close code 1012.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_tells_its_sockets_to_reconnect() {
    let mut cluster = TestCluster::start(2).await;
    let (alice, _bob, _conv) = cluster.alice_and_bob().await;
    let mut ws = cluster.socket(1, &alice).await;
    let stopping = cluster.nodes.remove(1);
    let stop = tokio::spawn(async move {
        let mut node = stopping;
        node.stop().await;
    });
    // Frames already on the way (her own presence) may come first; then the close.
    let before = ws.drain(Duration::from_secs(5)).await;
    assert!(ws.closed.is_some(), "the socket closes; got only {before:?}");
    let frame = ws.closed.clone().flatten().expect("a close frame");
    assert_eq!(u16::from(frame.code), 1012);
    assert_eq!(frame.reason.as_str(), "reconnect");
    stop.await.expect("stopped");
    // The client reconnects to the other replica.
    cluster.socket(0, &alice).await;
}

/// A removal racing a handshake: whichever lands first, a socket never follows a conversation its
/// user is no longer in. (The handshake joins `user_<id>` before it reads the memberships, so a
/// removal between the read and the join arrives as `conversation_left`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_racing_a_handshake_leaves_nothing_behind() {
    let cluster = TestCluster::start(2).await;
    let owner = cluster.user("owner").await;
    let guest = cluster.user("guest").await;
    for round in 0..20 {
        let (_, group) = cluster
            .post(
                0,
                &owner,
                "/api/v1/conversations/groups",
                json!({"title": format!("g{round}"), "member_ids": [guest.id]}),
            )
            .await;
        let conv = group["conversation"]["id"].as_i64().expect("an integer id");
        let path = format!("/api/v1/conversations/{conv}/members/{}", guest.id);
        let (socket, removed) =
            tokio::join!(cluster.socket(1, &guest), cluster.send("DELETE", 0, &owner, &path, json!({})));
        assert_eq!(removed.0, 204, "{:?}", removed.1);
        let mut socket = socket;
        cluster.post(0, &owner, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "after"})).await;
        let got = socket.drain(Duration::from_millis(150)).await;
        let leaked: Vec<_> =
            got.iter().filter(|f| f["type"] == "message_created" && f["message"]["content"] == "after").collect();
        assert!(leaked.is_empty(), "round {round}: a removed member received {leaked:?}");
    }
}
