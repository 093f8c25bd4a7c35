use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use chatwire_core::model::{Conversation, ConversationView, Member, MemberState, Message, Role, User};
use chatwire_core::ports::{ListFilter, Membership};
use chatwire_core::{ConversationId, UserId};

use crate::error::StoreError;
use crate::queries::messages;
use crate::rows::{self, ConversationRow, MemberRow, UserRow};
use crate::schema::{conversations, members, users};

pub async fn get_or_create_dm(
    conn: &mut AsyncPgConnection,
    initiator: &UserId,
    other: &UserId,
    other_state: MemberState,
) -> Result<(Conversation, bool), StoreError> {
    let (low, high) = dm_pair(initiator, other);
    let existing = conversations::table
        .filter(conversations::dm_low.eq(low).and(conversations::dm_high.eq(high)))
        .select(ConversationRow::as_select())
        .first(conn)
        .await
        .optional()?;
    // Most calls find the DM: they need no write and burn no id from the sequence.
    if let Some(row) = existing {
        return Ok((row.try_into()?, false));
    }
    let (row, created) = conn
        .transaction(async |c| -> Result<(ConversationRow, bool), StoreError> {
            // ON CONFLICT waits for a racing creator's commit, then yields; the SELECT below sees its row.
            let inserted: Option<ConversationRow> = diesel::insert_into(conversations::table)
                .values((
                    conversations::kind.eq("dm"),
                    conversations::dm_low.eq(low),
                    conversations::dm_high.eq(high),
                    conversations::created_by.eq(initiator.as_str()),
                ))
                .on_conflict((conversations::dm_low, conversations::dm_high))
                .do_nothing()
                .returning(ConversationRow::as_returning())
                .get_result(c)
                .await
                .optional()?;
            match inserted {
                Some(row) => {
                    diesel::insert_into(members::table)
                        .values(&vec![
                            (
                                members::conversation_id.eq(row.id),
                                members::user_id.eq(initiator.as_str()),
                                members::state.eq(MemberState::Active.as_str()),
                            ),
                            (
                                members::conversation_id.eq(row.id),
                                members::user_id.eq(other.as_str()),
                                members::state.eq(other_state.as_str()),
                            ),
                        ])
                        .execute(c)
                        .await?;
                    Ok((row, true))
                }
                None => {
                    let row = conversations::table
                        .filter(conversations::dm_low.eq(low).and(conversations::dm_high.eq(high)))
                        .select(ConversationRow::as_select())
                        .first(c)
                        .await?;
                    Ok((row, false))
                }
            }
        })
        .await?;
    Ok((row.try_into()?, created))
}

pub async fn create_group(
    conn: &mut AsyncPgConnection,
    creator: &UserId,
    title: &str,
    others: &[UserId],
) -> Result<Conversation, StoreError> {
    let row = conn
        .transaction(async |c| -> Result<ConversationRow, StoreError> {
            let row: ConversationRow = diesel::insert_into(conversations::table)
                .values((
                    conversations::kind.eq("group"),
                    conversations::title.eq(title),
                    conversations::created_by.eq(creator.as_str()),
                ))
                .returning(ConversationRow::as_returning())
                .get_result(c)
                .await?;
            let mut rows = vec![(
                members::conversation_id.eq(row.id),
                members::user_id.eq(creator.as_str()),
                members::role.eq(Role::Owner.as_str()),
            )];
            rows.extend(others.iter().map(|u| {
                (
                    members::conversation_id.eq(row.id),
                    members::user_id.eq(u.as_str()),
                    members::role.eq(Role::Member.as_str()),
                )
            }));
            diesel::insert_into(members::table).values(&rows).execute(c).await?;
            Ok(row)
        })
        .await?;
    row.try_into()
}

pub async fn find_dm(
    conn: &mut AsyncPgConnection,
    a: &UserId,
    b: &UserId,
) -> Result<Option<ConversationId>, StoreError> {
    let (low, high) = dm_pair(a, b);
    let id: Option<i64> = conversations::table
        .filter(conversations::dm_low.eq(low).and(conversations::dm_high.eq(high)))
        .select(conversations::id)
        .first(conn)
        .await
        .optional()?;
    Ok(id.map(ConversationId))
}

