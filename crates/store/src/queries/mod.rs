pub mod conversations;
pub mod messages;
pub mod receipts;
pub mod users;
