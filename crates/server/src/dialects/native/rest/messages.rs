use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chatwire_core::model::{Attachment, Message, MessagePage, NewMessage, ReactionChange, ReactionGroup};
use chatwire_core::service::{SyncBatch, SyncCursor};
use chatwire_core::{ConversationId, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// Only messages with a smaller seq (exclusive).
    pub before: Option<i64>,
    /// Only messages with a larger seq (exclusive); pages forward from here.
    pub after: Option<i64>,
    /// At most this many (default 50, max 200).
    pub limit: Option<i64>,
}

/// `GET /api/v1/conversations/{id}/messages?before=&after=&limit=`: a page, ascending by seq.
/// With neither cursor: the newest page. With `after`: the oldest page after it.
#[utoipa::path(tag = "messages", operation_id = "list_messages", params(PageQuery), responses((status = 200, body = Vec<Message>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/conversations/{id}/messages")]
pub async fn list(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = MessagePage { before: q.before, after: q.after, limit: q.limit.unwrap_or(50) };
    Ok(HttpResponse::Ok().json(state.service.messages(&actor, *id, page).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct SendBody {
    #[schema(pattern = r"^[^\u0000]*$")]
    pub content: String,
    /// Idempotency key; the `Idempotency-Key` header works too.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub client_key: Option<String>,
    pub attachment: Option<Attachment>,
}

/// `POST /api/v1/conversations/{id}/messages`: sends. 201 with the stored message, or 200 with
/// the original when the idempotency key was used before.
#[utoipa::path(tag = "messages", request_body = SendBody, responses((status = 201, body = Message), (status = 200, body = Message), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/messages")]
pub async fn send(
    req: HttpRequest,
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<SendBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let msg = NewMessage {
        content: body.content,
        attachment: body.attachment,
        client_key: body.client_key.or_else(|| crate::dialects::idempotency_key(&req)),
    };
    let sent = state.service.send_message(&actor, *id, msg).await;
    state.metrics.rest_send("native", &sent);
    let sent = sent?;
    Ok(crate::dialects::sent(sent.created).json(sent.message))
}

/// `GET /api/v1/messages/{id}`: a message; 404 once it was deleted (history keeps its tombstone).
#[utoipa::path(tag = "messages", operation_id = "get_message", responses((status = 200, body = Message), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/messages/{id}")]
pub async fn get(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let message = state.service.message(&actor, MessageId(*id)).await?;
    // A deleted message stays in history as a tombstone (its seq holds cursors), but as a
    // resource of its own it is gone.
    if message.is_deleted() {
        return Err(chatwire_core::CoreError::NotFound("message").into());
    }
    Ok(HttpResponse::Ok().json(message))
}

#[derive(Deserialize, ToSchema)]
pub struct EditBody {
    // Not empty, nor only spaces: an edit that removes the text is a delete.
    #[schema(min_length = 1, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub content: String,
}

/// `PATCH /api/v1/messages/{id}`: edits one's own message.
#[utoipa::path(tag = "messages", request_body = EditBody, responses((status = 200, body = Message), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[patch("/messages/{id}")]
pub async fn edit(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: Json<EditBody>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.edit_message(&actor, MessageId(*id), &body.content).await?))
}

/// `DELETE /api/v1/messages/{id}`: deletes one's own message (content cleared, seq kept).
#[utoipa::path(tag = "messages", operation_id = "delete_message", responses((status = 200, body = Message), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[delete("/messages/{id}")]
pub async fn delete(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.delete_message(&actor, MessageId(*id)).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ReactBody {
    #[schema(min_length = 1, max_length = 16, pattern = r"^[^\u0000]*$")]
    pub emoji: String,
}

#[derive(Serialize, ToSchema)]
pub struct Reacted {
    pub change: ReactionChange,
    pub reactions: Vec<ReactionGroup>,
}

/// `POST /api/v1/messages/{id}/reactions`: toggles the caller's reaction.
#[utoipa::path(tag = "messages", request_body = ReactBody, responses((status = 200, body = Reacted), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/messages/{id}/reactions")]
pub async fn react(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: Json<ReactBody>,
) -> ApiResult<HttpResponse> {
    let (change, reactions, _) = state.service.toggle_reaction(&actor, MessageId(*id), &body.emoji).await?;
    Ok(HttpResponse::Ok().json(Reacted { change, reactions }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct UpTo {
    /// Up to and including this seq; omitted: everything so far.
    pub seq: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Watermark {
    /// The watermark now (unchanged if it was already there).
    pub seq: Option<i64>,
    /// Messages from others newly covered.
    pub marked: i64,
}

/// `POST /api/v1/conversations/{id}/read`: moves the caller's read watermark up.
#[utoipa::path(tag = "receipts", request_body(content = Option<UpTo>, description = "Optional: without a body, everything so far"), responses((status = 200, body = Watermark), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/read")]
pub async fn read(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let up_to = optional_json::<UpTo>(&body)?.and_then(|b| b.seq);
    let moved = state.service.mark_read(&actor, *id, up_to).await?;
    Ok(HttpResponse::Ok().json(Watermark { seq: moved.map(|m| m.seq), marked: moved.map_or(0, |m| m.covered) }))
}

/// `POST /api/v1/conversations/{id}/delivered`: moves the caller's delivery watermark up.
#[utoipa::path(tag = "receipts", request_body(content = Option<UpTo>, description = "Optional: without a body, everything so far"), responses((status = 200, body = Watermark), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/delivered")]
pub async fn delivered(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let up_to = optional_json::<UpTo>(&body)?.and_then(|b| b.seq);
    let moved = state.service.mark_delivered(&actor, *id, up_to).await?;
    Ok(HttpResponse::Ok().json(Watermark { seq: moved.map(|m| m.seq), marked: moved.map_or(0, |m| m.covered) }))
}

#[derive(Deserialize, ToSchema)]
pub struct TypingBody {
    pub is_typing: bool,
}

/// `POST /api/v1/conversations/{id}/typing`: a typing indicator that expires by itself.
#[utoipa::path(tag = "receipts", request_body = TypingBody, responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/typing")]
pub async fn typing(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<TypingBody>,
) -> ApiResult<HttpResponse> {
    state.service.typing(&actor, *id, body.is_typing).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct SyncBody {
    /// The last seq seen per conversation.
    #[serde(default)]
    pub cursors: Vec<SyncCursor>,
    /// Messages per conversation (default and max 200); `has_more` says when to ask again.
    pub limit: Option<i64>,
}

/// `POST /api/v1/sync`: what the caller missed, per conversation, after the given seqs; every
/// other visible conversation is listed with its `last_seq`.
#[utoipa::path(tag = "messages", request_body = SyncBody, responses((status = 200, body = Vec<SyncBatch>)), security(("bearer" = [])))]
#[post("/sync")]
pub async fn sync(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    body: Json<SyncBody>,
) -> ApiResult<HttpResponse> {
    let limit = body.limit.unwrap_or(state.service.limits().max_page);
    Ok(HttpResponse::Ok().json(state.service.sync(&actor, &body.cursors, limit).await?))
}

/// `GET /api/v1/conversations/{id}/typing-users`: who is typing there now (others than the caller).
#[utoipa::path(tag = "receipts", responses((status = 200, body = Vec<chatwire_core::model::User>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/conversations/{id}/typing-users")]
pub async fn typing_users(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.typing_users(&actor, *id).await?))
}

/// A body that may be left out: none (or only whitespace) is `None`; anything else must be the
/// JSON of `T`, or the request is refused.
fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<Option<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    super::json::from_slice::<Option<T>>(body).map_err(|e| ApiError::bad_request("invalid", format!("body: {e}")))
}
