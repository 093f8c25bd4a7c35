//! `django_messaging` REST (specs/003) under `/messages/api/`: chats, messages, reactions,
//! read receipts, members, user search and typing, in Django REST framework's shapes.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chatwire_core::model::{NewMessage, ReactionChange, SearchScope};
use chatwire_core::ports::ListFilter;
use chatwire_core::{ConversationId, CoreError, MessageId, UserId};
use chatwire_protocol::django_messaging::{SearchUser, chat_detail, chat_in_list, chat_matches, message};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::AuthError;
use crate::drf::body::{self, BodyError};
use crate::drf::paging;
use crate::drf::{self, Refusal};
use crate::error::ApiError;
use crate::state::AppState;

const CHATS_PER_PAGE: i64 = 20;
const MESSAGES_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/messages/api")
            .route("/chats/", web::get().to(list_chats))
            .route("/chats/", web::post().to(create_chat))
            .route("/chats/{id}/", web::get().to(chat))
            .route("/chats/{id}/", web::put().to(update_chat))
            .route("/chats/{id}/", web::patch().to(update_chat))
            .route("/chats/{id}/", web::delete().to(delete_chat))
            .route("/chats/{id}/messages/", web::get().to(list_messages))
            .route("/chats/{id}/messages/", web::post().to(send))
            .route("/chats/{id}/mark-as-read/", web::post().to(mark_as_read))
            .route("/chats/{id}/members/add/", web::post().to(add_members))
            .route("/chats/{id}/members/{user_id}/remove/", web::delete().to(remove_member))
            .route("/chats/{id}/typing/", web::post().to(typing))
            .route("/messages/{id}/", web::get().to(get_message))
            .route("/messages/{id}/", web::put().to(edit_message))
            .route("/messages/{id}/", web::patch().to(edit_message))
            .route("/messages/{id}/", web::delete().to(delete_message))
            .route("/messages/{id}/reactions/", web::post().to(react))
            .route("/users/search/", web::get().to(search_users)),
    );
}

/// 400 `{"error": "Invalid request", "details": {"<field>": ["<message>"]}}`.
fn invalid(field: &str, message: impl Into<String>) -> Refusal {
    let details = json!({ field: [message.into()] });
    Refusal {
        retry_after: None,
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": "Invalid request", "details": details}),
    }
}

fn refusal(err: &ApiError) -> Refusal {
    let status = err.status_code();
    let body = match err {
        ApiError::Auth(AuthError::Missing) => json!({"detail": "Authentication credentials were not provided."}),
        ApiError::Auth(_) => json!({"detail": "Given token not valid for any token type"}),
        ApiError::Core(CoreError::NotFound(_)) => json!({"detail": "Not found."}),
        ApiError::Core(CoreError::Forbidden(_)) => {
            json!({"detail": "You do not have permission to perform this action."})
        }
        ApiError::Core(CoreError::Invalid { field, message }) => {
            return invalid(field, message.clone());
        }
        ApiError::Core(e @ CoreError::TooLong { field, .. }) => return invalid(field, e.to_string()),
        ApiError::Core(CoreError::Internal(_)) => json!({"error": "Internal server error"}),
        ApiError::Core(CoreError::RateLimited { .. } | CoreError::Overloaded { .. }) => return drf::detail(err),
        other => json!({"detail": other.body().message}),
    };
    Refusal { retry_after: None, status, body }
}

type Answer = Result<HttpResponse, Refusal>;

fn core<T>(r: Result<T, CoreError>) -> Result<T, Refusal> {
    r.map_err(|e| refusal(&e.into()))
}

fn not_found() -> Refusal {
    refusal(&CoreError::NotFound("chat").into())
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, Refusal> {
    raw.parse().map_err(|_| not_found())
}

async fn body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, Refusal> {
    body::read(req, payload).await.map_err(|e| match e {
        BodyError::TooLarge => Refusal {
            retry_after: None,
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: json!({"detail": "Request body too large."}),
        },
        BodyError::Invalid(message) => invalid("non_field_errors", message),
    })
}

#[derive(Deserialize)]
struct ChatsQuery {
    search: Option<String>,
}

/// `GET /messages/api/chats/?page=&search=`: the caller's chats, newest activity first, 20 a page.
async fn list_chats(req: HttpRequest, state: web::Data<AppState>, q: web::Query<ChatsQuery>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let page = paging::page_number(&req)?;
    let views = core(state.service.list_conversations(&actor, ListFilter::Visible).await)?;
    let matching: Vec<_> = match q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(search) => views.iter().filter(|v| chat_matches(v, actor.id(), search)).collect(),
        None => views.iter().collect(),
    };
    let results = paging::slice(&matching, page, CHATS_PER_PAGE)?.iter().map(|v| chat_in_list(v, actor.id())).collect();
    Ok(HttpResponse::Ok().json(paging::page(&req, page, CHATS_PER_PAGE, matching.len() as i64, results)))
}

