use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatwire_test_support::TestCluster;

/// Collects what the nodes in this test process log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Socket tokens travel in the URL; the access log must show the path and never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_socket_urls_never_reach_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("chatwire_server=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test binary's only global subscriber (other tests log nothing anywhere).
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");

    let cluster = TestCluster::start_local().await;
    let alice = cluster.user("alice").await;
    let ws = cluster.socket(0, &alice).await;
    ws.close().await;
    let mut logged = String::new();
    for _ in 0..50 {
        logged = captured.text();
        if logged.contains("/ws/v1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logged.contains("path=/ws/v1"), "the socket request is logged: {logged}");
    assert!(!logged.contains(&alice.token), "a token reached the log");
    assert!(!logged.contains("token="), "a query string reached the log");
}
