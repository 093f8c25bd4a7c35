//! The node-local registry of sockets per channel, with reference-counted broker subscriptions.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::lock;
use std::time::Duration;

use chatwire_core::{Channel, Event};
use tokio::sync::{Notify, mpsc, watch};

use crate::broker::Broker;
use crate::error::BusError;
use crate::metrics::BusMetrics;

/// What the hub hands a socket.
#[derive(Clone, Debug)]
pub enum Outbound {
    /// An event on one of the socket's channels; shared, never copied per socket.
    Event(Arc<Event>),
    /// The node lost its broker connection for a while: events may have been missed, so the
    /// client should catch up from the store.
    Resync,
}

pub type SessionId = u64;

/// What a socket may have queued before it counts as too slow: events, and their bytes on the
/// wire (a client that stops reading big messages is cut long before a thousand of them pile up).
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    pub events: usize,
    pub bytes: usize,
}

/// An event in a socket's queue, with the bytes it was charged against the budget.
struct Queued {
    out: Outbound,
    bytes: usize,
}

/// A socket's sending side, as the hub keeps it.
#[derive(Clone)]
struct SessionTx {
    tx: mpsc::Sender<Queued>,
    overflowed: Arc<SlowFlag>,
    /// Bytes queued and not yet taken by the socket.
    queued: Arc<AtomicUsize>,
    budget: usize,
}

impl SessionTx {
    /// Queues without waiting; a socket over its budget (events or bytes) is flagged slow.
    /// Whether it was queued.
    fn offer(&self, out: Outbound, bytes: usize) -> bool {
        let queued = self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if queued > self.budget || self.tx.try_send(Queued { out, bytes }).is_err() {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            self.overflowed.raise();
            return false;
        }
        true
    }
}

/// Set when a socket's queue overflowed: the socket must close and let its client resync.
#[derive(Default)]
pub struct SlowFlag {
    set: AtomicBool,
    notify: Notify,
}

impl SlowFlag {
    fn raise(&self) {
        if !self.set.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }
    pub fn is_raised(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Resolves once the socket has fallen too far behind.
    pub async fn wait(&self) {
        if self.set.load(Ordering::SeqCst) {
            return;
        }
        self.notify.notified().await;
    }
}

struct ChannelEntry {
    sessions: HashMap<SessionId, SessionTx>,
    /// The highest message seq dispatched (or hinted) on this channel.
    max_seq: i64,
    /// Flips to true once the broker confirmed the subscription; joiners wait for it.
    ready: watch::Sender<bool>,
}

pub struct HubInner {
    broker: Arc<dyn Broker>,
    channels: Mutex<HashMap<String, ChannelEntry>>,
    sessions: Mutex<HashMap<SessionId, (SessionTx, HashSet<String>)>>,
    next_id: AtomicU64,
    /// Channels whose broker subscription may need to change; drained by the sync task.
    dirty: mpsc::UnboundedSender<SyncCmd>,
    subscribe_timeout: Duration,
    metrics: BusMetrics,
}

enum SyncCmd {
    Check(String),
    /// The broker reconnected and lost every subscription: subscribe all again, then resync sockets.
    ResubscribeAll,
}

/// A node's hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// One socket's registration: its id, its queue and its slow-consumer flag.
pub struct Subscription {
    pub id: SessionId,
    rx: mpsc::Receiver<Queued>,
    queued: Arc<AtomicUsize>,
    pub slow: Arc<SlowFlag>,
    hub: Hub,
}

impl Subscription {
    /// The next event for this socket; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let queued = self.rx.recv().await?;
        self.queued.fetch_sub(queued.bytes, Ordering::Relaxed);
        Some(queued.out)
    }

