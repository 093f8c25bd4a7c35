//! The `rooms` dialect (specs/004): REST under `/api/v1.0/chat/` and one socket per room at
//! `/ws/chat/<room_id>/` (see `dialects` for the setting that gives that path to `dotted`).
pub mod rest;
pub mod socket;

pub use rest::routes;
