//! The native REST API, `/api/v1`. Handlers authenticate, call one service method and return
//! the domain value as JSON; the OpenAPI document is generated from these annotations.
pub mod conversations;
pub mod dev;
pub mod json;
pub mod messages;
pub mod openapi;
pub mod server;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(users::me)
            .service(users::search)
            .service(users::presence)
            .service(conversations::list)
            .service(conversations::open_dm)
            .service(conversations::create_group)
            .service(conversations::get)
            .service(conversations::rename)
            .service(conversations::delete)
            .service(conversations::add_members)
            .service(conversations::remove_member)
            .service(conversations::leave)
            .service(conversations::answer_request)
            .service(messages::list)
            .service(messages::send)
            .service(messages::get)
            .service(messages::edit)
            .service(messages::delete)
            .service(messages::react)
            .service(messages::read)
            .service(messages::delivered)
            .service(messages::typing)
            .service(messages::typing_users)
            .service(messages::sync)
            .service(server::post_message)
            .service(server::conversation_event)
            .service(server::user_event)
            .service(server::put_user)
            .service(server::disconnect)
            .service(server::presence)
            .service(openapi::document)
            .service(dev::token),
    );
}
