//! `spherespace` REST (specs/000) under `/api/`: conversations, messages, message requests,
//! unsend, unread count. Conversations and messages are named by UUID, as upstream. Errors as
//! the upstream views write them, `{"error": "..."}` (with the same text under `detail`, for
//! clients that read DRF's key); authentication failures in DRF's own `{"detail": "..."}`.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_core::model::NewMessage;
use chatwire_core::ports::ListFilter;
use chatwire_core::service::RequestAction;
use chatwire_core::{ConversationId, CoreError, MessageId};
use chatwire_protocol::spherespace::{IdRef, MessageOut, conversation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::drf::{self, Refusal};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/conversations/", web::get().to(list))
        .route("/api/conversations/", web::post().to(start))
        .route("/api/conversations/{id}/messages/", web::get().to(messages))
        .route("/api/conversations/{id}/messages/", web::post().to(send))
        .route("/api/conversations/{id}/action/", web::post().to(conversation_action))
        .route("/api/messages/{id}/action/", web::post().to(message_action))
        .route("/api/message-requests/", web::get().to(requests))
        .route("/api/unread-count/", web::get().to(unread_count));
}

type Answer = Result<HttpResponse, Refusal>;

/// `{"error": message}` with `status`, the upstream views' shape.
fn fail(status: StatusCode, message: impl Into<String>) -> Refusal {
    let message = message.into();
    Refusal { retry_after: None, status, body: json!({ "error": message, "detail": message }) }
}

/// A refusal of the core, in the upstream views' words where the real client shows them.
fn refusal(err: CoreError) -> Refusal {
    match err {
        CoreError::NotFound("user") => fail(StatusCode::NOT_FOUND, "User not found"),
        CoreError::NotFound("message") => fail(StatusCode::NOT_FOUND, "Message not found"),
        CoreError::NotFound(_) => fail(StatusCode::NOT_FOUND, "Conversation not found"),
        CoreError::Invalid { field: "user_id", .. } => fail(StatusCode::BAD_REQUEST, "Cannot message yourself"),
        CoreError::Invalid { field: "content", .. } => fail(StatusCode::BAD_REQUEST, "Message cannot be empty"),
        CoreError::Forbidden(reason) => fail(StatusCode::FORBIDDEN, reason),
        CoreError::Conflict(reason) => fail(StatusCode::CONFLICT, reason),
        CoreError::RateLimited { .. } | CoreError::Overloaded { .. } => drf::core(err),
        CoreError::Invalid { .. } | CoreError::TooLong { .. } => fail(StatusCode::BAD_REQUEST, err.to_string()),
        // Outages and internal errors keep their status and logging.
        other => drf::core(other),
    }
}

fn core<T>(r: Result<T, CoreError>) -> Result<T, Refusal> {
    r.map_err(refusal)
}

/// The conversation a path names: its UUID (or an id from before ids were integers), or
/// chatwire's integer id. A malformed id names nothing: the same 404 as a missing one.
async fn conversation_id(state: &AppState, raw: &str) -> Result<ConversationId, Refusal> {
    match IdRef::parse(raw) {
        Some(IdRef::Int(n)) => Ok(ConversationId(n)),
        Some(IdRef::Uuid(uuid)) => core(state.service.conversation_by_uuid(uuid).await),
        None => Err(refusal(CoreError::NotFound("conversation"))),
    }
}

fn message_id(raw: &str) -> Result<MessageId, Refusal> {
    IdRef::parse(raw).and_then(IdRef::message).ok_or_else(|| refusal(CoreError::NotFound("message")))
}

/// The body as JSON, a urlencoded form or multipart `FormData` (see `drf::body`).
async fn body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, Refusal> {
    crate::drf::body::read(req, payload).await.map_err(|e| match e {
        crate::drf::body::BodyError::Invalid(message) => fail(StatusCode::BAD_REQUEST, message),
        too_large => drf::body_error(too_large),
    })
}

