//! The chat page at `/` and its script (`clients/demo`, bundled by its `npm run build` into
//! `crates/server/static/`): compiled into the binary, so a node serves it with nothing beside
//! it. The page signs in through the development token endpoint, or with a saved token.
use actix_web::HttpResponse;
use actix_web::http::header;

const INDEX: &str = include_str!("../static/index.html");
const APP: &str = include_str!("../static/app.js");

pub async fn index() -> HttpResponse {
    page("text/html; charset=utf-8", INDEX)
}

pub async fn app_js() -> HttpResponse {
    page("text/javascript; charset=utf-8", APP)
}

fn page(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        // A new binary may bring a new page: browsers ask again rather than run an old script.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
