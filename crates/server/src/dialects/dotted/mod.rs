//! The `dotted` dialect (specs/002): the whole API on the socket at `/ws/chat/` (and at
//! `/ws/chat/<user_id>/` for its real clients, see `dialects`). It has no REST routes.
pub mod socket;
