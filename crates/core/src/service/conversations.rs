use super::{Actor, ChatService};
use crate::error::{CoreError, CoreResult};
use crate::event::Event;
use crate::ids::{ConversationId, UserId};
use crate::model::{Conversation, ConversationKind, ConversationView, MemberState, User};
use crate::ports::ListFilter;
use crate::validate;

/// What a member may do with a message request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestAction {
    Accept,
    Decline,
}

impl ChatService {
    pub async fn list_conversations(&self, actor: &Actor, filter: ListFilter) -> CoreResult<Vec<ConversationView>> {
        self.store.list_conversations(actor.id(), filter).await
    }

    pub async fn conversation(&self, actor: &Actor, id: ConversationId) -> CoreResult<ConversationView> {
        match self.store.conversation_view(id, actor.id()).await? {
            Some(view) if view.member(actor.id()).is_some_and(|m| m.state != MemberState::Declined) => Ok(view),
            _ => Err(CoreError::NotFound("conversation")),
        }
    }

    /// The conversation a UUID names: the UUID name of its integer id ([`ConversationId::uuid`]),
    /// or the id it had before ids became integers. Not-found for any other UUID.
    pub async fn conversation_by_uuid(&self, uuid: uuid::Uuid) -> CoreResult<ConversationId> {
        if let Some(id) = ConversationId::from_uuid(uuid) {
            return Ok(id);
        }
        self.store.conversation_by_legacy_uuid(uuid).await?.ok_or(CoreError::NotFound("conversation"))
    }

    /// Gets or creates the DM between the actor and `other`. With `as_request`, a newly created DM
    /// is a message request for `other` (pending until accepted).
    pub async fn open_dm(&self, actor: &Actor, other: UserId, as_request: bool) -> CoreResult<ConversationView> {
        if other == *actor.id() {
            return Err(CoreError::invalid("user_id", "cannot start a conversation with yourself"));
        }
        if self.store.get_user(&other).await?.is_none() {
            return Err(CoreError::NotFound("user"));
        }
        let other_state = if as_request { MemberState::Pending } else { MemberState::Active };
        let (conversation, created) = self.store.get_or_create_dm(actor.id(), &other, other_state).await?;
        if created {
            self.joined(&conversation, actor.id().clone(), MemberState::Active).await;
            self.joined(&conversation, other, other_state).await;
        }
        self.conversation(actor, conversation.id).await
    }

    /// The existing DM between the actor and `other` (never creates one).
    pub async fn dm_with(&self, actor: &Actor, other: UserId) -> CoreResult<ConversationId> {
        let id = self.store.find_dm(actor.id(), &other).await?.ok_or(CoreError::NotFound("conversation"))?;
        self.member_of(actor, id).await?;
        Ok(id)
    }

    pub async fn create_group(&self, actor: &Actor, title: &str, members: &[UserId]) -> CoreResult<ConversationView> {
        validate::title(&self.limits, title)?;
        let mut ids: Vec<UserId> = members.iter().filter(|id| *id != actor.id()).cloned().collect();
        ids.sort();
        ids.dedup();
        if ids.len() + 1 > self.limits.max_group_members {
            return Err(CoreError::invalid("member_ids", format!("at most {} members", self.limits.max_group_members)));
        }
        let known = self.store.get_users(&ids).await?;
        if known.len() != ids.len() {
            return Err(CoreError::invalid("member_ids", "unknown user"));
        }
        let conversation = self.store.create_group(actor.id(), title, &ids).await?;
        self.joined(&conversation, actor.id().clone(), MemberState::Active).await;
        for id in ids {
            self.joined(&conversation, id, MemberState::Active).await;
        }
        self.note(conversation.id, actor, format!("{} created the group", name(&actor.user))).await;
        self.conversation(actor, conversation.id).await
    }

    pub async fn rename(&self, actor: &Actor, id: ConversationId, title: &str) -> CoreResult<Conversation> {
        validate::title(&self.limits, title)?;
        let m = self.active_member_of(actor, id).await?;
        if m.conversation.kind == ConversationKind::Group && !m.role.is_admin() {
            return Err(CoreError::Forbidden("only admins can rename a group"));
        }
        let conversation = self.store.set_title(id, title).await?;
        self.publish(Event::ConversationUpdated { conversation: conversation.clone() }).await;
        if conversation.kind == ConversationKind::Group {
            self.note(id, actor, format!("{} renamed the group to \u{201c}{title}\u{201d}", name(&actor.user))).await;
        }
        Ok(conversation)
    }

