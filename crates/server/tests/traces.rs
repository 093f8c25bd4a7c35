//! Traces, as an operator turns them on: a `chatwire serve` process with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` exports its spans over OTLP/HTTP (JSON here) to the collector
//! address, where this test receives them, decodes the OTLP JSON and reads them back.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::free_port;

const SECRET: &str = "traces-secret-0123456789abcdef0123456789";

/// Every span in the OTLP JSON export requests received so far: (name, attributes as JSON).
fn spans(bodies: &[Value]) -> Vec<(String, serde_json::Map<String, Value>)> {
    let mut out = Vec::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let mut attrs = serde_json::Map::new();
                    for kv in span["attributes"].as_array().into_iter().flatten() {
                        let value =
                            kv["value"].as_object().and_then(|v| v.values().next().cloned()).unwrap_or(Value::Null);
                        attrs.insert(kv["key"].as_str().unwrap().to_owned(), value);
                    }
                    out.push((span["name"].as_str().unwrap_or_default().to_owned(), attrs));
                }
            }
        }
    }
    out
}

#[actix_web::test]
async fn requests_and_socket_frames_are_exported_as_spans_without_tokens() {
    // The collector's side: OTLP/HTTP JSON on /v1/traces.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let collector_port = free_port();
    let collector = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(serde_json::from_slice(&body).expect("OTLP JSON"));
                    HttpResponse::Ok().content_type("application/json").body("{}")
                }
            }),
        )
    })
    .bind(("127.0.0.1", collector_port))
    .unwrap()
    .run();
    actix_web::rt::spawn(collector);

    let (db, database_url) = common::create_database("chatwire_traces").await;
    let port = free_port();
    let mut node = Command::new(env!("CARGO_BIN_EXE_chatwire"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env_remove("REDIS_URL")
        .env("CHATWIRE_JWT_SECRET", SECRET)
        .env("CHATWIRE_BIND", format!("127.0.0.1:{port}"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{collector_port}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = |id: i64| common::token(SECRET, id, &format!("user{id}"));
    let (alice, bob) = (token(1), token(2));
    http.get(format!("{base}/api/v1/users/me")).bearer_auth(&bob).send().await.unwrap();
    let dm: Value = http
        .post(format!("{base}/api/v1/conversations/dm"))
        .bearer_auth(&alice)
        .json(&json!({"user_id": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conv = dm["conversation"]["id"].as_i64().unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/v1?token={alice}")).await.unwrap();
    ws.send(Message::text(json!({"type": "send", "conversation_id": conv, "content": "traced"}).to_string()))
        .await
        .unwrap();
    while let Some(Ok(frame)) = ws.next().await {
        if frame.to_text().unwrap_or_default().contains("\"ack\"") {
            break;
        }
    }
    drop(ws);
    // SIGTERM: the node drains and flushes the spans still batched as it exits.
    assert!(Command::new("kill").args(["-TERM", &node.id().to_string()]).status().unwrap().success());
    assert!(node.wait().unwrap().success(), "the node exits cleanly");

    let bodies = received.lock().unwrap().clone();
    let all = spans(&bodies);
    println!(
        "traces: {} spans in {} export requests: {:?}",
        all.len(),
        bodies.len(),
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    let find =
        |name: &str| all.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no `{name}` span in {all:?}"));
    let (_, me) = find("GET /api/v1/users/me");
    assert_eq!(me["user.id"], "2", "{me:?}");
    assert_eq!(me["url.path"], "/api/v1/users/me");
    assert!(me["http.response.status_code"].to_string().contains("200"), "{me:?}");
    let (_, dm_span) = find("POST /api/v1/conversations/dm");
    assert_eq!(dm_span["user.id"], "1");
    let (_, upgrade) = find("GET /ws/v1");
    assert_eq!(upgrade["url.path"], "/ws/v1", "the path only, not the query with the token");
    let (_, send) = find("native send");
    assert_eq!(send["user.id"], "1");
    assert!(send["chatwire.conversation_id"].to_string().contains(&conv.to_string()), "{send:?}");
    let exported = serde_json::to_string(&bodies).unwrap();
    for secret in [alice.as_str(), bob.as_str(), "traced"] {
        assert!(!exported.contains(secret), "a token or a message body reached the collector");
    }
    common::drop_database(&db).await;
}
