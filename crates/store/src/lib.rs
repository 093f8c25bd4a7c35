//! Postgres, the source of truth: schema, migrations, pool, and [`PgStore`], the implementation of
//! [`chatwire_core::ports::Store`].
//!
//! Query code lives in `queries/`, one file per aggregate; each function takes a connection so
//! several can share one transaction. `store_impl` only borrows a pooled connection and delegates;
//! sends go through `writer`, which commits them in batches (group commit).
pub mod error;
pub mod migrate;
pub mod pool;
mod queries;
mod rows;
pub mod schema;
mod store_impl;
mod writer;

pub use error::StoreError;
pub use migrate::run_migrations;
pub use pool::{DbTimeouts, PgPool, StoreMetrics, connect_pool, connect_pool_with};
pub use store_impl::PgStore;
pub use writer::{WriteStats, WriterSettings};
