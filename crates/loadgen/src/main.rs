//! `chatwire-loadgen`: a quick, honest loop for measuring chatwire from outside.
//!
//! Creates `--pairs` DM pairs; each sender's socket is on `--send-node`, each receiver's on
//! `--recv-node` (use two different nodes to measure cross-node fan-out through Redis). Every
//! sender sends `--messages` messages, either with at most `--window` unacknowledged (closed
//! loop) or on a fixed schedule (`--rate`, open loop), and the run ends when every receiver has
//! every acknowledged message (or `--timeout` passes). Reports delivered messages/s, refusals and
//! send-to-receive latency percentiles. `--setup socket` makes the DMs over the dotted socket, so
//! any server of that document (the peers too) can be driven. Targets loopback nodes you
//! started; stops by itself.
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Clone)]
struct Args {
    /// Base URL of the node senders use, e.g. http://127.0.0.1:8081
    #[arg(long)]
    send_node: String,
    /// Base URL of the node receivers use; repeat it to spread the receivers over several nodes
    /// (listener `j` of conversation `i` on node `(i + j) % n`).
    #[arg(long, required = true)]
    recv_node: Vec<String>,
    /// The nodes' CHATWIRE_JWT_SECRET (tokens are minted locally).
    #[arg(long, env = "CHATWIRE_JWT_SECRET")]
    secret: String,
    /// Conversations, each with one sender on `--send-node`.
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    /// Members per conversation: 2 is a DM; more makes a group whose other members all listen on
    /// `--recv-node` (every message is then delivered `group-size - 1` times).
    #[arg(long, default_value_t = 2)]
    group_size: usize,
    #[arg(long, default_value_t = 500)]
    messages: usize,
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Open loop: all senders together send this many messages per second on a fixed schedule,
    /// whatever the answers (`--window` is then ignored). Latency counts from the scheduled time,
    /// so a server that stalls the senders is not flattered. Refusals (`overloaded`) are counted.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Instead of sending: open this many idle sockets on `--recv-node` (one user each), hold
    /// them `--hold` seconds, then close. For measuring memory per idle socket on the node.
    #[arg(long)]
    idle_sockets: Option<usize>,
    #[arg(long, default_value_t = 10)]
    hold: u64,
    /// Print one JSON summary line after the human one.
    #[arg(long)]
    json: bool,
    /// Write the Unix time (seconds) at which sending starts, after all setup, to this file: for
    /// tools that sample the servers during the send phase only.
    #[arg(long)]
    start_mark: Option<std::path::PathBuf>,
    /// Idle sockets: how many handshakes are in progress at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Idle sockets: name the users after this seed, so a second run with the same seed
    /// reconnects the same (returning) users; without it every socket is a new user.
    #[arg(long)]
    user_seed: Option<u64>,
    /// Idle sockets: spread them over this many loopback source addresses (127.0.0.1, .2, ...),
    /// to get past one address's ephemeral port range.
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
    /// Which socket protocol the clients speak.
    #[arg(long, value_enum, default_value_t = Protocol::Native)]
    protocol: Protocol,
    /// How each pair's conversation is made: over chatwire's native REST API, or with the dotted
    /// socket's `chat.start_conversation` (which any server of the dotted document answers: the
    /// peers in `../shared/peers` too).
    #[arg(long, value_enum, default_value_t = Setup::Rest)]
    setup: Setup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Setup {
    Rest,
    Socket,
}

/// The socket protocols the load generator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    /// `/ws/v1`: `send` -> `ack`, others get `message_created`.
    Native,
    /// `/ws/chat/` (dotted): `chat.message` -> its echo, others get `chat.message`.
    Dotted,
}

impl Protocol {
    fn path(self) -> &'static str {
        match self {
            Protocol::Native => "/ws/v1?",
            Protocol::Dotted => "/ws/chat/?dialect=dotted&",
        }
    }
    fn send_frame(self, conversation: i64, content: String) -> Value {
        match self {
            Protocol::Native => json!({"type": "send", "conversation_id": conversation, "content": content}),
            Protocol::Dotted => json!({"type": "chat.message", "conversation_id": conversation, "content": content}),
        }
    }
    /// Whether a frame answers one of this sender's sends (stored, or refused).
    fn is_answer(self, text: &str) -> bool {
        match self {
            Protocol::Native => text.contains("\"type\":\"ack\"") || text.contains("\"type\":\"error\""),
            Protocol::Dotted => text.contains("\"type\":\"chat.message\"") || text.contains("\"type\":\"chat.error\""),
        }
    }
    fn delivery_type(self) -> &'static str {
        match self {
            Protocol::Native => "message_created",
            Protocol::Dotted => "chat.message",
        }
    }
}

