//! Who is calling: JWT verification and the actix extractor that turns a bearer token into an
//! [`Actor`]. Tokens come from chatwire's own `token` command (HS256) or from an external identity
//! provider (RS256/ES256 with its public key), e.g. Django REST framework SimpleJWT.
use std::future::Future;
use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, web};
use chatwire_core::model::Profile;
use chatwire_core::service::Actor;
use chatwire_core::{CoreError, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::JwtKey;
use crate::state::AppState;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("authentication credentials were not provided")]
    Missing,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("token has expired")]
    Expired,
    #[error("token names no user: a UUID `sub` or `user_id` claim is required")]
    NoUser,
}

/// The claims chatwire reads; anything else in the token is ignored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// What Django REST framework SimpleJWT puts where others put `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub exp: u64,
}

impl Claims {
    fn profile(&self) -> Result<(UserId, Profile), AuthError> {
        let raw = match (&self.sub, &self.user_id) {
            (Some(sub), _) => sub.clone(),
            (None, Some(serde_json::Value::String(s))) => s.clone(),
            _ => return Err(AuthError::NoUser),
        };
        let id: UserId = raw.parse().map_err(|_| AuthError::NoUser)?;
        Ok((
            id,
            Profile {
                id: Some(id),
                username: self.username.clone(),
                email: self.email.clone(),
                display_name: self.display_name.clone(),
            },
        ))
    }
}

/// Verifies tokens against the configured keys.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
}

impl Verifier {
    pub fn new(keys: &[JwtKey]) -> Result<Verifier, AuthError> {
        let mut out = Vec::new();
        for key in keys {
            match key {
                JwtKey::Secret(secret) => out.push((Algorithm::HS256, DecodingKey::from_secret(secret))),
                JwtKey::PublicKeyPem(pem) => {
                    if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                        out.push((Algorithm::RS256, k));
                    } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
                        out.push((Algorithm::ES256, k));
                    } else {
                        return Err(AuthError::Invalid("public key file is neither an RSA nor an EC PEM key".into()));
                    }
                }
            }
        }
        Ok(Verifier { keys: out })
    }

    /// Checks signature, algorithm and expiry (`exp` is required; `alg: none` never verifies).
    pub fn verify(&self, token: &str) -> Result<(UserId, Profile), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)))?;
        let mut validation = Validation::new(*alg);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        data.claims.profile()
    }
}

/// Mints an HS256 token (the `chatwire token` command and tests).
pub fn mint(secret: &[u8], claims: &Claims) -> Result<String, AuthError> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .map_err(|e| AuthError::Invalid(e.to_string()))
}

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt")).then_some(token.trim())
}

/// The token of a WebSocket request: `?token=`, or a bearer header for clients that can send one.
pub fn socket_token(req: &HttpRequest) -> Option<String> {
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).ok()?;
    query.get("token").cloned().or_else(|| bearer(req).map(str::to_owned))
}

/// Verifies a token and loads (or refreshes) its user.
pub async fn authenticate(state: &AppState, token: Option<&str>) -> Result<Actor, crate::error::ApiError> {
    let token = token.ok_or(AuthError::Missing)?;
    let (id, profile) = state.verifier.verify(token)?;
    if let Some(actor) = state.known_users.get(id, &profile) {
        return Ok(actor);
    }
    let actor = state.service.authenticate(id, &profile).await?;
    state.known_users.put(&profile, &actor);
    Ok(actor)
}

/// Users this node upserted recently, with the claims it upserted them from. A request whose
/// token carries the same claims skips the database: the upsert would change nothing. Entries
/// expire so `last_seen` and other server-side fields stay fresh enough for what reads them.
pub struct KnownUsers {
    entries: std::sync::Mutex<HashMap<UserId, (Profile, Actor, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl KnownUsers {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        KnownUsers { entries: std::sync::Mutex::new(HashMap::new()), ttl, capacity }
    }

    fn get(&self, id: UserId, profile: &Profile) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (known, actor, at) = entries.get(&id)?;
        (known == profile && at.elapsed() < self.ttl).then(|| actor.clone())
    }

