//! The chat page a node serves at `/` and the development token endpoint it signs in with.
use chatwire_test_support::TestCluster;
use serde_json::json;

async fn dev_token(cluster: &TestCluster, node: usize, username: &str) -> (u16, serde_json::Value) {
    let resp = cluster
        .http
        .post(format!("{}/api/v1/dev/token", cluster.node(node).http()))
        .json(&json!({ "username": username }))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_node_serves_the_page_and_signs_test_users_in() {
    let cluster = TestCluster::start(2).await;
    let page = cluster.http.get(format!("{}/", cluster.node(0).http())).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/html"));
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<script type="module" src="/app.js">"#), "{html}");
    let script = cluster.http.get(format!("{}/app.js", cluster.node(0).http())).send().await.expect("script");
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/javascript"));
    assert!(script.text().await.expect("js").contains("/api/v1/dev/token"), "the bundle signs in through the endpoint");

    // One username is one user on every node.
    let (status, first) = dev_token(&cluster, 0, "alice").await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = dev_token(&cluster, 1, "alice").await;
    let mut ids = Vec::new();
    for (node, body) in [(0, &first), (1, &second)] {
        let me: serde_json::Value = cluster
            .http
            .get(format!("{}/api/v1/users/me", cluster.node(node).http()))
            .bearer_auth(body["token"].as_str().expect("token"))
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["username"], "alice", "{me}");
        ids.push(me["id"].clone());
    }
    assert!(ids[0].is_i64(), "an integer id, as a Django user's: {}", ids[0]);
    assert_eq!(ids[0], ids[1]);

    let (status, body) = dev_token(&cluster, 0, "no spaces allowed").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_node_has_no_token_endpoint() {
    let cluster = TestCluster::start_with(1, Some(chatwire_test_support::redis_url()), |s| s.production = true).await;
    let (status, body) = dev_token(&cluster, 0, "alice").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
}
