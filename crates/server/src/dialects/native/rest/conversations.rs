use actix_web::{HttpResponse, delete, get, patch, post, web};
use chatwire_core::model::{Conversation, ConversationView};
use chatwire_core::ports::ListFilter;
use chatwire_core::service::RequestAction;
use chatwire_core::{ConversationId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json::Json;
use crate::auth::Authenticated;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `all` (default: active and requests), `active`, or `requests`.
    #[param(inline)]
    pub filter: Option<ListFilterParam>,
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListFilterParam {
    All,
    Active,
    Requests,
}

/// `GET /api/v1/conversations`: the caller's conversations, newest activity first, each with its
/// members, last message and unread count.
#[utoipa::path(tag = "conversations", operation_id = "list_conversations", params(ListQuery), responses((status = 200, body = Vec<ConversationView>)), security(("bearer" = [])))]
#[get("/conversations")]
pub async fn list(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let filter = match query.filter {
        None | Some(ListFilterParam::All) => ListFilter::Visible,
        Some(ListFilterParam::Active) => ListFilter::Active,
        Some(ListFilterParam::Requests) => ListFilter::Pending,
    };
    Ok(HttpResponse::Ok().json(state.service.list_conversations(&actor, filter).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct OpenDm {
    pub user_id: UserId,
    /// Make a new DM a message request the other user must accept.
    #[serde(default)]
    pub as_request: bool,
}

/// `POST /api/v1/conversations/dm`: gets or creates the DM with `user_id` (one per pair, race-free).
#[utoipa::path(tag = "conversations", request_body = OpenDm, responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/dm")]
pub async fn open_dm(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    body: Json<OpenDm>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.open_dm(&actor, body.user_id.clone(), body.as_request).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewGroup {
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$")]
    pub title: String,
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

/// `POST /api/v1/conversations/groups`: creates a group; the caller is its owner.
#[utoipa::path(tag = "conversations", request_body = NewGroup, responses((status = 201, body = ConversationView), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/groups")]
pub async fn create_group(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    body: Json<NewGroup>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(state.service.create_group(&actor, &body.title, &body.member_ids).await?))
}

/// `GET /api/v1/conversations/{id}`.
#[utoipa::path(tag = "conversations", operation_id = "get_conversation", responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[get("/conversations/{id}")]
pub async fn get(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.conversation(&actor, *id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct Rename {
    #[schema(pattern = r"^[^\u0000]*$")]
    pub title: String,
}

/// `PATCH /api/v1/conversations/{id}`: renames (group admins; either side of a DM).
#[utoipa::path(tag = "conversations", request_body = Rename, responses((status = 200, body = Conversation), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[patch("/conversations/{id}")]
pub async fn rename(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<Rename>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.service.rename(&actor, *id, &body.title).await?))
}

/// `DELETE /api/v1/conversations/{id}`: deletes it for everyone (group admins; either side of a DM).
#[utoipa::path(tag = "conversations", operation_id = "delete_conversation", responses((status = 204), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[delete("/conversations/{id}")]
pub async fn delete(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
) -> ApiResult<HttpResponse> {
    state.service.delete_conversation(&actor, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct AddMembers {
    pub user_ids: Vec<UserId>,
}

#[derive(Serialize, ToSchema)]
pub struct Added {
    pub added: Vec<UserId>,
}

/// `POST /api/v1/conversations/{id}/members`: adds users to a group (admins).
#[utoipa::path(tag = "conversations", request_body = AddMembers, responses((status = 200, body = Added), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/members")]
pub async fn add_members(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<AddMembers>,
) -> ApiResult<HttpResponse> {
    let added = state.service.add_members(&actor, *id, &body.user_ids).await?;
    Ok(HttpResponse::Ok().json(Added { added }))
}

/// `DELETE /api/v1/conversations/{id}/members/{user_id}`: removes a member (admins, or oneself).
#[utoipa::path(tag = "conversations", responses((status = 204), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[delete("/conversations/{id}/members/{user_id}")]
pub async fn remove_member(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(ConversationId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, user) = path.into_inner();
    state.service.remove_member(&actor, id, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/conversations/{id}/leave`.
#[utoipa::path(tag = "conversations", responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/leave")]
pub async fn leave(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
) -> ApiResult<HttpResponse> {
    state.service.leave(&actor, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct Answer {
    pub action: AnswerAction,
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerAction {
    Accept,
    Decline,
}

/// `POST /api/v1/conversations/{id}/request`: accepts or declines a message request.
#[utoipa::path(tag = "conversations", request_body = Answer, responses((status = 204), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
#[post("/conversations/{id}/request")]
pub async fn answer_request(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<Answer>,
) -> ApiResult<HttpResponse> {
    let action = match body.action {
        AnswerAction::Accept => RequestAction::Accept,
        AnswerAction::Decline => RequestAction::Decline,
    };
    state.service.answer_request(&actor, *id, action).await?;
    Ok(HttpResponse::NoContent().finish())
}
