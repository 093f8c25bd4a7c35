//! Drills on the local cluster (`deploy/local/run.sh`): three real `chatwire serve` processes
//! behind a real nginx, clients connected only to nginx. One drill SIGKILLs a node while
//! messages flow; the other rolls all three nodes one by one (SIGTERM, drain, start again).
//! Both check, by what the clients saw: every client back within seconds, 0 acknowledged-then-
//! lost, 0 stored twice, 0 delivered twice, 0 out of order. Run with `--nocapture` for figures.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a drill fails loudly on purpose")]
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{free_port, redis_url};

const SECRET: &str = "nginx-drill-secret-0123456789abcdef";
const PAIRS: i64 = 6;
type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One drill at a time: each runs three nodes and an nginx on two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Three consecutive free ports, for the three nodes.
fn free_port_run() -> u16 {
    for _ in 0..200 {
        let base = 20_000 + rand::random_range(0..20_000u16);
        if (0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no three free consecutive ports");
}

/// The cluster as `deploy/local/run.sh up` starts it, on its own database, Redis prefix, ports
/// and run folder; `down` when dropped.
struct LocalCluster {
    run_dir: PathBuf,
    lb_port: u16,
    env: Vec<(String, String)>,
    db: String,
}

impl LocalCluster {
    async fn up() -> LocalCluster {
        let (db, database_url) = common::create_database("chatwire_nginx").await;
        let run_dir = std::env::temp_dir().join(format!("chatwire-local-{}", uuid::Uuid::new_v4().simple()));
        let lb_port = free_port();
        let env = vec![
            ("DATABASE_URL".into(), database_url),
            ("REDIS_URL".into(), redis_url()),
            ("CHATWIRE_JWT_SECRET".into(), SECRET.into()),
            ("CHATWIRE_REDIS_PREFIX".into(), format!("nginx{}:", uuid::Uuid::new_v4().simple())),
            ("CHATWIRE_LOCAL_RUN_DIR".into(), run_dir.display().to_string()),
            ("CHATWIRE_LOCAL_PORT".into(), lb_port.to_string()),
            ("CHATWIRE_LOCAL_NODE_PORT".into(), free_port_run().to_string()),
            ("CHATWIRE_BIN".into(), env!("CARGO_BIN_EXE_chatwire").into()),
            ("CHATWIRE_SEND_RATE".into(), "0".into()),
            ("CHATWIRE_WORKERS".into(), "1".into()),
            ("CHATWIRE_SHUTDOWN_TIMEOUT_SECS".into(), "5".into()),
        ];
        let cluster = LocalCluster { run_dir, lb_port, env, db };
        cluster.script(&["up"]);
        cluster
    }

    fn script(&self, args: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/run.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("running deploy/local/run.sh");
        assert!(
            out.status.success(),
            "run.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pid(&self, node: usize) -> i32 {
        std::fs::read_to_string(self.run_dir.join(format!("node-{node}.pid"))).unwrap().trim().parse().unwrap()
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.lb_port)
    }

    fn ws(&self, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws/v1?token={token}", self.lb_port)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.script(&["down"]);
        for n in 1..=3 {
            assert!(!self.run_dir.join(format!("node-{n}.pid")).exists(), "down left node {n}'s pid file");
        }
        // CHATWIRE_DRILL_KEEP=1 keeps the node and nginx logs for a look afterwards.
        if std::env::var_os("CHATWIRE_DRILL_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        } else {
            eprintln!("drill logs kept in {}", self.run_dir.display());
        }
        let db = self.db.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(common::drop_database(&db));
        })
        .join();
    }
}

fn token(id: i64) -> String {
    common::token(SECRET, id, &format!("user{id}"))
}

