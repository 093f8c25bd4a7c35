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
use crate::pool::{PgPool, StoreMetrics, checkout};
use crate::queries::receipts::Watermark;
use crate::queries::{conversations, messages, receipts, users};
use crate::writer::{Writer, WriterSettings};

/// [`Store`] on Postgres through a diesel-async pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The longest one store call may take, connection wait included: the backstop for a query
    /// in flight on a link that stopped answering, which no server-side timeout can end.
    call_timeout: std::time::Duration,
    /// Sends, committed in batches.
    writer: Writer,
    metrics: StoreMetrics,
    /// Readiness checks' own connection, so a pool busy with traffic never fails the probe.
    readiness: Option<PgPool>,
}

impl PgStore {
    /// A store with default timeouts and writer lanes; starts the lanes on the current runtime.
    pub fn new(pool: PgPool) -> Self {
        PgStore::with_settings(pool, std::time::Duration::from_millis(5500), WriterSettings::default())
    }

    pub fn with_settings(pool: PgPool, call_timeout: std::time::Duration, writer: WriterSettings) -> Self {
        let metrics = StoreMetrics::default();
        let writer = Writer::start(pool.clone(), WriterSettings { timeout: call_timeout, ..writer }, metrics.clone());
        PgStore { pool, call_timeout, writer, metrics, readiness: None }
    }

    /// Readiness checks use `pool` instead of the traffic pool.
    pub fn with_readiness_pool(self, pool: PgPool) -> Self {
        PgStore { readiness: Some(pool), ..self }
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    async fn bounded<T>(&self, call: impl std::future::Future<Output = CoreResult<T>>) -> CoreResult<T> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(CoreError::Unavailable("postgres did not answer in time".into())),
        }
    }

    /// Batches committed by the writer and the sends they carried.
    pub fn write_stats(&self) -> &crate::writer::WriteStats {
        self.writer.stats()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn conn(&self) -> CoreResult<Object<AsyncPgConnection>> {
        checkout(&self.pool, &self.metrics.pool_wait)
            .await
            .map_err(|e| CoreError::Unavailable(format!("postgres: {e}")))
    }
}

