//! Redis pub/sub between nodes: one publish connection and one subscriber connection per node,
//! both to the one primary (`REDIS_URL`, or the server Sentinel names: see [`crate::primary`]).
//!
//! Publishes share one multiplexed connection (a [`PrimaryConnection`]): concurrent publishes
//! are pipelined on it, in the order they are issued, with no checkout or health-check round
//! trip per message.
//!
//! The subscriber connection is split: a reader task consumes messages and hands them to the
//! hub; the sink subscribes and unsubscribes. When the reader sees the connection end (or a
//! keep-alive ping fails, or Sentinel names another primary), it reconnects with backoff —
//! pointing the publish connection at the same primary first — and asks the hub to re-subscribe
//! every channel it holds; the hub then tells its sockets to resync, since pub/sub dropped
//! whatever was published meanwhile.
//!
//! A publish that fails is not dropped: it waits in a bounded queue, in order, and a task
//! publishes it when Redis answers again (sockets put messages back in seq order and drop what
//! they already have, so a late publish is never a duplicate or an inversion on a client).
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chatwire_core::Event;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};

use crate::broker::Broker;
use crate::error::BusError;
use crate::hub::HubInner;
use crate::primary::{Primary, PrimaryConnection};

pub struct RedisBroker {
    primary: Primary,
    publisher: PrimaryConnection,
    /// Readiness pings on a fixed Redis get connections of their own, so they never wait behind
    /// publishes; under Sentinel they go over the publish connection, which follows the primary.
    readiness: Option<deadpool_redis::Pool>,
    /// Prepended to every channel name, so tests (or tenants) can share one Redis.
    prefix: String,
    /// The live subscriber sink; `None` while reconnecting.
    sink: Arc<Mutex<Option<PubSubSink>>>,
    hub: OnceLock<Weak<HubInner>>,
    /// Publishes that failed, oldest first, as (channel, payload); at most `RETRY_CAPACITY`.
    retry: Mutex<VecDeque<(String, Vec<u8>)>>,
    retry_wake: tokio::sync::Notify,
}

/// Failed publishes kept for a retry. Beyond it the oldest go: their messages reach clients by
/// gap fill on the next message, or by the resync every socket gets when Redis comes back.
const RETRY_CAPACITY: usize = 10_000;