    /// Adds users to a group (admins only); returns those who were not members yet.
    pub async fn add_members(&self, actor: &Actor, id: ConversationId, users: &[UserId]) -> CoreResult<Vec<UserId>> {
        let m = self.active_member_of(actor, id).await?;
        if m.conversation.kind != ConversationKind::Group {
            return Err(CoreError::invalid("conversation", "members can only be added to a group"));
        }
        if !m.role.is_admin() {
            return Err(CoreError::Forbidden("only admins can add members"));
        }
        let mut ids = users.to_vec();
        ids.sort();
        ids.dedup();
        let members = self.store.member_ids(id).await?;
        ids.retain(|u| !members.contains(u));
        if members.len() + ids.len() > self.limits.max_group_members {
            return Err(CoreError::invalid(
                "user_ids",
                format!("a group has at most {} members", self.limits.max_group_members),
            ));
        }
        let known = self.store.get_users(&ids).await?;
        if known.len() != ids.len() {
            return Err(CoreError::invalid("user_ids", "unknown user"));
        }
        let added = self.store.add_members(id, &ids).await?;
        for user in known.into_iter().filter(|u| added.contains(&u.id)) {
            self.joined(&m.conversation, user.id.clone(), MemberState::Active).await;
            let note = format!("{} added {}", name(&actor.user), name(&user));
            self.publish(Event::MemberAdded { conversation_id: id, user, by: Some(actor.id().clone()) }).await;
            self.note(id, actor, note).await;
        }
        Ok(added)
    }

    /// Removes a member from a group: admins may remove anyone, anyone may remove themselves.
    pub async fn remove_member(&self, actor: &Actor, id: ConversationId, user: UserId) -> CoreResult<()> {
        let m = self.member_of(actor, id).await?;
        if m.conversation.kind != ConversationKind::Group {
            return Err(CoreError::invalid("conversation", "members can only be removed from a group"));
        }
        if user != *actor.id() && !m.role.is_admin() {
            return Err(CoreError::Forbidden("only admins can remove members"));
        }
        let removed = self.store.get_user(&user).await?;
        if !self.store.remove_member(id, &user).await? {
            return Err(CoreError::NotFound("member"));
        }
        self.publish(Event::MemberRemoved { conversation_id: id, user_id: user.clone(), by: Some(actor.id().clone()) })
            .await;
        let leaving = user == *actor.id();
        self.publish(Event::ConversationLeft { user_id: user, conversation_id: id }).await;
        let note = match removed {
            _ if leaving => format!("{} left", name(&actor.user)),
            Some(removed) => format!("{} removed {}", name(&actor.user), name(&removed)),
            None => format!("{} removed a member", name(&actor.user)),
        };
        self.note(id, actor, note).await;
        Ok(())
    }

    pub async fn leave(&self, actor: &Actor, id: ConversationId) -> CoreResult<()> {
        self.remove_member(actor, id, actor.id().clone()).await
    }

    /// Deletes a conversation for everyone: a group's admins, or either side of a DM.
    pub async fn delete_conversation(&self, actor: &Actor, id: ConversationId) -> CoreResult<()> {
        let m = self.member_of(actor, id).await?;
        if m.conversation.kind == ConversationKind::Group && !m.role.is_admin() {
            return Err(CoreError::Forbidden("only admins can delete a group"));
        }
        let members = self.store.member_ids(id).await?;
        self.store.delete_conversation(id).await?;
        self.publish(Event::ConversationDeleted { conversation_id: id }).await;
        for user_id in members {
            self.publish(Event::ConversationLeft { user_id, conversation_id: id }).await;
        }
        Ok(())
    }

    /// Answers a message request (the actor is the pending member).
    pub async fn answer_request(&self, actor: &Actor, id: ConversationId, action: RequestAction) -> CoreResult<()> {
        let m = self.member_of(actor, id).await?;
        let state = match action {
            RequestAction::Accept => MemberState::Active,
            RequestAction::Decline => MemberState::Declined,
        };
        if m.state == state {
            return Ok(());
        }
        self.store.set_member_state(id, actor.id(), state).await?;
        self.publish(Event::MemberStateChanged { conversation_id: id, user_id: actor.id().clone(), state }).await;
        if state == MemberState::Declined {
            self.publish(Event::ConversationLeft { user_id: actor.id().clone(), conversation_id: id }).await;
        }
        Ok(())
    }

    /// Writes a group's system message ("alice added bob"). The change itself is already done,
    /// so a failure here is logged, not returned.
    async fn note(&self, conversation: ConversationId, by: &Actor, text: String) {
        if let Err(err) = self.post_system_message(conversation, by, &text).await {
            tracing::warn!(%err, %conversation, "could not write a system message");
        }
    }

    async fn joined(&self, conversation: &Conversation, user_id: UserId, state: MemberState) {
        self.publish(Event::ConversationJoined { user_id, conversation: conversation.clone(), state }).await;
    }
}

/// How system messages name a user (the display name is never empty, see [`User::shown_name`]).
fn name(user: &User) -> &str {
    &user.display_name
}