fn token(secret: &str, id: uuid::Uuid, name: &str) -> anyhow::Result<String> {
    let claims = chatwire_server::auth::Claims {
        username: Some(name.to_owned()),
        ..chatwire_server::auth::Claims::for_user(id.to_string(), 3600)
    };
    Ok(chatwire_server::auth::mint(secret.as_bytes(), &claims)?)
}

fn ws_url(base: &str, protocol: Protocol, token: &str) -> String {
    format!("{}{}token={token}", base.replacen("http", "ws", 1), protocol.path())
}

fn now_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(n) = args.idle_sockets {
        return hold_idle(&args, n).await;
    }
    let http = reqwest::Client::new();
    let listeners = args.group_size.max(2) - 1;
    // (sender's token, listeners' tokens, conversation)
    let mut pairs: Vec<(String, Vec<String>, i64)> = Vec::new();
    for i in 0..args.pairs {
        let a = uuid::Uuid::new_v4();
        let ta = token(&args.secret, a, &format!("lg_s{i}"))?;
        let members: Vec<uuid::Uuid> = (0..listeners).map(|_| uuid::Uuid::new_v4()).collect();
        let tokens: Vec<String> = members
            .iter()
            .enumerate()
            .map(|(j, b)| token(&args.secret, *b, &format!("lg_r{i}_{j}")))
            .collect::<anyhow::Result<_>>()?;
        if args.setup == Setup::Socket {
            if listeners > 1 {
                bail!("--setup socket makes DMs only");
            }
            let conv =
                start_over_socket(&args, &ta, &tokens[0], members[0]).await.with_context(|| format!("pair {i}"))?;
            pairs.push((ta, tokens, conv));
            continue;
        }
        for tb in &tokens {
            http.get(format!("{}/api/v1/users/me", args.recv_node[0]))
                .bearer_auth(tb)
                .send()
                .await?
                .error_for_status()?;
        }
        let created: Value = if listeners == 1 {
            http.post(format!("{}/api/v1/conversations/dm", args.send_node))
                .bearer_auth(&ta)
                .json(&json!({"user_id": members[0]}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?
        } else {
            http.post(format!("{}/api/v1/conversations/groups", args.send_node))
                .bearer_auth(&ta)
                .json(&json!({"title": format!("lg{i}"), "member_ids": members}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?
        };
        let conv = created["conversation"]["id"].as_i64().context("conversation id")?;
        pairs.push((ta, tokens, conv));
    }

    let total = args.pairs * args.messages;
    let deadline = Duration::from_secs(args.timeout);
    let delivered_so_far = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut receivers = Vec::new();
    let mut expectations = Vec::new();
    for (i, (_, tbs, _)) in pairs.iter().enumerate() {
        // How many each listener should get: every send until its sender says how many were stored.
        let (expect_tx, _) = tokio::sync::watch::channel(args.messages);
        for (j, tb) in tbs.iter().enumerate() {
            let node = &args.recv_node[(i + j) % args.recv_node.len()];
            let (mut ws, _) =
                tokio_tungstenite::connect_async_with_config(ws_url(node, args.protocol, tb), None, true).await?;
            let delivery = args.protocol.delivery_type();
            let mut expect = expect_tx.subscribe();
            let progress = delivered_so_far.clone();
            let mut latencies = histogram()?;
            receivers.push(tokio::spawn(async move {
                while (latencies.len() as usize) < *expect.borrow_and_update() {
                    let next = tokio::select! {
                        next = tokio::time::timeout(deadline, ws.next()) => next,
                        _ = expect.changed() => continue,
                    };
                    let Ok(Some(Ok(msg))) = next else { break };
                    let Message::Text(text) = msg else { continue };
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    if v["type"] == delivery {
                        let sent: u64 = v["message"]["content"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                        latencies.saturating_record(now_micros().saturating_sub(sent).max(1));
                        progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                latencies
            }));
        }
        expectations.push(expect_tx);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    if let Some(path) = &args.start_mark {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        std::fs::write(path, format!("{now}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    let started = Instant::now();
    let reporter = tokio::spawn(report_progress(delivered_so_far.clone(), total * listeners));
    let mut senders = Vec::new();
    for (ta, _, conv) in &pairs {
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(ws_url(&args.send_node, args.protocol, ta), None, true)
                .await?;
        let (conv, n, window, protocol) = (*conv, args.messages, args.window, args.protocol);
        if let Some(rate) = args.rate {
            let every = Duration::from_secs_f64(args.pairs as f64 / rate);
            senders.push(tokio::spawn(open_loop(ws, protocol, conv, n, every, deadline)));
            continue;
        }
        senders.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let mut in_flight = 0usize;
            let mut sent = 0usize;
            let (mut acked, mut refused) = (0usize, 0usize);
            while acked + refused < n {
                while sent < n && in_flight < window {
                    let frame = protocol.send_frame(conv, now_micros().to_string());
                    if tx.send(Message::text(frame.to_string())).await.is_err() {
                        return Answers { acked, refused };
                    }
                    sent += 1;
                    in_flight += 1;
                }
                let Ok(Some(Ok(msg))) = tokio::time::timeout(deadline, rx.next()).await else {
                    return Answers { acked, refused };
                };
                let Message::Text(text) = msg else { continue };
                if protocol.is_answer(&text) {
                    in_flight -= 1;
                    if is_refusal(&text) {
                        refused += 1;
                    } else {
                        acked += 1;
                    }
                }
            }
            Answers { acked, refused }
        }));
    }
    let (mut acked, mut refused) = (0, 0);
    for (s, expect) in senders.into_iter().zip(&expectations) {
        let answers = s.await?;
        acked += answers.acked;
        refused += answers.refused;
        let _ = expect.send(answers.acked);
    }
    let mut latencies = histogram()?;
    for r in receivers {
        latencies.add(r.await?)?;
    }
    reporter.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    let deliveries = acked * listeners;
    let delivered = latencies.len() as usize;
    let offered = args.rate.map_or_else(|| format!("window={}", args.window), |r| format!("open loop at {r:.0}/s"));
    println!(
        "protocol={:?} conversations={} members={} messages/sender={} {offered} acked={} refused={refused} delivered={}/{} in {:.2}s => {:.0} deliveries/s; latency ms p50={:.1} p99={:.1} max={:.1}",
        args.protocol,
        args.pairs,
        listeners + 1,
        args.messages,
        acked,
        delivered,
        deliveries,
        elapsed,
        delivered as f64 / elapsed,
        ms(0.50),
        ms(0.99),
        latencies.max() as f64 / 1000.0,
    );
    if args.json {
        let summary = json!({
            "protocol": format!("{:?}", args.protocol).to_lowercase(),
            "conversations": args.pairs,
            "members": listeners + 1,
            "messages_per_sender": args.messages,
            "mode": if args.rate.is_some() { "open" } else { "closed" },
            "offered_per_s": args.rate,
            "window": if args.rate.is_some() { None } else { Some(args.window) },
            "sent": total,
            "acked": acked,
            "refused": refused,
            "unanswered": total.saturating_sub(acked + refused),
            "delivered": delivered,
            "expected": deliveries,
            "ratio": if deliveries == 0 { 0.0 } else { delivered as f64 / deliveries as f64 },
            "seconds": elapsed,
            "deliveries_per_s": delivered as f64 / elapsed,
            "latency_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999), "max": latencies.max() as f64 / 1000.0},
        });
        println!("{summary}");
    }
    if delivered < deliveries {
        bail!("lost {} deliveries of acknowledged messages", deliveries - delivered);
    }
    if acked + refused < total {
        bail!("{} sends were never answered", total - acked - refused);
    }
    Ok(())
}

/// Latencies in microseconds, from 1 µs to an hour, three significant digits.
fn histogram() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    Ok(hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)?)
}

/// A live progress line on stderr, once a second.
async fn report_progress(delivered: std::sync::Arc<std::sync::atomic::AtomicU64>, expected: usize) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let now = delivered.load(std::sync::atomic::Ordering::Relaxed);
        eprint!("\rdelivered {now} of up to {expected} ({}/s)   ", now - last);
        last = now;
    }
}

/// An error frame in either protocol (the send was refused: `overloaded`, say).
fn is_refusal(text: &str) -> bool {
    text.contains("\"type\":\"error\"") || text.contains("\"type\":\"chat.error\"")
}

/// What one sender's sends got back.
struct Answers {
    acked: usize,
    refused: usize,
}

/// Sends `n` frames one `every` apart, on schedule whatever comes back; counts the answers.
async fn open_loop(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    protocol: Protocol,
    conv: i64,
    n: usize,
    every: Duration,
    deadline: Duration,
) -> Answers {
    let (mut tx, mut rx) = ws.split();
    let writer = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let epoch = now_micros();
        for i in 0..n {
            let due = start + every * i as u32;
            tokio::time::sleep_until(due).await;
            // The scheduled time, not the time the write got through.
            let scheduled = epoch + (every * i as u32).as_micros() as u64;
            let frame = protocol.send_frame(conv, scheduled.to_string());
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
        }
        // Keep the sink (and so the socket) open until the reader is done.
        std::future::pending::<()>().await;
    });
    let (mut acked, mut refused) = (0, 0);
    while acked + refused < n {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(deadline, rx.next()).await else { break };
        // Pings are answered by the library; only text frames carry answers.
        let Message::Text(text) = msg else { continue };
        if !protocol.is_answer(&text) {
            continue;
        }
        if is_refusal(&text) {
            refused += 1;
        } else {
            acked += 1;
        }
    }
    writer.abort();
    Answers { acked, refused }
}

/// Makes a DM with the dotted socket's `chat.start_conversation`; the receiver connects once
/// first, so a server that learns users from their tokens knows it.
async fn start_over_socket(args: &Args, sender: &str, receiver: &str, receiver_id: uuid::Uuid) -> anyhow::Result<i64> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
        ws_url(&args.recv_node[0], Protocol::Dotted, receiver),
        None,
        true,
    )
    .await?;
    let _ = ws.close(None).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(ws_url(&args.send_node, Protocol::Dotted, sender), None, true)
            .await?;
    let start = json!({"type": "chat.start_conversation", "receiver_id": receiver_id});
    ws.send(Message::text(start.to_string())).await?;
    loop {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await else {
            bail!("no chat.conversation_started");
        };
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        if v["type"] == "chat.conversation_started" {
            let _ = ws.close(None).await;
            return v["conversation"]["id"].as_i64().context("conversation id");
        }
        if v["type"] == "chat.error" {
            bail!("chat.start_conversation refused: {text}");
        }
    }
}

