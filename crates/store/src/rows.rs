//! Database rows and their conversion to domain models. Enum columns are TEXT with CHECKs;
//! an unknown value can only come from a newer migration, so it maps to an internal error.
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use chatwire_core::model::{
    Attachment, Conversation, ConversationKind, Member, MemberState, Message, MessageKind, Role, User,
};
use chatwire_core::{ConversationId, MessageId, UserId};

use crate::error::StoreError;
use crate::schema::{conversations, members, messages, users};

#[derive(Queryable, Selectable, QueryableByName, Clone, Debug)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        let id = UserId::from_canonical(r.id);
        User {
            display_name: User::shown_name(&id, &r.username, r.display_name),
            id,
            username: r.username,
            email: r.email,
            avatar_url: r.avatar_url,
            last_seen: r.last_seen,
        }
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct ConversationRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub created_by: Option<String>,
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;
    fn try_from(r: ConversationRow) -> Result<Self, StoreError> {
        Ok(Conversation {
            id: ConversationId(r.id),
            kind: match r.kind.as_str() {
                "dm" => ConversationKind::Dm,
                "group" => ConversationKind::Group,
                other => return Err(StoreError::Corrupt(format!("conversation kind {other}"))),
            },
            title: r.title,
            created_by: r.created_by.map(UserId::from_canonical),
            last_seq: r.last_seq,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = members, check_for_backend(diesel::pg::Pg))]
pub struct MemberRow {
    pub conversation_id: i64,
    pub role: String,
    pub state: String,
    pub last_read_seq: i64,
    pub last_delivered_seq: i64,
    pub read_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub joined_at: DateTime<Utc>,
}

pub fn role(s: &str) -> Result<Role, StoreError> {
    match s {
        "owner" => Ok(Role::Owner),
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        other => Err(StoreError::Corrupt(format!("role {other}"))),
    }
}

pub fn state(s: &str) -> Result<MemberState, StoreError> {
    match s {
        "active" => Ok(MemberState::Active),
        "pending" => Ok(MemberState::Pending),
        "declined" => Ok(MemberState::Declined),
        other => Err(StoreError::Corrupt(format!("member state {other}"))),
    }
}

impl MemberRow {
    pub fn into_member(self, user: User) -> Result<Member, StoreError> {
        Ok(Member {
            user,
            role: role(&self.role)?,
            state: state(&self.state)?,
            last_read_seq: self.last_read_seq,
            last_delivered_seq: self.last_delivered_seq,
            read_at: self.read_at,
            delivered_at: self.delivered_at,
            joined_at: self.joined_at,
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub kind: String,
    pub content: String,
    pub attachment_url: Option<String>,
    pub attachment_name: Option<String>,
    pub attachment_mime: Option<String>,
    pub attachment_size: Option<i64>,
    pub client_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl MessageRow {
    pub fn into_message(self, sender: Option<User>) -> Result<Message, StoreError> {
        let attachment = match (self.attachment_url, self.deleted_at) {
            (Some(url), None) => Some(Attachment {
                url,
                name: self.attachment_name.unwrap_or_default(),
                mime: self.attachment_mime.unwrap_or_default(),
                size: self.attachment_size.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Message {
            id: MessageId(self.id),
            conversation_id: ConversationId(self.conversation_id),
            seq: self.seq,
            sender,
            kind: match self.kind.as_str() {
                "text" => MessageKind::Text,
                "system" => MessageKind::System,
                other => return Err(StoreError::Corrupt(format!("message kind {other}"))),
            },
            content: self.content,
            attachment,
            client_key: self.client_key,
            created_at: self.created_at,
            edited_at: self.edited_at,
            deleted_at: self.deleted_at,
            reactions: Vec::new(),
        })
    }
}
