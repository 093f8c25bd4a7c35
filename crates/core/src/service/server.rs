//! What the operator's own backend may do through the server API, as no user: post into a
//! conversation (as the system user or as a bot that is a member), send an ephemeral event to
//! a conversation or a user, and set a user's profile (stock tokens carry no username).
use super::ChatService;
use crate::error::{CoreError, CoreResult};
use crate::event::Event;
use crate::ids::{ConversationId, UserId};
use crate::model::{MessageKind, NewMessage, Profile, Sent, User};
use crate::validate;

/// The sender of server messages that name none: an integer id (so every dialect shows it as
/// one) that no Django project's user has, as their primary keys start at 1.
pub const SYSTEM_USER_ID: i64 = 0;

/// Who a server event is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every socket of every member.
    Conversation(ConversationId),
    /// Every socket of the user, on every node.
    User(UserId),
}

impl ChatService {
    /// Posts a message from the backend: from `sender` (who must be an active member: a bot
    /// account) as an ordinary message, or, with no sender, from the system user as a system
    /// message (never unread). Idempotent on `client_key` like every send; not rate limited.
    pub async fn post_from_server(
        &self,
        conversation: ConversationId,
        sender: Option<&UserId>,
        msg: NewMessage,
    ) -> CoreResult<Sent> {
        validate::new_message(&self.limits, &msg)?;
        let (user, kind) = match sender {
            Some(id) => (self.user(id.clone()).await?, MessageKind::Text),
            None => (self.system_user().await?, MessageKind::System),
        };
        let sent = self.store.insert_message(conversation, Some(&user), kind, &msg).await?.ok_or_else(|| {
            if sender.is_some() {
                CoreError::Forbidden("the sender is not an active member of the conversation")
            } else {
                CoreError::NotFound("conversation")
            }
        })?;
        self.publish(Event::MessageCreated { message: sent.message.clone() }).await;
        Ok(sent)
    }

    /// Publishes an ephemeral event to every socket of `to`; nothing is stored.
    pub async fn server_event(&self, to: Audience, name: &str, data: serde_json::Value) -> CoreResult<()> {
        validate::server_event(name, &data)?;
        let event = match to {
            Audience::Conversation(id) => {
                if self.store.last_seqs(&[id]).await?.is_empty() {
                    return Err(CoreError::NotFound("conversation"));
                }
                Event::ServerEvent { conversation_id: Some(id), user_id: None, event: name.to_owned(), data }
            }
            Audience::User(id) => {
                Event::ServerEvent { conversation_id: None, user_id: Some(id), event: name.to_owned(), data }
            }
        };
        self.bus.publish(&event).await
    }

    /// Creates or updates a user's profile; fields left out keep their value.
    pub async fn set_profile(&self, id: UserId, profile: &Profile) -> CoreResult<User> {
        self.store.upsert_user(&id, profile).await
    }

    async fn system_user(&self) -> CoreResult<User> {
        let profile =
            Profile { id: None, username: Some("system".into()), email: None, display_name: Some("System".into()) };
        self.store.upsert_user(&UserId::from_int(SYSTEM_USER_ID), &profile).await
    }
}
