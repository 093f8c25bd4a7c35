//! Who is calling: JWT verification and the actix extractor that turns a bearer token into an
//! [`Actor`]. Tokens come from chatwire's own `token` command (HS256) or from an external identity
//! provider (RS256/ES256 with its public key), e.g. Django REST framework SimpleJWT.
use std::collections::HashMap;
use std::future::Future;
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
    #[error("token names no user: a non-empty `sub` or `user_id` claim (string or integer) is required")]
    NoUser,
    #[error("token has wrong type: only access tokens are accepted")]
    WrongType,
    #[error("the server API is off: set CHATWIRE_SERVER_API_KEY to use it")]
    ServerApiOff,
    #[error("the server API key is missing or wrong")]
    WrongServerKey,
}

/// The claims chatwire reads; anything else in the token (`iat`, `jti`, ...) is ignored.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Claims {
    /// The user: a string or, from some providers, an integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<serde_json::Value>,
    /// What Django REST framework SimpleJWT puts where others put `sub`: the user's primary key,
    /// a JSON integer in older versions, a digit string since 5.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// SimpleJWT's `access` or `refresh`; when present, only `access` passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    pub exp: u64,
}

impl Claims {
    /// Claims for one user, valid for `ttl_secs` from now (the `token` command and tests).
    pub fn for_user(id: impl Into<serde_json::Value>, ttl_secs: u64) -> Claims {
        Claims { sub: Some(id.into()), exp: jsonwebtoken::get_current_timestamp() + ttl_secs, ..Claims::default() }
    }

    fn verified(&self) -> Result<Verified, AuthError> {
        if self.token_type.as_deref().is_some_and(|t| t != "access") {
            return Err(AuthError::WrongType);
        }
        let id = match (&self.sub, &self.user_id) {
            (Some(sub), _) => user_id(sub),
            (None, Some(user_id_claim)) => user_id(user_id_claim),
            (None, None) => None,
        }
        .ok_or(AuthError::NoUser)?;
        Ok(Verified {
            id: id.clone(),
            profile: Profile {
                id: Some(id),
                username: self.username.clone(),
                email: self.email.clone(),
                display_name: self.display_name.clone(),
            },
            expires_at: self.exp,
        })
    }
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub id: UserId,
    pub profile: Profile,
    /// The token's `exp`, in seconds since the Unix epoch: a socket opened with it ends then.
    pub expires_at: u64,
}

/// A user id claim: a non-empty string or an integer; `5` and `"5"` are the same user.
fn user_id(claim: &serde_json::Value) -> Option<UserId> {
    match claim {
        serde_json::Value::String(s) => UserId::parse(s).ok(),
        serde_json::Value::Number(n) => n.as_i64().map(UserId::from_int),
        _ => None,
    }
}

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug, Default)]
pub struct TokenRules {
    /// `CHATWIRE_JWT_AUDIENCE`: when set, the token's `aud` must name it.
    pub audience: Option<String>,
    /// `CHATWIRE_JWT_ISSUER`: when set, the token's `iss` must be it.
    pub issuer: Option<String>,
}

/// Verifies tokens against the configured keys.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    rules: TokenRules,
}

impl Verifier {
    pub fn new(keys: &[JwtKey], rules: TokenRules) -> Result<Verifier, AuthError> {
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
        Ok(Verifier { keys: out, rules })
    }

    /// Checks signature, algorithm, expiry (`exp` is required; `alg: none` never verifies),
    /// `nbf` when present, audience and issuer when configured, and the token type.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)))?;
        let mut validation = Validation::new(*alg);
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.rules.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.rules.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        data.claims.verified()
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
    authenticate_until(state, token).await.map(|(actor, _)| actor)
}

