use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Object;

use chatwire_core::model::{
    Conversation, ConversationView, MemberState, Message, MessageKind, MessagePage, NewMessage, Profile,
    ReactionChange, ReactionGroup, Role, SearchScope, Sent, User,
};
use chatwire_core::ports::{ListFilter, Membership, Store, WatermarkMove};
use chatwire_core::{ConversationId, CoreError, CoreResult, MessageId, UserId};

use crate::error::StoreError;
use crate::pool::PgPool;
use crate::queries::receipts::Watermark;
use crate::queries::{conversations, messages, receipts, users};

/// [`Store`] on Postgres through a diesel-async pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        PgStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn conn(&self) -> CoreResult<Object<AsyncPgConnection>> {
        self.pool.get().await.map_err(|e| CoreError::Unavailable(format!("postgres: {e}")))
    }
}

fn ok<T>(r: Result<T, StoreError>) -> CoreResult<T> {
    r.map_err(CoreError::from)
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> CoreResult<()> {
        use diesel_async::RunQueryDsl;
        let mut c = self.conn().await?;
        ok(diesel::sql_query("SELECT 1").execute(&mut c).await.map(|_| ()).map_err(StoreError::from))
    }

    async fn upsert_user(&self, id: &UserId, profile: &Profile) -> CoreResult<User> {
        ok(users::upsert(&mut *self.conn().await?, id, profile).await)
    }
    async fn get_user(&self, id: &UserId) -> CoreResult<Option<User>> {
        ok(users::get(&mut *self.conn().await?, id).await)
    }
    async fn get_users(&self, ids: &[UserId]) -> CoreResult<Vec<User>> {
        ok(users::get_many(&mut *self.conn().await?, ids).await)
    }
    async fn find_user_by_username(&self, username: &str) -> CoreResult<Option<User>> {
        ok(users::by_username(&mut *self.conn().await?, username).await)
    }
    async fn search_users(
        &self,
        query: &str,
        scope: SearchScope,
        exclude: &UserId,
        limit: i64,
    ) -> CoreResult<Vec<User>> {
        ok(users::search(&mut *self.conn().await?, query, scope, exclude, limit).await)
    }
    async fn set_last_seen(&self, id: &UserId, at: DateTime<Utc>) -> CoreResult<()> {
        ok(users::set_last_seen(&mut *self.conn().await?, id, at).await)
    }

    async fn get_or_create_dm(
        &self,
        initiator: &UserId,
        other: &UserId,
        other_state: MemberState,
    ) -> CoreResult<(Conversation, bool)> {
        ok(conversations::get_or_create_dm(&mut *self.conn().await?, initiator, other, other_state).await)
    }
    async fn create_group(&self, creator: &UserId, title: &str, members: &[UserId]) -> CoreResult<Conversation> {
        ok(conversations::create_group(&mut *self.conn().await?, creator, title, members).await)
    }
    async fn conversation_by_legacy_uuid(&self, uuid: uuid::Uuid) -> CoreResult<Option<ConversationId>> {
        ok(conversations::by_legacy_uuid(&mut *self.conn().await?, uuid).await)
    }
    async fn find_dm(&self, a: &UserId, b: &UserId) -> CoreResult<Option<ConversationId>> {
        ok(conversations::find_dm(&mut *self.conn().await?, a, b).await)
    }
    async fn membership(&self, conversation: ConversationId, user: &UserId) -> CoreResult<Option<Membership>> {
        ok(conversations::membership(&mut *self.conn().await?, conversation, user).await)
    }
    async fn conversation_view(
        &self,
        conversation: ConversationId,
        viewer: &UserId,
    ) -> CoreResult<Option<ConversationView>> {
        let views =
            ok(conversations::views(&mut *self.conn().await?, viewer, ListFilter::Visible, Some(conversation)).await)?;
        Ok(views.into_iter().next())
    }
    async fn list_conversations(&self, viewer: &UserId, filter: ListFilter) -> CoreResult<Vec<ConversationView>> {
        ok(conversations::views(&mut *self.conn().await?, viewer, filter, None).await)
    }
    async fn conversation_ids_of(&self, user: &UserId) -> CoreResult<Vec<ConversationId>> {
        ok(conversations::ids_of(&mut *self.conn().await?, user).await)
    }
    async fn last_seqs_of(&self, user: &UserId) -> CoreResult<Vec<(ConversationId, i64)>> {
        ok(conversations::last_seqs_of(&mut *self.conn().await?, user).await)
    }
    async fn member_ids(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>> {
        ok(conversations::member_ids(&mut *self.conn().await?, conversation).await)
    }
    async fn set_title(&self, conversation: ConversationId, title: &str) -> CoreResult<Conversation> {
        ok(conversations::set_title(&mut *self.conn().await?, conversation, title).await)
    }
    async fn add_members(&self, conversation: ConversationId, users: &[UserId]) -> CoreResult<Vec<UserId>> {
        ok(conversations::add_members(&mut *self.conn().await?, conversation, users).await)
    }
    async fn remove_member(&self, conversation: ConversationId, user: &UserId) -> CoreResult<bool> {
        ok(conversations::remove_member(&mut *self.conn().await?, conversation, user).await)
    }
    async fn set_role(&self, conversation: ConversationId, user: &UserId, role: Role) -> CoreResult<()> {
        ok(conversations::set_role(&mut *self.conn().await?, conversation, user, role).await)
    }
    async fn set_member_state(
        &self,
        conversation: ConversationId,
        user: &UserId,
        state: MemberState,
    ) -> CoreResult<()> {
        ok(conversations::set_state(&mut *self.conn().await?, conversation, user, state).await)
    }
    async fn delete_conversation(&self, conversation: ConversationId) -> CoreResult<()> {
        ok(conversations::delete(&mut *self.conn().await?, conversation).await)
    }

    async fn insert_message(
        &self,
        conversation: ConversationId,
        sender: Option<&User>,
        kind: MessageKind,
        message: &NewMessage,
    ) -> CoreResult<Option<Sent>> {
        ok(messages::insert(&mut *self.conn().await?, conversation, sender, kind, message).await)
    }
    async fn get_message(&self, id: MessageId) -> CoreResult<Option<Message>> {
        ok(messages::get(&mut *self.conn().await?, id).await)
    }
    async fn list_messages(&self, conversation: ConversationId, page: MessagePage) -> CoreResult<Vec<Message>> {
        ok(messages::list(&mut *self.conn().await?, conversation, page).await)
    }
    async fn count_messages(&self, conversation: ConversationId) -> CoreResult<i64> {
        ok(messages::count(&mut *self.conn().await?, conversation).await)
    }
    async fn edit_message(&self, id: MessageId, content: &str) -> CoreResult<Message> {
        ok(messages::edit(&mut *self.conn().await?, id, content).await)
    }
    async fn delete_message(&self, id: MessageId) -> CoreResult<Message> {
        ok(messages::delete(&mut *self.conn().await?, id).await)
    }
    async fn toggle_reaction(
        &self,
        message: MessageId,
        user: &UserId,
        emoji: &str,
    ) -> CoreResult<(ReactionChange, Vec<ReactionGroup>)> {
        ok(messages::toggle_reaction(&mut *self.conn().await?, message, user, emoji).await)
    }
    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        ok(receipts::advance(&mut *self.conn().await?, Watermark::Read, conversation, user, up_to).await)
    }
    async fn mark_delivered(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        ok(receipts::advance(&mut *self.conn().await?, Watermark::Delivered, conversation, user, up_to).await)
    }
    async fn count_messages_since(&self, conversations: &[ConversationId], since: DateTime<Utc>) -> CoreResult<i64> {
        ok(messages::count_since(&mut *self.conn().await?, conversations, since).await)
    }
    async fn unread_total(&self, user: &UserId) -> CoreResult<i64> {
        ok(messages::unread_total(&mut *self.conn().await?, user).await)
    }
}
