use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use chatwire_core::model::{MemberState, Message, MessagePage, NewMessage, ReactionChange, ReactionGroup, Sent, User};
use chatwire_core::{ConversationId, MessageId, UserId};

use crate::error::StoreError;
use crate::rows::{MessageRow, UserRow};
use crate::schema::{conversations, members, messages, reactions, users};

/// The message a used client key stands for, when it is the same message (a retry): answered as
/// not created. Another message under the key is refused; `None` when the key was never used by
/// this sender here (the send was refused for another reason: not a member).
pub async fn original_for_key(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    sender: &User,
    msg: &NewMessage,
) -> Result<Option<Sent>, StoreError> {
    let Some(key) = msg.client_key.as_deref() else { return Ok(None) };
    let row: Option<MessageRow> = messages::table
        .filter(messages::conversation_id.eq(conversation.0))
        .filter(messages::sender_id.eq(sender.id.as_str()).and(messages::client_key.eq(key)))
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    // A retry repeats its message; another message under the same key is a client bug that must
    // not be answered as if it had been stored. (An original edited or deleted since cannot be
    // compared, and is returned as it is.)
    let untouched = row.edited_at.is_none() && row.deleted_at.is_none();
    let same =
        row.content == msg.content && row.attachment_url.as_deref() == msg.attachment.as_ref().map(|a| a.url.as_str());
    if untouched && !same {
        return Err(StoreError::KeyReused);
    }
    Ok(Some(Sent { message: row.into_message(Some(sender.clone()))?, created: false }))
}

type MessageWithSender = (MessageRow, Option<UserRow>);

fn with_sender(rows: Vec<MessageWithSender>) -> Result<Vec<Message>, StoreError> {
    rows.into_iter().map(|(m, u)| m.into_message(u.map(User::from))).collect()
}

pub async fn get(conn: &mut AsyncPgConnection, id: MessageId) -> Result<Option<Message>, StoreError> {
    let row: Option<MessageWithSender> = messages::table
        .left_join(users::table)
        .filter(messages::id.eq(id.0))
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .first(conn)
        .await
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let mut list = with_sender(vec![row])?;
    fill_reactions(conn, &mut list).await?;
    Ok(list.pop())
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    page: MessagePage,
) -> Result<Vec<Message>, StoreError> {
    let mut query = messages::table
        .left_join(users::table)
        .filter(messages::conversation_id.eq(conversation.0))
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .limit(page.limit)
        .into_boxed();
    if let Some(before) = page.before {
        query = query.filter(messages::seq.lt(before));
    }
    if let Some(after) = page.after {
        query = query.filter(messages::seq.gt(after));
    }
    // With only `after`, read forward from the cursor; otherwise take the newest page.
    let ascending = page.after.is_some() && page.before.is_none();
    query = if ascending { query.order(messages::seq.asc()) } else { query.order(messages::seq.desc()) };
    let rows: Vec<MessageWithSender> = query.load(conn).await?;
    let mut list = with_sender(rows)?;
    if !ascending {
        list.reverse();
    }
    fill_reactions(conn, &mut list).await?;
    Ok(list)
}

