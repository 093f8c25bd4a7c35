use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use super::{conversations, messages, server, users};
use crate::error::ErrorBody;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        // The backend's own calls (`/server/...`): CHATWIRE_SERVER_API_KEY as the bearer token.
        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            "server_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatwire native API",
        version = "1",
        description = "REST under /api/v1. Live events: the WebSocket at /ws/v1?token=<jwt> (see docs/native-api.md)."
    ),
    servers((url = "/api/v1")),
    paths(
        users::me, users::search, users::presence,
        conversations::list, conversations::open_dm, conversations::create_group, conversations::get,
        conversations::rename, conversations::delete, conversations::add_members, conversations::remove_member,
        conversations::leave, conversations::answer_request,
        messages::list, messages::send, messages::get, messages::edit, messages::delete, messages::react,
        messages::read, messages::delivered, messages::typing, messages::typing_users, messages::sync,
        server::post_message, server::conversation_event, server::user_event, server::put_user,
        server::disconnect, server::presence,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this API's OpenAPI document, generated from the handlers.
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
