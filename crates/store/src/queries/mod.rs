pub mod conversations;
pub mod message_batch;
pub mod messages;
pub mod receipts;
pub mod users;
