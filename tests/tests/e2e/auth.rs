use chatwire_test_support::{TestCluster, WsClient};
use tokio_tungstenite::tungstenite::Error as WsError;

/// Every kind of bad token is a 401 with a JSON body on REST and a refused handshake on a socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_everywhere() {
    let cluster = TestCluster::start_local().await;
    let node = cluster.node(0);
    let id = uuid::Uuid::new_v4();
    let expired = {
        let claims = chatwire_server_claims(id, 1);
        chatwire_server::auth::mint(chatwire_test_support::JWT_SECRET.as_bytes(), &claims).expect("mint")
    };
    let wrong_key = chatwire_server::auth::mint(b"another-secret", &chatwire_server_claims(id, later())).expect("mint");
    let not_uuid = {
        let mut c = chatwire_server_claims(id, later());
        c.sub = Some("42".into());
        chatwire_server::auth::mint(chatwire_test_support::JWT_SECRET.as_bytes(), &c).expect("mint")
    };
    let alg_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.".to_owned();
    let cases = [("missing", None), ("garbage", Some("abc".to_owned())), ("expired", Some(expired)),
        ("wrong key", Some(wrong_key)), ("not a uuid", Some(not_uuid)), ("alg none", Some(alg_none))];
    for (name, token) in cases {
        let mut req = cluster.http.get(format!("{}/api/v1/users/me", node.http()));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401, "{name}");
        let body: serde_json::Value = resp.json().await.expect("json body");
        assert_eq!(body["code"], "unauthorized", "{name}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

        let url = match &token {
            Some(t) => node.ws_url("/ws/v1", t),
            None => format!("ws://127.0.0.1:{}/ws/v1", node.port),
        };
        match WsClient::connect(&url).await {
            Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401, "{name}"),
            Err(other) => panic!("{name}: unexpected {other}"),
            Ok(_) => panic!("{name}: socket accepted"),
        }
    }
}

/// A SimpleJWT-style token (`user_id` claim) works, and its claims create and update the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simplejwt_user_id_claim_creates_and_updates_the_user() {
    let cluster = TestCluster::start_local().await;
    let id = uuid::Uuid::new_v4();
    let mut claims = chatwire_server_claims(id, later());
    claims.sub = None;
    claims.user_id = Some(serde_json::json!(id.to_string()));
    let me = me_with(&cluster, id, &claims).await;
    assert_eq!(me["id"], id.to_string());
    assert_eq!(me["username"], "dana");

    claims.username = Some("dana2".into());
    claims.email = None;
    let me = me_with(&cluster, id, &claims).await;
    assert_eq!(me["username"], "dana2");
    assert_eq!(me["email"], "dana@example.com", "claims absent from the token keep their stored value");
}

/// `GET /api/v1/users/me` with a token made of `claims`.
async fn me_with(cluster: &TestCluster, id: uuid::Uuid, claims: &chatwire_server::auth::Claims) -> serde_json::Value {
    let token = chatwire_server::auth::mint(chatwire_test_support::JWT_SECRET.as_bytes(), claims).expect("mint");
    let user = chatwire_test_support::TestUser { id, name: "dana".into(), token };
    let (status, me) = cluster.get(0, &user, "/api/v1/users/me").await;
    assert_eq!(status, 200, "{me}");
    me
}

fn later() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 600
}

fn chatwire_server_claims(id: uuid::Uuid, exp: u64) -> chatwire_server::auth::Claims {
    chatwire_server::auth::Claims {
        sub: Some(id.to_string()),
        user_id: None,
        username: Some("dana".into()),
        email: Some("dana@example.com".into()),
        display_name: None,
        exp,
    }
}
