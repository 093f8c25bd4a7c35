use std::time::Duration;

use chatwire_test_support::TestCluster;
use serde_json::json;

/// Edits, deletes and reactions are stored, broadcast across nodes, and refused to non-authors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_reactions_reach_the_other_node() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let mut bob_ws = cluster.socket(1, &bob).await;
    let (_, sent) =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "helo"})).await;
    let id = sent["id"].as_i64().expect("id");
    bob_ws.expect_type("message_created").await;

    let (status, body) =
        cluster.send("PATCH", 1, &bob, &format!("/api/v1/messages/{id}"), json!({"content": "mine now"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "only the author edits");
    let (status, edited) =
        cluster.send("PATCH", 0, &alice, &format!("/api/v1/messages/{id}"), json!({"content": "hello"})).await;
    assert_eq!(status, 200, "{edited}");
    assert!(edited["edited_at"].is_string());
    let ev = bob_ws.expect_type("message_edited").await;
    assert_eq!(ev["message"]["content"], "hello");

    let (status, reacted) =
        cluster.post(1, &bob, &format!("/api/v1/messages/{id}/reactions"), json!({"emoji": "👍"})).await;
    assert_eq!((status, reacted["change"].as_str()), (200, Some("added")));
    let mut alice_ws = cluster.socket(0, &alice).await;
    let (_, reacted) = cluster.post(1, &bob, &format!("/api/v1/messages/{id}/reactions"), json!({"emoji": "👍"})).await;
    assert_eq!(reacted["change"], "removed");
    let ev = alice_ws.expect_type("reaction_changed").await;
    assert_eq!((ev["change"].as_str(), ev["emoji"].as_str()), (Some("removed"), Some("👍")));

    let (status, _) = cluster.send("DELETE", 1, &bob, &format!("/api/v1/messages/{id}"), json!({})).await;
    assert_eq!(status, 403, "only the author deletes");
    let (status, deleted) = cluster.send("DELETE", 0, &alice, &format!("/api/v1/messages/{id}"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["content"], "");
    let ev = bob_ws.expect_type("message_deleted").await;
    assert_eq!(ev["message"]["id"], id);
    // The seq stays: history still has seq 1, now empty and marked deleted.
    let (_, page) = cluster.get(1, &bob, &format!("/api/v1/conversations/{conv}/messages")).await;
    assert_eq!(page[0]["seq"], 1);
    assert!(page[0]["deleted_at"].is_string());
}

/// A typing indicator nobody renews expires by itself (test TTL: 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_expires_by_itself() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let (status, _) =
        cluster.post(0, &alice, &format!("/api/v1/conversations/{conv}/typing"), json!({"is_typing": true})).await;
    assert_eq!(status, 204);
    let svc_typing = |c: &TestCluster| {
        let url = format!("{}/api/v1/conversations/{conv}/typing-users", c.node(1).http());
        let (http, token) = (c.http.clone(), bob.token.clone());
        async move {
            let v: serde_json::Value =
                http.get(url).bearer_auth(token).send().await.expect("req").json().await.expect("json");
            v
        }
    };
    let now = svc_typing(&cluster).await;
    assert_eq!(now[0]["username"], "alice", "{now}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = svc_typing(&cluster).await;
    assert_eq!(later, json!([]));
}
