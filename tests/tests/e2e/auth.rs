//! Tokens as Django issues them, on every dialect: a stock SimpleJWT access token works, its
//! refresh token and every kind of bad token are refused.
use chatwire_test_support::{TestCluster, TestUser, WsClient, sign};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;

/// A REST call of each dialect that needs nothing but an authenticated caller.
const REST: &[&str] =
    &["/api/v1/users/me", "/api/unread-count/", "/chat/user/threads/", "/messages/api/chats/", "/api/v1.0/chat/rooms/"];

/// Each dialect's socket that needs no room.
const SOCKETS: &[&str] = &["/ws/v1", "/ws/chat/", "/ws/chat/?dialect=spherespace", "/ws/chat/room/", "/messages/ws/"];

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Exactly what djangorestframework-simplejwt 5.5.1 mints for a stock Django user.
fn simplejwt(token_type: &str, user_id: Value) -> String {
    sign(&json!({
        "token_type": token_type, "exp": now() + 300, "iat": now(),
        "jti": "9c1f3b7e2a6d4e0f8b5a1c3d7e9f0a2b", "user_id": user_id,
    }))
}

fn user(id: i64, token: String) -> TestUser {
    TestUser { id, name: format!("user{id}"), token }
}

/// Every kind of bad token is a 401 with a JSON body on REST and a refused handshake on a socket,
/// in every dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_everywhere() {
    let cluster = TestCluster::start_local().await;
    let node = cluster.node(0);
    let cases = [
        ("missing", None),
        ("garbage", Some("abc".to_owned())),
        ("expired", Some(sign(&json!({"user_id": "5", "exp": now() - 10})))),
        (
            "wrong key",
            Some(
                chatwire_server::auth::mint(b"another-secret", &chatwire_server::auth::Claims::for_user("5", 600))
                    .expect("mint"),
            ),
        ),
        ("a refresh token", Some(simplejwt("refresh", json!("5")))),
        ("no user id", Some(sign(&json!({"token_type": "access", "exp": now() + 300})))),
        ("an empty user id", Some(sign(&json!({"user_id": "", "exp": now() + 300})))),
        ("a non-integer number", Some(sign(&json!({"user_id": 5.5, "exp": now() + 300})))),
        ("no exp", Some(sign(&json!({"user_id": "5"})))),
        ("not yet valid", Some(sign(&json!({"user_id": "5", "exp": now() + 600, "nbf": now() + 300})))),
        ("alg none", Some("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.".to_owned())),
    ];
    for (name, token) in &cases {
        for path in REST {
            let mut req = cluster.http.get(format!("{}{path}", node.http()));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.expect("request");
            assert_eq!(resp.status(), 401, "{name} on {path}");
            let body: Value = resp.json().await.expect("json body");
            let text = [&body["message"], &body["detail"], &body["message"]]
                .iter()
                .find_map(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            assert!(!text.is_empty(), "{name} on {path}: {body}");
        }
        for path in SOCKETS {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match token {
                Some(t) => format!("ws://127.0.0.1:{}{path}{sep}token={t}", node.port),
                None => format!("ws://127.0.0.1:{}{path}", node.port),
            };
            match WsClient::connect(&url).await {
                Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401, "{name} on {path}"),
                Err(other) => panic!("{name} on {path}: unexpected {other}"),
                Ok(_) => panic!("{name} on {path}: socket accepted"),
            }
        }
    }
}

/// A stock SimpleJWT access token, digit string or integer, works on every dialect; `5` and
/// `"5"` are one user, shown with an integer id and a display name although the token has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_simplejwt_tokens_work_on_every_dialect() {
    let cluster = TestCluster::start_local().await;
    let node = cluster.node(0);
    let id = chatwire_test_support::next_user_id();
    let as_string = user(id, simplejwt("access", json!(id.to_string())));
    let as_number = user(id, simplejwt("access", json!(id)));
    for u in [&as_string, &as_number] {
        for path in REST {
            let (status, body) = cluster.get(0, u, path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        for path in SOCKETS {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("ws://127.0.0.1:{}{path}{sep}token={}", node.port, u.token);
            assert!(WsClient::connect(&url).await.is_ok(), "{path}");
        }
    }
    let (_, me) = cluster.get(0, &as_string, "/api/v1/users/me").await;
    assert_eq!(me["id"], json!(id), "an integer id is a JSON integer");
    assert_eq!(me["username"], "", "a stock token carries no username");
    assert_eq!(me["display_name"], format!("User {id}"), "the display fallback");

    // Both spellings reach the same user: a DM opened with one is listed for the other.
    let other = cluster.user("olga").await;
    let (status, dm) = cluster.post(0, &as_number, "/api/v1/conversations/dm", json!({"user_id": other.id})).await;
    assert_eq!(status, 200, "{dm}");
    let (_, list) = cluster.get(0, &as_string, "/api/v1/conversations").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["conversation"]["id"], dm["conversation"]["id"]);
}

/// `sub` wins over `user_id`; UUID and string ids work and appear as JSON strings; claims create
/// and update the user, and claims absent from a later token keep their stored value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_ids_and_profile_claims() {
    let cluster = TestCluster::start_local().await;
    let uuid = uuid::Uuid::new_v4();
    let token = |claims: Value| user(0, sign(&claims));
    let exp = now() + 300;
    let dana = token(json!({"sub": uuid.to_string().to_uppercase(), "user_id": 77, "exp": exp,
        "username": "dana", "email": "dana@example.com"}));
    let (status, me) = cluster.get(0, &dana, "/api/v1/users/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], uuid.to_string(), "a UUID is kept in lowercase hyphenated form");
    assert_eq!(me["username"], "dana");
    assert_eq!(me["display_name"], "dana", "no display name: the username");

    let renamed = token(json!({"sub": uuid.to_string(), "exp": exp, "username": "dana2"}));
    let (_, me) = cluster.get(0, &renamed, "/api/v1/users/me").await;
    assert_eq!(me["username"], "dana2");
    assert_eq!(me["email"], "dana@example.com", "claims absent from the token keep their stored value");

    let auth0 = token(json!({"sub": "auth0|65f0c1", "exp": exp}));
    let (_, me) = cluster.get(0, &auth0, "/api/v1/users/me").await;
    assert_eq!(me["id"], "auth0|65f0c1");
}

/// With `CHATWIRE_JWT_AUDIENCE` and `CHATWIRE_JWT_ISSUER` set, tokens must carry both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_and_issuer_are_checked_when_set() {
    let cluster = TestCluster::start_with(1, None, |s| {
        s.jwt_audience = Some("chatwire".into());
        s.jwt_issuer = Some("https://id.example".into());
    })
    .await;
    let exp = now() + 300;
    let good = user(1, sign(&json!({"user_id": "1", "exp": exp, "aud": "chatwire", "iss": "https://id.example"})));
    assert_eq!(cluster.get(0, &good, "/api/v1/users/me").await.0, 200);
    for bad in [
        json!({"user_id": "1", "exp": exp, "iss": "https://id.example"}),
        json!({"user_id": "1", "exp": exp, "aud": "other", "iss": "https://id.example"}),
        json!({"user_id": "1", "exp": exp, "aud": "chatwire", "iss": "https://evil.example"}),
    ] {
        assert_eq!(cluster.get(0, &user(1, sign(&bad)), "/api/v1/users/me").await.0, 401, "{bad}");
    }
}
