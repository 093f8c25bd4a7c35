//! chatwire's domain, free of actix, diesel and redis.
//!
//! - [`ids`]: typed ids and the pub/sub channel names (`chat_<conversation>`, `user_<user>`).
//! - [`model`]: users, conversations, members, messages as every dialect sees them.
//! - [`event`]: what happens, published once per write and encoded by each socket's dialect.
//! - [`ports`]: the seams (`Store`, `Bus`, `Presence`) the service runs on.
//! - [`service`]: the business rules — authorization, validation, idempotency — written once.
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod model;
pub mod ports;
pub mod rate;
pub mod seen;
pub mod service;
pub mod validate;

pub use error::{CoreError, CoreResult};
pub use event::Event;
pub use ids::{Channel, ConversationId, MessageId, UserId};
pub use service::ChatService;
