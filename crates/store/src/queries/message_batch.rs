//! Many sends, one statement: the group commit's insert. Each row's membership and idempotency key
//! are checked, the rows that pass are numbered per conversation from `last_seq` read under a row
//! lock (taken in conversation id order, so two batches never deadlock), inserted, and each
//! conversation's `last_seq` is bumped once. A row that does not pass is simply not returned: no
//! seq is ever burnt. One round trip, one commit, whatever the batch size.
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::AsyncPgConnection;

use crate::error::StoreError;
use crate::rows::MessageRow;

/// One message to insert, as the statement binds it.
pub struct Row<'a> {
    pub conversation: i64,
    pub sender_id: Option<&'a str>,
    pub kind: &'a str,
    pub content: &'a str,
    pub attachment_url: Option<&'a str>,
    pub attachment_name: Option<&'a str>,
    pub attachment_mime: Option<&'a str>,
    pub attachment_size: Option<i64>,
    pub client_key: Option<&'a str>,
}

/// The rows inserted, each with its index in the batch; a row missing was refused (its sender is
/// not an active member, or its client key was used before).
pub async fn insert(conn: &mut AsyncPgConnection, rows: &[Row<'_>]) -> Result<Vec<(usize, MessageRow)>, StoreError> {
    let batch = InsertBatch {
        conversations: rows.iter().map(|r| r.conversation).collect(),
        senders: rows.iter().map(|r| r.sender_id).collect(),
        kinds: rows.iter().map(|r| r.kind).collect(),
        contents: rows.iter().map(|r| r.content).collect(),
        urls: rows.iter().map(|r| r.attachment_url).collect(),
        names: rows.iter().map(|r| r.attachment_name).collect(),
        mimes: rows.iter().map(|r| r.attachment_mime).collect(),
        sizes: rows.iter().map(|r| r.attachment_size).collect(),
        keys: rows.iter().map(|r| r.client_key).collect(),
    };
    let inserted: Vec<(i64, MessageRow)> = diesel_async::RunQueryDsl::load(batch, conn).await?;
    // WITH ORDINALITY counts from 1.
    Ok(inserted.into_iter().map(|(ord, row)| ((ord - 1) as usize, row)).collect())
}

struct InsertBatch<'a> {
    conversations: Vec<i64>,
    senders: Vec<Option<&'a str>>,
    kinds: Vec<&'a str>,
    contents: Vec<&'a str>,
    urls: Vec<Option<&'a str>>,
    names: Vec<Option<&'a str>>,
    mimes: Vec<Option<&'a str>>,
    sizes: Vec<Option<i64>>,
    keys: Vec<Option<&'a str>>,
}

/// The same text for every batch size (the rows travel as arrays), so the statement is prepared
/// once per connection and cached.
impl QueryId for InsertBatch<'_> {
    type QueryId = InsertBatch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type MessageColumns = (
    BigInt,
    BigInt,
    BigInt,
    Text,
    Text,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<Text>,
    Nullable<BigInt>,
    Nullable<Text>,
    Timestamptz,
    Nullable<Timestamptz>,
    Nullable<Timestamptz>,
);

impl Query for InsertBatch<'_> {
    type SqlType = (BigInt, MessageColumns);
}

impl QueryFragment<Pg> for InsertBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH req AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.conversations)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.senders)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.contents)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.urls)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.names)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.mimes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.sizes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.keys)?;
        out.push_sql(BODY);
        Ok(())
    }
}

/// After the arrays: filter (before numbering, so a refused row burns no seq), lock, number,
/// insert, bump. `clock_timestamp()` gives each row its own time (`now()` is the statement's).
/// A key used twice within one batch keeps its first row; the second is answered with it.
const BODY: &str = r#") WITH ORDINALITY AS r(conversation_id, sender_id, kind, content, attachment_url,
        attachment_name, attachment_mime, attachment_size, client_key, ord)),
allowed AS (
    SELECT DISTINCT ON (r.conversation_id, r.sender_id,
            CASE WHEN r.client_key IS NULL THEN 'o' || r.ord ELSE 'k' || r.client_key END) r.*
    FROM req r
    WHERE (r.kind = 'system' OR EXISTS (SELECT 1 FROM members m WHERE m.conversation_id = r.conversation_id
                AND m.user_id = r.sender_id AND m.state = 'active'))
      AND (r.client_key IS NULL OR NOT EXISTS (SELECT 1 FROM messages x WHERE x.conversation_id = r.conversation_id
                AND x.sender_id = r.sender_id AND x.client_key = r.client_key))
    ORDER BY r.conversation_id, r.sender_id,
            CASE WHEN r.client_key IS NULL THEN 'o' || r.ord ELSE 'k' || r.client_key END, r.ord),
locked AS (
    SELECT c.id, c.last_seq FROM conversations c
    WHERE c.id IN (SELECT conversation_id FROM allowed) ORDER BY c.id FOR UPDATE),
numbered AS (
    SELECT a.*, l.last_seq + row_number() OVER (PARTITION BY a.conversation_id ORDER BY a.ord) AS seq
    FROM allowed a JOIN locked l ON l.id = a.conversation_id),
inserted AS (
    INSERT INTO messages (conversation_id, seq, sender_id, kind, content, attachment_url, attachment_name,
        attachment_mime, attachment_size, client_key, created_at)
    SELECT conversation_id, seq, sender_id, kind, content, attachment_url, attachment_name,
        attachment_mime, attachment_size, client_key, clock_timestamp()
    FROM numbered ORDER BY conversation_id, seq
    RETURNING *),
bumped AS (
    UPDATE conversations c SET last_seq = i.last_seq, updated_at = i.at
    FROM (SELECT conversation_id, max(seq) AS last_seq, max(created_at) AS at FROM inserted GROUP BY conversation_id) i
    WHERE c.id = i.conversation_id)
SELECT n.ord, i.id, i.conversation_id, i.seq, i.kind, i.content, i.attachment_url, i.attachment_name,
    i.attachment_mime, i.attachment_size, i.client_key, i.created_at, i.edited_at, i.deleted_at
FROM numbered n JOIN inserted i ON i.conversation_id = n.conversation_id AND i.seq = n.seq"#;