    /// Bytes queued for this socket and not yet taken.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub async fn join(&self, channels: &[Channel]) -> Result<(), BusError> {
        self.hub.join(self.id, channels).await
    }
    pub fn leave(&self, channel: Channel) {
        self.hub.leave(self.id, &channel.name());
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl Hub {
    /// Starts a hub over `broker`, with its subscription task on the current runtime.
    pub fn start(broker: Arc<dyn Broker>) -> Hub {
        let (dirty, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(HubInner {
            broker: broker.clone(),
            channels: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dirty,
            subscribe_timeout: Duration::from_secs(5),
            metrics: BusMetrics::default(),
        });
        broker.attach(Arc::downgrade(&inner));
        tokio::spawn(sync_subscriptions(Arc::downgrade(&inner), rx));
        Hub { inner }
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    pub fn metrics(&self) -> &BusMetrics {
        &self.inner.metrics
    }

    /// Registers a socket with a queue bounded by `limits`.
    pub fn register(&self, limits: QueueLimits) -> Subscription {
        let (tx, rx) = mpsc::channel(limits.events.max(1));
        let slow = Arc::new(SlowFlag::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let stx = SessionTx { tx, overflowed: slow.clone(), queued: queued.clone(), budget: limits.bytes };
        lock(&self.inner.sessions).insert(id, (stx, HashSet::new()));
        Subscription { id, rx, queued, slow, hub: self.clone() }
    }

    /// Adds the socket to channels; returns once the node receives all their events.
    pub async fn join(&self, session: SessionId, channels: &[Channel]) -> Result<(), BusError> {
        let mut waits = Vec::with_capacity(channels.len());
        {
            let mut sessions = lock(&self.inner.sessions);
            let Some((stx, joined)) = sessions.get_mut(&session) else { return Ok(()) };
            let stx = stx.clone();
            let mut map = lock(&self.inner.channels);
            for channel in channels {
                let name = channel.name();
                joined.insert(name.clone());
                let entry = map.entry(name.clone()).or_insert_with(|| {
                    let _ = self.inner.dirty.send(SyncCmd::Check(name));
                    ChannelEntry { sessions: HashMap::new(), max_seq: 0, ready: watch::channel(false).0 }
                });
                entry.sessions.insert(session, stx.clone());
                waits.push(entry.ready.subscribe());
            }
        }
        let all_ready = async {
            for mut ready in waits {
                ready.wait_for(|r| *r).await.map_err(|_| BusError::Disconnected)?;
            }
            Ok(())
        };
        tokio::time::timeout(self.inner.subscribe_timeout, all_ready).await.map_err(|_| BusError::Timeout)?
    }

    pub fn leave(&self, session: SessionId, name: &str) {
        if let Some((_, joined)) = lock(&self.inner.sessions).get_mut(&session) {
            joined.remove(name);
        }
        self.inner.remove_from_channel(session, name);
    }

    fn unregister(&self, session: SessionId) {
        let Some((_, joined)) = lock(&self.inner.sessions).remove(&session) else { return };
        for name in joined {
            self.inner.remove_from_channel(session, &name);
        }
    }

    /// How many channels this node is subscribed to (for metrics and tests).
    pub fn channel_count(&self) -> usize {
        lock(&self.inner.channels).len()
    }

    pub fn session_count(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// Each conversation with local sockets, and the highest seq this node delivered in it.
    pub fn conversations(&self) -> Vec<(chatwire_core::ConversationId, i64)> {
        lock(&self.inner.channels)
            .iter()
            .filter_map(|(name, entry)| match Channel::parse(name) {
                Some(Channel::Conversation(id)) => Some((id, entry.max_seq)),
                _ => None,
            })
            .collect()
    }

    /// Tells the local sockets of `conversation` that the store holds messages up to `last_seq`.
    pub fn hint(&self, conversation: chatwire_core::ConversationId, last_seq: i64) {
        // Never written to a client, so it costs no bytes.
        let event = Arc::new(Event::SeqHint { conversation_id: conversation, last_seq });
        self.inner.dispatch(&Channel::Conversation(conversation).name(), event, 0);
    }

    /// Asks the sync task to subscribe everything again and tell every socket to resync.
    pub fn resubscribe_all(&self) {
        self.inner.resubscribe_all();
    }
}

impl HubInner {
    fn remove_from_channel(&self, session: SessionId, name: &str) {
        let mut channels = lock(&self.channels);
        if let Some(entry) = channels.get_mut(name) {
            entry.sessions.remove(&session);
            if entry.sessions.is_empty() {
                channels.remove(name);
                let _ = self.dirty.send(SyncCmd::Check(name.to_owned()));
            }
        }
    }

    pub fn resubscribe_all(&self) {
        let _ = self.dirty.send(SyncCmd::ResubscribeAll);
    }

    /// The broker lost its subscriber connection and opened a new one.
    pub fn broker_reconnected(&self) {
        self.metrics.redis_reconnects.inc();
        self.resubscribe_all();
    }

    /// Hands an event to every local socket on `channel`, charging each `bytes` (its size on the
    /// wire). Never blocks: a socket over its budget is flagged slow and will be closed, so one
    /// stalled client cannot hold up the others.
    pub fn dispatch(&self, channel: &str, event: Arc<Event>, bytes: usize) {
        let mut channels = lock(&self.channels);
        let Some(entry) = channels.get_mut(channel) else { return };
        match event.as_ref() {
            Event::MessageCreated { message } => {
                entry.max_seq = entry.max_seq.max(message.seq);
                let age = (chrono::Utc::now() - message.created_at).to_std().unwrap_or_default();
                self.metrics.fanout_latency.observe(age.as_secs_f64());
            }
            Event::SeqHint { last_seq, .. } => entry.max_seq = entry.max_seq.max(*last_seq),
            _ => {}
        }
        let queued = entry.sessions.values().filter(|stx| stx.offer(Outbound::Event(event.clone()), bytes)).count();
        self.metrics.deliveries.inc_by(queued as u64);
    }

    fn broadcast_resync(&self) {
        for (stx, _) in lock(&self.sessions).values() {
            stx.offer(Outbound::Resync, 0);
        }
    }
}

/// Applies subscription changes in order, batching whatever piled up meanwhile. Each command
/// is checked against the map at the time it runs, so a channel left and re-joined quickly ends
/// subscribed, and one joined and left quickly ends unsubscribed.
async fn sync_subscriptions(hub: std::sync::Weak<HubInner>, mut rx: mpsc::UnboundedReceiver<SyncCmd>) {
    let mut subscribed: HashSet<String> = HashSet::new();
    let mut pending_resync = false;
    while let Some(first) = rx.recv().await {
        let Some(hub) = hub.upgrade() else { return };
        let mut check: HashSet<String> = HashSet::new();
        let mut resubscribe = false;
        let mut cmd = Some(first);
        while let Some(c) = cmd {
            match c {
                SyncCmd::Check(name) => {
                    check.insert(name);
                }
                SyncCmd::ResubscribeAll => resubscribe = true,
            }
            cmd = rx.try_recv().ok();
        }
        if resubscribe {
            subscribed.clear();
            check.extend(lock(&hub.channels).keys().cloned());
            pending_resync = true;
        }
        let (to_sub, to_unsub): (Vec<String>, Vec<String>) = {
            let channels = lock(&hub.channels);
            let to_sub =
                check.iter().filter(|n| channels.contains_key(*n) && !subscribed.contains(*n)).cloned().collect();
            let to_unsub =
                check.iter().filter(|n| !channels.contains_key(*n) && subscribed.contains(*n)).cloned().collect();
            (to_sub, to_unsub)
        };
        if !to_sub.is_empty() {
            match hub.broker.subscribe(&to_sub).await {
                Ok(()) => {
                    let channels = lock(&hub.channels);
                    for name in to_sub {
                        if let Some(entry) = channels.get(&name) {
                            entry.ready.send_replace(true);
                        }
                        subscribed.insert(name);
                    }
                }
                // The broker will reconnect and ask for a full resubscribe.
                Err(err) => tracing::warn!(%err, "subscribe failed"),
            }
        }
        if !to_unsub.is_empty() {
            match hub.broker.unsubscribe(&to_unsub).await {
                Ok(()) => {
                    for name in &to_unsub {
                        subscribed.remove(name);
                    }
                }
                Err(err) => tracing::warn!(%err, "unsubscribe failed"),
            }
        }
        hub.metrics.subscribed_channels.set(subscribed.len() as i64);
        // Channels re-joined while still subscribed need no broker call, only their joiners released.
        {
            let channels = lock(&hub.channels);
            for name in check.iter().filter(|n| subscribed.contains(*n)) {
                if let Some(entry) = channels.get(name) {
                    entry.ready.send_replace(true);
                }
            }
        }
        if pending_resync {
            pending_resync = false;
            hub.broadcast_resync();
        }
    }
}
