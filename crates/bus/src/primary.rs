//! The one Redis primary a node talks to — a fixed `REDIS_URL`, or whichever server the Sentinels
//! name now — and the command connection to it that publishes and presence share.
//!
//! Under Sentinel the primary moves: a failover promotes a replica and demotes the old primary
//! (Sentinel kills its clients as it does). Every reconnect asks the Sentinels again, and the
//! subscriber asks them on each keep-alive too, so a node never keeps publishing to a server
//! that has become a replica, where its messages would reach only that replica's subscribers.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::IntoConnectionInfo;
use redis::aio::ConnectionManager;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};

use crate::error::BusError;

pub enum Primary {
    /// `REDIS_URL`: one address for the node's lifetime.
    Fixed(redis::Client),
    /// `CHATWIRE_REDIS_SENTINELS`: the primary of `master` as the Sentinels report it, checked
    /// with `ROLE` before it is used.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl Primary {
    pub fn fixed(url: &str) -> Result<Primary, BusError> {
        Ok(Primary::Fixed(redis::Client::open(with_nodelay(url)?)?))
    }

    /// Sentinels at `urls`, watching the primary named `master`. The credentials and database
    /// of the first URL are used for the primary too (one `requirepass` for both, as the
    /// Sentinel documentation's own setup has it).
    pub fn sentinel(urls: &[String], master: &str) -> Result<Primary, BusError> {
        let first = urls.first().ok_or(BusError::NoSentinels)?.as_str().into_connection_info()?;
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(first.redis_settings().clone())
            .set_tcp_settings(nodelay());
        let sentinels = urls.iter().map(|u| with_nodelay(u)).collect::<Result<Vec<_>, _>>()?;
        let client = SentinelClient::build(sentinels, master.to_owned(), Some(node), SentinelServerType::Master)?;
        Ok(Primary::Sentinel(tokio::sync::Mutex::new(client)))
    }

    /// A client for the server that is primary now.
    pub async fn resolve(&self) -> Result<redis::Client, BusError> {
        match self {
            Primary::Fixed(client) => Ok(client.clone()),
            Primary::Sentinel(sentinel) => Ok(sentinel.lock().await.async_get_client().await?),
        }
    }

    /// Whether the primary can move under a live connection (so it is worth asking again).
    pub fn can_move(&self) -> bool {
        matches!(self, Primary::Sentinel(_))
    }
}

fn nodelay() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Connection settings whose sockets send each command at once (no Nagle delay on small frames).
fn with_nodelay(url: &str) -> Result<redis::ConnectionInfo, BusError> {
    Ok(url.into_connection_info()?.set_tcp_settings(nodelay()))
}

/// Where a client points, as `host:port`.
pub fn address(client: &redis::Client) -> String {
    client.get_connection_info().addr().to_string()
}

/// The multiplexed command connection to the primary (redis' `ConnectionManager`: concurrent
/// commands are pipelined in issue order, and it reconnects to its address by itself). Clones
/// share it; [`PrimaryConnection::point_at`] swaps it when the primary moves.
#[derive(Clone, Default)]
pub struct PrimaryConnection(Arc<RwLock<Option<(String, ConnectionManager)>>>);

impl PrimaryConnection {
    /// Points every clone at `client`'s server, unless already there; true if it moved.
    pub fn point_at(&self, client: &redis::Client) -> Result<bool, BusError> {
        let addr = address(client);
        if self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|(a, _)| *a == addr) {
            return Ok(false);
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let manager = client.get_connection_manager_lazy(config)?;
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((addr, manager));
        Ok(true)
    }

    /// The address it points at, if any yet.
    pub fn address(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(a, _)| a.clone())
    }

    fn current(&self) -> redis::RedisResult<ConnectionManager> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, m)| m.clone()).ok_or_else(|| {
            redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::NotConnected, "no Redis primary found yet"))
        })
    }
}

/// A `ConnectionManager` whose reconnect failed while Redis was away keeps that failure and
/// hands it to the next command (which starts a new reconnect): once Redis is back, that first
/// command would still fail with "connection refused". Nothing was sent, so it is sent again.
fn refused_before_sending(result: &redis::RedisResult<impl Sized>) -> bool {
    result.as_ref().is_err_and(|err| err.is_connection_refusal())
}

impl redis::aio::ConnectionLike for PrimaryConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let mut conn = self.current()?;
            let first = conn.req_packed_command(cmd).await;
            if refused_before_sending(&first) { conn.req_packed_command(cmd).await } else { first }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            let mut conn = self.current()?;
            let first = conn.req_packed_commands(cmd, offset, count).await;
            if refused_before_sending(&first) { conn.req_packed_commands(cmd, offset, count).await } else { first }
        })
    }

    fn get_db(&self) -> i64 {
        self.current().map_or(0, |m| m.get_db())
    }
}