impl RedisBroker {
    /// One Redis at `url`; fails only on a malformed URL.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<RedisBroker>, BusError> {
        let primary = Primary::fixed(url)?;
        let publisher = PrimaryConnection::default();
        publisher.point_at(&primary.resolve().await?)?;
        Ok(Self::start(primary, publisher, Some(readiness_pool(url)?), prefix).await)
    }

    /// The primary that the Sentinels at `sentinels` name for `master`, followed through
    /// failovers; fails only on malformed URLs.
    pub async fn connect_sentinel(
        sentinels: &[String],
        master: &str,
        prefix: &str,
    ) -> Result<Arc<RedisBroker>, BusError> {
        let primary = Primary::sentinel(sentinels, master)?;
        Ok(Self::start(primary, PrimaryConnection::default(), None, prefix).await)
    }

    async fn start(
        primary: Primary,
        publisher: PrimaryConnection,
        readiness: Option<deadpool_redis::Pool>,
        prefix: &str,
    ) -> Arc<RedisBroker> {
        let broker = Arc::new(RedisBroker {
            primary,
            publisher,
            readiness,
            prefix: prefix.to_owned(),
            sink: Arc::new(Mutex::new(None)),
            hub: OnceLock::new(),
            retry: Mutex::new(VecDeque::new()),
            retry_wake: tokio::sync::Notify::new(),
        });
        tokio::spawn(retry_loop(Arc::downgrade(&broker)));
        // A node starts while Redis is still coming up: it reports not ready and keeps trying.
        let first = match broker.open_subscriber().await {
            Ok(stream) => Some(stream),
            Err(err) => {
                tracing::warn!(%err, "redis is not answering yet; retrying in the background");
                None
            }
        };
        tokio::spawn(read_loop(Arc::downgrade(&broker), first));
        broker
    }

    /// The command connection to the primary, for presence (it follows the primary too).
    pub fn connection(&self) -> PrimaryConnection {
        self.publisher.clone()
    }

    async fn open_subscriber(&self) -> Result<PubSubStream, BusError> {
        let client = self.primary.resolve().await?;
        if self.publisher.point_at(&client)? {
            tracing::info!(primary = %crate::primary::address(&client), "publishing to a new redis primary");
        }
        let pubsub = client.get_async_pubsub().await?;
        let (sink, stream) = pubsub.split();
        *crate::lock(&self.sink) = Some(sink);
        Ok(stream)
    }

    /// Whether Sentinel now names a primary other than the one this node uses (a failover it
    /// has not seen as a dropped connection, e.g. across a partition).
    async fn primary_moved(&self) -> bool {
        if !self.primary.can_move() {
            return false;
        }
        match tokio::time::timeout(KEEPALIVE, self.primary.resolve()).await {
            Ok(Ok(client)) => self.publisher.address().is_some_and(|a| a != crate::primary::address(&client)),
            // Sentinels that do not answer are no reason to drop a working primary.
            _ => false,
        }
    }

    fn current_sink(&self) -> Result<PubSubSink, BusError> {
        crate::lock(&self.sink).clone().ok_or(BusError::Disconnected)
    }

    fn prefixed(&self, channels: &[String]) -> Vec<String> {
        channels.iter().map(|c| format!("{}{}", self.prefix, c)).collect()
    }

    fn hub(&self) -> Option<Arc<HubInner>> {
        self.hub.get().and_then(Weak::upgrade)
    }

    async fn publish_now(&self, channel: &str, payload: &[u8]) -> Result<(), BusError> {
        let mut conn = self.publisher.clone();
        let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(&mut conn).await?;
        Ok(())
    }

    fn queue_retry(&self, channel: String, payload: Vec<u8>) {
        let mut queue = crate::lock(&self.retry);
        if queue.len() >= RETRY_CAPACITY {
            queue.pop_front();
            tracing::warn!("publish retry queue full; dropped the oldest (clients catch up by gap fill or resync)");
        }
        queue.push_back((channel, payload));
        self.retry_wake.notify_one();
    }

    /// How many failed publishes wait for Redis.
    pub fn pending_publishes(&self) -> usize {
        crate::lock(&self.retry).len()
    }
}

/// Connections for readiness pings only (a probe must not wait behind publishes).
fn readiness_pool(url: &str) -> Result<deadpool_redis::Pool, BusError> {
    let mut cfg = deadpool_redis::Config::from_url(url);
    cfg.pool = Some(deadpool_redis::PoolConfig {
        max_size: 2,
        timeouts: deadpool_redis::Timeouts {
            wait: Some(Duration::from_secs(2)),
            create: Some(Duration::from_secs(2)),
            recycle: Some(Duration::from_secs(2)),
        },
        ..Default::default()
    });
    Ok(cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1))?)
}

