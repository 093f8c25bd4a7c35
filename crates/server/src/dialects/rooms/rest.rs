//! `rooms` REST (specs/004) under `/api/v1.0/chat/`: rooms (two-person DMs) with presence,
//! status and typing, room messages, sending over HTTP, statistics and health checks, plus
//! `POST rooms/` to get or create a DM room (the contract's addition) and what the real Flutter
//! client calls beyond the document: `?page_size=`, `PATCH messages/<id>/mark_read/`,
//! `PATCH messages/<id>/` and `DELETE messages/<id>/`.
use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_core::model::{ConversationKind, ConversationView, Message, NewMessage};
use chatwire_core::ports::ListFilter;
use chatwire_core::service::Actor;
use chatwire_core::{ConversationId, MessageId, UserId};
use chatwire_protocol::rooms::{Room, room, room_message};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::drf::paging;
use crate::drf::{self, Refusal};
use crate::state::AppState;

const ROOMS_PER_PAGE: i64 = 20;
const MESSAGES_PER_PAGE: i64 = 50;
/// The most `?page_size=` may ask for.
const MAX_PAGE_SIZE: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1.0/chat")
            .route("/rooms/", web::get().to(list_rooms))
            .route("/rooms/", web::post().to(open_room))
            .route("/rooms/{id}/", web::get().to(get_room))
            .route("/rooms/{id}/messages/", web::get().to(room_messages))
            .route("/rooms/{id}/health/", web::get().to(room_health))
            .route("/messages/", web::post().to(send))
            .route("/messages/{id}/mark_read/", web::patch().to(mark_read))
            .route("/messages/{id}/", web::patch().to(edit_message))
            .route("/messages/{id}/", web::put().to(edit_message))
            .route("/messages/{id}/", web::delete().to(delete_message))
            .route("/stats/", web::get().to(stats))
            .route("/health-check/", web::post().to(health_check_all)),
    );
}

type Answer = Result<HttpResponse, Refusal>;

fn core<T>(r: Result<T, chatwire_core::CoreError>) -> Result<T, Refusal> {
    r.map_err(drf::core)
}

async fn body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, Refusal> {
    crate::drf::body::read(req, payload).await.map_err(drf::body_error)
}

fn room_id(raw: &str) -> Result<ConversationId, Refusal> {
    raw.parse().map_err(|_| drf::not_found())
}

/// A DM of the caller's as a room (groups are not rooms: 404).
async fn load(state: &AppState, actor: &Actor, id: ConversationId) -> Result<ConversationView, Refusal> {
    let view = core(state.service.conversation(actor, id).await)?;
    if view.conversation.kind != ConversationKind::Dm {
        return Err(drf::not_found());
    }
    Ok(view)
}

/// Renders rooms with presence (one lookup for everyone) and typing users.
async fn rooms(state: &AppState, actor: &Actor, views: &[ConversationView]) -> Result<Vec<Room>, Refusal> {
    let svc = &state.service;
    let ids: Vec<UserId> = views.iter().flat_map(|v| v.members.iter().map(|m| m.user.id.clone())).collect();
    let online = core(svc.online(&ids).await)?;
    let mut out = Vec::with_capacity(views.len());
    let mut at = 0;
    for view in views {
        let flags = &online[at..at + view.members.len()];
        at += view.members.len();
        let typing = core(svc.typing_users(actor, view.conversation.id).await)?;
        out.extend(room(view, actor.id(), flags, &typing));
    }
    Ok(out)
}

/// `GET /api/v1.0/chat/rooms/`: the caller's rooms, newest activity first, 20 a page.
async fn list_rooms(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let page = paging::page_number(&req)?;
    let views = core(state.service.list_conversations(&actor, ListFilter::Visible).await)?;
    let dms: Vec<ConversationView> =
        views.into_iter().filter(|v| v.conversation.kind == ConversationKind::Dm).collect();
    let results = rooms(&state, &actor, paging::slice(&dms, page, ROOMS_PER_PAGE)?).await?;
    Ok(HttpResponse::Ok().json(paging::page(&req, page, ROOMS_PER_PAGE, dms.len() as i64, results)))
}

