//! What the bus counts, for the node's `/metrics` (the server registers these handles; each
//! is a shared atomic, so counting costs one atomic add on the fan-out path).
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Clone, Debug)]
pub struct BusMetrics {
    /// Events handed to local sockets' queues (one per socket per event).
    pub deliveries: Counter,
    /// From a message's commit (its `created_at`, Postgres' clock) to its hand-off to this
    /// node's sockets: publish, Redis and the node's own dispatch.
    pub fanout_latency: Histogram,
    /// Times the subscriber connection to Redis was lost and opened again.
    pub redis_reconnects: Counter,
    /// Channels this node is subscribed to at the broker.
    pub subscribed_channels: Gauge,
}

impl Default for BusMetrics {
    fn default() -> Self {
        BusMetrics {
            deliveries: Counter::default(),
            // 0.5 ms to about 16 s.
            fanout_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            redis_reconnects: Counter::default(),
            subscribed_channels: Gauge::default(),
        }
    }
}
