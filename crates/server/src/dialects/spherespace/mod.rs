//! The `spherespace` dialect (specs/000): REST under `/api/` and the socket at `/ws/chat/`
//! (shared with `dotted`, see `dialects`).
pub mod rest;
pub mod socket;

pub use rest::routes;
