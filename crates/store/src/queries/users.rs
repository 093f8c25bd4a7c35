use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use chatwire_core::UserId;
use chatwire_core::model::{Profile, SearchScope, User};

use crate::error::StoreError;
use crate::rows::UserRow;
use crate::schema::users;

/// Creates the user, or refreshes the claims that changed. An unchanged profile writes nothing,
/// so authenticating on every request costs a read, not a WAL write.
pub async fn upsert(conn: &mut AsyncPgConnection, id: &UserId, p: &Profile) -> Result<User, StoreError> {
    let written: Option<UserRow> = diesel::sql_query(
        "INSERT INTO users (id, username, email, display_name) \
         VALUES ($1, COALESCE($2, ''), COALESCE($3, ''), COALESCE($4, '')) \
         ON CONFLICT (id) DO UPDATE SET \
           username = COALESCE($2, users.username), email = COALESCE($3, users.email), \
           display_name = COALESCE($4, users.display_name), updated_at = now() \
         WHERE (users.username, users.email, users.display_name) IS DISTINCT FROM \
               (COALESCE($2, users.username), COALESCE($3, users.email), COALESCE($4, users.display_name)) \
         RETURNING id, username, email, display_name, avatar_url, last_seen",
    )
    .bind::<Text, _>(id.as_str())
    .bind::<Nullable<Text>, _>(p.username.as_deref())
    .bind::<Nullable<Text>, _>(p.email.as_deref())
    .bind::<Nullable<Text>, _>(p.display_name.as_deref())
    .get_result(conn)
    .await
    .optional()?;
    if let Some(row) = written {
        return Ok(row.into());
    }
    get(conn, id).await?.ok_or(StoreError::Query(diesel::result::Error::NotFound))
}

pub async fn get(conn: &mut AsyncPgConnection, id: &UserId) -> Result<Option<User>, StoreError> {
    let row = users::table.find(id.as_str()).select(UserRow::as_select()).first(conn).await.optional()?;
    Ok(row.map(User::from))
}

pub async fn get_many(conn: &mut AsyncPgConnection, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
    let rows = users::table.filter(users::id.eq_any(ids)).select(UserRow::as_select()).load(conn).await?;
    Ok(rows.into_iter().map(User::from).collect())
}

pub async fn by_username(conn: &mut AsyncPgConnection, username: &str) -> Result<Option<User>, StoreError> {
    let row =
        users::table.filter(users::username.eq(username)).select(UserRow::as_select()).first(conn).await.optional()?;
    Ok(row.map(User::from))
}

pub async fn search(
    conn: &mut AsyncPgConnection,
    query: &str,
    scope: SearchScope,
    exclude: &UserId,
    limit: i64,
) -> Result<Vec<User>, StoreError> {
    let pattern = format!("%{}%", escape_like(query));
    // With the username-only scope the other fields are compared against an impossible pattern,
    // which keeps one prepared statement for both scopes.
    let other = if scope == SearchScope::Everything { pattern.clone() } else { String::new() };
    let rows = users::table
        .filter(users::id.ne(exclude.as_str()))
        .filter(
            users::username
                .ilike(&pattern)
                .or(users::display_name.ilike(&other).and(users::display_name.ne("")))
                .or(users::email.ilike(&other).and(users::email.ne(""))),
        )
        .order(users::username.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

pub async fn set_last_seen(conn: &mut AsyncPgConnection, id: &UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(users::table.find(id.as_str())).set(users::last_seen.eq(at)).execute(conn).await?;
    Ok(())
}

/// `%` and `_` typed by a user are literal characters, not wildcards.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