#[derive(Deserialize)]
struct OpenRoom {
    user_id: UserId,
}

/// `POST /api/v1.0/chat/rooms/` `{"user_id"}`: gets or creates the DM room with that user.
async fn open_room(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let OpenRoom { user_id } = body(&req, payload).await?;
    let view = core(state.service.open_dm(&actor, user_id, false).await)?;
    let mut out = rooms(&state, &actor, std::slice::from_ref(&view)).await?;
    let room = out.pop().ok_or_else(drf::not_found)?;
    Ok(HttpResponse::Ok().json(room))
}

/// `GET /api/v1.0/chat/rooms/{room_id}/`.
async fn get_room(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let view = load(&state, &actor, room_id(&id)?).await?;
    let mut out = rooms(&state, &actor, std::slice::from_ref(&view)).await?;
    Ok(HttpResponse::Ok().json(out.pop().ok_or_else(drf::not_found)?))
}

/// `GET /api/v1.0/chat/rooms/{room_id}/messages/?page=&page_size=`: 50 a page unless asked,
/// page 1 the newest, each page oldest first; exact seq ranges (seqs are gapless), no OFFSET.
async fn room_messages(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let page = paging::page_number(&req)?;
    let per_page = paging::page_size(&req, MESSAGES_PER_PAGE, MAX_PAGE_SIZE)?;
    let view = load(&state, &actor, room_id(&id)?).await?;
    let last = view.conversation.last_seq;
    let svc = &state.service;
    let messages = match paging::seq_range(0, last, page, per_page)? {
        Some(range) => core(svc.messages(&actor, view.conversation.id, range).await)?,
        None => Vec::new(),
    };
    let online = Online::of(&state, &view).await?;
    let results: Vec<_> = messages.iter().map(|m| room_message(&view, m, online.sender(m))).collect();
    Ok(HttpResponse::Ok().json(paging::page(&req, page, per_page, last, results)))
}

/// Which members of a room are online, looked up once for a whole answer.
struct Online {
    members: Vec<(UserId, bool)>,
}

impl Online {
    async fn of(state: &AppState, view: &ConversationView) -> Result<Online, Refusal> {
        let ids: Vec<UserId> = view.members.iter().map(|m| m.user.id.clone()).collect();
        let flags = core(state.service.online(&ids).await)?;
        Ok(Online { members: ids.into_iter().zip(flags).collect() })
    }

    fn sender(&self, m: &Message) -> bool {
        m.sender_id().is_some_and(|s| self.members.iter().any(|(id, on)| id == s && *on))
    }
}

/// A message of the caller's rooms, with its room (a message in a group is not found).
async fn message_in_room(state: &AppState, actor: &Actor, raw: &str) -> Result<(ConversationView, Message), Refusal> {
    let id: MessageId = raw.parse().map_err(|_| drf::not_found())?;
    let message = core(state.service.message(actor, id).await)?;
    let view = load(state, actor, message.conversation_id).await?;
    Ok((view, message))
}

/// `PATCH /api/v1.0/chat/messages/{id}/mark_read/`: marks the room read up to this message;
/// 200 with the message and its status.
async fn mark_read(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let (view, message) = message_in_room(&state, &actor, &id).await?;
    core(state.service.mark_read(&actor, view.conversation.id, Some(message.seq)).await)?;
    let view = load(&state, &actor, view.conversation.id).await?;
    let online = Online::of(&state, &view).await?;
    Ok(HttpResponse::Ok().json(room_message(&view, &message, online.sender(&message))))
}

#[derive(Deserialize)]
struct Edit {
    content: String,
}

