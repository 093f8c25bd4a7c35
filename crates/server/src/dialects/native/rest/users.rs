use actix_web::{HttpResponse, get, web};
use chatwire_core::UserId;
use chatwire_core::model::{SearchScope, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// `GET /api/v1/users/me`: the caller, as their token's claims last described them.
#[utoipa::path(tag = "users", responses((status = 200, body = User), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
#[get("/users/me")]
pub async fn me(Authenticated(actor): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(actor.user)
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Matched case-insensitively against username, display name and email.
    pub q: String,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub results: Vec<User>,
}

/// `GET /api/v1/users/search?q=`: other users matching `q`.
#[utoipa::path(tag = "users", params(SearchQuery), responses((status = 200, body = UserList)), security(("bearer" = [])))]
#[get("/users/search")]
pub async fn search(
    Authenticated(actor): Authenticated,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> ApiResult<HttpResponse> {
    let results =
        state.service.search_users(&actor, &query.q, SearchScope::Everything, query.limit.unwrap_or(20)).await?;
    Ok(HttpResponse::Ok().json(UserList { results }))
}

#[derive(Deserialize, IntoParams)]
pub struct PresenceQuery {
    /// Comma-separated user ids.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub user_ids: String,
}

#[derive(Serialize, ToSchema)]
pub struct PresenceEntry {
    pub user_id: UserId,
    pub is_online: bool,
}

/// `GET /api/v1/presence?user_ids=a,b`: who is connected right now, on any node.
#[utoipa::path(tag = "users", params(PresenceQuery), responses((status = 200, body = Vec<PresenceEntry>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
#[get("/presence")]
pub async fn presence(
    Authenticated(_actor): Authenticated,
    state: web::Data<AppState>,
    query: web::Query<PresenceQuery>,
) -> ApiResult<HttpResponse> {
    let out = presence_of(&state, &query.user_ids).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Who among `user_ids` (comma-separated) is connected right now, on any node.
pub async fn presence_of(state: &AppState, user_ids: &str) -> ApiResult<Vec<PresenceEntry>> {
    let ids = user_ids
        .split(',')
        // Spaces around commas are forgiven; any other character is part of an id.
        .map(|s| s.trim_matches(' '))
        .filter(|s| !s.is_empty())
        .map(str::parse::<UserId>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::bad_request("invalid", "user_ids must be comma-separated user ids"))?;
    if ids.len() > 200 {
        return Err(ApiError::bad_request("invalid", "at most 200 user_ids"));
    }
    let online = state.service.online(&ids).await?;
    Ok(ids.into_iter().zip(online).map(|(user_id, is_online)| PresenceEntry { user_id, is_online }).collect())
}