pub async fn membership(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    user: &UserId,
) -> Result<Option<Membership>, StoreError> {
    let row: Option<(ConversationRow, MemberRow)> = conversations::table
        .inner_join(members::table)
        .filter(conversations::id.eq(conversation.0).and(members::user_id.eq(user.as_str())))
        .select((ConversationRow::as_select(), MemberRow::as_select()))
        .first(conn)
        .await
        .optional()?;
    let Some((c, m)) = row else { return Ok(None) };
    Ok(Some(Membership {
        conversation: c.try_into()?,
        role: rows::role(&m.role)?,
        state: rows::state(&m.state)?,
        last_read_seq: m.last_read_seq,
        last_delivered_seq: m.last_delivered_seq,
    }))
}

fn states(filter: ListFilter) -> &'static [&'static str] {
    match filter {
        ListFilter::Visible => &["active", "pending"],
        ListFilter::Active => &["active"],
        ListFilter::Pending => &["pending"],
    }
}

/// Conversations as `viewer` sees them, newest activity first; `only` narrows to one conversation.
/// Four queries whatever the number of conversations: rows, members, last messages, unread counts.
pub async fn views(
    conn: &mut AsyncPgConnection,
    viewer: &UserId,
    filter: ListFilter,
    only: Option<ConversationId>,
) -> Result<Vec<ConversationView>, StoreError> {
    let mut query = conversations::table
        .inner_join(members::table)
        .filter(members::user_id.eq(viewer.as_str()))
        .filter(members::state.eq_any(states(filter)))
        .select(ConversationRow::as_select())
        .order(conversations::updated_at.desc())
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(conversations::id.eq(id.0));
    }
    let convs: Vec<ConversationRow> = query.load(conn).await?;
    if convs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = convs.iter().map(|c| c.id).collect();

    let member_rows: Vec<(MemberRow, UserRow)> = members::table
        .inner_join(users::table)
        .filter(members::conversation_id.eq_any(&ids))
        // Creator first among those who joined together (a group's founding members).
        .order((members::joined_at.asc(), members::role.eq(Role::Owner.as_str()).desc(), members::user_id.asc()))
        .select((MemberRow::as_select(), UserRow::as_select()))
        .load(conn)
        .await?;
    let mut by_conv: HashMap<i64, Vec<Member>> = HashMap::new();
    for (m, u) in member_rows {
        let conv = m.conversation_id;
        by_conv.entry(conv).or_default().push(m.into_member(User::from(u))?);
    }

    let mut last: HashMap<i64, Message> =
        messages::last_messages(conn, &ids).await?.into_iter().map(|m| (m.conversation_id.0, m)).collect();
    let unread = messages::unread_counts(conn, viewer, &ids).await?;

    convs
        .into_iter()
        .map(|c| {
            let id = c.id;
            Ok(ConversationView {
                conversation: c.try_into()?,
                members: by_conv.remove(&id).unwrap_or_default(),
                last_message: last.remove(&id),
                unread_count: unread.get(&id).copied().unwrap_or(0),
            })
        })
        .collect()
}

pub async fn ids_of(conn: &mut AsyncPgConnection, user: &UserId) -> Result<Vec<ConversationId>, StoreError> {
    let ids: Vec<i64> = members::table
        .filter(members::user_id.eq(user.as_str()))
        .filter(members::state.eq_any(states(ListFilter::Visible)))
        .select(members::conversation_id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(ConversationId).collect())
}

/// Each visible conversation's `last_seq`, newest activity first: what a resume compares with.
pub async fn last_seqs_of(
    conn: &mut AsyncPgConnection,
    user: &UserId,
) -> Result<Vec<(ConversationId, i64)>, StoreError> {
    let rows: Vec<(i64, i64)> = conversations::table
        .inner_join(members::table)
        .filter(members::user_id.eq(user.as_str()))
        .filter(members::state.eq_any(states(ListFilter::Visible)))
        .order(conversations::updated_at.desc())
        .select((conversations::id, conversations::last_seq))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, seq)| (ConversationId(id), seq)).collect())
}

