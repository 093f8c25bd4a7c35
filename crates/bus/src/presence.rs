//! Who is online and who is typing: expiring state, never in Postgres.
//!
//! Online-ness is counted per node: a node records "user U has a socket here" once, however many
//! sockets U has on it, with an expiry it refreshes on a heartbeat. A node that dies stops
//! refreshing, so its users drop offline by themselves within one TTL.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatwire_core::ports::Presence;
use chatwire_core::{ConversationId, CoreResult, UserId};

use crate::error::BusError;
use crate::lock;

#[derive(Clone, Copy, Debug)]
pub struct PresenceSettings {
    /// How long a node's claim that a user is online lasts without a heartbeat.
    pub online_ttl: Duration,
    /// How long a typing indicator lasts unless renewed (clients re-send while typing).
    pub typing_ttl: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings { online_ttl: Duration::from_secs(30), typing_ttl: Duration::from_secs(5) }
    }
}

/// Presence for a single node, in memory.
#[derive(Default)]
pub struct LocalPresence {
    settings: PresenceSettings,
    online: Mutex<HashMap<UserId, usize>>,
    typing: Mutex<HashMap<ConversationId, HashMap<UserId, Instant>>>,
}

impl LocalPresence {
    pub fn new(settings: PresenceSettings) -> Self {
        LocalPresence { settings, ..Default::default() }
    }
}

#[async_trait]
impl Presence for LocalPresence {
    async fn connect(&self, user: &UserId) -> CoreResult<bool> {
        let mut online = lock(&self.online);
        let n = online.entry(user.clone()).or_insert(0);
        *n += 1;
        Ok(*n == 1)
    }
    async fn disconnect(&self, user: &UserId) -> CoreResult<bool> {
        let mut online = lock(&self.online);
        let Some(n) = online.get_mut(user) else { return Ok(false) };
        *n -= 1;
        if *n == 0 {
            online.remove(user);
            return Ok(true);
        }
        Ok(false)
    }
    async fn online(&self, users: &[UserId]) -> CoreResult<Vec<bool>> {
        let online = lock(&self.online);
        Ok(users.iter().map(|u| online.contains_key(u)).collect())
    }
    async fn set_typing(&self, conversation: ConversationId, user: &UserId, is_typing: bool) -> CoreResult<()> {
        let mut typing = lock(&self.typing);
        let conv = typing.entry(conversation).or_default();
        if is_typing {
            conv.insert(user.clone(), Instant::now() + self.settings.typing_ttl);
        } else {
            conv.remove(user);
        }
        Ok(())
    }
    async fn sweep(&self) -> CoreResult<Vec<UserId>> {
        // One process: when it dies, so does everyone who could be told.
        Ok(Vec::new())
    }

    async fn typing(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>> {
        let now = Instant::now();
        let mut typing = lock(&self.typing);
        let Some(conv) = typing.get_mut(&conversation) else { return Ok(Vec::new()) };
        conv.retain(|_, until| *until > now);
        Ok(conv.keys().cloned().collect())
    }
}

/// Presence across nodes in Redis: a sorted set per user (`presence:<user>`) whose members are
/// node ids scored by expiry, and one per conversation (`typing:<conversation>`) of typing users.
/// Where presence lives: one Redis primary (fixed or found by Sentinel), or a Redis Cluster
/// (where every presence key carries one hash tag, so the multi-key pipelines below stay within
/// one slot).
#[derive(Clone)]
pub enum PresenceConnection {
    Single(crate::PrimaryConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for PresenceConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            PresenceConnection::Single(c) => c.req_packed_command(cmd),
            PresenceConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            PresenceConnection::Single(c) => c.req_packed_commands(cmd, offset, count),
            PresenceConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            PresenceConnection::Single(c) => c.get_db(),
            PresenceConnection::Cluster(c) => c.get_db(),
        }
    }
}

pub struct RedisPresence {
    /// One multiplexed connection: concurrent calls are pipelined on it, with no checkout (and
    /// no UNWATCH + PING) per call.
    redis: PresenceConnection,
    prefix: String,
    node: String,
    settings: PresenceSettings,
    /// Sockets per user on this node: Redis hears only the first arrival and the last departure.
    local: Mutex<HashMap<UserId, usize>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl RedisPresence {
    /// Starts presence for this node, with its heartbeat task on the current runtime.
    pub fn start(redis: PresenceConnection, prefix: &str, node: &str, settings: PresenceSettings) -> Arc<Self> {
        // In a cluster, `{<prefix>presence}` puts every presence key in one slot.
        let prefix = match redis {
            PresenceConnection::Single(_) => prefix.to_owned(),
            PresenceConnection::Cluster(_) => format!("{{{prefix}presence}}"),
        };
        let presence = Arc::new(RedisPresence {
            redis,
            prefix,
            node: node.to_owned(),
            settings,
            local: Mutex::new(HashMap::new()),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&presence)));
        presence
    }

    fn online_key(&self, user: &UserId) -> String {
        format!("{}presence:{}", self.prefix, user)
    }

    /// Every node's heartbeat expiry: a node past it is dead and its users are swept.
    fn nodes_key(&self) -> String {
        format!("{}presence_nodes", self.prefix)
    }

    /// The users a node holds sockets for, so a survivor can sweep them when it dies.
    fn node_users_key(&self, node: &str) -> String {
        format!("{}presence_node_users:{}", self.prefix, node)
    }

    fn typing_key(&self, conversation: ConversationId) -> String {
        format!("{}typing:{}", self.prefix, conversation)
    }

    /// A handle on the shared connection (clones are cheap and pipeline onto it).
    fn conn(&self) -> PresenceConnection {
        self.redis.clone()
    }

