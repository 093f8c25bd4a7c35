//! The chatwire node: actix-web REST and WebSockets over [`chatwire_core`].
//!
//! - [`app`]: build a node from [`config::Settings`] and run it.
//! - [`auth`]: JWT verification and the REST extractor.
//! - [`client_ip`]: a request's address, through trusted proxies.
//! - [`dialects`]: one wing per API (native and the five documents): REST routes and socket.
//! - [`socket`]: what every socket shares — handshake, subscription, the per-socket loop.
//! - [`drf`]: errors, bodies and paging as Django REST framework does them.
//! - [`health`]: `/healthz` and `/readyz`; [`demo`]: the chat page at `/`.
//! - [`embedded_pg`]: the private Postgres `chatwire serve` boots when no `DATABASE_URL` is set.
pub mod app;
pub mod auth;
pub mod client_ip;
pub mod config;
pub mod demo;
pub mod dialects;
pub mod drf;
pub mod embedded_pg;
pub mod error;
pub mod health;
pub mod metrics;
pub mod socket;
pub mod state;
pub mod telemetry;

pub use app::{Application, NodeHandle};
pub use config::Settings;
