//! The chatwire node: actix-web REST and WebSockets over [`chatwire_core`].
//!
//! - [`app`]: build a node from [`config::Settings`] and run it.
//! - [`auth`]: JWT verification and the REST extractor.
//! - [`api`]: the native REST API (`/api/v1`) and its OpenAPI document.
//! - [`ws`]: sockets — handshake, subscription, the per-socket loop.
//! - [`health`]: `/healthz` and `/readyz`.
//! - [`embedded_pg`]: the private Postgres `chatwire serve` boots when no `DATABASE_URL` is set.
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod dialect;
pub mod embedded_pg;
pub mod error;
pub mod health;
pub mod state;
pub mod ws;

pub use app::{Application, NodeHandle};
pub use config::Settings;