    fn put(&self, profile: &Profile, actor: &Actor) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            // Crude but bounded: the next requests simply go to the database again.
            entries.clear();
        }
        entries.insert(actor.id(), (profile.clone(), actor.clone(), Instant::now()));
    }
}

/// Extractor for REST handlers: the caller, or 401.
pub struct Authenticated(pub Actor);

impl FromRequest for Authenticated {
    type Error = crate::error::ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| CoreError::Internal("app state missing".into()))?;
            authenticate(state, bearer(&req)).await.map(Authenticated)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: Option<&str>, exp: u64) -> Claims {
        Claims { sub: sub.map(str::to_owned), user_id: None, username: Some("ann".into()), email: None, display_name: None, exp }
    }

    fn later() -> u64 {
        jsonwebtoken::get_current_timestamp() + 600
    }

    #[test]
    fn accepts_sub_and_simplejwt_user_id() {
        let v = Verifier::new(&[JwtKey::Secret(b"s".to_vec())]).unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        let t = mint(b"s", &claims(Some(&id), later())).unwrap();
        assert_eq!(v.verify(&t).unwrap().0.to_string(), id);
        let simple = Claims { sub: None, user_id: Some(serde_json::json!(id)), ..claims(None, later()) };
        let t = mint(b"s", &simple).unwrap();
        assert_eq!(v.verify(&t).unwrap().1.username.as_deref(), Some("ann"));
    }

    #[test]
    fn rejects_expired_wrong_key_non_uuid_and_alg_none() {
        let v = Verifier::new(&[JwtKey::Secret(b"s".to_vec())]).unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(v.verify(&mint(b"s", &claims(Some(&id), 10)).unwrap()), Err(AuthError::Expired));
        assert!(matches!(v.verify(&mint(b"x", &claims(Some(&id), later())).unwrap()), Err(AuthError::Invalid(_))));
        assert_eq!(v.verify(&mint(b"s", &claims(Some("42"), later())).unwrap()), Err(AuthError::NoUser));
        // {"alg":"none"} . {"sub":..,"exp":..} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(matches!(v.verify(none), Err(AuthError::Invalid(_))));
        let no_exp = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x";
        assert!(v.verify(no_exp).is_err());
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn signed(alg: Algorithm, private_pem: &[u8], sub: &str) -> String {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem).unwrap(),
            _ => EncodingKey::from_ec_pem(private_pem).unwrap(),
        };
        jsonwebtoken::encode(&Header::new(alg), &claims(Some(sub), later()), &key).unwrap()
    }

    #[test]
    fn verifies_identity_provider_tokens_with_a_public_key() {
        let id = uuid::Uuid::new_v4().to_string();
        for (alg, private, public) in [
            (Algorithm::RS256, "rsa_private.pem", "rsa_public.pem"),
            (Algorithm::ES256, "ec_private.pem", "ec_public.pem"),
        ] {
            let v = Verifier::new(&[JwtKey::PublicKeyPem(fixture(public)), JwtKey::Secret(b"s".to_vec())]).unwrap();
            let token = signed(alg, &fixture(private), &id);
            assert_eq!(v.verify(&token).unwrap().0.to_string(), id, "{alg:?}");
            // A token signed with the other key type (or an HS256 token using the public key as
            // its secret, the classic confusion attack) does not verify.
            let forged = mint(&fixture(public), &claims(Some(&id), later())).unwrap();
            assert!(v.verify(&forged).is_err(), "{alg:?}: key confusion");
        }
        let rsa_only = Verifier::new(&[JwtKey::PublicKeyPem(fixture("rsa_public.pem"))]).unwrap();
        assert!(rsa_only.verify(&signed(Algorithm::ES256, &fixture("ec_private.pem"), &id)).is_err());
    }
}