/// Opens `n` sockets, each as its own user, `--connect-concurrency` at a time, waits for every
/// `hello`, holds, closes. Reports the connect rate.
async fn hold_idle(args: &Args, n: usize) -> anyhow::Result<()> {
    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
    let started = Instant::now();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..n {
        let user = match args.user_seed {
            Some(seed) => uuid::Uuid::from_u64_pair(seed, i as u64),
            None => uuid::Uuid::new_v4(),
        };
        let token = token(&args.secret, user, &format!("lg_idle{i}"))?;
        let url = ws_url(&args.recv_node[0], Protocol::Native, &token);
        let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % args.source_addresses.max(1) as usize) as u8);
        let permit = limit.clone().acquire_owned().await?;
        opening.spawn(async move {
            let _permit = permit;
            let mut ws: Socket = open_from(&url, source).await?;
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"hello\"") => Ok(ws),
                other => bail!("socket {i}: no hello ({other:?})"),
            }
        });
    }
    let mut sockets = Vec::with_capacity(n);
    while let Some(opened) = opening.join_next().await {
        sockets.push(opened??);
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "opened {} idle sockets in {took:.2}s ({:.0} connects/s, {} at a time); holding {}s",
        sockets.len(),
        sockets.len() as f64 / took,
        args.connect_concurrency,
        args.hold
    );
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    Ok(())
}

/// A WebSocket handshake from a chosen loopback source address.
async fn open_from(
    url: &str,
    source: std::net::Ipv4Addr,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let authority = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).context("url")?;
    let addr: std::net::SocketAddr = authority.parse().context("a loopback ip:port")?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((source, 0)))?;
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await?;
    Ok(ws)
}