/// A socket through the balancer, retried until one opens; how long that took.
async fn connect(url: &str) -> (Ws, Duration) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await
            && matches!(next(&mut ws, Duration::from_secs(3)).await, Some(Ok(f)) if f["type"] == "hello")
        {
            return (ws, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no socket through the balancer for 30 s");
}

/// The next JSON frame; `Some(Err)` when the socket ended, `None` when nothing came for `wait`.
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

#[derive(Default)]
struct SenderReport {
    acked: BTreeSet<i64>,
    retries: usize,
    reconnects: Vec<Duration>,
}

/// Sends until `stop` (at least `min` messages), each with an idempotency key, resending a send
/// that got no ack on a new socket.
async fn sender(url: String, conv: i64, min: usize, stop: Arc<AtomicBool>) -> SenderReport {
    let mut report = SenderReport::default();
    let (mut ws, _) = connect(&url).await;
    let mut i = 0;
    while i < min || !AtomicBool::load(&stop, Ordering::Relaxed) {
        let key = format!("k{conv}-{i}");
        let frame = json!({"type": "send", "conversation_id": conv, "content": format!("m{i}"), "client_key": key});
        loop {
            let ack = if ws.send(Message::text(frame.to_string())).await.is_ok() {
                loop {
                    match next(&mut ws, Duration::from_secs(3)).await {
                        Some(Ok(f)) if f["type"] == "ack" && f["client_key"] == key.as_str() => break Some(f),
                        Some(Ok(_)) => continue,
                        _ => break None,
                    }
                }
            } else {
                None
            };
            if let Some(ack) = ack {
                report.acked.insert(ack["message"]["seq"].as_i64().unwrap());
                break;
            }
            report.retries += 1;
            let (fresh, took) = connect(&url).await;
            report.reconnects.push(took);
            ws = fresh;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report
}

#[derive(Default)]
struct ReceiverReport {
    seqs: Vec<i64>,
    duplicates: usize,
    reconnects: Vec<Duration>,
}

/// Receives until it holds every seq in `until` (sent once the senders are done), resuming
/// from its last seq on every new socket.
async fn receiver(
    url: String,
    conv: i64,
    ready: tokio::sync::oneshot::Sender<()>,
    until: tokio::sync::watch::Receiver<Option<BTreeSet<i64>>>,
) -> ReceiverReport {
    let mut report = ReceiverReport::default();
    let mut seen = HashSet::new();
    let resume = |cursor: i64| json!({"type": "resume", "cursors": [{"conversation_id": conv, "seq": cursor}]});
    let (mut ws, _) = connect(&url).await;
    ws.send(Message::text(resume(0).to_string())).await.unwrap();
    while !matches!(next(&mut ws, Duration::from_secs(5)).await, Some(Ok(f)) if f["type"] == "resumed") {}
    let _ = ready.send(());
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(want) = until.borrow().as_ref()
            && want.iter().all(|s| seen.contains(s))
        {
            break;
        }
        match next(&mut ws, Duration::from_millis(500)).await {
            Some(Ok(f)) if f["type"] == "message_created" => {
                let seq = f["message"]["seq"].as_i64().unwrap();
                if seen.insert(seq) {
                    report.seqs.push(seq);
                } else {
                    report.duplicates += 1;
                }
            }
            Some(Ok(f)) if f["type"] == "resync" => {
                let cursor = report.seqs.iter().copied().max().unwrap_or(0);
                let _ = ws.send(Message::text(resume(cursor).to_string())).await;
            }
            Some(Ok(_)) | None => {}
            Some(Err(())) => {
                let (fresh, took) = connect(&url).await;
                report.reconnects.push(took);
                ws = fresh;
                let cursor = report.seqs.iter().copied().max().unwrap_or(0);
                let _ = ws.send(Message::text(resume(cursor).to_string())).await;
            }
        }
    }
    report
}

/// Runs `PAIRS` DM pairs through the balancer while `disrupt` breaks the cluster, then checks
/// and prints what the clients saw.
async fn drill<F, Fut>(name: &str, cluster: &LocalCluster, disrupt: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let http = reqwest::Client::new();
    let mut convs = Vec::new();
    for pair in 0..PAIRS {
        let (a, b) = (1000 + 2 * pair, 1001 + 2 * pair);
        http.get(format!("{}/api/v1/users/me", cluster.http())).bearer_auth(token(b)).send().await.unwrap();
        let dm: Value = http
            .post(format!("{}/api/v1/conversations/dm", cluster.http()))
            .bearer_auth(token(a))
            .json(&json!({"user_id": b}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        convs.push((a, b, dm["conversation"]["id"].as_i64().expect("a DM")));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::new();
    for &(_, b, conv) in &convs {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (until_tx, until_rx) = tokio::sync::watch::channel(None);
        receivers.push((until_tx, tokio::spawn(receiver(cluster.ws(&token(b)), conv, ready_tx, until_rx))));
        ready_rx.await.unwrap();
    }
    let senders: Vec<_> =
        convs.iter().map(|&(a, _, conv)| tokio::spawn(sender(cluster.ws(&token(a)), conv, 50, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    disrupt().await;
    let disrupted_for = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for s in senders {
        sent.push(s.await.unwrap());
    }
    // Each receiver is done once it holds every seq its sender had acknowledged.
    let mut reports = Vec::new();
    for ((until, handle), s) in receivers.into_iter().zip(&sent) {
        let _ = until.send(Some(s.acked.clone()));
        reports.push(handle.await.unwrap());
    }
    let (mut lost, mut dups, mut inversions, mut stored_twice, mut acked) = (0, 0, 0, 0, 0);
    let (mut reconnects, mut slowest, mut retries) = (0, Duration::ZERO, 0);
    for (pair, r) in reports.iter().enumerate() {
        let s = &sent[pair];
        let received: HashSet<i64> = r.seqs.iter().copied().collect();
        lost += s.acked.iter().filter(|seq| !received.contains(seq)).count();
        dups += r.duplicates;
        inversions += r.seqs.windows(2).filter(|w| w[1] < w[0]).count();
        acked += s.acked.len();
        retries += s.retries;
        reconnects += r.reconnects.len() + s.reconnects.len();
        slowest = slowest.max(r.reconnects.iter().chain(&s.reconnects).copied().max().unwrap_or_default());
        let (a, _, conv) = convs[pair];
        // History comes in pages (CHATWIRE_HISTORY_LIMIT): read them all, oldest first.
        let mut contents: Vec<String> = Vec::new();
        let mut after = 0;
        loop {
            let page: Value = http
                .get(format!("{}/api/v1/conversations/{conv}/messages?limit=200&after={after}", cluster.http()))
                .bearer_auth(token(a))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let page = page.as_array().unwrap();
            let Some(last) = page.last() else { break };
            after = last["seq"].as_i64().unwrap();
            contents.extend(page.iter().map(|m| m["content"].as_str().unwrap().to_owned()));
        }
        let distinct: HashSet<&String> = contents.iter().collect();
        stored_twice += contents.len() - distinct.len();
        assert!(contents.len() >= s.acked.len(), "pair {pair}: stored {} of {} acked", contents.len(), s.acked.len());
    }
    println!(
        "drill {name}: {PAIRS} pairs through nginx, acked {acked}, acknowledged-then-lost {lost}, stored twice \
         {stored_twice}, delivered twice {dups}, inversions {inversions}, client reconnects {reconnects} (slowest \
         {slowest:?}), sender retries {retries}, disruption took {disrupted_for:?}"
    );
    assert_eq!(lost, 0, "acknowledged then lost");
    assert_eq!(stored_twice, 0, "stored twice");
    assert_eq!(dups, 0, "delivered twice");
    assert_eq!(inversions, 0, "out of order");
    assert!(reconnects >= 1, "the disruption moved no client: it did not happen");
    assert!(slowest < Duration::from_secs(5), "a client took {slowest:?} to get back through the balancer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_sigkilled_behind_nginx_loses_nothing_and_clients_come_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = LocalCluster::up().await;
    drill("nginx-sigkill", &cluster, || async {
        let pid = cluster.pid(2);
        // SIGKILL: no drain, no goodbye.
        assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_all_three_nodes_behind_nginx_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = LocalCluster::up().await;
    drill("nginx-rolling", &cluster, || async {
        for node in 1..=3 {
            let before = cluster.pid(node);
            let script_cluster = &cluster;
            let n = node.to_string();
            tokio::task::block_in_place(|| script_cluster.script(&["restart-node", &n]));
            assert_ne!(cluster.pid(node), before, "node {node} was restarted");
        }
    })
    .await;
}
