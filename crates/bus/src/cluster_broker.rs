//! Redis Cluster with sharded pub/sub (Redis 7): an event goes out with `SPUBLISH` on its
//! channel, which the cluster delivers only within the shard that owns the channel's hash slot
//! instead of broadcasting it to every shard, and a node `SSUBSCRIBE`s each channel its sockets
//! follow. The redis crate's cluster connection routes every command by slot, follows
//! `MOVED`/`ASK`, and subscribes again after a reconnect or a failover; messages arrive on its
//! RESP3 push channel.
//!
//! A shard connection that drops is reported as a `Disconnection` push: whatever that shard
//! published meanwhile is gone from pub/sub, so the hub re-subscribes and tells its sockets to
//! resync from Postgres, as with a single Redis.
use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use chatwire_core::Event;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};

use crate::broker::Broker;
use crate::error::BusError;
use crate::hub::HubInner;

const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

pub struct ClusterBroker {
    conn: ClusterConnection,
    /// Prepended to every channel name, so tests (or tenants) can share one cluster. The
    /// channel's own name decides its slot: no hash tag, so channels spread over the shards.
    prefix: String,
    hub: OnceLock<Weak<HubInner>>,
}

impl ClusterBroker {
    /// Connects through `seeds` (any of the cluster's nodes) and starts reading pushes.
    pub async fn connect(seeds: &[String], prefix: &str) -> Result<Arc<ClusterBroker>, BusError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = ClusterClientBuilder::new(seeds.to_vec())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx)
            .build()?;
        let conn = client.get_async_connection().await?;
        let broker = Arc::new(ClusterBroker { conn, prefix: prefix.to_owned(), hub: OnceLock::new() });
        tokio::spawn(read_pushes(Arc::downgrade(&broker), rx));
        Ok(broker)
    }

    fn hub(&self) -> Option<Arc<HubInner>> {
        self.hub.get().and_then(Weak::upgrade)
    }

    /// A handle on the cluster connection, for presence (clones share it).
    pub fn connection(&self) -> ClusterConnection {
        self.conn.clone()
    }
}

#[async_trait]
impl Broker for ClusterBroker {
    async fn subscribe(&self, channels: &[String]) -> Result<(), BusError> {
        // One command per channel: a sharded subscribe may only name channels of one slot.
        for channel in channels {
            self.conn.clone().ssubscribe(format!("{}{channel}", self.prefix)).await?;
        }
        Ok(())
    }

    async fn unsubscribe(&self, channels: &[String]) -> Result<(), BusError> {
        for channel in channels {
            self.conn.clone().sunsubscribe(format!("{}{channel}", self.prefix)).await?;
        }
        Ok(())
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let payload = serde_json::to_vec(event)?;
        let channel = format!("{}{}", self.prefix, event.channel());
        // A publish lost here reaches clients by gap fill on the conversation's next message or
        // by the gap sweep (Postgres holds it), so a shard that is down costs the sender at most
        // PUBLISH_TIMEOUT, not the client library's whole reconnect schedule.
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SPUBLISH");
        cmd.arg(&channel).arg(&payload);
        let publish = cmd.query_async::<i64>(&mut conn);
        match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
            Ok(done) => done.map(|_| ()).map_err(BusError::from),
            Err(_) => Err(BusError::Timeout),
        }
    }

    async fn ping(&self) -> Result<(), BusError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    fn attach(&self, hub: Weak<HubInner>) {
        let _ = self.hub.set(hub);
    }
}

/// Hands sharded messages to the hub until the broker is gone.
async fn read_pushes(broker: Weak<ClusterBroker>, mut rx: tokio::sync::mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(broker) = broker.upgrade() else { return };
        let Some(hub) = broker.hub() else { continue };
        match push.kind {
            PushKind::SMessage => {
                let [Value::BulkString(channel), Value::BulkString(payload)] = push.data.as_slice() else { continue };
                let Ok(channel) = std::str::from_utf8(channel) else { continue };
                let Some(name) = channel.strip_prefix(broker.prefix.as_str()) else { continue };
                match serde_json::from_slice::<Event>(payload) {
                    Ok(event) => hub.dispatch(name, Arc::new(event), payload.len()),
                    Err(err) => tracing::warn!(%err, channel = name, "undecodable event on the bus"),
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("a redis cluster shard connection dropped; re-subscribing and resyncing");
                hub.broker_reconnected();
            }
            _ => {}
        }
    }
}
