use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Actor, ChatService};
use crate::error::{CoreError, CoreResult};
use crate::event::Event;
use crate::ids::{ConversationId, MessageId};
use crate::model::{MemberState, Message, MessageKind, MessagePage, NewMessage, ReactionChange, ReactionGroup, Sent};
use crate::service::RequestAction;
use crate::validate;

/// "I have seen conversation C up to seq N": what a reconnecting client sends to resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncCursor {
    pub conversation_id: ConversationId,
    pub seq: i64,
}

/// Whether sending in a message request waiting for the sender accepts it: a dialect with
/// message requests makes its users accept first; one without them shows a request as an
/// ordinary conversation, so replying accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requests {
    MustAccept,
    ReplyAccepts,
}

/// One conversation's part of a resume: what the client missed, in seq order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncBatch {
    pub conversation_id: ConversationId,
    pub last_seq: i64,
    pub messages: Vec<Message>,
    /// More than one batch's worth was missed: ask again from the last message's seq.
    pub has_more: bool,
}

impl ChatService {
    /// Sends a message; a retry with the same client key returns the original (and publishes it again).
    pub async fn send_message(&self, actor: &Actor, conversation: ConversationId, msg: NewMessage) -> CoreResult<Sent> {
        self.send(actor, conversation, msg, Requests::MustAccept).await
    }

    /// For dialects that have no message requests: their users see a request as an ordinary
    /// conversation, so replying to it accepts it.
    pub async fn send_message_accepting(
        &self,
        actor: &Actor,
        conversation: ConversationId,
        msg: NewMessage,
    ) -> CoreResult<Sent> {
        self.send(actor, conversation, msg, Requests::ReplyAccepts).await
    }

    /// Sends a message under the given request policy (see [`Requests`]).
    pub async fn send(
        &self,
        actor: &Actor,
        conversation: ConversationId,
        msg: NewMessage,
        requests: Requests,
    ) -> CoreResult<Sent> {
        validate::new_message(&self.limits, &msg)?;
        self.send_rate.check(actor.id()).map_err(|retry_after| CoreError::RateLimited { retry_after })?;
        let mut sent = self.store.insert_message(conversation, Some(&actor.user), MessageKind::Text, &msg).await?;
        if sent.is_none() {
            // Tell a pending member (unanswered request) apart from a stranger without leaking existence.
            let membership = self.member_of(actor, conversation).await?;
            if membership.state != MemberState::Pending || requests == Requests::MustAccept {
                self.active_member_of(actor, conversation).await?;
                return Err(CoreError::NotFound("conversation"));
            }
            self.answer_request(actor, conversation, RequestAction::Accept).await?;
            sent = self.store.insert_message(conversation, Some(&actor.user), MessageKind::Text, &msg).await?;
        }
        let Some(sent) = sent else { return Err(CoreError::NotFound("conversation")) };
        // A retry publishes again: if the node that stored the original died before publishing
        // it, this is how it reaches the other members (sockets drop a message they already have).
        self.publish(Event::MessageCreated { message: sent.message.clone() }).await;
        Ok(sent)
    }

    /// Writes a group's record of a change ("alice added bob") into its history. Its sender is the
    /// member who made the change, so every client can render it as a message from someone;
    /// `kind` tells it apart, and it never counts as unread.
    pub async fn post_system_message(
        &self,
        conversation: ConversationId,
        by: &Actor,
        content: &str,
    ) -> CoreResult<Message> {
        let msg = NewMessage { content: content.to_owned(), ..NewMessage::default() };
        let sent = self
            .store
            .insert_message(conversation, Some(&by.user), MessageKind::System, &msg)
            .await?
            .ok_or(CoreError::NotFound("conversation"))?;
        self.publish(Event::MessageCreated { message: sent.message.clone() }).await;
        Ok(sent.message)
    }

    /// A page of messages in ascending seq order.
    pub async fn messages(
        &self,
        actor: &Actor,
        conversation: ConversationId,
        page: MessagePage,
    ) -> CoreResult<Vec<Message>> {
        self.member_of(actor, conversation).await?;
        let page = MessagePage { limit: page.limit.clamp(1, self.limits.max_page), ..page };
        self.store.list_messages(conversation, page).await
    }

