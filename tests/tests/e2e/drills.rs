//! Fault drills on real processes, with figures: a private redis-server (or the Redis Cluster
//! primary that owns the conversation's channel) is SIGKILLed under a conversation across two
//! nodes and started again. Run with `--nocapture` to see the figures.
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatwire_test_support::{RedisCluster, RedisSentinels, RedisServer, TestCluster, WsClient};
use serde_json::json;

/// What one receiving client ended up with.
#[derive(Debug, Default)]
struct Received {
    /// Contents in the order the client saw them live (or fetched on reconnect).
    contents: Vec<String>,
    /// Live frames of a message this connection had already shown.
    duplicates: usize,
    /// Times the server told the client it may have missed something (resync frame or close).
    signals: usize,
    /// When the client had every message the sender got acknowledged.
    complete_at: Option<Instant>,
}

impl Received {
    fn inversions(&self) -> usize {
        let rank = |c: &String| c.trim_start_matches('m').parse::<usize>().unwrap_or(0);
        self.contents.windows(2).filter(|w| rank(&w[1]) < rank(&w[0])).count()
    }
}

/// A native client as the docs ask: on `resync`, `resume` from the highest seq it has.
async fn native_client(mut ws: WsClient, conv: i64, acked: Arc<AtomicUsize>, total: usize) -> Received {
    let mut got = Received::default();
    let (mut seen, mut cursor) = (HashSet::new(), 0);
    let mut last_new = None;
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline && got.complete_at.is_none() {
        if seen.len() == total && acked.load(Ordering::SeqCst) == total {
            got.complete_at = last_new;
            break;
        }
        let Some(f) = ws.recv_within(Duration::from_millis(200)).await else {
            if ws.closed.is_some() {
                break;
            }
            continue;
        };
        match f["type"].as_str() {
            Some("message_created") => {
                let (seq, content) =
                    (f["message"]["seq"].as_i64().unwrap_or(0), f["message"]["content"].as_str().unwrap_or(""));
                if seen.insert(seq) {
                    got.contents.push(content.to_owned());
                    cursor = cursor.max(seq);
                    last_new = Some(Instant::now());
                } else {
                    got.duplicates += 1;
                }
            }
            Some("resync") => {
                got.signals += 1;
                ws.send(json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": cursor}]})).await;
            }
            _ => {}
        }
    }
    got
}

/// How each dialect's real client reads live messages and, after a close, its history.
#[derive(Clone, Copy, Debug)]
enum Dialect {
    Dotted,
    Spherespace,
    Threads,
    DjangoMessaging,
    Rooms,
}

/// What a dialect client needs to know of its conversation, in the ids its dialect uses.
#[derive(Clone)]
struct Names {
    conv: i64,
    sphere: String,
    peer: i64,
    node: String,
    token: String,
}

impl Dialect {
    fn path(self, n: &Names) -> String {
        match self {
            Dialect::Dotted => "/ws/chat/".into(),
            Dialect::Spherespace => "/ws/chat/?dialect=spherespace".into(),
            Dialect::Threads => "/ws/chat/room/".into(),
            Dialect::DjangoMessaging => "/messages/ws/".into(),
            Dialect::Rooms => format!("/ws/chat/{}/", n.conv),
        }
    }

    /// The content of a live message frame, if `f` is one.
    fn live(self, f: &serde_json::Value) -> Option<String> {
        let (ty_key, ty, content) = match self {
            Dialect::Dotted => ("type", "chat.message", &f["message"]["content"]),
            Dialect::Spherespace | Dialect::DjangoMessaging => ("type", "new_message", &f["message"]["content"]),
            Dialect::Threads => ("action", "re_message", &f["message_body"]),
            Dialect::Rooms => ("type", "message", &f["message"]["content"]),
        };
        (f[ty_key] == ty).then(|| content.as_str().map(str::to_owned)).flatten()
    }

    /// The conversation's history in seq order, as the client refetches it after a reconnect.
    async fn history(self, http: &reqwest::Client, n: &Names) -> Vec<String> {
        let get = |path: String| async move {
            let resp = http.get(format!("{}{path}", n.node)).bearer_auth(&n.token).send().await.expect("history");
            resp.json::<serde_json::Value>().await.expect("json")
        };
        let texts = |v: &serde_json::Value, key: &str| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|m| m[key].as_str().map(str::to_owned)).collect()
        };
        match self {
            // dotted refetches on the socket itself; see `dialect_client`.
            Dialect::Dotted => Vec::new(),
            Dialect::Spherespace => texts(&get(format!("/api/conversations/{}/messages/", n.sphere)).await, "content"),
            Dialect::Threads => {
                texts(&get(format!("/chat/messages/{}/", n.peer)).await["entity"]["messages"], "message")
            }
            Dialect::DjangoMessaging | Dialect::Rooms => {
                let base = match self {
                    Dialect::Rooms => format!("/api/v1.0/chat/rooms/{}/messages/?page_size=200", n.conv),
                    _ => format!("/messages/api/chats/{}/messages/?x=1", n.conv),
                };
                // Page 1 is the newest: read pages until none is left, then put them oldest first.
                let mut pages = Vec::new();
                for page in 1.. {
                    let body = get(format!("{base}&page={page}")).await;
                    pages.push(texts(&body["results"], "content"));
                    if body["next"].is_null() {
                        break;
                    }
                }
                pages.into_iter().rev().flatten().collect()
            }
        }
    }
}

