use chrono::Utc;

use super::{Actor, ChatService};
use crate::error::CoreResult;
use crate::event::Event;
use crate::ids::ConversationId;
use crate::ports::WatermarkMove;

impl ChatService {
    /// Moves the actor's read watermark up to `up_to` (default: everything). Returns the move, if any.
    pub async fn mark_read(
        &self,
        actor: &Actor,
        conversation: ConversationId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        self.member_of(actor, conversation).await?;
        let moved = self.store.mark_read(conversation, actor.id(), up_to).await?;
        if let Some(m) = moved {
            self.publish(Event::Read {
                conversation_id: conversation,
                user: actor.user.clone(),
                seq: m.seq,
                covered: m.covered,
                at: m.at,
            })
            .await;
        }
        Ok(moved)
    }

    pub async fn mark_delivered(
        &self,
        actor: &Actor,
        conversation: ConversationId,
        up_to: Option<i64>,
    ) -> CoreResult<Option<WatermarkMove>> {
        self.member_of(actor, conversation).await?;
        let moved = self.store.mark_delivered(conversation, actor.id(), up_to).await?;
        if let Some(m) = moved {
            self.publish(Event::Delivered {
                conversation_id: conversation,
                user: actor.user.clone(),
                seq: m.seq,
                at: m.at,
            })
            .await;
        }
        Ok(moved)
    }

    pub async fn unread_total(&self, actor: &Actor) -> CoreResult<i64> {
        self.store.unread_total(actor.id()).await
    }

    /// Typing is ephemeral: kept in presence with a short TTL and published, never stored.
    pub async fn typing(&self, actor: &Actor, conversation: ConversationId, is_typing: bool) -> CoreResult<()> {
        self.active_member_of(actor, conversation).await?;
        self.presence.set_typing(conversation, actor.id(), is_typing).await?;
        self.publish(Event::Typing {
            conversation_id: conversation,
            user: actor.user.clone(),
            is_typing,
            at: Utc::now(),
        })
        .await;
        Ok(())
    }

    pub async fn typing_users(
        &self,
        actor: &Actor,
        conversation: ConversationId,
    ) -> CoreResult<Vec<crate::model::User>> {
        self.member_of(actor, conversation).await?;
        let ids = self.presence.typing(conversation).await?;
        let ids: Vec<_> = ids.into_iter().filter(|id| id != actor.id()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.store.get_users(&ids).await
    }

    /// Asks every connected client of the conversation to report it is alive.
    pub async fn health_check(&self, actor: &Actor, conversation: ConversationId) -> CoreResult<()> {
        self.member_of(actor, conversation).await?;
        self.publish(Event::HealthCheck { conversation_id: conversation, requested_by: actor.id().clone() }).await;
        Ok(())
    }

    /// Messages created since `since` across the given conversations of the actor.
    pub async fn messages_since(
        &self,
        actor: &Actor,
        conversations: &[ConversationId],
        since: chrono::DateTime<Utc>,
    ) -> CoreResult<i64> {
        let mine: Vec<ConversationId> = self.store.conversation_ids_of(actor.id()).await?;
        let allowed: Vec<ConversationId> = conversations.iter().copied().filter(|c| mine.contains(c)).collect();
        self.store.count_messages_since(&allowed, since).await
    }
}
