//! Logs, and traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: one span per HTTP request and
//! per socket frame, exported over OTLP/HTTP (protobuf, or JSON with
//! `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) to a collector. Spans carry user and conversation
//! ids and the request path, never a query string (socket tokens travel in it) or a body.
use std::sync::atomic::{AtomicBool, Ordering};

use chatwire_core::{ConversationId, UserId};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Set once traces are exported; without it no span is made on the per-frame path at all.
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0} is not supported here: use http/protobuf or http/json")]
    Protocol(String),
    #[error("logging was set up twice: {0}")]
    Init(#[from] tracing_subscriber::util::TryInitError),
}

/// The installed exporter; flushes what is left when dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("chatwire: flushing traces failed: {err}");
        }
    }
}

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// Logs to stderr (`CHATWIRE_LOG` filter, `CHATWIRE_LOG_FORMAT=json` for JSON lines) and, with
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, traces to the collector there.
pub fn init() -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_env("CHATWIRE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // stdout is for command output (`chatwire token`); logs go to stderr.
    let logs: Boxed = if std::env::var("CHATWIRE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter).boxed()
    };
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        tracing_subscriber::registry().with(vec![logs]).try_init()?;
        return Ok(Telemetry { provider: None });
    };
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Err(_) | Ok("http/protobuf") => Protocol::HttpBinary,
        Ok("http/json") => Protocol::HttpJson,
        Ok(other) => return Err(TelemetryError::Protocol(other.to_owned())),
    };
    // The general endpoint names the collector; traces go to its /v1/traces.
    let traces_url = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .unwrap_or_else(|_| format!("{}/v1/traces", endpoint.trim_end_matches('/')));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(traces_url)
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("chatwire");
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    let tracer = provider.tracer("chatwire");
    // Only chatwire's own spans: a library's internals are not what an operator follows.
    let traces: Boxed = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(Targets::new().with_target("chatwire_server", tracing::Level::INFO))
        .boxed();
    tracing_subscriber::registry().with(vec![logs, traces]).try_init()?;
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Telemetry { provider: Some(provider) })
}

/// The span of one HTTP request: its method and path (never the query string).
pub fn request_span(method: &str, path: &str) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        "http request",
        otel.name = format!("{method} {path}"),
        http.request.method = method,
        url.path = path,
        user.id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    )
}

/// The span of one socket frame.
pub fn frame_span(
    dialect: &'static str,
    frame: &'static str,
    user: &UserId,
    conversation: Option<ConversationId>,
) -> Span {
    if !exporting() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "socket frame",
        otel.name = format!("{dialect} {frame}"),
        chatwire.dialect = dialect,
        chatwire.frame = frame,
        user.id = user.as_str(),
        chatwire.conversation_id = tracing::field::Empty,
    );
    if let Some(conversation) = conversation {
        span.record("chatwire.conversation_id", conversation.0);
    }
    span
}

/// Names the authenticated user on the current request's span.
pub fn record_user(user: &UserId) {
    if exporting() {
        Span::current().record("user.id", user.as_str());
    }
}
