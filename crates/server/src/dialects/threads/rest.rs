//! `threads` REST (specs/001): `/chat/messages/<uid>/` and `/chat/user/threads/` in the
//! `{status, entity, message, success}` envelope.
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chatwire_core::model::ConversationKind;
use chatwire_core::ports::ListFilter;
use chatwire_core::service::Actor;
use chatwire_core::{CoreError, UserId};
use chatwire_protocol::threads::{Envelope, Messages, thread, thread_message};

use crate::auth::{self, AuthError};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/chat/messages/{uid}/", web::get().to(messages)).route("/chat/user/threads/", web::get().to(threads));
}

/// Any failure, in the envelope, with the status the error maps to.
fn failure(err: &ApiError) -> HttpResponse {
    let message = match err {
        // Django REST framework's and SimpleJWT's words, which these clients already handle.
        ApiError::Auth(AuthError::Missing) => "Authentication credentials were not provided.".to_owned(),
        ApiError::Auth(_) => "Given token not valid for any token type".to_owned(),
        other => other.body().message,
    };
    HttpResponse::build(err.status_code()).json(Envelope::failure(message))
}

fn invalid_recipient() -> HttpResponse {
    HttpResponse::NotFound().json(Envelope::failure("Invalid recipient"))
}

async fn caller(req: &HttpRequest, state: &AppState) -> Result<Actor, HttpResponse> {
    auth::authenticate(state, auth::bearer(req)).await.map_err(|e| failure(&e))
}

/// `GET /chat/messages/<uid>/`: the messages between the caller and user `uid`, oldest first.
async fn messages(req: HttpRequest, state: web::Data<AppState>, uid: web::Path<String>) -> HttpResponse {
    let actor = match caller(&req, &state).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let Ok(other) = uid.parse::<UserId>() else { return invalid_recipient() };
    if other == *actor.id() {
        return invalid_recipient();
    }
    let svc = &state.service;
    match svc.user(other.clone()).await {
        Ok(_) => {}
        Err(CoreError::NotFound(_)) => return invalid_recipient(),
        Err(e) => return failure(&e.into()),
    }
    let found = async {
        let conversation = match svc.dm_with(&actor, other).await {
            Ok(id) => id,
            // No thread yet: nothing said so far.
            Err(CoreError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let view = svc.conversation(&actor, conversation).await?;
        let history = svc.history(&actor, conversation, svc.limits().max_history).await?;
        Ok(history.iter().filter_map(|m| thread_message(&view, m)).collect())
    };
    match found.await {
        Ok(messages) => {
            HttpResponse::Ok().json(Envelope::success(Messages { messages }, Some("Messages retreived successfully")))
        }
        Err(e) => failure(&e.into()),
    }
}

/// `GET /chat/user/threads/`: the caller's DMs, each with the other user and the last message.
async fn threads(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let actor = match caller(&req, &state).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    match state.service.list_conversations(&actor, ListFilter::Visible).await {
        Ok(views) => {
            let threads: Vec<_> = views
                .iter()
                .filter(|v| v.conversation.kind == ConversationKind::Dm)
                .filter_map(|v| thread(v, actor.id()))
                .collect();
            HttpResponse::Ok().json(Envelope::success(threads, None))
        }
        Err(e) => failure(&e.into()),
    }
}