/// A dialect client as the real ones behave: on any close but 1000 it reconnects and refetches
/// the conversation's history.
async fn dialect_client(
    dialect: Dialect,
    mut ws: WsClient,
    n: Names,
    acked: Arc<AtomicUsize>,
    total: usize,
) -> Received {
    let http = reqwest::Client::new();
    let url = format!("{}{}", n.node.replacen("http", "ws", 1), dialect.path(&n));
    let url = format!("{url}{}token={}", if url.contains('?') { '&' } else { '?' }, n.token);
    let mut got = Received::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut shown_here: HashSet<String> = HashSet::new();
    let mut last_new = None;
    let take = |content: String, got: &mut Received, seen: &mut HashSet<String>, last_new: &mut Option<Instant>| {
        if content.starts_with('m') && seen.insert(content.clone()) {
            got.contents.push(content);
            *last_new = Some(Instant::now());
        }
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline && got.complete_at.is_none() {
        if seen.len() == total && acked.load(Ordering::SeqCst) == total {
            got.complete_at = last_new;
            break;
        }
        match ws.recv_within(Duration::from_millis(200)).await {
            Some(f) if f["type"] == "chat.messages" => {
                for m in f["messages"].as_array().into_iter().flatten() {
                    take(m["content"].as_str().unwrap_or("").to_owned(), &mut got, &mut seen, &mut last_new);
                }
            }
            Some(f) => {
                if let Some(content) = dialect.live(&f) {
                    if !shown_here.insert(content.clone()) {
                        got.duplicates += 1;
                    }
                    take(content, &mut got, &mut seen, &mut last_new);
                }
            }
            None if ws.closed.is_some() => {
                got.signals += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Ok(again) = WsClient::connect(&url).await else { continue };
                ws = again;
                shown_here.clear();
                if let Dialect::Dotted = dialect {
                    ws.send(json!({"type": "chat.get_messages", "conversation_id": n.conv})).await;
                }
                for content in dialect.history(&http, &n).await {
                    take(content, &mut got, &mut seen, &mut last_new);
                }
            }
            None => {}
        }
    }
    got
}

/// What a drill breaks: the one Redis, the shard of a Redis Cluster that owns the
/// conversation's channel, or the primary Sentinel watches.
enum Outage {
    Redis(RedisServer),
    Shard(RedisCluster, usize),
    Primary(RedisSentinels, usize),
}

impl Outage {
    fn kill(&mut self) {
        match self {
            Outage::Redis(redis) => redis.stop(),
            Outage::Shard(cluster, i) => cluster.stop(*i),
            Outage::Primary(sentinels, i) => sentinels.kill(*i),
        }
    }

    /// Redis whole again: the same server back, or (Sentinel) a replica promoted and the old
    /// primary back as its replica.
    async fn restart(&mut self) {
        match self {
            Outage::Redis(redis) => redis.restart().await,
            Outage::Shard(cluster, i) => cluster.restart(*i).await,
            Outage::Primary(sentinels, i) => {
                let took = sentinels.await_failover_from(*i).await;
                println!("sentinel failover: a new primary answered {took:?} after the wait began");
                sentinels.restart_as_replica(*i).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_a_conversation_loses_nothing_and_says_so() {
    let redis = RedisServer::start().await;
    let cluster = TestCluster::start_with(2, Some(redis.url()), |_| {}).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    outage_drill("redis-kill", &cluster, (alice, bob, conv), Outage::Redis(redis)).await;
}

/// A Redis Cluster's primary that owns the conversation's channel is SIGKILLed (its slots are
/// down) and started again 3 s later; the same figures as for one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_shard_killed_under_a_conversation_loses_nothing_and_says_so() {
    let redis = RedisCluster::start().await;
    let cluster = TestCluster::start_on_redis_cluster(2, &redis).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let shard = redis.owner(&format!("{}chat_{conv}", cluster.prefix));
    outage_drill("cluster-shard-kill", &cluster, (alice, bob, conv), Outage::Shard(redis, shard)).await;
}

/// The primary that Sentinel watches is SIGKILLed; Sentinel promotes the replica, the nodes find
/// it, and the old primary comes back as a replica; the same figures as for one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_under_a_conversation_loses_nothing_and_says_so() {
    let redis = RedisSentinels::start().await;
    let primary = redis.primary().expect("a primary");
    let cluster = TestCluster::start_on_redis_sentinels(2, &redis).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let users = (alice.clone(), bob.clone());
    let outage = outage_drill("sentinel-failover", &cluster, (alice, bob, conv), Outage::Primary(redis, primary)).await;
    // Both nodes followed: a message still crosses, and its channel is subscribed on the new
    // primary, none on the old one (a replica now, where a node left behind would publish to
    // itself alone).
    let (alice, bob) = users;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let mut alice_ws = cluster.socket(0, &alice).await;
    alice_ws.send(json!({"type": "send", "conversation_id": conv, "content": "after", "client_key": "after"})).await;
    alice_ws.expect_type("ack").await;
    assert_eq!(bob_ws.expect_type("message_created").await["message"]["content"], "after");
    let Outage::Primary(redis, old) = outage else { unreachable!() };
    let new = redis.primary().expect("a primary after the failover");
    assert_ne!(new, old, "the Sentinels promoted the replica");
    let channel = format!("{}chat_{conv}", cluster.prefix);
    assert!(redis.channels(new).contains(&channel), "{channel} on the new primary: {:?}", redis.channels(new));
    assert!(redis.channels(old).is_empty(), "subscriptions left on the old primary: {:?}", redis.channels(old));
}

async fn outage_drill(
    name: &str,
    cluster: &TestCluster,
    (alice, bob, conv): (chatwire_test_support::TestUser, chatwire_test_support::TestUser, i64),
    mut outage: Outage,
) -> Outage {
    let total = 240;
    let acked = Arc::new(AtomicUsize::new(0));
    let native = tokio::spawn(native_client(cluster.socket(1, &bob).await, conv, acked.clone(), total));
    let names = Names {
        conv,
        sphere: chatwire_core::ConversationId(conv).uuid().to_string(),
        peer: alice.id,
        node: cluster.node(1).http(),
        token: bob.token.clone(),
    };
    cluster.post(0, &alice, "/api/v1.0/chat/rooms/", json!({"user_id": bob.id})).await;
    let dialects = [Dialect::Dotted, Dialect::Spherespace, Dialect::Threads, Dialect::DjangoMessaging, Dialect::Rooms];
    let mut clients = Vec::new();
    for dialect in dialects {
        // Connected before the first send: what came before the handshake would be history.
        let ws = WsClient::connect(&cluster.node(1).ws_url(&dialect.path(&names), &bob.token)).await.expect("socket");
        clients.push((dialect, tokio::spawn(dialect_client(dialect, ws, names.clone(), acked.clone(), total))));
    }
    let mut sender = cluster.socket(0, &alice).await;

    let mut restarted_at = None;
    let mut killed_at = None;
    for i in 0..total {
        if i == 80 {
            outage.kill(); // SIGKILL
            killed_at = Some(Instant::now());
        }
        if killed_at.is_some_and(|k| k.elapsed() > Duration::from_secs(3)) && restarted_at.is_none() {
            outage.restart().await;
            restarted_at = Some(Instant::now());
        }
        let key = format!("k{i}");
        sender
            .send(json!({"type": "send", "conversation_id": conv, "content": format!("m{i}"), "client_key": key}))
            .await;
        let ack = sender.expect_type("ack").await;
        assert_eq!(ack["client_key"], key);
        acked.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restarted_at = match restarted_at {
        Some(at) => at,
        None => {
            outage.restart().await;
            Instant::now()
        }
    };
    let mut results = vec![("native".to_owned(), native.await.expect("native"))];
    for (dialect, client) in clients {
        results.push((format!("{dialect:?}"), client.await.expect("client")));
    }
    for (kind, got) in results {
        let delivered: HashSet<&String> = got.contents.iter().collect();
        let lost = (0..total).filter(|i| !delivered.contains(&format!("m{i}"))).count();
        let recovery = got.complete_at.map(|t| t.saturating_duration_since(restarted_at));
        let since_kill = got.complete_at.zip(killed_at).map(|(t, k)| t.saturating_duration_since(k));
        println!(
            "drill {name} {kind}: acked {total}, acknowledged-then-lost {lost}, delivered duplicates {}, \
             inversions {}, signals {}, recovered {:?} after Redis came back ({:?} after the kill)",
            got.duplicates,
            got.inversions(),
            got.signals,
            recovery,
            since_kill
        );
        assert_eq!(lost, 0, "{kind}: acknowledged then lost");
        assert_eq!(got.duplicates, 0, "{kind}: delivered twice");
        assert_eq!(got.inversions(), 0, "{kind}: out of order");
        assert!(got.signals >= 1, "{kind}: the outage was never signalled");
        assert!(recovery.is_some_and(|r| r < Duration::from_secs(10)), "{kind}: recovery took {recovery:?}");
    }
    let (_, history) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages?limit=200")).await;
    assert_eq!(history.as_array().map(Vec::len), Some(200), "stored once each (page of 200)");
    outage
}
