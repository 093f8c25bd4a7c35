//! `POST /api/v1/dev/token {"username": "alice"}`: a token for a test user, so the page at `/`
//! signs in on a development node with nothing else running. It exists only outside production
//! (`CHATWIRE_ENV` unset or `development`; a production node answers 404, as for any unknown
//! route) and only with a shared-secret key (`CHATWIRE_JWT_SECRET`, or the development node's
//! random one). Not in the OpenAPI document: it is no part of the API a client may rely on.
use actix_web::{HttpResponse, post, web};
use chatwire_core::CoreError;
use serde::Deserialize;
use serde_json::json;

use crate::config::JwtKey;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct DevLogin {
    pub username: String,
}

/// How long a development token lasts; the page signs in again after that.
const LIFETIME_SECS: u64 = 12 * 3600;

#[post("/dev/token")]
pub async fn token(state: web::Data<AppState>, body: web::Json<DevLogin>) -> Result<HttpResponse, ApiError> {
    let no_route = || ApiError::from(CoreError::NotFound("route"));
    if state.settings.production {
        return Err(no_route());
    }
    let Some(secret) = state.settings.jwt_keys.iter().find_map(|k| match k {
        JwtKey::Secret(s) => Some(s),
        JwtKey::PublicKeyPem(_) => None,
    }) else {
        return Err(no_route());
    };
    let username = body.username.trim();
    // Django's own rule for usernames: letters, digits and @ . + - _, at most 150.
    let valid = !username.is_empty()
        && username.chars().count() <= 150
        && username.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c));
    if !valid {
        return Err(
            CoreError::Invalid { field: "username", message: "1 to 150 letters, digits or @ . + - _".into() }.into()
        );
    }
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "token_type": "access",
        "exp": now + LIFETIME_SECS,
        "iat": now,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "user_id": dev_user_id(username).to_string(),
        "username": username,
        "display_name": username,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
        .map_err(|e| ApiError::from(CoreError::Internal(e.to_string())))?;
    Ok(HttpResponse::Ok().json(json!({ "token": token, "expires_in": LIFETIME_SECS })))
}

/// The same integer id for a username on every node, with no table to coordinate through: a
/// hash into nine-digit ids, above the small keys of a real Django user table.
fn dev_user_id(username: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = username
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    100_000_000 + (hash % 900_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::dev_user_id;

    #[test]
    fn a_username_names_one_nine_digit_id_whatever_its_case() {
        assert_eq!(dev_user_id("Alice"), dev_user_id("alice"));
        assert_ne!(dev_user_id("alice"), dev_user_id("bob"));
        for name in ["a", "alice", "someone.with.a.long@name"] {
            assert!((100_000_000..1_000_000_000).contains(&dev_user_id(name)), "{name}");
        }
    }
}