    /// The newest `cap` messages of a conversation, oldest first (for APIs that return "all").
    pub async fn history(&self, actor: &Actor, conversation: ConversationId, cap: i64) -> CoreResult<Vec<Message>> {
        self.member_of(actor, conversation).await?;
        let mut out: Vec<Message> = Vec::new();
        let mut before = None;
        while (out.len() as i64) < cap {
            let limit = (cap - out.len() as i64).min(self.limits.max_page);
            let page = self.store.list_messages(conversation, MessagePage { before, after: None, limit }).await?;
            let Some(first) = page.first() else { break };
            before = Some(first.seq);
            let full = page.len() as i64 == limit;
            out.splice(0..0, page);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    pub async fn message_count(&self, actor: &Actor, conversation: ConversationId) -> CoreResult<i64> {
        self.member_of(actor, conversation).await?;
        self.store.count_messages(conversation).await
    }

    /// One message, if the actor may see its conversation.
    pub async fn message(&self, actor: &Actor, id: MessageId) -> CoreResult<Message> {
        let message = self.store.get_message(id).await?.ok_or(CoreError::NotFound("message"))?;
        self.member_of(actor, message.conversation_id).await.map_err(|_| CoreError::NotFound("message"))?;
        Ok(message)
    }

    /// Edits the actor's own message.
    pub async fn edit_message(&self, actor: &Actor, id: MessageId, content: &str) -> CoreResult<Message> {
        validate::message_content(&self.limits, content, false)?;
        let original = self.own_message(actor, id).await?;
        if original.is_deleted() {
            return Err(CoreError::invalid("message", "a deleted message cannot be edited"));
        }
        let message = self.store.edit_message(id, content).await?;
        self.publish(Event::MessageEdited { message: message.clone() }).await;
        Ok(message)
    }

    /// Deletes (unsends) the actor's own message: content cleared, row and seq kept.
    pub async fn delete_message(&self, actor: &Actor, id: MessageId) -> CoreResult<Message> {
        let original = self.own_message(actor, id).await?;
        if original.is_deleted() {
            return Ok(original);
        }
        let message = self.store.delete_message(id).await?;
        self.publish(Event::MessageDeleted { message: message.clone() }).await;
        Ok(message)
    }

    async fn own_message(&self, actor: &Actor, id: MessageId) -> CoreResult<Message> {
        let message = self.message(actor, id).await?;
        if message.sender_id() != Some(actor.id()) {
            return Err(CoreError::Forbidden("you can only change your own messages"));
        }
        Ok(message)
    }

    /// Adds the reaction, or removes it if the actor already reacted with that emoji.
    pub async fn toggle_reaction(
        &self,
        actor: &Actor,
        id: MessageId,
        emoji: &str,
    ) -> CoreResult<(ReactionChange, Vec<ReactionGroup>, Message)> {
        validate::emoji(emoji)?;
        let message = self.message(actor, id).await?;
        if message.is_deleted() {
            return Err(CoreError::invalid("message", "a deleted message cannot be reacted to"));
        }
        let (change, reactions) = self.store.toggle_reaction(id, actor.id(), emoji).await?;
        self.publish(Event::ReactionChanged {
            conversation_id: message.conversation_id,
            message_id: id,
            user_id: actor.id().clone(),
            emoji: emoji.to_owned(),
            change,
            reactions: reactions.clone(),
        })
        .await;
        Ok((change, reactions, message))
    }

    /// The newest seq of each of these conversations (a node's sweep for messages that never
    /// came live).
    pub async fn newest_seqs(&self, conversations: &[ConversationId]) -> CoreResult<Vec<(ConversationId, i64)>> {
        self.store.last_seqs(conversations).await
    }

    /// Each conversation the actor can see with its newest seq: where a socket starts owing.
    pub async fn last_seqs(&self, actor: &Actor) -> CoreResult<Vec<(ConversationId, i64)>> {
        self.store.last_seqs_of(actor.id()).await
    }

    /// What the actor missed: for each cursor, messages after its seq (bounded per conversation),
    /// and for every other visible conversation its `last_seq` so the client knows to fetch it.
    /// At most `Limits::max_cursors` cursors; cursors of conversations the actor cannot see are
    /// ignored.
    pub async fn sync(
        &self,
        actor: &Actor,
        cursors: &[SyncCursor],
        per_conversation: i64,
    ) -> CoreResult<Vec<SyncBatch>> {
        if cursors.len() > self.limits.max_cursors {
            return Err(CoreError::invalid("cursors", format!("at most {} cursors", self.limits.max_cursors)));
        }
        let limit = per_conversation.clamp(1, self.limits.max_page);
        // Reconnect storms (a node died) make this hot: one light query, then only what was missed.
        let seen: HashMap<ConversationId, i64> = cursors.iter().map(|c| (c.conversation_id, c.seq)).collect();
        let conversations = self.store.last_seqs_of(actor.id()).await?;
        let mut batches = Vec::with_capacity(conversations.len());
        for (id, last_seq) in conversations {
            let mut batch = SyncBatch { conversation_id: id, last_seq, messages: Vec::new(), has_more: false };
            if let Some(&after) = seen.get(&id)
                && after < last_seq
            {
                let page = MessagePage { before: None, after: Some(after), limit };
                batch.messages = self.store.list_messages(id, page).await?;
                batch.has_more = batch.messages.last().is_some_and(|m| m.seq < last_seq);
            }
            batches.push(batch);
        }
        Ok(batches)
    }
}
