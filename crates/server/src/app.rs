//! Building a node: migrate, connect, wire the service, bind. `Application::build` binds before
//! it returns, so callers (tests included) know the port, and `CHATWIRE_BIND=...:0` works.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};

use chatwire_bus::broker::BrokerBus;
use chatwire_bus::presence::PresenceSettings;
use chatwire_bus::{
    Broker, ClusterBroker, Hub, LocalBroker, LocalPresence, PresenceConnection, RedisBroker, RedisPresence,
};
use chatwire_core::ChatService;
use chatwire_core::ports::{Presence, Store};
use chatwire_core::rate::KeyedRate;
use chatwire_store::PgStore;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::auth::{KnownUsers, TokenRules, Verifier};
use crate::config::Settings;
use crate::error::ErrorBody;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DATABASE_URL is required here (chatwire serve boots a private Postgres when it is unset)")]
    NoDatabase,
    #[error("no JWT key configured: set CHATWIRE_JWT_SECRET or CHATWIRE_JWT_PUBLIC_KEY_FILE")]
    NoJwtKey,
    #[error(
        "the database has migrations pending ({0}) and CHATWIRE_MIGRATE_ON_START is off: run `chatwire migrate` first"
    )]
    PendingMigrations(String),
    #[error("postgres: {0}")]
    Store(#[from] chatwire_store::StoreError),
    #[error("redis: {0}")]
    Bus(#[from] chatwire_bus::BusError),
    #[error("jwt key: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("binding {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let database_url = settings.database_url.clone().ok_or(StartError::NoDatabase)?;
        if settings.jwt_keys.is_empty() {
            return Err(StartError::NoJwtKey);
        }
        let rules = TokenRules { audience: settings.jwt_audience.clone(), issuer: settings.jwt_issuer.clone() };
        let verifier = Verifier::new(&settings.jwt_keys, rules)?;
        if settings.migrate_on_start {
            let applied = chatwire_store::run_migrations(&database_url).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
        } else {
            let pending = chatwire_store::migrate::pending_migrations(&database_url).await?;
            if !pending.is_empty() {
                return Err(StartError::PendingMigrations(pending.join(", ")));
            }
        }
        let timeouts = chatwire_store::DbTimeouts { statement: settings.db_timeout, ..Default::default() };
        let pool = chatwire_store::connect_pool_with(&database_url, settings.db_pool_size, timeouts)?;
        // The client-side backstop sits just above the server-side timeouts, which answer first.
        let writer = chatwire_store::WriterSettings {
            lanes: settings.db_write_lanes,
            max_batch: settings.db_max_batch,
            queue: settings.db_write_queue,
            ..Default::default()
        };
        let readiness = chatwire_store::connect_pool_with(&database_url, 1, timeouts)?;
        let store = PgStore::with_settings(pool, settings.db_timeout + std::time::Duration::from_millis(500), writer)
            .with_readiness_pool(readiness);
        let store_metrics = store.metrics().clone();
        let store: Arc<dyn Store> = Arc::new(store);
        let node_id = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
        let presence_settings = PresenceSettings { online_ttl: settings.presence_ttl, typing_ttl: settings.typing_ttl };

        let (broker, presence): (Arc<dyn Broker>, Arc<dyn Presence>) = match &settings.redis_url {
            _ if !settings.redis_cluster_urls.is_empty() => {
                let broker = ClusterBroker::connect(&settings.redis_cluster_urls, &settings.redis_prefix).await?;
                let redis = PresenceConnection::Cluster(broker.connection());
                let presence = RedisPresence::start(redis, &settings.redis_prefix, &node_id, presence_settings);
                (broker, presence)
            }
            _ if !settings.redis_sentinels.is_empty() => {
                let broker = RedisBroker::connect_sentinel(
                    &settings.redis_sentinels,
                    &settings.redis_sentinel_master,
                    &settings.redis_prefix,
                )
                .await?;
                let redis = PresenceConnection::Single(broker.connection());
                let presence = RedisPresence::start(redis, &settings.redis_prefix, &node_id, presence_settings);
                (broker, presence)
            }
            Some(url) => {
                let broker = RedisBroker::connect(url, &settings.redis_prefix).await?;
                let redis = PresenceConnection::Single(broker.connection());
                let presence = RedisPresence::start(redis, &settings.redis_prefix, &node_id, presence_settings);
                (broker, presence)
            }
            None => {
                tracing::info!("REDIS_URL unset: in-process bus, this node runs alone");
                (Arc::new(LocalBroker::default()), Arc::new(LocalPresence::new(presence_settings)))
            }
        };
        let hub = Hub::start(broker.clone());
        let metrics = Arc::new(crate::metrics::Metrics::new(hub.metrics(), &store_metrics));
        let service = ChatService::new(store, Arc::new(BrokerBus(broker)), presence, settings.limits);
        if !settings.gap_sweep.is_zero() {
            tokio::spawn(sweep_gaps(service.clone(), hub.clone(), settings.gap_sweep));
        }
        let state = AppState {
            service,
            hub,
            verifier,
            known_users: Arc::new(KnownUsers::new(std::time::Duration::from_secs(60), 100_000)),
            sockets: Arc::new(crate::socket::SocketCounts::default()),
            handshakes: Arc::new(KeyedRate::new(settings.handshake_rate, settings.handshake_burst)),
            settings: Arc::new(settings.clone()),
            metrics,
            node_id,
            shutdown: Arc::new(tokio::sync::watch::channel(false).0),
        };
        tokio::spawn(sweep_presence(state.clone(), settings.presence_ttl));
        if !settings.production {
            tracing::warn!(
                "development mode: POST /api/v1/dev/token mints a token for any username (the page at / signs in \
                 with it); CHATWIRE_ENV=production removes it"
            );
        }

        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(json_config())
                .app_data(web::PathConfig::default().error_handler(|err, req| {
                    // `GET /api/v1/conversations/dm` reaches `GET /conversations/{id}`; it is a
                    // known route asked with the wrong method, not a missing conversation.
                    if let Some(allowed) = crate::dialects::native::rest::openapi::allowed_methods(req.path())
                        && !allowed.contains(&req.method().as_str())
                    {
                        return method_not_allowed(req, &allowed);
                    }
                    json_error(StatusCode::NOT_FOUND, "not_found", &err.to_string())
                }))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    json_error(StatusCode::BAD_REQUEST, "invalid", &err.to_string())
                }))
                .wrap_fn(|req, srv| {
                    // Path only: query strings carry socket tokens and must not reach a log.
                    let method = req.method().clone();
                    let path = req.path().to_owned();
                    let start = Instant::now();
                    let span = crate::telemetry::request_span(method.as_str(), &path);
                    srv.call(req).instrument(span.clone()).map(move |res| {
                        if let Ok(res) = &res {
                            span.record("http.response.status_code", res.status().as_u16());
                            tracing::debug!(%method, %path, status = res.status().as_u16(), micros = start.elapsed().as_micros() as u64, "request");
                        }
                        res
                    })
                })
                .configure(crate::health::routes)
                .configure(crate::metrics::routes)
                .configure(crate::dialects::routes)
                .route("/", web::get().to(crate::demo::index))
                .route("/app.js", web::get().to(crate::demo::app_js))
                .default_service(web::to(|req: actix_web::HttpRequest| async move {
                    if let Some(allowed) = crate::dialects::native::rest::openapi::allowed_methods(req.path()) {
                        return method_not_allowed_response(&req, &allowed);
                    }
                    HttpResponse::NotFound().json(ErrorBody { code: "not_found", message: "no such route".into() })
                }))
        })
        .workers(settings.workers)
        // Frames are small and latency is the point: no Nagle delay on client sockets.
        .tcp_nodelay(true)
        // A node that restarts takes back thousands of reconnecting sockets at once.
        .backlog(4096)
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .bind(settings.bind)
        .map_err(|source| StartError::Bind { addr: settings.bind, source })?;
        let port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
        let server = server.run();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            server: self.server.handle(),
            shutdown: self.state.shutdown.clone(),
            service: self.state.service.clone(),
            sockets: self.state.sockets.clone(),
            drain_timeout: std::time::Duration::from_secs(self.state.settings.shutdown_timeout_secs),
        }
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Stops a node: first every socket is told to reconnect elsewhere, then the server drains.
#[derive(Clone)]
pub struct NodeHandle {
    server: ServerHandle,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    service: chatwire_core::ChatService,
    sockets: Arc<crate::socket::SocketCounts>,
    drain_timeout: std::time::Duration,
}

