//! The server API, `/api/v1/server/...`: what a Django team does today with `group_send` from
//! a view or a Celery task, called by the backend itself with `CHATWIRE_SERVER_API_KEY` as its
//! bearer token. No user's token is involved; every call acts on every node.
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chatwire_core::model::{Attachment, Message, NewMessage, Profile, User};
use chatwire_core::service::Audience;
use chatwire_core::{ConversationId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::json::Json;
use super::users::{PresenceEntry, PresenceQuery, presence_of};
use crate::auth::ServerKey;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerMessageBody {
    #[schema(pattern = r"^[^\u0000]*$")]
    pub content: String,
    /// A bot's user id: the message is an ordinary one from that user, who must be an active
    /// member. Without it the message is a system message from the system user (id 0).
    #[schema(value_type = Option<UserId>)]
    pub sender_id: Option<UserId>,
    /// Idempotency key (a retried Celery task posts once); the `Idempotency-Key` header works too.
    #[schema(pattern = r"^[^\u0000]*$")]
    pub client_key: Option<String>,
    pub attachment: Option<Attachment>,
}

/// `POST /api/v1/server/conversations/{id}/messages`: posts into a conversation as the system or
/// a bot. 201 with the message, 200 with the original when the key was used before.
#[utoipa::path(tag = "server", request_body = ServerMessageBody,
    responses((status = 201, body = Message), (status = 200, body = Message), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("server_key" = [])))]
#[post("/server/conversations/{id}/messages")]
pub async fn post_message(
    req: HttpRequest,
    _key: ServerKey,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<ServerMessageBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let msg = NewMessage {
        content: body.content,
        attachment: body.attachment,
        client_key: body.client_key.or_else(|| crate::dialects::idempotency_key(&req)),
    };
    let sent = state.service.post_from_server(*id, body.sender_id.as_ref(), msg).await;
    state.metrics.rest_send("server", &sent);
    let sent = sent?;
    Ok(crate::dialects::sent(sent.created).json(sent.message))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerEventBody {
    /// The backend's name for the event (`order.shipped`): letters, digits, `_ . : -`, at most 64.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    pub event: String,
    /// Any JSON, at most 64 KiB. Native sockets get `{"type": "server_event", "event", "data", ...}`;
    /// every other dialect's sockets get `data` itself as the frame, as its clients expect it.
    #[schema(value_type = Value)]
    pub data: serde_json::Value,
}

/// `POST /api/v1/server/conversations/{id}/events`: an ephemeral event to every member's sockets.
#[utoipa::path(tag = "server", request_body = ServerEventBody,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("server_key" = [])))]
#[post("/server/conversations/{id}/events")]
pub async fn conversation_event(
    _key: ServerKey,
    state: web::Data<AppState>,
    id: web::Path<ConversationId>,
    body: Json<ServerEventBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    state.service.server_event(Audience::Conversation(*id), &body.event, body.data).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `POST /api/v1/server/users/{id}/events`: an ephemeral event to every socket of a user.
#[utoipa::path(tag = "server", request_body = ServerEventBody,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("server_key" = [])))]
#[post("/server/users/{id}/events")]
pub async fn user_event(
    _key: ServerKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<ServerEventBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    state.service.server_event(Audience::User(user_id(&id)?), &body.event, body.data).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    #[schema(pattern = r"^[^\u0000]*$")]
    pub username: Option<String>,
    #[schema(pattern = r"^[^\u0000]*$")]
    pub email: Option<String>,
    #[schema(pattern = r"^[^\u0000]*$")]
    pub display_name: Option<String>,
}

/// `PUT /api/v1/server/users/{id}`: creates or updates a user's profile (fields left out keep
/// their value), for stock tokens that carry no username.
#[utoipa::path(tag = "server", request_body = ProfileBody,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("server_key" = [])))]
#[put("/server/users/{id}")]
pub async fn put_user(
    _key: ServerKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<ProfileBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let profile = Profile { id: None, username: body.username, email: body.email, display_name: body.display_name };
    Ok(HttpResponse::Ok().json(state.service.set_profile(user_id(&id)?, &profile).await?))
}

/// `POST /api/v1/server/users/{id}/disconnect`: closes every socket of the user on every node
/// (close code 4003 `disconnected`). Tokens still valid can connect again: revoke them at the
/// identity provider.
#[utoipa::path(tag = "server", responses((status = 202), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("server_key" = [])))]
#[post("/server/users/{id}/disconnect")]
pub async fn disconnect(_key: ServerKey, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    state.service.disconnect_user(&user_id(&id)?).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `GET /api/v1/server/presence?user_ids=1,2`: who is connected right now, on any node.
#[utoipa::path(tag = "server", operation_id = "server_presence", params(PresenceQuery),
    responses((status = 200, body = Vec<PresenceEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("server_key" = [])))]
#[get("/server/presence")]
pub async fn presence(
    _key: ServerKey,
    state: web::Data<AppState>,
    query: web::Query<PresenceQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(presence_of(&state, &query.user_ids).await?))
}

fn user_id(raw: &str) -> ApiResult<UserId> {
    raw.parse().map_err(|e| ApiError::bad_request("invalid", format!("user id: {e}")))
}
