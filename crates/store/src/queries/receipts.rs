use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use chatwire_core::ports::WatermarkMove;
use chatwire_core::{ConversationId, UserId};

use crate::error::StoreError;

diesel::define_sql_function! {
    /// `migrations/*_watermark_fn`: returns (seq, covered, at); seq is NULL when nothing moved.
    fn chatwire_advance_watermark(
        conversation: BigInt,
        user: Text,
        up_to: Nullable<BigInt>,
        read: Bool,
    ) -> Record<(Nullable<BigInt>, BigInt, Nullable<Timestamptz>)>;
}

/// Which watermark a receipt moves. Reading implies delivery, so `Read` lifts both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watermark {
    Read,
    Delivered,
}

/// Moves a member's watermark up to `up_to` (capped at the conversation's last seq), never down,
/// and counts the messages from others it newly covers: one prepared statement.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    which: Watermark,
    conversation: ConversationId,
    user: &UserId,
    up_to: Option<i64>,
) -> Result<Option<WatermarkMove>, StoreError> {
    let (seq, covered, at): (Option<i64>, i64, Option<DateTime<Utc>>) =
        diesel::select(chatwire_advance_watermark(conversation.0, user.as_str(), up_to, which == Watermark::Read))
            .get_result(conn)
            .await?;
    Ok(seq.zip(at).map(|(seq, at)| WatermarkMove { seq, covered, at }))
}