/// `GET /api/conversations/`: the caller's conversations (message requests are listed apart).
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let views = core(state.service.list_conversations(&actor, ListFilter::Active).await)?;
    Ok(HttpResponse::Ok().json(views.iter().map(|v| conversation(v, actor.id())).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct Start {
    #[serde(default)]
    username: Option<String>,
}

/// `POST /api/conversations/` `{"username"}`: gets or starts the DM; a new one is a message
/// request until the other user accepts it.
async fn start(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let Start { username } = body(&req, payload).await?;
    let Some(username) = username.filter(|u| !u.trim().is_empty()) else {
        return Err(fail(StatusCode::BAD_REQUEST, "Username is required"));
    };
    let svc = &state.service;
    let other = core(svc.user_by_username(&username).await)?;
    let view = core(svc.open_dm(&actor, other.id, true).await)?;
    Ok(HttpResponse::Created().json(conversation(&view, actor.id())))
}

/// `GET /api/conversations/<id>/messages/`: the newest 1,000 messages, oldest first.
async fn messages(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id = conversation_id(&state, &id).await?;
    let history = core(state.service.history(&actor, id, state.service.limits().max_history).await)?;
    Ok(HttpResponse::Ok().json(history.iter().map(MessageOut::from).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    content: String,
}

/// `POST /api/conversations/<id>/messages/` with `content` as form data or JSON.
async fn send(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id = conversation_id(&state, &id).await?;
    let Content { content } = body(&req, payload).await?;
    let msg = NewMessage { content, client_key: crate::dialects::idempotency_key(&req), ..NewMessage::default() };
    let sent = state.service.send_message(&actor, id, msg).await;
    state.metrics.rest_send("spherespace", &sent);
    let sent = core(sent)?;
    Ok(crate::dialects::sent(sent.created).json(MessageOut::from(&sent.message)))
}

#[derive(Deserialize)]
struct Action {
    #[serde(default)]
    action: String,
}

/// `POST /api/conversations/<id>/action/` `{"action": "accept" | "decline" | "delete"}`.
async fn conversation_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id = conversation_id(&state, &id).await?;
    let Action { action } = body(&req, payload).await?;
    let svc = &state.service;
    let (status, detail) = match action.as_str() {
        "accept" => core(svc.answer_request(&actor, id, RequestAction::Accept).await)
            .map(|_| ("accepted", "Request accepted"))?,
        "decline" => core(svc.answer_request(&actor, id, RequestAction::Decline).await)
            .map(|_| ("declined", "Request declined"))?,
        "delete" => core(svc.delete_conversation(&actor, id).await).map(|_| ("deleted", "Conversation deleted"))?,
        _ => return Err(fail(StatusCode::BAD_REQUEST, "Invalid action")),
    };
    Ok(HttpResponse::Ok().json(json!({ "detail": detail, "status": status })))
}

/// `POST /api/messages/<id>/action/` `{"action": "unsend"}`: unsends one's own message.
async fn message_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id = message_id(&id)?;
    let Action { action } = body(&req, payload).await?;
    if action != "unsend" {
        return Err(fail(StatusCode::BAD_REQUEST, "Invalid action"));
    }
    let message = core(state.service.delete_message(&actor, id).await)?;
    Ok(HttpResponse::Ok()
        .json(json!({ "detail": "Message unsent", "status": "unsent", "message": MessageOut::from(&message) })))
}

/// `GET /api/message-requests/`: DMs waiting for the caller to accept or decline.
async fn requests(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let views = core(state.service.list_conversations(&actor, ListFilter::Pending).await)?;
    Ok(HttpResponse::Ok().json(views.iter().map(|v| conversation(v, actor.id())).collect::<Vec<_>>()))
}

/// `GET /api/unread-count/`: unread messages across conversations and requests.
async fn unread_count(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let n = core(state.service.unread_total(&actor).await)?;
    Ok(HttpResponse::Ok().json(json!({ "unread_count": n })))
}
