//! The node's Prometheus metrics, on `GET /metrics` in the OpenMetrics text format. Labels are
//! fixed, small sets (a dialect, a limit, a close reason): never a user, a conversation, a token
//! or a message.
use actix_web::{HttpResponse, web};
use chatwire_bus::BusMetrics;
use chatwire_core::{CoreError, CoreResult};
use chatwire_store::StoreMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabel {
    dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Which limit refused something, as the `limit` label of `chatwire_refusals_total`.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// `CHATWIRE_HANDSHAKE_RATE`: handshakes per client address.
    HandshakeRate,
    /// `CHATWIRE_MAX_SOCKETS_PER_USER`.
    SocketsPerUser,
    /// `CHATWIRE_SEND_RATE`: sends per user.
    SendRate,
    /// `CHATWIRE_DB_WRITE_QUEUE`: the node's writer is full (`overloaded`).
    WriteQueue,
}

impl Limit {
    const ALL: [Limit; 4] = [Limit::HandshakeRate, Limit::SocketsPerUser, Limit::SendRate, Limit::WriteQueue];

    fn label(self) -> LimitLabel {
        LimitLabel {
            limit: match self {
                Limit::HandshakeRate => "handshake_rate",
                Limit::SocketsPerUser => "sockets_per_user",
                Limit::SendRate => "send_rate",
                Limit::WriteQueue => "write_queue",
            },
        }
    }
}

/// The `dialect` label's values: the socket and REST dialects, and `server` (the server API).
const DIALECTS: [&str; 7] = ["native", "dotted", "threads", "spherespace", "django_messaging", "rooms", "server"];

pub struct Metrics {
    registry: Registry,
    sockets: Family<DialectLabel, Gauge>,
    messages_sent: Family<DialectLabel, Counter>,
    refusals: Family<LimitLabel, Counter>,
    socket_closes: Family<ReasonLabel, Counter>,
    slow_consumer_closes: Counter,
    draining: Gauge,
}

/// One dialect's handles, resolved once per socket so the per-message path only adds to an
/// atomic.
#[derive(Clone)]
pub struct DialectMetrics {
    pub sent: Counter,
    sockets: Gauge,
}

/// Counts a socket open until it is dropped.
pub struct OpenSocket(Gauge);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl DialectMetrics {
    pub fn open(&self) -> OpenSocket {
        self.sockets.inc();
        OpenSocket(self.sockets.clone())
    }
}

impl Metrics {
    pub fn new(bus: &BusMetrics, store: &StoreMetrics) -> Metrics {
        let mut metrics = Metrics {
            sockets: Family::default(),
            messages_sent: Family::default(),
            refusals: Family::default(),
            socket_closes: Family::default(),
            slow_consumer_closes: Counter::default(),
            draining: Gauge::default(),
            registry: Registry::default(),
        };
        let registry = &mut metrics.registry;
        registry.register("chatwire_sockets", "Open WebSockets on this node", metrics.sockets.clone());
        registry.register(
            "chatwire_messages_sent",
            "Messages stored from this node's clients, by socket or REST dialect",
            metrics.messages_sent.clone(),
        );
        registry.register("chatwire_deliveries", "Events handed to this node's sockets", bus.deliveries.clone());
        registry.register_with_unit(
            "chatwire_fanout_latency",
            "From a message's commit to its hand-off to this node's sockets",
            prometheus_client::registry::Unit::Seconds,
            bus.fanout_latency.clone(),
        );
        registry.register(
            "chatwire_slow_consumer_closes",
            "Sockets closed because their client fell too far behind",
            metrics.slow_consumer_closes.clone(),
        );
        registry.register(
            "chatwire_socket_closes",
            "Sockets the server closed, by reason",
            metrics.socket_closes.clone(),
        );
        registry.register(
            "chatwire_redis_reconnects",
            "Times the Redis subscriber connection was lost and opened again",
            bus.redis_reconnects.clone(),
        );
        registry.register(
            "chatwire_subscribed_channels",
            "Channels this node is subscribed to at the broker",
            bus.subscribed_channels.clone(),
        );
        registry.register_with_unit(
            "chatwire_db_pool_wait",
            "How long calls waited for a pooled Postgres connection",
            prometheus_client::registry::Unit::Seconds,
            store.pool_wait.clone(),
        );
        registry.register("chatwire_refusals", "Requests and frames refused by a limit", metrics.refusals.clone());
        registry.register("chatwire_draining", "1 while the node drains for shutdown", metrics.draining.clone());
        // Every series exists from the start, at zero: a rate over a series that appears only
        // with its first event misses that event, and an alert cannot tell "none" from "absent".
        for dialect in DIALECTS {
            metrics.dialect(dialect);
        }
        for limit in Limit::ALL {
            let _ = metrics.refusals.get_or_create(&limit.label());
        }
        for why in crate::socket::CloseWhy::ALL {
            let _ = metrics.socket_closes.get_or_create(&ReasonLabel { reason: why.as_str() });
        }
        metrics
    }

    pub fn dialect(&self, dialect: &'static str) -> DialectMetrics {
        let label = DialectLabel { dialect };
        DialectMetrics {
            sent: self.messages_sent.get_or_create(&label).clone(),
            sockets: self.sockets.get_or_create(&label).clone(),
        }
    }

    pub fn refused(&self, limit: Limit) {
        self.refusals.get_or_create(&limit.label()).inc();
    }

    /// Counts a send's outcome: stored, or refused by a limit.
    pub fn send_result<T>(&self, sent: &Counter, result: &CoreResult<T>) {
        match result {
            Ok(_) => {
                sent.inc();
            }
            Err(CoreError::RateLimited { .. }) => self.refused(Limit::SendRate),
            Err(CoreError::Overloaded { .. }) => self.refused(Limit::WriteQueue),
            Err(_) => {}
        }
    }

    /// A REST send's outcome, for `dialect`.
    pub fn rest_send<T>(&self, dialect: &'static str, result: &CoreResult<T>) {
        let sent = self.messages_sent.get_or_create(&DialectLabel { dialect }).clone();
        self.send_result(&sent, result);
    }

    pub fn socket_closed(&self, reason: &'static str, slow_consumer: bool) {
        self.socket_closes.get_or_create(&ReasonLabel { reason }).inc();
        if slow_consumer {
            self.slow_consumer_closes.inc();
        }
    }

    pub fn encode(&self, draining: bool) -> String {
        self.draining.set(i64::from(draining));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// `GET /metrics`: this node's metrics for Prometheus.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode(state.is_draining()))
}
