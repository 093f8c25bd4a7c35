//! Django REST framework's page-number pagination (`?page=N`, `{count, next, previous, results}`),
//! shared by the dialects that page.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chatwire_core::model::MessagePage;
use serde::Serialize;

use super::{Refusal, refuse};

/// `{count, next, previous, results}`.
#[derive(Debug, Serialize)]
pub struct Page<T: Serialize> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// What DRF answers for a page that does not exist.
pub fn invalid_page() -> Refusal {
    refuse(StatusCode::NOT_FOUND, "Invalid page.")
}

fn query(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default()
}

/// The requested page number (1 when absent).
pub fn page_number(req: &HttpRequest) -> Result<i64, Refusal> {
    match query(req).into_iter().find(|(k, _)| k == "page") {
        None => Ok(1),
        Some((_, p)) => p.parse::<i64>().ok().filter(|p| *p >= 1).ok_or_else(invalid_page),
    }
}

/// The requested page size (`?page_size=`, which DRF's `PageNumberPagination` takes when a
/// view sets `page_size_query_param`): `default` when absent, at most `max`.
pub fn page_size(req: &HttpRequest, default: i64, max: i64) -> Result<i64, Refusal> {
    match query(req).into_iter().find(|(k, _)| k == "page_size") {
        None => Ok(default),
        Some((_, n)) => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(max))
            .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "Invalid page size.")),
    }
}

/// The absolute URL of page `page` of this request, other query parameters kept.
fn page_url(req: &HttpRequest, page: i64) -> String {
    let info = req.connection_info();
    let mut params: Vec<(String, String)> = query(req).into_iter().filter(|(k, _)| k != "page").collect();
    params.push(("page".into(), page.to_string()));
    let params = serde_urlencoded::to_string(&params).unwrap_or_default();
    format!("{}://{}{}?{}", info.scheme(), info.host(), req.path(), params)
}

pub fn page<T: Serialize>(req: &HttpRequest, page: i64, per_page: i64, count: i64, results: Vec<T>) -> Page<T> {
    let pages = (count + per_page - 1) / per_page;
    Page {
        count,
        next: (page < pages).then(|| page_url(req, page + 1)),
        previous: (page > 1).then(|| page_url(req, page - 1)),
        results,
    }
}

/// Page `page` of a list already in memory.
pub fn slice<T>(items: &[T], page: i64, per_page: i64) -> Result<&[T], Refusal> {
    let start = (page - 1).checked_mul(per_page).and_then(|s| usize::try_from(s).ok()).ok_or_else(invalid_page)?;
    if page > 1 && start >= items.len() {
        return Err(invalid_page());
    }
    Ok(&items[start.min(items.len())..(start + per_page as usize).min(items.len())])
}

/// Page `page` of the messages with seq in `(lower, upper]`, newest page first: since seqs are
/// gapless this is an exact seq range, so no page costs an OFFSET scan. `None` when empty.
pub fn seq_range(lower: i64, upper: i64, page: i64, per_page: i64) -> Result<Option<MessagePage>, Refusal> {
    let top = (page - 1).checked_mul(per_page).map(|skip| upper.saturating_sub(skip)).ok_or_else(invalid_page)?;
    if page > 1 && top <= lower {
        return Err(invalid_page());
    }
    let bottom = (top - per_page).max(lower);
    Ok((top > bottom).then_some(MessagePage { before: Some(top + 1), after: Some(bottom), limit: per_page }))
}
