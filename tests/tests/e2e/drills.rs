//! Fault drills on real processes, with figures: a private redis-server is SIGKILLed under a
//! conversation across two nodes and started again. Run with `--nocapture` to see the figures.
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatwire_test_support::{RedisServer, TestCluster, WsClient};
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

/// A dotted client as the real one behaves: on any close but 1000 it reconnects and fetches the
/// conversation's history (`chat.get_messages`).
async fn dotted_client(mut ws: WsClient, url: String, conv: i64, acked: Arc<AtomicUsize>, total: usize) -> Received {
    let mut got = Received::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut shown_here: HashSet<String> = HashSet::new();
    let mut last_new = None;
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline && got.complete_at.is_none() {
        if seen.iter().filter(|c| c.starts_with('m')).count() == total && acked.load(Ordering::SeqCst) == total {
            got.complete_at = last_new;
            break;
        }
        match ws.recv_within(Duration::from_millis(200)).await {
            Some(f) if f["type"] == "chat.message" => {
                let content = f["message"]["content"].as_str().unwrap_or("").to_owned();
                if !shown_here.insert(content.clone()) {
                    got.duplicates += 1;
                }
                if seen.insert(content.clone()) {
                    got.contents.push(content);
                    last_new = Some(Instant::now());
                }
            }
            Some(f) if f["type"] == "chat.messages" => {
                for m in f["messages"].as_array().into_iter().flatten() {
                    let content = m["content"].as_str().unwrap_or("").to_owned();
                    if content.starts_with('m') && seen.insert(content.clone()) {
                        got.contents.push(content);
                        last_new = Some(Instant::now());
                    }
                }
            }
            Some(_) => {}
            None if ws.closed.is_some() => {
                got.signals += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Ok(again) = WsClient::connect(&url).await else { continue };
                ws = again;
                shown_here.clear();
                ws.send(json!({"type": "chat.get_messages", "conversation_id": conv})).await;
            }
            None => {}
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_a_conversation_loses_nothing_and_says_so() {
    let mut redis = RedisServer::start().await;
    let cluster = TestCluster::start_with(2, Some(redis.url()), |_| {}).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let total = 240;
    let acked = Arc::new(AtomicUsize::new(0));
    let native = tokio::spawn(native_client(cluster.socket(1, &bob).await, conv, acked.clone(), total));
    let dotted_url = cluster.node(1).ws_url("/ws/chat/", &bob.token);
    // Connected before the first send: what came before the handshake would be history.
    let dotted_ws = WsClient::connect(&dotted_url).await.expect("dotted");
    let dotted = tokio::spawn(dotted_client(dotted_ws, dotted_url, conv, acked.clone(), total));
    let mut sender = cluster.socket(0, &alice).await;

    let mut restarted_at = None;
    let mut killed_at = None;
    for i in 0..total {
        if i == 80 {
            redis.stop(); // SIGKILL
            killed_at = Some(Instant::now());
        }
        if killed_at.is_some_and(|k| k.elapsed() > Duration::from_secs(3)) && restarted_at.is_none() {
            redis.restart().await;
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
            redis.restart().await;
            Instant::now()
        }
    };
    for (kind, got) in [("native", native.await.expect("native")), ("dotted", dotted.await.expect("dotted"))] {
        let delivered: HashSet<&String> = got.contents.iter().collect();
        let lost = (0..total).filter(|i| !delivered.contains(&format!("m{i}"))).count();
        let recovery = got.complete_at.map(|t| t.saturating_duration_since(restarted_at));
        println!(
            "drill redis-kill {kind}: acked {total}, acknowledged-then-lost {lost}, delivered duplicates {}, \
             inversions {}, signals {}, recovered {:?} after Redis came back",
            got.duplicates,
            got.inversions(),
            got.signals,
            recovery
        );
        assert_eq!(lost, 0, "{kind}: acknowledged then lost");
        assert_eq!(got.duplicates, 0, "{kind}: delivered twice");
        assert_eq!(got.inversions(), 0, "{kind}: out of order");
        assert!(got.signals >= 1, "{kind}: the outage was never signalled");
        assert!(recovery.is_some_and(|r| r < Duration::from_secs(10)), "{kind}: recovery took {recovery:?}");
    }
    let (_, history) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}/messages?limit=200")).await;
    assert_eq!(history.as_array().map(Vec::len), Some(200), "stored once each (page of 200)");
}