/// `PATCH /api/v1.0/chat/messages/{id}/` `{"content"}`: edits one's own message; 200 with it.
async fn edit_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let (view, message) = message_in_room(&state, &actor, &id).await?;
    let Edit { content } = body(&req, payload).await?;
    let edited = core(state.service.edit_message(&actor, message.id, &content).await)?;
    Ok(HttpResponse::Ok().json(room_message(&view, &edited, true)))
}

/// `DELETE /api/v1.0/chat/messages/{id}/`: deletes one's own message; 204.
async fn delete_message(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let (_, message) = message_in_room(&state, &actor, &id).await?;
    core(state.service.delete_message(&actor, message.id).await)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct Send {
    room: ConversationId,
    content: String,
}

/// `POST /api/v1.0/chat/messages/` `{"room", "content"}`: 201 with the stored message.
async fn send(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let Send { room, content } = body(&req, payload).await?;
    let view = load(&state, &actor, room).await?;
    let msg = NewMessage { content, client_key: crate::dialects::idempotency_key(&req), ..NewMessage::default() };
    let sent = state.service.send_message_accepting(&actor, room, msg).await;
    state.metrics.rest_send("rooms", &sent);
    let sent = core(sent)?;
    Ok(crate::dialects::sent(sent.created).json(room_message(&view, &sent.message, true)))
}

/// `GET /api/v1.0/chat/stats/`.
async fn stats(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let svc = &state.service;
    let views = core(svc.list_conversations(&actor, ListFilter::Visible).await)?;
    let dms: Vec<&ConversationView> = views.iter().filter(|v| v.conversation.kind == ConversationKind::Dm).collect();
    let now = Utc::now();
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
    let active_today = dms.iter().filter(|v| v.conversation.updated_at >= midnight).count();
    let ids: Vec<ConversationId> = dms.iter().map(|v| v.conversation.id).collect();
    let recent = core(svc.messages_since(&actor, &ids, now - Duration::hours(24)).await)?;
    let bus = svc.bus().ping().await.is_ok();
    let s = &state.settings;
    Ok(HttpResponse::Ok().json(json!({
        "user_id": actor.id(),
        "total_rooms": dms.len(),
        "active_rooms_today": active_today,
        "recent_messages_24h": recent,
        "channel_layer_status": if bus { "available" } else { "unavailable" },
        "timestamp": now,
        "connection_settings": {
            "heartbeat_interval": s.heartbeat_interval_secs,
            "connection_timeout": s.connection_timeout_secs,
            "ping_timeout": s.ping_timeout_secs,
            "max_reconnect_attempts": s.max_reconnect_attempts,
        },
    })))
}

/// `GET /api/v1.0/chat/rooms/{room_id}/health/`: asks the room's connected clients to report.
async fn room_health(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let view = load(&state, &actor, room_id(&id)?).await?;
    let svc = &state.service;
    let id = view.conversation.id;
    core(svc.health_check(&actor, id).await)?;
    let now = Utc::now();
    let recent = core(svc.messages_since(&actor, &[id], now - Duration::hours(1)).await)?;
    Ok(HttpResponse::Ok().json(json!({
        "room_id": id,
        "group_name": chatwire_core::Channel::Conversation(id).name(),
        "health_check_sent": true,
        "recent_messages_count": recent,
        "timestamp": now,
    })))
}

/// `POST /api/v1.0/chat/health-check/`: a health check to each of the caller's rooms.
async fn health_check_all(req: HttpRequest, state: web::Data<AppState>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let svc = &state.service;
    let views = core(svc.list_conversations(&actor, ListFilter::Visible).await)?;
    let dms: Vec<_> = views.iter().filter(|v| v.conversation.kind == ConversationKind::Dm).collect();
    let mut sent = 0;
    for view in &dms {
        if svc.health_check(&actor, view.conversation.id).await.is_ok() {
            sent += 1;
        }
    }
    Ok(HttpResponse::Ok().json(json!({"health_checks_sent": sent, "total_rooms": dms.len(), "timestamp": Utc::now()})))
}