/// Publishes what failed, oldest first, as soon as Redis answers.
async fn retry_loop(broker: Weak<RedisBroker>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(b) = broker.upgrade() else { return };
        let next = crate::lock(&b.retry).front().cloned();
        let Some((channel, payload)) = next else {
            // Re-check now and then: the broker may have gone while nothing failed.
            let _ = tokio::time::timeout(Duration::from_secs(5), b.retry_wake.notified()).await;
            continue;
        };
        match b.publish_now(&channel, &payload).await {
            Ok(()) => {
                let mut queue = crate::lock(&b.retry);
                if queue.front().is_some_and(|(c, p)| *c == channel && *p == payload) {
                    queue.pop_front();
                }
                backoff = Duration::from_millis(100);
            }
            Err(err) => {
                tracing::debug!(%err, "publish retry failed");
                drop(b);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn subscribe(&self, channels: &[String]) -> Result<(), BusError> {
        let mut sink = self.current_sink()?;
        Ok(sink.subscribe(self.prefixed(channels)).await?)
    }

    async fn unsubscribe(&self, channels: &[String]) -> Result<(), BusError> {
        if channels.is_empty() {
            // An empty UNSUBSCRIBE means "all channels" to Redis.
            return Ok(());
        }
        let mut sink = self.current_sink()?;
        Ok(sink.unsubscribe(self.prefixed(channels)).await?)
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let payload = serde_json::to_vec(event)?;
        let channel = format!("{}{}", self.prefix, event.channel());
        // While earlier publishes wait for Redis, this one waits behind them (in order, and
        // without making its sender wait for a Redis that is known to be down).
        if self.pending_publishes() > 0 {
            self.queue_retry(channel, payload);
            return Ok(());
        }
        if let Err(err) = self.publish_now(&channel, &payload).await {
            tracing::warn!(%err, %channel, "publish failed; queued for retry");
            self.queue_retry(channel, payload);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        // Publishing alone is not enough: a node whose subscriber is down delivers nothing live.
        self.current_sink()?;
        let _: String = match &self.readiness {
            Some(pool) => redis::cmd("PING").query_async(&mut *pool.get().await?).await?,
            None => redis::cmd("PING").query_async(&mut self.publisher.clone()).await?,
        };
        Ok(())
    }

    fn attach(&self, hub: Weak<HubInner>) {
        let _ = self.hub.set(hub);
    }
}

const KEEPALIVE: Duration = Duration::from_secs(5);

/// Reads the subscriber connection for as long as the broker lives, reconnecting when it drops
/// (or until it first connects).
async fn read_loop(broker: Weak<RedisBroker>, mut stream: Option<PubSubStream>) {
    loop {
        if let Some(mut live) = stream.take() {
            consume(&broker, &mut live).await;
            let Some(b) = broker.upgrade() else { return };
            *crate::lock(&b.sink) = None;
            tracing::warn!("redis subscriber connection lost; reconnecting");
        }
        let Some(live) = reconnect(&broker).await else { return };
        stream = Some(live);
        tracing::info!("redis subscriber connected; re-subscribing");
        if let Some(hub) = broker.upgrade().and_then(|b| b.hub()) {
            hub.broker_reconnected();
        }
    }
}

/// Opens a new subscriber connection with backoff; `None` once the broker is gone.
async fn reconnect(broker: &Weak<RedisBroker>) -> Option<PubSubStream> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match broker.upgrade()?.open_subscriber().await {
            Ok(stream) => return Some(stream),
            Err(err) => tracing::debug!(%err, "redis reconnect failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Dispatches messages until the connection ends or stops answering pings.
async fn consume(broker: &Weak<RedisBroker>, stream: &mut PubSubStream) {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return };
                let Some(b) = broker.upgrade() else { return };
                let Some(name) = msg.get_channel_name().strip_prefix(b.prefix.as_str()) else { continue };
                let payload = msg.get_payload_bytes();
                match serde_json::from_slice::<Event>(payload) {
                    Ok(event) => {
                        if let Some(hub) = b.hub() {
                            hub.dispatch(name, Arc::new(event), payload.len());
                        }
                    }
                    Err(err) => tracing::warn!(%err, channel = name, "undecodable event on the bus"),
                }
            }
            _ = keepalive.tick() => {
                let Some(b) = broker.upgrade() else { return };
                let Ok(mut sink) = b.current_sink() else { return };
                // A half-open TCP connection is only noticed by asking.
                match tokio::time::timeout(KEEPALIVE, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                if b.primary_moved().await {
                    tracing::warn!("sentinel names another redis primary; moving to it");
                    return;
                }
            }
        }
    }
}
