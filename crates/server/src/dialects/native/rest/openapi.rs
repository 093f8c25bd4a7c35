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

/// What every operation can answer besides its own responses, and the path parameters its
/// route names, added to each operation once here so the document matches the server exactly
/// (schemathesis checks it against a live node in scripts/test).
struct Exact;

impl utoipa::Modify for Exact {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names: Vec<String> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            let ops = [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let params = op.parameters.get_or_insert_with(Vec::new);
                for name in &names {
                    let user = name == "user_id" || path.starts_with("/server/users/");
                    let declared = params.iter_mut().find_map(|p| match p {
                        utoipa::openapi::RefOr::T(p) if &p.name == name => Some(p),
                        _ => None,
                    });
                    // In a URL every id is text (`5` is the integer id 5), so a user id is a string.
                    let user_id_text = || -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String)
                            .min_length(Some(1))
                            .max_length(Some(chatwire_core::UserId::MAX_LEN))
                            .pattern(Some("^[^\\u0000-\\u001F\\u007F-\\u009F]+$"))
                            .into()
                    };
                    if let Some(declared) = declared {
                        if user {
                            declared.schema = Some(user_id_text());
                        }
                        continue;
                    }
                    let schema = if user {
                        user_id_text()
                    } else {
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer)
                            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                utoipa::openapi::KnownFormat::Int64,
                            )))
                            .into()
                    };
                    params.push(
                        ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Path)
                            .required(utoipa::openapi::Required::True)
                            .schema(Some(schema))
                            .build()
                            .into(),
                    );
                }
                let mut add = |code: &str, description: &str| {
                    op.responses.responses.entry(code.to_owned()).or_insert_with(|| error(description).into());
                };
                add("400", "The request is malformed or a value is invalid");
                if op.security.is_some() {
                    add("401", "No valid token (or server key) was given");
                }
                if !names.is_empty() {
                    add("404", "No such resource, or it is not visible to the caller");
                }
                if op.request_body.is_some() {
                    add("413", "The body is too large");
                    add("415", "The body is not JSON");
                }
                if method == HttpMethod::Post && path.ends_with("/messages") {
                    add("409", "The idempotency key was used before for a different message");
                    add("429", "Over the per-user send rate; see Retry-After");
                }
                add("500", "An internal error (details are in the node's log)");
                add("503", "Postgres or Redis is unavailable, or the node is draining or overloaded; see Retry-After");
            }
        }
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
    modifiers(&BearerAuth, &Exact)
)]
pub struct ApiDoc;

/// The methods the document gives for the route `path` matches (under `/api/v1`), if any: a
/// known path asked with another method is answered 405 with these in `Allow`.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    static ROUTES: std::sync::LazyLock<Vec<(Vec<String>, Vec<&'static str>)>> = std::sync::LazyLock::new(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                (segments, methods.into_iter().filter(|(_, on)| *on).map(|(m, _)| m).collect())
            })
            .collect()
    });
    let path = path.strip_prefix("/api/v1")?;
    let asked: Vec<&str> = path.split('/').collect();
    // `/conversations/dm` is its own route, not `/conversations/{id}`: the most literal match wins.
    ROUTES
        .iter()
        .filter(|(segments, _)| {
            segments.len() == asked.len()
                && segments.iter().zip(&asked).all(|(s, a)| (s.starts_with('{') && !a.is_empty()) || s == a)
        })
        .max_by_key(|(segments, _)| segments.iter().filter(|s| !s.starts_with('{')).count())
        .map(|(_, methods)| methods.clone())
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI document, generated from the handlers.
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