impl NodeHandle {
    /// The node's service, for operations that have no route yet.
    pub fn service(&self) -> &chatwire_core::ChatService {
        &self.service
    }

    /// Drains, then stops. Draining, the node still accepts connections and answers them (a
    /// handshake with 503, so a load balancer tries the next replica) while its sockets close
    /// with "reconnect"; only once they are gone (or the drain timeout passed) does it stop
    /// accepting, because a listener that no longer accepts leaves new connections hanging in
    /// its backlog instead of refusing them.
    pub async fn stop(&self, graceful: bool) {
        self.shutdown.send_replace(true);
        if graceful {
            let deadline = tokio::time::Instant::now() + self.drain_timeout;
            while !self.sockets.is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        self.server.stop(graceful).await;
    }

    /// Stops at once without telling anyone, as a crash would (for failure tests).
    pub async fn kill(&self) {
        self.server.stop(false).await;
    }
}

fn method_not_allowed_response(req: &actix_web::HttpRequest, allowed: &[&str]) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed.join(", ")))
        .json(ErrorBody { code: "method_not_allowed", message: format!("{} is not allowed here", req.method()) })
}

fn method_not_allowed(req: &actix_web::HttpRequest, allowed: &[&str]) -> actix_web::Error {
    InternalError::from_response("method not allowed", method_not_allowed_response(req, allowed)).into()
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(256 * 1024).error_handler(|err: JsonPayloadError, _| {
        let (status, code) = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            JsonPayloadError::ContentType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            _ => (StatusCode::BAD_REQUEST, "invalid"),
        };
        json_error(status, code, &err.to_string())
    })
}

