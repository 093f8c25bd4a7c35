//! The REST routes of the document dialects. Each renders the core's results in its document's
//! shapes and holds no rule of its own; their sockets live in `ws/`.
mod body;
mod drf;
mod paging;
pub mod django_messaging;
pub mod rooms;
pub mod spherespace;
pub mod threads;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(threads::routes).configure(spherespace::routes).configure(django_messaging::routes)
        .configure(rooms::routes);
}