/// [`authenticate`], also returning when the token expires (what a socket needs).
pub async fn authenticate_until(state: &AppState, token: Option<&str>) -> Result<(Actor, u64), crate::error::ApiError> {
    let token = token.ok_or(AuthError::Missing)?;
    let Verified { id, profile, expires_at } = state.verifier.verify(token)?;
    crate::telemetry::record_user(&id);
    if let Some(actor) = state.known_users.get(&id, &profile) {
        return Ok((actor, expires_at));
    }
    let actor = state.service.authenticate(id, &profile).await?;
    state.known_users.put(&profile, &actor);
    Ok((actor, expires_at))
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

    fn get(&self, id: &UserId, profile: &Profile) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (known, actor, at) = entries.get(id)?;
        (known == profile && at.elapsed() < self.ttl).then(|| actor.clone())
    }

    fn put(&self, profile: &Profile, actor: &Actor) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            // Crude but bounded: the next requests simply go to the database again.
            entries.clear();
        }
        entries.insert(actor.id().clone(), (profile.clone(), actor.clone(), Instant::now()));
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
            let state =
                req.app_data::<web::Data<AppState>>().ok_or_else(|| CoreError::Internal("app state missing".into()))?;
            authenticate(state, bearer(&req)).await.map(Authenticated)
        })
    }
}

/// Extractor for the server API: the request carries `CHATWIRE_SERVER_API_KEY` as its bearer
/// token (or in `X-Api-Key`), or it is refused with 401.
pub struct ServerKey;

impl FromRequest for ServerKey {
    type Error = crate::error::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(server_key(req).map(|()| ServerKey))
    }
}