#[derive(Deserialize)]
struct NewChat {
    chat_type: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    member_ids: Vec<UserId>,
}

/// `POST /messages/api/chats/`: a group, or the DM with the one user in `member_ids`.
async fn create_chat(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let new: NewChat = body(&req, payload).await?;
    let svc = &state.service;
    let view = match new.chat_type.as_deref().unwrap_or("group") {
        "group" => core(svc.create_group(&actor, &new.title, &new.member_ids).await)?,
        "dm" => {
            let others: Vec<_> = new.member_ids.iter().filter(|id| *id != actor.id()).collect();
            let [other] = others.as_slice() else {
                return Err(invalid("member_ids", "A dm needs exactly one other member."));
            };
            core(svc.open_dm(&actor, (*other).clone(), false).await)?
        }
        _ => return Err(invalid("chat_type", "Must be \"dm\" or \"group\".")),
    };
    Ok(HttpResponse::Created().json(chat_detail(&view, actor.id())))
}

/// `GET /messages/api/chats/{id}/`: with its admins.
async fn chat(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let view = core(state.service.conversation(&actor, parse(&id)?).await)?;
    Ok(HttpResponse::Ok().json(chat_detail(&view, actor.id())))
}

#[derive(Deserialize)]
struct ChatUpdate {
    title: Option<String>,
}

/// `PUT|PATCH /messages/api/chats/{id}/` `{"title"}`.
async fn update_chat(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = parse(&id)?;
    let update: ChatUpdate = body(&req, payload).await?;
    let svc = &state.service;
    if let Some(title) = update.title {
        core(svc.rename(&actor, id, &title).await)?;
    }
    let view = core(svc.conversation(&actor, id).await)?;
    Ok(HttpResponse::Ok().json(chat_detail(&view, actor.id())))
}

