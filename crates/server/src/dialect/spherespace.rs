//! `spherespace` REST (specs/000) under `/api/`: conversations, messages, message requests,
//! unsend, unread count. Errors in Django REST framework's `{"detail": "..."}` shape.
use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_core::model::NewMessage;
use chatwire_core::ports::ListFilter;
use chatwire_core::service::RequestAction;
use chatwire_core::{ConversationId, CoreError, MessageId};
use chatwire_protocol::spherespace::{MessageOut, conversation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::drf::{self, Refusal, bad_request};
use crate::state::AppState;

const HISTORY_CAP: i64 = 1000;

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

fn core<T>(r: Result<T, CoreError>) -> Result<T, Refusal> {
    r.map_err(drf::core)
}

fn path_id<T: std::str::FromStr>(raw: &str) -> Result<T, Refusal> {
    // A malformed id names nothing: the same 404 as a missing one.
    raw.parse().map_err(|_| drf::not_found())
}

/// The body as JSON, a urlencoded form or multipart `FormData` (see `dialect::body`).
async fn body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, Refusal> {
    super::body::read(req, payload).await.map_err(drf::body_error)
}

/// `GET /api/conversations/`: the caller's conversations (message requests are listed apart).
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let views = core(state.service.list_conversations(&actor, ListFilter::Active).await)?;
    Ok(HttpResponse::Ok().json(views.iter().map(|v| conversation(v, actor.id())).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct Start {
    username: String,
}

/// `POST /api/conversations/` `{"username"}`: gets or starts the DM; a new one is a message
/// request until the other user accepts it.
async fn start(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let Start { username } = body(&req, payload).await?;
    let svc = &state.service;
    let other = core(svc.user_by_username(&username).await)?;
    let view = core(svc.open_dm(&actor, other.id, true).await)?;
    Ok(HttpResponse::Created().json(conversation(&view, actor.id())))
}

/// `GET /api/conversations/<id>/messages/`: the newest 1,000 messages, oldest first.
async fn messages(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = path_id(&id)?;
    let history = core(state.service.history(&actor, id, HISTORY_CAP).await)?;
    Ok(HttpResponse::Ok().json(history.iter().map(MessageOut::from).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct Content {
    content: String,
}

/// `POST /api/conversations/<id>/messages/` with `content` as form data or JSON.
async fn send(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = path_id(&id)?;
    let Content { content } = body(&req, payload).await?;
    let sent = core(state.service.send_message(&actor, id, NewMessage { content, ..NewMessage::default() }).await)?;
    Ok(HttpResponse::Created().json(MessageOut::from(&sent.message)))
}

#[derive(Deserialize)]
struct Action {
    action: String,
}

/// `POST /api/conversations/<id>/action/` `{"action": "accept" | "decline" | "delete"}`.
async fn conversation_action(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = path_id(&id)?;
    let Action { action } = body(&req, payload).await?;
    let svc = &state.service;
    let status = match action.as_str() {
        "accept" => core(svc.answer_request(&actor, id, RequestAction::Accept).await).map(|_| "accepted")?,
        "decline" => core(svc.answer_request(&actor, id, RequestAction::Decline).await).map(|_| "declined")?,
        "delete" => core(svc.delete_conversation(&actor, id).await).map(|_| "deleted")?,
        _ => return Err(bad_request("action must be one of: accept, decline, delete.")),
    };
    Ok(HttpResponse::Ok().json(json!({ "status": status })))
}

/// `POST /api/messages/<id>/action/` `{"action": "unsend"}`: unsends one's own message.
async fn message_action(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: i64 = path_id(&id)?;
    let Action { action } = body(&req, payload).await?;
    if action != "unsend" {
        return Err(bad_request("action must be: unsend."));
    }
    let message = core(state.service.delete_message(&actor, MessageId(id)).await)?;
    Ok(HttpResponse::Ok().json(json!({ "status": "unsent", "message": MessageOut::from(&message) })))
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