fn server_key(req: &HttpRequest) -> Result<(), crate::error::ApiError> {
    use subtle::ConstantTimeEq;
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| CoreError::Internal("app state missing".into()))?;
    let expected = state.settings.server_api_key.as_deref().ok_or(AuthError::ServerApiOff)?;
    let given = bearer(req)
        .or_else(|| req.headers().get("x-api-key").and_then(|v| v.to_str().ok()))
        .ok_or(AuthError::WrongServerKey)?;
    // Compared in constant time: the key must not leak through how fast a guess is refused.
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) { Ok(()) } else { Err(AuthError::WrongServerKey.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(sub: Option<&str>, exp: u64) -> Claims {
        Claims { sub: sub.map(|s| json!(s)), username: Some("ann".into()), exp, ..Claims::default() }
    }

    fn later() -> u64 {
        jsonwebtoken::get_current_timestamp() + 600
    }

    fn verifier() -> Verifier {
        Verifier::new(&[JwtKey::Secret(b"s".to_vec())], TokenRules::default()).unwrap()
    }

    /// A token as djangorestframework-simplejwt 5.5 mints it for a stock Django user.
    fn simplejwt(token_type: &str, user_id: serde_json::Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let payload = json!({
            "token_type": token_type, "exp": now + 300, "iat": now, "jti": "2b1f0c9e8f6a4d3c9b7a5e4d3c2b1a09",
            "user_id": user_id,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &EncodingKey::from_secret(b"s")).unwrap()
    }

    #[test]
    fn accepts_sub_and_simplejwt_user_id() {
        let v = verifier();
        let id = uuid::Uuid::new_v4().to_string();
        let t = mint(b"s", &claims(Some(&id), later())).unwrap();
        assert_eq!(v.verify(&t).unwrap().id.to_string(), id);
        let simple = Claims { sub: None, user_id: Some(json!(id)), ..claims(None, later()) };
        let t = mint(b"s", &simple).unwrap();
        assert_eq!(v.verify(&t).unwrap().profile.username.as_deref(), Some("ann"));
    }

    #[test]
    fn a_stock_simplejwt_access_token_names_its_integer_user() {
        let v = verifier();
        let Verified { id: as_string, profile, .. } = v.verify(&simplejwt("access", json!("5"))).unwrap();
        let as_number = v.verify(&simplejwt("access", json!(5))).unwrap().id;
        assert_eq!(as_string, as_number, "5 and \"5\" are one user");
        assert_eq!(as_string.as_int(), Some(5));
        assert_eq!(profile.username, None, "a stock token carries no profile claims");
    }

    #[test]
    fn refuses_refresh_tokens() {
        assert_eq!(verifier().verify(&simplejwt("refresh", json!("5"))), Err(AuthError::WrongType));
    }

    #[test]
    fn checks_audience_issuer_and_not_before_when_asked() {
        let rules = TokenRules { audience: Some("chat".into()), issuer: Some("https://id.example".into()) };
        let v = Verifier::new(&[JwtKey::Secret(b"s".to_vec())], rules).unwrap();
        let sign = |payload: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &EncodingKey::from_secret(b"s")).unwrap()
        };
        let exp = later();
        assert!(v.verify(&sign(json!({"sub": "5", "exp": exp, "aud": "chat", "iss": "https://id.example"}))).is_ok());
        assert!(
            v.verify(&sign(json!({"sub": "5", "exp": exp, "aud": ["other", "chat"], "iss": "https://id.example"})))
                .is_ok()
        );
        assert!(v.verify(&sign(json!({"sub": "5", "exp": exp, "aud": "other", "iss": "https://id.example"}))).is_err());
        assert!(v.verify(&sign(json!({"sub": "5", "exp": exp, "iss": "https://id.example"}))).is_err(), "aud missing");
        assert!(v.verify(&sign(json!({"sub": "5", "exp": exp, "aud": "chat", "iss": "https://evil"}))).is_err());
        assert!(v.verify(&sign(json!({"sub": "5", "exp": exp, "aud": "chat"}))).is_err(), "iss missing");
        // Without rules, aud and iss are not looked at; nbf is honoured always.
        let plain = verifier();
        assert!(plain.verify(&sign(json!({"sub": "5", "exp": exp, "aud": "anything"}))).is_ok());
        assert!(plain.verify(&sign(json!({"sub": "5", "exp": exp, "nbf": exp - 60}))).is_err(), "not yet valid");
        assert!(plain.verify(&sign(json!({"sub": "5", "exp": exp, "nbf": exp - 900}))).is_ok());
    }

    #[test]
    fn rejects_expired_wrong_key_empty_ids_and_alg_none() {
        let v = verifier();
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(v.verify(&mint(b"s", &claims(Some(&id), 10)).unwrap()), Err(AuthError::Expired));
        assert!(matches!(v.verify(&mint(b"x", &claims(Some(&id), later())).unwrap()), Err(AuthError::Invalid(_))));
        assert_eq!(v.verify(&mint(b"s", &claims(Some(""), later())).unwrap()), Err(AuthError::NoUser));
        let no_user = Claims { sub: None, ..claims(None, later()) };
        assert_eq!(v.verify(&mint(b"s", &no_user).unwrap()), Err(AuthError::NoUser));
        let float = Claims { user_id: Some(json!(5.5)), ..no_user };
        assert_eq!(v.verify(&mint(b"s", &float).unwrap()), Err(AuthError::NoUser));
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
            let keys = [JwtKey::PublicKeyPem(fixture(public)), JwtKey::Secret(b"s".to_vec())];
            let v = Verifier::new(&keys, TokenRules::default()).unwrap();
            let token = signed(alg, &fixture(private), &id);
            assert_eq!(v.verify(&token).unwrap().id.to_string(), id, "{alg:?}");
            // A token signed with the other key type (or an HS256 token using the public key as
            // its secret, the classic confusion attack) does not verify.
            let forged = mint(&fixture(public), &claims(Some(&id), later())).unwrap();
            assert!(v.verify(&forged).is_err(), "{alg:?}: key confusion");
        }
        let rsa_only =
            Verifier::new(&[JwtKey::PublicKeyPem(fixture("rsa_public.pem"))], TokenRules::default()).unwrap();
        assert!(rsa_only.verify(&signed(Algorithm::ES256, &fixture("ec_private.pem"), &id)).is_err());
    }
}
