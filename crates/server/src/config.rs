//! Settings from the environment (the names are part of chatwire's black-box contract).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatwire_core::validate::Limits;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Which dialect owns `/ws/chat/` (two documents claim it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsChatDialect {
    Dotted,
    Spherespace,
}

/// Which dialect owns `/ws/chat/<id>/`: `rooms` (a room's socket) or `dotted` (its real clients
/// connect to `/ws/chat/<user_id>/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsChatIdDialect {
    Rooms,
    Dotted,
}

/// Where token signatures are checked against.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret (`CHATWIRE_JWT_SECRET`).
    Secret(Vec<u8>),
    /// RS256 or ES256 with an identity provider's public key (`CHATWIRE_JWT_PUBLIC_KEY_FILE`), PEM.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log, not even through Debug.
        match self {
            JwtKey::Secret(_) => f.write_str("Secret(<redacted>)"),
            JwtKey::PublicKeyPem(_) => f.write_str("PublicKeyPem(..)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// `CHATWIRE_ENV=production`: every dependency must be configured (see
    /// [`Settings::check_production`]); no development fallbacks.
    pub production: bool,
    /// `CHATWIRE_MIGRATE_ON_START` (default true): `serve` applies pending migrations first. Off
    /// (the chart runs `chatwire migrate` as a hook Job), a node refuses to start on a database
    /// that still has migrations pending.
    pub migrate_on_start: bool,
    pub bind: SocketAddr,
    /// `None`: boot a private Postgres in `data_dir` (see `embedded_pg`).
    pub database_url: Option<String>,
    /// `None`: the in-process bus, one node only.
    pub redis_url: Option<String>,
    /// `CHATWIRE_REDIS_CLUSTER_URLS` (comma-separated seed nodes): a Redis Cluster with sharded
    /// pub/sub instead of one Redis.
    pub redis_cluster_urls: Vec<String>,
    /// `CHATWIRE_REDIS_SENTINELS` (comma-separated Sentinel URLs): one primary with replicas,
    /// found through Sentinel and followed through failovers, instead of a fixed `REDIS_URL`.
    pub redis_sentinels: Vec<String>,
    /// `CHATWIRE_REDIS_SENTINEL_MASTER` (default `mymaster`): the name the Sentinels monitor.
    pub redis_sentinel_master: String,
    /// Prepended to Redis channel and key names.
    pub redis_prefix: String,
    pub jwt_keys: Vec<JwtKey>,
    /// `CHATWIRE_SERVER_API_KEY`: the bearer token of `/api/v1/server/...` (the backend's own
    /// calls); unset, the server API refuses every call.
    pub server_api_key: Option<String>,
    /// `CHATWIRE_JWT_AUDIENCE`: when set, tokens must carry it in `aud`.
    pub jwt_audience: Option<String>,
    /// `CHATWIRE_JWT_ISSUER`: when set, tokens must carry it as `iss`.
    pub jwt_issuer: Option<String>,
    pub ws_chat_dialect: WsChatDialect,
    pub ws_chat_id_dialect: WsChatIdDialect,
    pub data_dir: PathBuf,
    pub limits: Limits,
    pub db_pool_size: usize,
    /// Sends are committed in batches, by this many lanes at once (`CHATWIRE_DB_WRITE_LANES`), at
    /// most `CHATWIRE_DB_MAX_BATCH` per statement.
    pub db_write_lanes: usize,
    pub db_max_batch: usize,
    /// Sends that may wait per lane before more are refused as overloaded (`CHATWIRE_DB_WRITE_QUEUE`).
    pub db_write_queue: usize,
    /// `CHATWIRE_DB_TIMEOUT_MS`: the longest one statement or lock wait may take, and how long a
    /// query may go unanswered before its connection is dropped.
    pub db_timeout: Duration,
    pub workers: usize,
    /// Events a socket may have queued before it is closed as too slow.
    pub socket_queue: usize,
    /// Sends one socket may have in flight at once (`CHATWIRE_SOCKET_PIPELINE`); past it the
    /// socket reads no more frames until one is answered, so TCP pushes back on the client.
    pub socket_pipeline: usize,
    /// Bytes (as sent on the wire) a socket may have queued before it is closed as too slow
    /// (`CHATWIRE_SOCKET_QUEUE_BYTES`).
    pub socket_queue_bytes: usize,
    /// How long one write to a client may take before the client counts as gone, close frames
    /// included (`CHATWIRE_WRITE_TIMEOUT_MS`).
    pub write_timeout: Duration,
    /// WebSocket handshakes per second per client IP, sustained, and the burst on top
    /// (`CHATWIRE_HANDSHAKE_RATE`, 0: off; `CHATWIRE_HANDSHAKE_BURST`).
    pub handshake_rate: u32,
    pub handshake_burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (`CHATWIRE_TRUSTED_PROXIES`, comma-separated
    /// CIDRs): a client's IP is the nearest address in it that is not one of them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often a node compares what it delivered with what Postgres holds, to catch messages
    /// whose publish died with their node (`CHATWIRE_GAP_SWEEP_SECS`, 0: never).
    pub gap_sweep: Duration,
    /// Sockets one user may have open on one node (`CHATWIRE_MAX_SOCKETS_PER_USER`).
    pub max_sockets_per_user: usize,
    /// How long a socket holds a message that arrived ahead of its predecessor before it reads
    /// the missing ones from Postgres (`CHATWIRE_ORDER_HOLD_MS`).
    pub order_hold: Duration,
    pub presence_ttl: Duration,
    pub typing_ttl: Duration,
    /// Seconds a graceful shutdown waits for requests and sockets to finish.
    pub shutdown_timeout_secs: u64,
    /// Rooms dialect WEBSOCKET_SETTINGS, kept with the document's defaults.
    pub heartbeat_interval_secs: u64,
    pub connection_timeout_secs: u64,
    pub ping_timeout_secs: u64,
    pub max_reconnect_attempts: u32,
}

impl Settings {
    /// Defaults for everything; `from_env` and tests override what they need.
    pub fn defaults() -> Settings {
        let limits = Limits::default();
        Settings {
            production: false,
            migrate_on_start: true,
            bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
            database_url: None,
            redis_url: None,
            redis_cluster_urls: Vec::new(),
            redis_sentinels: Vec::new(),
            redis_sentinel_master: "mymaster".into(),
            redis_prefix: String::new(),
            jwt_keys: Vec::new(),
            server_api_key: None,
            jwt_audience: None,
            jwt_issuer: None,
            ws_chat_dialect: WsChatDialect::Dotted,
            ws_chat_id_dialect: WsChatIdDialect::Rooms,
            data_dir: PathBuf::from(".chatwire"),
            limits,
            db_pool_size: 16,
            db_write_lanes: 2,
            db_max_batch: 256,
            db_write_queue: 4096,
            db_timeout: Duration::from_secs(5),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            socket_queue: 1024,
            socket_pipeline: 32,
            socket_queue_bytes: 1 << 20,
            write_timeout: Duration::from_secs(10),
            handshake_rate: 50,
            handshake_burst: 500,
            trusted_proxies: DEFAULT_TRUSTED_PROXIES.iter().filter_map(|net| net.parse().ok()).collect(),
            order_hold: Duration::from_millis(200),
            max_sockets_per_user: 32,
            gap_sweep: Duration::from_secs(5),
            presence_ttl: Duration::from_secs(30),
            typing_ttl: Duration::from_secs(5),
            shutdown_timeout_secs: 10,
            heartbeat_interval_secs: 30,
            connection_timeout_secs: 14400,
            ping_timeout_secs: 10,
            max_reconnect_attempts: 5,
        }
    }

    pub fn from_env() -> Result<Settings, ConfigError> {
        let mut s = Settings::defaults();
        s.production = match var("CHATWIRE_ENV").as_deref() {
            None | Some("development") => false,
            Some("production") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CHATWIRE_ENV",
                    reason: format!("{other}: expected production or development"),
                });
            }
        };
        s.migrate_on_start = flag("CHATWIRE_MIGRATE_ON_START", s.migrate_on_start)?;
        if let Some(v) = var("CHATWIRE_BIND") {
            s.bind = v.parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                name: "CHATWIRE_BIND",
                reason: e.to_string(),
            })?;
        }
        s.database_url = var("DATABASE_URL");
        s.redis_url = var("REDIS_URL");
        s.redis_cluster_urls = var("CHATWIRE_REDIS_CLUSTER_URLS").map(|l| url_list(&l)).unwrap_or_default();
        s.redis_sentinels = var("CHATWIRE_REDIS_SENTINELS").map(|l| url_list(&l)).unwrap_or_default();
        if let Some(master) = var("CHATWIRE_REDIS_SENTINEL_MASTER") {
            s.redis_sentinel_master = master;
        }
        let redis_choices = [s.redis_url.is_some(), !s.redis_cluster_urls.is_empty(), !s.redis_sentinels.is_empty()];
        if redis_choices.iter().filter(|set| **set).count() > 1 {
            return Err(ConfigError::Invalid {
                name: "REDIS_URL",
                reason: "set one of REDIS_URL (one Redis), CHATWIRE_REDIS_CLUSTER_URLS (a cluster) or \
                         CHATWIRE_REDIS_SENTINELS (a primary found by Sentinel), not several"
                    .into(),
            });
        }
        s.redis_prefix = var("CHATWIRE_REDIS_PREFIX").unwrap_or_default();
        if let Some(secret) = var("CHATWIRE_JWT_SECRET") {
            s.jwt_keys.push(JwtKey::Secret(secret.into_bytes()));
        }
        if let Some(path) = var("CHATWIRE_JWT_PUBLIC_KEY_FILE") {
            let pem = std::fs::read(&path).map_err(|e| ConfigError::Invalid {
                name: "CHATWIRE_JWT_PUBLIC_KEY_FILE",
                reason: format!("{path}: {e}"),
            })?;
            s.jwt_keys.push(JwtKey::PublicKeyPem(pem));
        }
        s.server_api_key = var("CHATWIRE_SERVER_API_KEY");
        s.jwt_audience = var("CHATWIRE_JWT_AUDIENCE");
        s.jwt_issuer = var("CHATWIRE_JWT_ISSUER");
        s.ws_chat_dialect = match var("CHATWIRE_WS_CHAT_DIALECT").as_deref() {
            None | Some("dotted") => WsChatDialect::Dotted,
            Some("spherespace") => WsChatDialect::Spherespace,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CHATWIRE_WS_CHAT_DIALECT",
                    reason: format!("{other}: expected dotted or spherespace"),
                });
            }
        };
        s.ws_chat_id_dialect = match var("CHATWIRE_WS_CHAT_ID_DIALECT").as_deref() {
            None | Some("rooms") => WsChatIdDialect::Rooms,
            Some("dotted") => WsChatIdDialect::Dotted,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CHATWIRE_WS_CHAT_ID_DIALECT",
                    reason: format!("{other}: expected rooms or dotted"),
                });
            }
        };
        if let Some(dir) = var("CHATWIRE_DATA_DIR") {
            s.data_dir = PathBuf::from(dir);
        }
        s.limits.max_message_chars = num("CHATWIRE_MESSAGE_SIZE_LIMIT", s.limits.max_message_chars)?;
        s.limits.max_history = num("CHATWIRE_HISTORY_LIMIT", s.limits.max_history)?.max(1);
        s.limits.max_group_members = num("CHATWIRE_MAX_GROUP_MEMBERS", s.limits.max_group_members)?.max(2);
        s.limits.max_cursors = num("CHATWIRE_MAX_RESUME_CURSORS", s.limits.max_cursors)?.max(1);
        s.limits.send_rate = num("CHATWIRE_SEND_RATE", s.limits.send_rate)?;
        s.limits.send_burst = num("CHATWIRE_SEND_BURST", s.limits.send_burst)?;
        s.db_pool_size = num("CHATWIRE_DB_POOL_SIZE", s.db_pool_size)?;
        s.db_write_lanes = num("CHATWIRE_DB_WRITE_LANES", s.db_write_lanes)?.clamp(1, 64);
        s.db_max_batch = num("CHATWIRE_DB_MAX_BATCH", s.db_max_batch)?.clamp(1, 10_000);
        s.db_write_queue = num("CHATWIRE_DB_WRITE_QUEUE", s.db_write_queue)?.max(1);
        s.db_timeout = Duration::from_millis(num("CHATWIRE_DB_TIMEOUT_MS", s.db_timeout.as_millis() as u64)?.max(100));
        s.workers = num("CHATWIRE_WORKERS", s.workers)?.max(1);
        s.socket_queue = num("CHATWIRE_SOCKET_QUEUE", s.socket_queue)?.max(1);
        s.socket_pipeline = num("CHATWIRE_SOCKET_PIPELINE", s.socket_pipeline)?.clamp(1, 1024);
        s.socket_queue_bytes = num("CHATWIRE_SOCKET_QUEUE_BYTES", s.socket_queue_bytes)?.max(1024);
        s.write_timeout =
            Duration::from_millis(num("CHATWIRE_WRITE_TIMEOUT_MS", s.write_timeout.as_millis() as u64)?.max(100));
        s.handshake_rate = num("CHATWIRE_HANDSHAKE_RATE", s.handshake_rate)?;
        s.handshake_burst = num("CHATWIRE_HANDSHAKE_BURST", s.handshake_burst)?;
        if let Ok(list) = std::env::var("CHATWIRE_TRUSTED_PROXIES") {
            s.trusted_proxies = list
                .split(',')
                .map(str::trim)
                .filter(|net| !net.is_empty())
                .map(|net| {
                    net.parse().map_err(|e: ipnet::AddrParseError| ConfigError::Invalid {
                        name: "CHATWIRE_TRUSTED_PROXIES",
                        reason: format!("{net}: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        s.max_sockets_per_user = num("CHATWIRE_MAX_SOCKETS_PER_USER", s.max_sockets_per_user)?.max(1);
        s.gap_sweep = Duration::from_secs(num("CHATWIRE_GAP_SWEEP_SECS", s.gap_sweep.as_secs())?);
        s.order_hold = Duration::from_millis(num("CHATWIRE_ORDER_HOLD_MS", s.order_hold.as_millis() as u64)?);
        s.presence_ttl = Duration::from_secs(num("CHATWIRE_PRESENCE_TTL_SECS", s.presence_ttl.as_secs())?.max(1));
        s.typing_ttl = Duration::from_secs(num("CHATWIRE_TYPING_TTL_SECS", s.typing_ttl.as_secs())?.max(1));
        s.shutdown_timeout_secs = num("CHATWIRE_SHUTDOWN_TIMEOUT_SECS", s.shutdown_timeout_secs)?;
        s.heartbeat_interval_secs = num("CHATWIRE_HEARTBEAT_INTERVAL", s.heartbeat_interval_secs)?.max(1);
        s.connection_timeout_secs = num("CHATWIRE_CONNECTION_TIMEOUT", s.connection_timeout_secs)?;
        s.ping_timeout_secs = num("CHATWIRE_PING_TIMEOUT", s.ping_timeout_secs)?;
        s.max_reconnect_attempts = num("CHATWIRE_MAX_RECONNECT_ATTEMPTS", s.max_reconnect_attempts)?;
        Ok(s)
    }
}

/// The shortest HS256 secret production accepts: the hash's own size (RFC 7518, 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

impl Settings {
    /// What production needs and does not have, named: a node without Postgres, Redis or a real
    /// JWT key would otherwise start alone (a private database, an in-process bus, a random
    /// secret) and report ready, silently split from its replicas.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        if self.database_url.is_none() {
            missing.push("DATABASE_URL is unset (production never boots a private Postgres)".to_owned());
        }
        if self.redis_url.is_none() && self.redis_cluster_urls.is_empty() && self.redis_sentinels.is_empty() {
            missing.push(
                "REDIS_URL (or CHATWIRE_REDIS_CLUSTER_URLS, or CHATWIRE_REDIS_SENTINELS) is unset (production never \
                 runs the single-node in-process bus)"
                    .to_owned(),
            );
        }
        if self.jwt_keys.is_empty() {
            missing.push("no JWT key: set CHATWIRE_JWT_SECRET or CHATWIRE_JWT_PUBLIC_KEY_FILE".to_owned());
        }
        for key in &self.jwt_keys {
            if let JwtKey::Secret(secret) = key
                && secret.len() < MIN_SECRET_BYTES
            {
                missing.push(format!(
                    "CHATWIRE_JWT_SECRET is {} bytes; production needs at least {MIN_SECRET_BYTES}",
                    secret.len()
                ));
            }
        }
        if let Some(key) = &self.server_api_key
            && key.len() < MIN_SECRET_BYTES
        {
            missing.push(format!(
                "CHATWIRE_SERVER_API_KEY is {} bytes; production needs at least {MIN_SECRET_BYTES}",
                key.len()
            ));
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { name: "CHATWIRE_ENV=production", reason: missing.join("; ") })
        }
    }

    /// The effective configuration, one `NAME=value` per setting, secrets masked.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let secret = self.jwt_keys.iter().find_map(|k| match k {
            JwtKey::Secret(s) => Some(format!("<set, {} bytes>", s.len())),
            JwtKey::PublicKeyPem(_) => None,
        });
        let public_key = self.jwt_keys.iter().any(|k| matches!(k, JwtKey::PublicKeyPem(_)));
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "<unset>".into());
        let ms = |d: Duration| d.as_millis().to_string();
        let secs = |d: Duration| d.as_secs().to_string();
        vec![
            ("CHATWIRE_ENV", if self.production { "production" } else { "development" }.into()),
            ("CHATWIRE_MIGRATE_ON_START", self.migrate_on_start.to_string()),
            ("CHATWIRE_BIND", self.bind.to_string()),
            (
                "DATABASE_URL",
                self.database_url
                    .as_deref()
                    .map(chatwire_store::migrate::redact)
                    .unwrap_or_else(|| "<unset: private Postgres>".into()),
            ),
            (
                "REDIS_URL",
                self.redis_url
                    .as_deref()
                    .map(chatwire_store::migrate::redact)
                    .unwrap_or_else(|| "<unset: in-process bus>".into()),
            ),
            (
                "CHATWIRE_REDIS_CLUSTER_URLS",
                self.redis_cluster_urls
                    .iter()
                    .map(|u| chatwire_store::migrate::redact(u))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "CHATWIRE_REDIS_SENTINELS",
                self.redis_sentinels.iter().map(|u| chatwire_store::migrate::redact(u)).collect::<Vec<_>>().join(","),
            ),
            ("CHATWIRE_REDIS_SENTINEL_MASTER", self.redis_sentinel_master.clone()),
            ("CHATWIRE_REDIS_PREFIX", self.redis_prefix.clone()),
            ("CHATWIRE_JWT_SECRET", secret.unwrap_or_else(|| "<unset>".into())),
            ("CHATWIRE_JWT_PUBLIC_KEY_FILE", if public_key { "<set>" } else { "<unset>" }.into()),
            (
                "CHATWIRE_SERVER_API_KEY",
                self.server_api_key
                    .as_ref()
                    .map_or("<unset: server API off>".into(), |k| format!("<set, {} bytes>", k.len())),
            ),
            ("CHATWIRE_JWT_AUDIENCE", opt(&self.jwt_audience)),
            ("CHATWIRE_JWT_ISSUER", opt(&self.jwt_issuer)),
            (
                "CHATWIRE_WS_CHAT_DIALECT",
                match self.ws_chat_dialect {
                    WsChatDialect::Dotted => "dotted",
                    WsChatDialect::Spherespace => "spherespace",
                }
                .into(),
            ),
            (
                "CHATWIRE_WS_CHAT_ID_DIALECT",
                match self.ws_chat_id_dialect {
                    WsChatIdDialect::Rooms => "rooms",
                    WsChatIdDialect::Dotted => "dotted",
                }
                .into(),
            ),
            ("CHATWIRE_DATA_DIR", self.data_dir.display().to_string()),
            ("CHATWIRE_MESSAGE_SIZE_LIMIT", self.limits.max_message_chars.to_string()),
            ("CHATWIRE_HISTORY_LIMIT", self.limits.max_history.to_string()),
            ("CHATWIRE_MAX_GROUP_MEMBERS", self.limits.max_group_members.to_string()),
            ("CHATWIRE_MAX_RESUME_CURSORS", self.limits.max_cursors.to_string()),
            ("CHATWIRE_SEND_RATE", self.limits.send_rate.to_string()),
            ("CHATWIRE_SEND_BURST", self.limits.send_burst.to_string()),
            ("CHATWIRE_DB_POOL_SIZE", self.db_pool_size.to_string()),
            ("CHATWIRE_DB_WRITE_LANES", self.db_write_lanes.to_string()),
            ("CHATWIRE_DB_MAX_BATCH", self.db_max_batch.to_string()),
            ("CHATWIRE_DB_WRITE_QUEUE", self.db_write_queue.to_string()),
            ("CHATWIRE_DB_TIMEOUT_MS", ms(self.db_timeout)),
            ("CHATWIRE_WORKERS", self.workers.to_string()),
            ("CHATWIRE_SOCKET_QUEUE", self.socket_queue.to_string()),
            ("CHATWIRE_SOCKET_PIPELINE", self.socket_pipeline.to_string()),
            ("CHATWIRE_SOCKET_QUEUE_BYTES", self.socket_queue_bytes.to_string()),
            ("CHATWIRE_WRITE_TIMEOUT_MS", ms(self.write_timeout)),
            ("CHATWIRE_HANDSHAKE_RATE", self.handshake_rate.to_string()),
            ("CHATWIRE_HANDSHAKE_BURST", self.handshake_burst.to_string()),
            (
                "CHATWIRE_TRUSTED_PROXIES",
                self.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            ),
            ("CHATWIRE_MAX_SOCKETS_PER_USER", self.max_sockets_per_user.to_string()),
            ("CHATWIRE_GAP_SWEEP_SECS", secs(self.gap_sweep)),
            ("CHATWIRE_ORDER_HOLD_MS", ms(self.order_hold)),
            ("CHATWIRE_PRESENCE_TTL_SECS", secs(self.presence_ttl)),
            ("CHATWIRE_TYPING_TTL_SECS", secs(self.typing_ttl)),
            ("CHATWIRE_SHUTDOWN_TIMEOUT_SECS", self.shutdown_timeout_secs.to_string()),
            ("CHATWIRE_HEARTBEAT_INTERVAL", self.heartbeat_interval_secs.to_string()),
            ("CHATWIRE_CONNECTION_TIMEOUT", self.connection_timeout_secs.to_string()),
            ("CHATWIRE_PING_TIMEOUT", self.ping_timeout_secs.to_string()),
            ("CHATWIRE_MAX_RECONNECT_ATTEMPTS", self.max_reconnect_attempts.to_string()),
        ]
    }
}

/// Read elsewhere than [`Settings::from_env`] (by `main` and the logger).
const OTHER_KNOWN: &[&str] = &["CHATWIRE_LOG", "CHATWIRE_LOG_FORMAT", "CHATWIRE_EMBEDDED_PG_PORT"];

/// `CHATWIRE_*` variables in the environment that no setting reads: a typo, or a setting of
/// another version, which would otherwise be ignored without a word.
pub fn unknown_variables() -> Vec<String> {
    let known: Vec<&str> = Settings::defaults().describe().into_iter().map(|(name, _)| name).collect();
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.starts_with("CHATWIRE_") && !known.contains(&name.as_str()) && !OTHER_KNOWN.contains(&name.as_str())
        })
        .collect();
    unknown.sort();
    unknown
}

/// Loopback and the private ranges, where load balancers and ingress controllers live (the
/// same default as Rails' `trusted_proxies`); an empty `CHATWIRE_TRUSTED_PROXIES` trusts none.
const DEFAULT_TRUSTED_PROXIES: &[&str] =
    &["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid { name, reason: format!("{other}: expected true or false") }),
    }
}

fn num<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() }),
    }
}

/// A comma-separated list of URLs, blanks dropped.
fn url_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
}
