use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(5);

/// A real WebSocket client speaking JSON text frames.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Set when the server closed the socket.
    pub closed: Option<Option<CloseFrame>>,
    /// Protocol-level pings the server sent (answered by the WebSocket library itself).
    pub pings: usize,
}

impl WsClient {
    pub async fn connect(url: &str) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        let (stream, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(WsClient { stream, closed: None, pings: 0 })
    }

    /// A client whose kernel takes at most about `bytes` before the server's writes stall: what
    /// a phone on a dead link or a client that stopped reading looks like to the server.
    pub async fn connect_with_receive_buffer(
        url: &str,
        bytes: u32,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        let authority = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default();
        let addr: std::net::SocketAddr = authority.parse().expect("a test node's ip:port");
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(bytes)?;
        let tcp = socket.connect(addr).await?;
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
        Ok(WsClient { stream, closed: None, pings: 0 })
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::text(frame.to_string())).await.expect("sending a frame");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.stream.send(msg).await.expect("sending a frame");
    }

    /// The next JSON frame within `wait`; `None` on timeout or close.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match msg {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("server sent JSON")),
                Ok(Message::Close(frame)) => {
                    self.closed = Some(frame);
                    return None;
                }
                Ok(Message::Ping(_)) => {
                    self.pings += 1;
                    continue;
                }
                Ok(_) => continue,
                Err(_) => {
                    self.closed.get_or_insert(None);
                    return None;
                }
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await.expect("a frame within the wait")
    }

    /// Skips frames until one of type `ty` arrives.
    pub async fn expect_type(&mut self, ty: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.recv_within(left).await.unwrap_or_else(|| panic!("no `{ty}` frame within {WAIT:?}"));
            if frame["type"] == ty {
                return frame;
            }
        }
    }

    /// Everything received within `wait` (for asserting what must NOT arrive).
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                Some(v) => out.push(v),
                None => return out,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
