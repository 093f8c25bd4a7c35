use chrono::{DateTime, Utc};

use super::{Actor, ChatService};
use crate::error::{CoreError, CoreResult};
use crate::ids::{ConversationId, UserId};
use crate::model::{Profile, SearchScope, User};

impl ChatService {
    /// Creates or refreshes the user from their token's claims; returns who they are.
    pub async fn authenticate(&self, id: UserId, profile: &Profile) -> CoreResult<Actor> {
        let user = self.store.upsert_user(&id, profile).await?;
        Ok(Actor { user })
    }

    pub async fn user_by_username(&self, username: &str) -> CoreResult<User> {
        self.store.find_user_by_username(username.trim()).await?.ok_or(CoreError::NotFound("user"))
    }

    pub async fn user(&self, id: UserId) -> CoreResult<User> {
        self.store.get_user(&id).await?.ok_or(CoreError::NotFound("user"))
    }

    /// Other users matching `query`; an empty query matches nobody.
    pub async fn search_users(
        &self,
        actor: &Actor,
        query: &str,
        scope: SearchScope,
        limit: i64,
    ) -> CoreResult<Vec<User>> {
        // No stored name holds a NUL (Postgres text cannot), so one in a query only hides the rest.
        let query = query.replace('\0', "");
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, self.limits.max_page);
        self.store.search_users(query, scope, actor.id(), limit).await
    }

    /// Called by a socket when it opens, with the conversations it follows: presence, plus a
    /// `presence` event to those conversations the first time the user comes online anywhere.
    pub async fn connected(&self, actor: &Actor, conversations: &[ConversationId]) -> CoreResult<()> {
        if self.presence.connect(actor.id()).await? {
            self.announce_presence(actor, conversations, true, actor.user.last_seen).await;
        }
        Ok(())
    }

    pub async fn disconnected(&self, actor: &Actor) -> CoreResult<()> {
        if self.presence.disconnect(actor.id()).await? {
            let now = Utc::now();
            self.store.set_last_seen(actor.id(), now).await?;
            // Memberships may have changed since the socket opened: ask the store.
            let conversations = self.store.conversation_ids_of(actor.id()).await?;
            self.announce_presence(actor, &conversations, false, Some(now)).await;
        }
        Ok(())
    }

    /// Announces offline, and records `last_seen`, for users whose node died. Run periodically.
    pub async fn sweep_presence(&self) -> CoreResult<usize> {
        let gone = self.presence.sweep().await?;
        if gone.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        for user in self.store.get_users(&gone).await? {
            self.store.set_last_seen(&user.id, now).await?;
            let conversations = self.store.conversation_ids_of(&user.id).await?;
            self.announce_presence(&Actor { user }, &conversations, false, Some(now)).await;
        }
        Ok(gone.len())
    }

    async fn announce_presence(
        &self,
        actor: &Actor,
        conversations: &[ConversationId],
        is_online: bool,
        last_seen: Option<DateTime<Utc>>,
    ) {
        let user = User { last_seen, ..actor.user.clone() };
        for &conversation_id in conversations {
            self.publish(crate::Event::Presence { conversation_id, user: user.clone(), is_online, last_seen }).await;
        }
    }

    /// Closes every socket of `user` on every node (the operations API calls this). Tokens still
    /// valid can open new sockets: revoking them is the identity provider's part.
    pub async fn disconnect_user(&self, user: &UserId) -> CoreResult<()> {
        self.bus.publish(&crate::Event::UserDisconnected { user_id: user.clone() }).await
    }

    /// Whether Postgres answers (for readiness).
    pub async fn store_ready(&self) -> CoreResult<()> {
        self.store.ping().await
    }

    pub async fn online(&self, users: &[UserId]) -> CoreResult<Vec<bool>> {
        self.presence.online(users).await
    }
}