fn ok<T>(r: Result<T, StoreError>) -> CoreResult<T> {
    r.map_err(CoreError::from)
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> CoreResult<()> {
        use diesel_async::RunQueryDsl;
        self.bounded(async {
            let pool = self.readiness.as_ref().unwrap_or(&self.pool);
            let mut c = checkout(pool, &self.metrics.pool_wait)
                .await
                .map_err(|e| CoreError::Unavailable(format!("postgres: {e}")))?;
            ok(diesel::sql_query("SELECT 1").execute(&mut c).await.map(|_| ()).map_err(StoreError::from))
        })
        .await
    }

    async fn upsert_user(&self, id: &UserId, profile: &Profile) -> CoreResult<User> {
        self.bounded(async { ok(users::upsert(&mut *self.conn().await?, id, profile).await) }).await
    }
    async fn get_user(&self, id: &UserId) -> CoreResult<Option<User>> {
        self.bounded(async { ok(users::get(&mut *self.conn().await?, id).await) }).await
    }
    async fn get_users(&self, ids: &[UserId]) -> CoreResult<Vec<User>> {
        self.bounded(async { ok(users::get_many(&mut *self.conn().await?, ids).await) }).await
    }
    async fn find_user_by_username(&self, username: &str) -> CoreResult<Option<User>> {
        self.bounded(async { ok(users::by_username(&mut *self.conn().await?, username).await) }).await
    }
    async fn search_users(
        &self,
        query: &str,
        scope: SearchScope,
        exclude: &UserId,
        limit: i64,
    ) -> CoreResult<Vec<User>> {
        self.bounded(async { ok(users::search(&mut *self.conn().await?, query, scope, exclude, limit).await) }).await
    }
    async fn set_last_seen(&self, id: &UserId, at: DateTime<Utc>) -> CoreResult<()> {
        self.bounded(async { ok(users::set_last_seen(&mut *self.conn().await?, id, at).await) }).await
    }

    async fn get_or_create_dm(
        &self,
        initiator: &UserId,
        other: &UserId,
        other_state: MemberState,
    ) -> CoreResult<(Conversation, bool)> {
        self.bounded(async {
            ok(conversations::get_or_create_dm(&mut *self.conn().await?, initiator, other, other_state).await)
        })
        .await
    }
    async fn create_group(&self, creator: &UserId, title: &str, members: &[UserId]) -> CoreResult<Conversation> {
        self.bounded(async { ok(conversations::create_group(&mut *self.conn().await?, creator, title, members).await) })
            .await
    }
    async fn last_seqs(&self, ids: &[ConversationId]) -> CoreResult<Vec<(ConversationId, i64)>> {
        self.bounded(async { ok(conversations::last_seqs(&mut *self.conn().await?, ids).await) }).await
    }
    async fn conversation_by_legacy_uuid(&self, uuid: uuid::Uuid) -> CoreResult<Option<ConversationId>> {
        self.bounded(async { ok(conversations::by_legacy_uuid(&mut *self.conn().await?, uuid).await) }).await
    }
    async fn find_dm(&self, a: &UserId, b: &UserId) -> CoreResult<Option<ConversationId>> {
        self.bounded(async { ok(conversations::find_dm(&mut *self.conn().await?, a, b).await) }).await
    }
    async fn membership(&self, conversation: ConversationId, user: &UserId) -> CoreResult<Option<Membership>> {
        self.bounded(async { ok(conversations::membership(&mut *self.conn().await?, conversation, user).await) }).await
    }
    async fn conversation_view(
        &self,
        conversation: ConversationId,
        viewer: &UserId,
    ) -> CoreResult<Option<ConversationView>> {
        let only = Some(conversation);
        let views = self
            .bounded(async {
                ok(conversations::views(&mut *self.conn().await?, viewer, ListFilter::Visible, only).await)
            })
            .await?;
        Ok(views.into_iter().next())
    }
    async fn list_conversations(&self, viewer: &UserId, filter: ListFilter) -> CoreResult<Vec<ConversationView>> {
        self.bounded(async { ok(conversations::views(&mut *self.conn().await?, viewer, filter, None).await) }).await
    }
    async fn conversation_ids_of(&self, user: &UserId) -> CoreResult<Vec<ConversationId>> {
        self.bounded(async { ok(conversations::ids_of(&mut *self.conn().await?, user).await) }).await
    }
    async fn last_seqs_of(&self, user: &UserId) -> CoreResult<Vec<(ConversationId, i64)>> {
        self.bounded(async { ok(conversations::last_seqs_of(&mut *self.conn().await?, user).await) }).await
    }
    async fn member_ids(&self, conversation: ConversationId) -> CoreResult<Vec<UserId>> {
        self.bounded(async { ok(conversations::member_ids(&mut *self.conn().await?, conversation).await) }).await
    }
    async fn set_title(&self, conversation: ConversationId, title: &str) -> CoreResult<Conversation> {
        self.bounded(async { ok(conversations::set_title(&mut *self.conn().await?, conversation, title).await) }).await
    }
    async fn add_members(&self, conversation: ConversationId, users: &[UserId]) -> CoreResult<Vec<UserId>> {
        self.bounded(async { ok(conversations::add_members(&mut *self.conn().await?, conversation, users).await) })
            .await
    }
    async fn remove_member(&self, conversation: ConversationId, user: &UserId) -> CoreResult<bool> {
        self.bounded(async { ok(conversations::remove_member(&mut *self.conn().await?, conversation, user).await) })
            .await
    }
    async fn set_role(&self, conversation: ConversationId, user: &UserId, role: Role) -> CoreResult<()> {
        self.bounded(async { ok(conversations::set_role(&mut *self.conn().await?, conversation, user, role).await) })
            .await
    }
    async fn set_member_state(
        &self,
        conversation: ConversationId,
        user: &UserId,
        state: MemberState,
    ) -> CoreResult<()> {
        self.bounded(async { ok(conversations::set_state(&mut *self.conn().await?, conversation, user, state).await) })
            .await
    }
    async fn delete_conversation(&self, conversation: ConversationId) -> CoreResult<()> {
        self.bounded(async { ok(conversations::delete(&mut *self.conn().await?, conversation).await) }).await
    }

    async fn insert_message(
        &self,
        conversation: ConversationId,
        sender: Option<&User>,
        kind: MessageKind,
        message: &NewMessage,
    ) -> CoreResult<Option<Sent>> {
        self.bounded(async { self.writer.insert(conversation, sender, kind, message).await }).await
    }
    async fn get_message(&self, id: MessageId) -> CoreResult<Option<Message>> {
        self.bounded(async { ok(messages::get(&mut *self.conn().await?, id).await) }).await
    }
    async fn list_messages(&self, conversation: ConversationId, page: MessagePage) -> CoreResult<Vec<Message>> {
        self.bounded(async { ok(messages::list(&mut *self.conn().await?, conversation, page).await) }).await
    }
    async fn count_messages(&self, conversation: ConversationId) -> CoreResult<i64> {
        self.bounded(async { ok(messages::count(&mut *self.conn().await?, conversation).await) }).await
    }
    async fn edit_message(&self, id: MessageId, content: &str) -> CoreResult<Message> {
        self.bounded(async { ok(messages::edit(&mut *self.conn().await?, id, content).await) }).await
    }
    async fn delete_message(&self, id: MessageId) -> CoreResult<Message> {
        self.bounded(async { ok(messages::delete(&mut *self.conn().await?, id).await) }).await
    }
    async fn toggle_reaction(
        &self,
        message: MessageId,
        user: &UserId,
        emoji: &str,
    ) -> CoreResult<(ReactionChange, Vec<ReactionGroup>)> {
        self.bounded(async { ok(messages::toggle_reaction(&mut *self.conn().await?, message, user, emoji).await) })
            .await
    }
    async fn mark_read(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        self.bounded(async {
            ok(receipts::advance(&mut *self.conn().await?, Watermark::Read, conversation, user, up_to).await)
        })
        .await
    }
    async fn mark_delivered(
        &self,
        conversation: ConversationId,
        user: &UserId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        self.bounded(async {
            ok(receipts::advance(&mut *self.conn().await?, Watermark::Delivered, conversation, user, up_to).await)
        })
        .await
    }
    async fn count_messages_since(&self, conversations: &[ConversationId], since: DateTime<Utc>) -> CoreResult<i64> {
        self.bounded(async { ok(messages::count_since(&mut *self.conn().await?, conversations, since).await) }).await
    }
    async fn unread_total(&self, user: &UserId) -> CoreResult<i64> {
        self.bounded(async { ok(messages::unread_total(&mut *self.conn().await?, user).await) }).await
    }
}