    /// Re-asserts every local user's presence; run well inside the TTL.
    async fn refresh(&self) -> Result<(), BusError> {
        let users: Vec<UserId> = lock(&self.local).keys().cloned().collect();
        let ttl_ms = self.settings.online_ttl.as_millis() as i64;
        let until = now_ms() + ttl_ms;
        let mut pipe = redis::pipe();
        pipe.zadd(self.nodes_key(), &self.node, until).ignore();
        // Outlives this node long enough for a survivor to sweep it, then goes by itself.
        pipe.pexpire(self.node_users_key(&self.node), ttl_ms * 10).ignore();
        for user in users {
            let key = self.online_key(&user);
            pipe.zadd(&key, &self.node, until).ignore();
            pipe.pexpire(&key, self.settings.online_ttl.as_millis() as i64 * 2).ignore();
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Adds (or removes) this node's claim on `user` and counts the live claims left, in one
    /// round trip; expired claims of dead nodes are dropped on the way.
    async fn claim(&self, user: &UserId, present: bool) -> Result<i64, BusError> {
        let key = self.online_key(user);
        let ttl_ms = self.settings.online_ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        let node_users = self.node_users_key(&self.node);
        if present {
            pipe.zadd(&key, &self.node, now_ms() + ttl_ms).ignore();
            pipe.pexpire(&key, ttl_ms * 2).ignore();
            pipe.sadd(&node_users, user.as_str()).ignore();
            pipe.pexpire(&node_users, ttl_ms * 10).ignore();
        } else {
            pipe.zrem(&key, &self.node).ignore();
            pipe.srem(&node_users, user.as_str()).ignore();
        }
        pipe.cmd("ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(now_ms()).ignore();
        pipe.zcard(&key);
        let (n,): (i64,) = pipe.query_async(&mut self.conn()).await?;
        Ok(n)
    }
}

async fn heartbeat(presence: std::sync::Weak<RedisPresence>) {
    let period = match presence.upgrade() {
        Some(p) => p.settings.online_ttl / 3,
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(p) = presence.upgrade() else { return };
        if let Err(err) = p.refresh().await {
            tracing::warn!(%err, "presence heartbeat failed");
        }
    }
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connect(&self, user: &UserId) -> CoreResult<bool> {
        let first_here = {
            let mut local = lock(&self.local);
            let n = local.entry(user.clone()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if !first_here {
            return Ok(false);
        }
        Ok(self.claim(user, true).await? == 1)
    }

    async fn disconnect(&self, user: &UserId) -> CoreResult<bool> {
        let last_here = {
            let mut local = lock(&self.local);
            match local.get_mut(user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    local.remove(user);
                    true
                }
                None => false,
            }
        };
        if !last_here {
            return Ok(false);
        }
        Ok(self.claim(user, false).await? == 0)
    }

    async fn online(&self, users: &[UserId]) -> CoreResult<Vec<bool>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        let now = now_ms();
        for user in users {
            pipe.cmd("ZCOUNT").arg(self.online_key(user)).arg(now).arg("+inf");
        }
        let counts: Vec<i64> = pipe.query_async(&mut self.conn()).await.map_err(BusError::from)?;
        Ok(counts.into_iter().map(|n| n > 0).collect())
    }

    async fn set_typing(&self, conversation: ConversationId, user: &UserId, is_typing: bool) -> CoreResult<()> {
        let key = self.typing_key(conversation);
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        if is_typing {
            let until = now_ms() + self.settings.typing_ttl.as_millis() as i64;
            pipe.zadd(&key, user.as_str(), until).ignore();
            pipe.pexpire(&key, self.settings.typing_ttl.as_millis() as i64).ignore();
        } else {
            pipe.zrem(&key, user.as_str()).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.map_err(BusError::from)?;
        Ok(())
    }

    /// Takes over nodes whose heartbeat lapsed (one survivor wins each, by ZREM) and returns
    /// their users who are now online nowhere.
    async fn sweep(&self) -> CoreResult<Vec<UserId>> {
        let mut conn = self.conn();
        let now = now_ms();
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.nodes_key())
            .arg("-inf")
            .arg(now)
            .query_async(&mut conn)
            .await
            .map_err(BusError::from)?;
        let mut offline = Vec::new();
        for node in dead.into_iter().filter(|n| *n != self.node) {
            let before = offline.len();
            let won: i64 = redis::cmd("ZREM")
                .arg(self.nodes_key())
                .arg(&node)
                .query_async(&mut conn)
                .await
                .map_err(BusError::from)?;
            if won == 0 {
                continue;
            }
            let key = self.node_users_key(&node);
            let (users, _): (Vec<String>, i64) =
                redis::pipe().smembers(&key).del(&key).query_async(&mut conn).await.map_err(BusError::from)?;
            for user in users.iter().filter_map(|u| u.parse::<UserId>().ok()) {
                let online = self.online_key(&user);
                let (left,): (i64,) = redis::pipe()
                    .zrem(&online, &node)
                    .ignore()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&online)
                    .arg("-inf")
                    .arg(now)
                    .ignore()
                    .zcard(&online)
                    .query_async(&mut conn)
                    .await
                    .map_err(BusError::from)?;
                if left == 0 {
                    offline.push(user);
                }
            }
            tracing::info!(%node, offline = offline.len() - before, "swept a node that stopped heartbeating");
        }
        Ok(offline)
    }

    async fn typing(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>> {
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.typing_key(conversation))
            .arg(now_ms())
            .arg("+inf")
            .query_async(&mut self.conn())
            .await
            .map_err(BusError::from)?;
        Ok(ids.iter().filter_map(|s| s.parse().ok()).collect())
    }
}
