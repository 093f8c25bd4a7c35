use chrono::Utc;

use super::{Actor, ChatService};
use crate::error::{CoreError, CoreResult};
use crate::ids::UserId;
use crate::model::{Profile, User};

impl ChatService {
    /// Creates or refreshes the user from their token's claims; returns who they are.
    pub async fn authenticate(&self, id: UserId, profile: &Profile) -> CoreResult<Actor> {
        let user = self.store.upsert_user(id, profile).await?;
        Ok(Actor { user })
    }

    pub async fn user(&self, id: UserId) -> CoreResult<User> {
        self.store.get_user(id).await?.ok_or(CoreError::NotFound("user"))
    }

    pub async fn search_users(&self, actor: &Actor, query: &str, limit: i64) -> CoreResult<Vec<User>> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, self.limits.max_page);
        self.store.search_users(query, actor.id(), limit).await
    }

    /// Called by a socket when it opens: presence plus a `presence` event to the user's conversations
    /// the first time they come online anywhere.
    pub async fn connected(&self, actor: &Actor) -> CoreResult<()> {
        if self.presence.connect(actor.id()).await? {
            self.announce_presence(actor, true, None).await?;
        }
        Ok(())
    }

    pub async fn disconnected(&self, actor: &Actor) -> CoreResult<()> {
        if self.presence.disconnect(actor.id()).await? {
            let now = Utc::now();
            self.store.set_last_seen(actor.id(), now).await?;
            self.announce_presence(actor, false, Some(now)).await?;
        }
        Ok(())
    }

    async fn announce_presence(
        &self,
        actor: &Actor,
        is_online: bool,
        last_seen: Option<chrono::DateTime<Utc>>,
    ) -> CoreResult<()> {
        let mut user = actor.user.clone();
        if last_seen.is_some() {
            user.last_seen = last_seen;
        }
        for conversation_id in self.store.conversation_ids_of(actor.id()).await? {
            self.publish(crate::Event::Presence {
                conversation_id,
                user: user.clone(),
                is_online,
                last_seen: user.last_seen,
            })
            .await;
        }
        Ok(())
    }

    pub async fn online(&self, users: &[UserId]) -> CoreResult<Vec<bool>> {
        self.presence.online(users).await
    }
}
