//! Drill on real processes: three `chatwire serve` children on one Postgres database and the
//! machine's Redis; the receiver's node and then the sender's node are SIGKILLed while messages
//! flow, and each client moves to a surviving node (the receiver resumes from its cursor, the
//! sender retries unacknowledged sends with their idempotency keys). Run with `--nocapture` for
//! the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a drill fails loudly on purpose")]
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{free_port, redis_url};

const SECRET: &str = "drill-secret";
type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct NodeProcess {
    port: u16,
    child: Child,
}

impl NodeProcess {
    fn spawn(database_url: &str, prefix: &str) -> NodeProcess {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_chatwire"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("CHATWIRE_REDIS_PREFIX", prefix)
            .env("CHATWIRE_JWT_SECRET", SECRET)
            .env("CHATWIRE_BIND", format!("127.0.0.1:{port}"))
            .env("CHATWIRE_SEND_RATE", "0")
            .env("CHATWIRE_WORKERS", "1")
            .env("CHATWIRE_PRESENCE_TTL_SECS", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning chatwire");
        NodeProcess { port, child }
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn ready(&self, http: &reqwest::Client) {
        for _ in 0..200 {
            if http.get(format!("{}/readyz", self.http())).send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on {} never became ready", self.port);
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn token(id: i64, name: &str) -> String {
    common::token(SECRET, id, name)
}

async fn connect(ports: &[u16], token: &str) -> (Ws, u16) {
    for _ in 0..100 {
        for port in ports {
            if let Ok((ws, _)) =
                tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/v1?token={token}")).await
            {
                return (ws, *port);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node took the socket");
}

/// The next JSON frame, `None` when the socket ended (or nothing came for `wait`).
async fn next(ws: &mut Ws, wait: Duration) -> Option<Result<Value, ()>> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return Some(Ok(serde_json::from_str(&t).unwrap())),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return Some(Err(())),
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sigkilled_under_a_conversation_lose_nothing() {
    let (db, url) = common::create_database("chatwire_drill").await;
    let prefix = format!("drill{}:", uuid::Uuid::new_v4().simple());
    let http = reqwest::Client::new();
    let mut nodes: Vec<NodeProcess> = (0..3).map(|_| NodeProcess::spawn(&url, &prefix)).collect();
    for n in &nodes {
        n.ready(&http).await;
    }
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let (alice, bob) = (token(1, "alice"), token(2, "bob"));
    for t in [&alice, &bob] {
        http.get(format!("{}/api/v1/users/me", nodes[0].http())).bearer_auth(t).send().await.unwrap();
    }
    let dm: Value = http
        .post(format!("{}/api/v1/conversations/dm", nodes[0].http()))
        .bearer_auth(&alice)
        .json(&json!({"user_id": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conv = dm["conversation"]["id"].as_i64().unwrap();
    let total = 200;

    // Bob: on node 1, then wherever he can reconnect; resumes from his cursor every time.
    let bob_ports = vec![ports[1], ports[2]];
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(async move {
        let (mut ws, _) = connect(&bob_ports, &bob).await;
        // A client starts from what it has (nothing yet), so it resumes from 0 on its first socket too.
        let resume = json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": 0}]});
        ws.send(Message::text(resume.to_string())).await.unwrap();
        while !matches!(next(&mut ws, Duration::from_secs(5)).await, Some(Ok(f)) if f["type"] == "resumed") {}
        let _ = ready_tx.send(());
        let (mut seqs, mut dups, mut reconnects, mut longest_silence) = (Vec::new(), 0, 0, Duration::ZERO);
        let mut seen = HashSet::new();
        let mut last = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < total && Instant::now() < deadline {
            match next(&mut ws, Duration::from_millis(500)).await {
                Some(Ok(f)) if f["type"] == "message_created" => {
                    let seq = f["message"]["seq"].as_i64().unwrap();
                    if seen.insert(seq) {
                        seqs.push(seq);
                        longest_silence = longest_silence.max(last.elapsed());
                        last = Instant::now();
                    } else {
                        dups += 1;
                    }
                }
                Some(Ok(f)) if f["type"] == "resync" => {
                    let cursor = seqs.iter().copied().max().unwrap_or(0);
                    ws.send(Message::text(
                        json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": cursor}]}).to_string(),
                    ))
                    .await
                    .ok();
                }
                Some(Ok(_)) | None => {}
                Some(Err(())) => {
                    reconnects += 1;
                    let live: Vec<u16> = bob_ports.clone();
                    ws = connect(&live, &bob).await.0;
                    let cursor = seqs.iter().copied().max().unwrap_or(0);
                    ws.send(Message::text(
                        json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": cursor}]}).to_string(),
                    ))
                    .await
                    .ok();
                }
            }
        }
        (seqs, dups, reconnects, longest_silence)
    });

    // Alice: on node 0, then node 2; a send without an ack is sent again with the same key.
    ready_rx.await.unwrap();
    let (mut ws, _) = connect(&ports[0..1], &alice).await;
    let mut acked = 0;
    let mut retries = 0;
    for i in 0..total {
        if i == 80 {
            nodes[1].kill(); // bob's node
        }
        if i == 140 {
            nodes[0].kill(); // alice's own node
        }
        let frame =
            json!({"type": "send", "conversation_id": conv, "content": format!("m{i}"), "client_key": format!("k{i}")});
        loop {
            let sent = ws.send(Message::text(frame.to_string())).await.is_ok();
            let ack = if sent {
                loop {
                    match next(&mut ws, Duration::from_secs(3)).await {
                        Some(Ok(f)) if f["type"] == "ack" => break Some(f),
                        Some(Ok(_)) => continue,
                        _ => break None,
                    }
                }
            } else {
                None
            };
            if ack.is_some_and(|a| a["client_key"] == format!("k{i}")) {
                acked += 1;
                break;
            }
            retries += 1;
            ws = connect(&ports[2..3], &alice).await.0;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (seqs, dups, reconnects, silence) = receiver.await.unwrap();
    let inversions = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    let lost = total - seqs.len();
    let got: HashSet<i64> = seqs.iter().copied().collect();
    let missing: Vec<i64> = (1..=total as i64).filter(|s| !got.contains(s)).collect();
    if !missing.is_empty() {
        println!("drill node-kill: missing seqs {missing:?}");
    }
    let stored: Value = http
        .get(format!("{}/api/v1/conversations/{conv}/messages?limit=200&after=0", nodes[2].http()))
        .bearer_auth(token(1, "alice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> = stored.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = contents.iter().collect();
    println!(
        "drill node-kill: acked {acked}, acknowledged-then-lost {lost}, stored {} (duplicates {}), delivered duplicates \
         {dups}, inversions {inversions}, receiver reconnects {reconnects}, sender retries {retries}, longest silence \
         at the receiver {silence:?}",
        contents.len(),
        contents.len() - distinct.len()
    );
    assert_eq!(acked, total);
    assert_eq!(lost, 0, "acknowledged then lost");
    assert_eq!((contents.len(), distinct.len()), (total, total), "stored once each");
    assert_eq!(dups, 0, "delivered twice");
    assert_eq!(inversions, 0, "out of order");
    assert!(reconnects >= 1, "the receiver's node was killed");
    assert!(silence < Duration::from_secs(10), "recovery took {silence:?}");
    drop(nodes);
    common::drop_database(&db).await;
}