pub async fn member_ids(conn: &mut AsyncPgConnection, id: ConversationId) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<String> =
        members::table.filter(members::conversation_id.eq(id.0)).select(members::user_id).load(conn).await?;
    Ok(ids.into_iter().map(UserId::from_canonical).collect())
}

pub async fn set_title(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    title: &str,
) -> Result<Conversation, StoreError> {
    let row: ConversationRow = diesel::update(conversations::table.find(id.0))
        .set((conversations::title.eq(title), conversations::updated_at.eq(diesel::dsl::now)))
        .returning(ConversationRow::as_returning())
        .get_result(conn)
        .await?;
    row.try_into()
}

pub async fn add_members(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    users: &[UserId],
) -> Result<Vec<UserId>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> =
        users.iter().map(|u| (members::conversation_id.eq(id.0), members::user_id.eq(u.as_str()))).collect();
    let added: Vec<String> = diesel::insert_into(members::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .returning(members::user_id)
        .get_results(conn)
        .await?;
    Ok(added.into_iter().map(UserId::from_canonical).collect())
}

/// Removes a member; if that leaves a group without any admin, its longest-standing member
/// becomes one, so the group stays manageable.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    user: &UserId,
) -> Result<bool, StoreError> {
    conn.transaction(async |c| -> Result<bool, StoreError> {
        let removed = diesel::delete(members::table.find((id.0, user.as_str()))).execute(c).await?;
        if removed == 0 {
            return Ok(false);
        }
        diesel::sql_query(
            "UPDATE members SET role = 'admin' WHERE conversation_id = $1 AND user_id = \
               (SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY joined_at, user_id LIMIT 1) \
             AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1 AND role IN ('owner', 'admin'))",
        )
        .bind::<diesel::sql_types::BigInt, _>(id.0)
        .execute(c)
        .await?;
        Ok(true)
    })
    .await
}

pub async fn set_role(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    user: &UserId,
    role: Role,
) -> Result<(), StoreError> {
    diesel::update(members::table.find((id.0, user.as_str())))
        .set(members::role.eq(role.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_state(
    conn: &mut AsyncPgConnection,
    id: ConversationId,
    user: &UserId,
    state: MemberState,
) -> Result<(), StoreError> {
    diesel::update(members::table.find((id.0, user.as_str())))
        .set(members::state.eq(state.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AsyncPgConnection, id: ConversationId) -> Result<(), StoreError> {
    diesel::delete(conversations::table.find(id.0)).execute(conn).await?;
    Ok(())
}

/// A DM's key: its two user ids in byte order, as the `conversations_dm_pair` index and the
/// `dm_low < dm_high` check (both in the "C" collation) expect.
fn dm_pair<'a>(a: &'a UserId, b: &'a UserId) -> (&'a str, &'a str) {
    if a.as_str() < b.as_str() { (a.as_str(), b.as_str()) } else { (b.as_str(), a.as_str()) }
}

pub async fn last_seqs(
    conn: &mut AsyncPgConnection,
    ids: &[ConversationId],
) -> Result<Vec<(ConversationId, i64)>, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
    let rows: Vec<(i64, i64)> = conversations::table
        .filter(conversations::id.eq_any(ids))
        .select((conversations::id, conversations::last_seq))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, seq)| (ConversationId(id), seq)).collect())
}

/// The conversation a UUID named before ids became integers.
pub async fn by_legacy_uuid(
    conn: &mut AsyncPgConnection,
    uuid: uuid::Uuid,
) -> Result<Option<ConversationId>, StoreError> {
    let id: Option<i64> = conversations::table
        .filter(conversations::legacy_uuid.eq(uuid))
        .select(conversations::id)
        .first(conn)
        .await
        .optional()?;
    Ok(id.map(ConversationId))
}
