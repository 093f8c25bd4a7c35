use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use chatwire_core::ports::WatermarkMove;
use chatwire_core::{ConversationId, UserId};

use crate::error::StoreError;

#[derive(QueryableByName)]
struct MoveRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    covered: i64,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// Which watermark a receipt moves. Reading implies delivery, so `Read` lifts both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watermark {
    Read,
    Delivered,
}

/// Moves a member's watermark up to `up_to` (capped at the conversation's last seq), never down,
/// and counts the messages from others it newly covers — all in one statement.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    which: Watermark,
    conversation: ConversationId,
    user: UserId,
    up_to: Option<i64>,
) -> Result<Option<WatermarkMove>, StoreError> {
    let set = match which {
        Watermark::Read => {
            "last_read_seq = t.new_seq, read_at = now(), \
             delivered_at = CASE WHEN m.last_delivered_seq < t.new_seq THEN now() ELSE m.delivered_at END, \
             last_delivered_seq = GREATEST(m.last_delivered_seq, t.new_seq)"
        }
        Watermark::Delivered => "last_delivered_seq = t.new_seq, delivered_at = now()",
    };
    let column = match which {
        Watermark::Read => "last_read_seq",
        Watermark::Delivered => "last_delivered_seq",
    };
    let sql = format!(
        "WITH t AS ( \
           SELECT m.{column} AS old_seq, LEAST(COALESCE($3, c.last_seq), c.last_seq) AS new_seq \
           FROM members m JOIN conversations c ON c.id = m.conversation_id \
           WHERE m.conversation_id = $1 AND m.user_id = $2 FOR UPDATE OF m), \
         u AS ( \
           UPDATE members m SET {set} FROM t \
           WHERE m.conversation_id = $1 AND m.user_id = $2 AND t.new_seq > t.old_seq \
           RETURNING m.{column} AS seq, now() AS at) \
         SELECT u.seq, u.at, (SELECT count(*) FROM messages x WHERE x.conversation_id = $1 \
             AND x.seq > t.old_seq AND x.seq <= t.new_seq AND x.deleted_at IS NULL AND x.kind <> 'system' \
             AND x.sender_id IS DISTINCT FROM $2) AS covered \
         FROM u, t"
    );
    let row: Option<MoveRow> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(conversation.0)
        .bind::<SqlUuid, _>(user.0)
        .bind::<Nullable<BigInt>, _>(up_to)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(|r| WatermarkMove { seq: r.seq, covered: r.covered, at: r.at }))
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Unread messages across every conversation the user can see (message requests included).
pub async fn unread_total(conn: &mut AsyncPgConnection, user: UserId) -> Result<i64, StoreError> {
    let t: Total = diesel::sql_query(
        "SELECT count(*) AS n FROM members me JOIN messages x ON x.conversation_id = me.conversation_id \
         WHERE me.user_id = $1 AND me.state IN ('active', 'pending') AND x.seq > me.last_read_seq \
           AND x.deleted_at IS NULL AND x.kind <> 'system' AND x.sender_id IS DISTINCT FROM $1",
    )
    .bind::<SqlUuid, _>(user.0)
    .get_result(conn)
    .await?;
    Ok(t.n)
}
