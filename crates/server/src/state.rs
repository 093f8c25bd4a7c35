use std::net::IpAddr;
use std::sync::Arc;

use chatwire_bus::Hub;
use chatwire_core::ChatService;
use chatwire_core::rate::KeyedRate;

use crate::auth::{KnownUsers, Verifier};
use crate::config::Settings;

/// What every handler and socket shares on one node. Cloned into each actix worker.
#[derive(Clone)]
pub struct AppState {
    pub service: ChatService,
    pub hub: Hub,
    pub verifier: Verifier,
    pub known_users: Arc<KnownUsers>,
    /// Open sockets per user on this node (`CHATWIRE_MAX_SOCKETS_PER_USER`).
    pub sockets: Arc<crate::socket::SocketCounts>,
    /// Handshakes per client IP on this node (`CHATWIRE_HANDSHAKE_RATE`).
    pub handshakes: Arc<KeyedRate<IpAddr>>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Names this node in presence records and logs.
    pub node_id: String,
    /// Flips to true when the node starts shutting down: readiness fails and every socket is
    /// closed with "reconnect", so clients move to another replica.
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    pub fn is_draining(&self) -> bool {
        *self.shutdown.borrow()
    }
}