/// `DELETE /messages/api/chats/{id}/`.
async fn delete_chat(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    core(state.service.delete_conversation(&actor, parse(&id)?).await)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct MessagesQuery {
    before: Option<String>,
    after: Option<String>,
}

/// `GET /messages/api/chats/{id}/messages/?page=&before=&after=`: 50 a page, page 1 the newest,
/// each page oldest first. `before`/`after` are message ids. Seqs are gapless, so a page is an
/// exact seq range: no OFFSET scan however deep the page.
async fn list_messages(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<MessagesQuery>,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = parse(&id)?;
    let page = paging::page_number(&req)?;
    let svc = &state.service;
    let view = core(svc.conversation(&actor, id).await)?;
    let bound = |raw: &Option<String>| -> Result<Option<i64>, Refusal> {
        raw.as_deref()
            .map(|r| r.parse::<i64>().map_err(|_| invalid("before/after", "A message id is an integer.")))
            .transpose()
    };
    let (before, after) = (bound(&q.before)?, bound(&q.after)?);
    let actor_ref = &actor;
    let seq_of = |m: Option<i64>| async move {
        match m {
            None => Ok(None),
            Some(mid) => {
                let m = core(svc.message(actor_ref, MessageId(mid)).await)?;
                if m.conversation_id != id {
                    return Err(invalid("before/after", "That message is not in this chat."));
                }
                Ok(Some(m.seq))
            }
        }
    };
    let upper = seq_of(before).await?.map_or(view.conversation.last_seq, |s| s - 1).min(view.conversation.last_seq);
    let lower = seq_of(after).await?.unwrap_or(0);
    let count = (upper - lower).max(0);
    let messages = match paging::seq_range(lower, upper, page, MESSAGES_PER_PAGE)? {
        Some(range) => core(svc.messages(&actor, id, range).await)?,
        None => Vec::new(),
    };
    let results: Vec<_> = messages.iter().map(|m| message(m, Some(&view))).collect();
    Ok(HttpResponse::Ok().json(paging::page(&req, page, MESSAGES_PER_PAGE, count, results)))
}

#[derive(Deserialize)]
struct Content {
    content: String,
}

/// `POST /messages/api/chats/{id}/messages/` `{"content"}`: 201 with the message.
async fn send(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = parse(&id)?;
    let Content { content } = body(&req, payload).await?;
    let msg = NewMessage { content, client_key: crate::dialects::idempotency_key(&req), ..NewMessage::default() };
    let sent = state.service.send_message_accepting(&actor, id, msg).await;
    state.metrics.rest_send("django_messaging", &sent);
    let sent = core(sent)?;
    Ok(crate::dialects::sent(sent.created).json(message(&sent.message, None)))
}

/// `POST /messages/api/chats/{id}/mark-as-read/`: `{"status": "success", "marked_count"}`.
async fn mark_as_read(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let moved = core(state.service.mark_read(&actor, parse(&id)?, None).await)?;
    Ok(HttpResponse::Ok().json(json!({"status": "success", "marked_count": moved.map_or(0, |m| m.covered)})))
}

#[derive(Deserialize)]
struct UserIds {
    user_ids: Vec<UserId>,
}

/// `POST /messages/api/chats/{id}/members/add/` `{"user_ids"}`: `{"status", "added_count"}`.
async fn add_members(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = parse(&id)?;
    let UserIds { user_ids } = body(&req, payload).await?;
    let added = core(state.service.add_members(&actor, id, &user_ids).await)?;
    Ok(HttpResponse::Ok().json(json!({"status": "success", "added_count": added.len()})))
}

/// `DELETE /messages/api/chats/{id}/members/{user_id}/remove/`.
async fn remove_member(req: HttpRequest, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let (id, user) = path.into_inner();
    core(state.service.remove_member(&actor, parse(&id)?, parse(&user)?).await)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct Typing {
    #[serde(default = "yes")]
    is_typing: bool,
}

fn yes() -> bool {
    true
}

/// `POST /messages/api/chats/{id}/typing/` `{"is_typing"}`.
async fn typing(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: ConversationId = parse(&id)?;
    let Typing { is_typing } = body(&req, payload).await?;
    core(state.service.typing(&actor, id, is_typing).await)?;
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}

/// `GET /messages/api/messages/{id}/`.
async fn get_message(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let svc = &state.service;
    let m = core(svc.message(&actor, MessageId(parse(&id)?)).await)?;
    let view = core(svc.conversation(&actor, m.conversation_id).await)?;
    Ok(HttpResponse::Ok().json(message(&m, Some(&view))))
}

/// `PUT|PATCH /messages/api/messages/{id}/` `{"content"}`: one's own messages only.
async fn edit_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id = MessageId(parse(&id)?);
    let Content { content } = body(&req, payload).await?;
    let m = core(state.service.edit_message(&actor, id, &content).await)?;
    Ok(HttpResponse::Ok().json(message(&m, None)))
}

/// `DELETE /messages/api/messages/{id}/`: one's own messages only.
async fn delete_message(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    core(state.service.delete_message(&actor, MessageId(parse(&id)?)).await)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct Emoji {
    emoji: String,
}

/// `POST /messages/api/messages/{id}/reactions/` `{"emoji"}`: adds, or removes if present.
async fn react(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>, payload: web::Payload) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let id: i64 = parse(&id)?;
    let Emoji { emoji } = body(&req, payload).await?;
    let (change, _, _) = core(state.service.toggle_reaction(&actor, MessageId(id), &emoji).await)?;
    let action = match change {
        ReactionChange::Added => "added",
        ReactionChange::Removed => "removed",
    };
    Ok(HttpResponse::Ok().json(json!({"action": action, "emoji": emoji, "message_id": id})))
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

/// `GET /messages/api/users/search/?q=`: name, username and email.
async fn search_users(req: HttpRequest, state: web::Data<AppState>, q: web::Query<Search>) -> Answer {
    let actor = drf::caller(&req, &state).await?;
    let Some(query) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(invalid("q", "This query parameter is required."));
    };
    let users = core(state.service.search_users(&actor, query, SearchScope::Everything, 20).await)?;
    Ok(HttpResponse::Ok().json(json!({"results": users.iter().map(SearchUser::from).collect::<Vec<_>>()})))
}
