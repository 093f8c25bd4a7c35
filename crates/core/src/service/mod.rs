//! The business rules, written once: every dialect's handlers call these and only render results.
//!
//! Each write follows the same path: authorize (membership), validate, store in Postgres, then
//! publish one event. A publish failure is logged, not returned: the write is durable and
//! clients catch up from Postgres (see docs/architecture.md).
mod conversations;
mod messages;
mod receipts;
mod server;
mod users;

use std::sync::Arc;

use crate::error::{CoreError, CoreResult};
use crate::event::Event;
use crate::ids::{ConversationId, UserId};
use crate::model::{MemberState, User};
use crate::ports::{Bus, Membership, Presence, Store};
use crate::rate::SendRate;
use crate::validate::Limits;

pub use conversations::RequestAction;
pub use messages::{Requests, SyncBatch, SyncCursor};
pub use server::{Audience, SYSTEM_USER_ID};

/// The authenticated user a command runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: User,
}

impl Actor {
    pub fn id(&self) -> &UserId {
        &self.user.id
    }
}

#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    presence: Arc<dyn Presence>,
    limits: Limits,
    send_rate: Arc<SendRate>,
}

impl ChatService {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, presence: Arc<dyn Presence>, limits: Limits) -> Self {
        let send_rate = Arc::new(SendRate::new(limits.send_rate, limits.send_burst));
        ChatService { store, bus, presence, limits, send_rate }
    }

    /// Drops rate-limit state of users who have been quiet; run now and then.
    pub fn prune_rate_limits(&self) {
        self.send_rate.prune();
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    async fn publish(&self, event: Event) {
        if let Err(err) = self.bus.publish(&event).await {
            tracing::warn!(%err, channel = %event.channel(), "publish failed; clients will catch up from the store");
        }
    }

    /// The actor's standing in a conversation; not-found for non-members so they learn nothing.
    async fn member_of(&self, actor: &Actor, conversation: ConversationId) -> CoreResult<Membership> {
        match self.store.membership(conversation, actor.id()).await? {
            Some(m) if m.state != MemberState::Declined => Ok(m),
            _ => Err(CoreError::NotFound("conversation")),
        }
    }

    /// Like [`Self::member_of`], for writes: a pending member (an unanswered request) may not post.
    async fn active_member_of(&self, actor: &Actor, conversation: ConversationId) -> CoreResult<Membership> {
        let m = self.member_of(actor, conversation).await?;
        if m.state == MemberState::Pending {
            return Err(CoreError::Forbidden("accept the message request first"));
        }
        Ok(m)
    }
}