fn json_error(status: StatusCode, code: &'static str, message: &str) -> actix_web::Error {
    InternalError::from_response(
        message.to_owned(),
        HttpResponse::build(status).json(ErrorBody { code, message: message.to_owned() }),
    )
    .into()
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// Catches messages that were committed but never published (their node died in between) in
/// conversations that then went quiet, where no later message would reveal the gap: each sweep
/// reads the newest seq of every conversation with local sockets, and one that has not moved
/// since the last sweep yet is above what this node delivered is hinted to its sockets, which
/// read what they owe from Postgres. A conversation still busy is left to the next message.
async fn sweep_gaps(service: ChatService, hub: Hub, every: std::time::Duration) {
    let mut previous: HashMap<chatwire_core::ConversationId, i64> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let delivered = hub.conversations();
        if delivered.is_empty() {
            previous.clear();
            continue;
        }
        let ids: Vec<_> = delivered.iter().map(|(c, _)| *c).collect();
        let newest: HashMap<_, _> = match service.newest_seqs(&ids).await {
            Ok(rows) => rows.into_iter().collect(),
            Err(err) => {
                tracing::debug!(%err, "gap sweep failed");
                continue;
            }
        };
        for (conversation, seen) in delivered {
            let Some(&last) = newest.get(&conversation) else { continue };
            if last > seen && previous.get(&conversation) == Some(&last) {
                tracing::info!(%conversation, last, seen, "messages that never came live; telling the sockets");
                hub.hint(conversation, last);
            }
        }
        previous = newest;
    }
}

/// Every node sweeps now and then for nodes that died, so their users' contacts hear they left.
/// Rate limiters forget the keys that went quiet on the same beat.
async fn sweep_presence(state: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(err) = state.service.sweep_presence().await {
            tracing::debug!(%err, "presence sweep failed");
        }
        state.service.prune_rate_limits();
        state.handshakes.prune();
    }
}