pub async fn count_since(
    conn: &mut AsyncPgConnection,
    conversations: &[ConversationId],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<i64, StoreError> {
    let ids: Vec<i64> = conversations.iter().map(|c| c.0).collect();
    Ok(messages::table
        .filter(messages::conversation_id.eq_any(ids))
        .filter(messages::created_at.ge(since))
        .count()
        .get_result(conn)
        .await?)
}

pub async fn count(conn: &mut AsyncPgConnection, conversation: ConversationId) -> Result<i64, StoreError> {
    Ok(messages::table.filter(messages::conversation_id.eq(conversation.0)).count().get_result(conn).await?)
}

/// The newest message of each conversation, found by its seq (unique per conversation).
pub async fn last_messages(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<Message>, StoreError> {
    let rows: Vec<MessageWithSender> = messages::table
        .inner_join(
            conversations::table
                .on(conversations::id.eq(messages::conversation_id).and(conversations::last_seq.eq(messages::seq))),
        )
        .left_join(users::table)
        .filter(conversations::id.eq_any(ids))
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .load(conn)
        .await?;
    with_sender(rows)
}

/// Messages unread by `viewer`: others' live, non-system messages above their read watermark.
#[diesel::dsl::auto_type(no_type_alias)]
fn unread_by(viewer: &str) -> _ {
    messages::table
        .inner_join(
            members::table.on(members::conversation_id.eq(messages::conversation_id).and(members::user_id.eq(viewer))),
        )
        .filter(messages::seq.gt(members::last_read_seq))
        .filter(messages::deleted_at.is_null())
        .filter(messages::kind.ne("system"))
        .filter(messages::sender_id.is_distinct_from(viewer))
}

/// Unread per conversation.
pub async fn unread_counts(
    conn: &mut AsyncPgConnection,
    viewer: &UserId,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    let rows: Vec<(i64, i64)> = unread_by(viewer.as_str())
        .filter(messages::conversation_id.eq_any(ids))
        .group_by(messages::conversation_id)
        .select((messages::conversation_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Unread across every conversation the user can see (message requests included).
pub async fn unread_total(conn: &mut AsyncPgConnection, viewer: &UserId) -> Result<i64, StoreError> {
    Ok(unread_by(viewer.as_str())
        .filter(members::state.eq_any([MemberState::Active.as_str(), MemberState::Pending.as_str()]))
        .count()
        .get_result(conn)
        .await?)
}

pub async fn edit(conn: &mut AsyncPgConnection, id: MessageId, content: &str) -> Result<Message, StoreError> {
    diesel::update(messages::table.find(id.0))
        .set((messages::content.eq(content), messages::edited_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await?;
    get(conn, id).await?.ok_or(StoreError::Query(DieselError::NotFound))
}

/// Soft delete: content and attachment cleared, row and seq kept so cursors and counts hold. One
/// transaction, so no reader sees the message cleared with its reactions still on it.
pub async fn delete(conn: &mut AsyncPgConnection, id: MessageId) -> Result<Message, StoreError> {
    conn.transaction(async |c| -> Result<Message, StoreError> {
        diesel::update(messages::table.find(id.0))
            .set((
                messages::content.eq(""),
                messages::attachment_url.eq(None::<String>),
                messages::attachment_name.eq(None::<String>),
                messages::attachment_mime.eq(None::<String>),
                messages::attachment_size.eq(None::<i64>),
                messages::deleted_at.eq(diesel::dsl::now),
            ))
            .execute(c)
            .await?;
        diesel::delete(reactions::table.filter(reactions::message_id.eq(id.0))).execute(c).await?;
        get(c, id).await?.ok_or(StoreError::Query(DieselError::NotFound))
    })
    .await
}

pub async fn toggle_reaction(
    conn: &mut AsyncPgConnection,
    message: MessageId,
    user: &UserId,
    emoji: &str,
) -> Result<(ReactionChange, Vec<ReactionGroup>), StoreError> {
    conn.transaction(async |c| -> Result<(ReactionChange, Vec<ReactionGroup>), StoreError> {
        let removed = diesel::delete(reactions::table.find((message.0, user.as_str(), emoji))).execute(c).await?;
        let change = if removed > 0 {
            ReactionChange::Removed
        } else {
            diesel::insert_into(reactions::table)
                .values((
                    reactions::message_id.eq(message.0),
                    reactions::user_id.eq(user.as_str()),
                    reactions::emoji.eq(emoji),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            ReactionChange::Added
        };
        let groups = reaction_groups(c, &[message.0]).await?.remove(&message.0).unwrap_or_default();
        Ok((change, groups))
    })
    .await
}

/// Reactions grouped by emoji (in order of first use) for each message.
async fn reaction_groups(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<ReactionGroup>>, StoreError> {
    let rows: Vec<(i64, String, String)> = reactions::table
        .filter(reactions::message_id.eq_any(ids))
        .order((reactions::message_id, reactions::created_at, reactions::user_id))
        .select((reactions::message_id, reactions::emoji, reactions::user_id))
        .load(conn)
        .await?;
    let mut out: HashMap<i64, Vec<ReactionGroup>> = HashMap::new();
    for (message, emoji, user) in rows {
        let groups = out.entry(message).or_default();
        match groups.iter_mut().find(|g| g.emoji == emoji) {
            Some(g) => {
                g.count += 1;
                g.users.push(UserId::from_canonical(user));
            }
            None => groups.push(ReactionGroup { emoji, count: 1, users: vec![UserId::from_canonical(user)] }),
        }
    }
    Ok(out)
}

async fn fill_reactions(conn: &mut AsyncPgConnection, list: &mut [Message]) -> Result<(), StoreError> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = list.iter().map(|m| m.id.0).collect();
    let mut groups = reaction_groups(conn, &ids).await?;
    for m in list.iter_mut() {
        m.reactions = groups.remove(&m.id.0).unwrap_or_default();
    }
    Ok(())
}
