//! A walk through the native REST API endpoints the other tests do not exercise, across nodes.
use std::time::Duration;

use chatwire_test_support::TestCluster;
use serde_json::{Value, json};

fn seqs(page: &Value) -> Vec<i64> {
    page.as_array().expect("a list").iter().map(|m| m["seq"].as_i64().expect("seq")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_paging_and_delivery_receipts() {
    let cluster = TestCluster::start(2).await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    cluster.user("alicia").await;

    let (status, found) = cluster.get(1, &bob, "/api/v1/users/search?q=ALI").await;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        found["results"].as_array().expect("results").iter().map(|u| u["username"].as_str().expect("name")).collect();
    assert_eq!(names, vec!["alice", "alicia"]);
    let (_, me_excluded) = cluster.get(0, &alice, "/api/v1/users/search?q=alice").await;
    assert!(me_excluded["results"].as_array().expect("results").iter().all(|u| u["id"] != alice.id));
    let (_, wildcard) = cluster.get(0, &alice, "/api/v1/users/search?q=%25").await;
    assert_eq!(wildcard["results"], json!([]), "% is a character, not a wildcard");

    for i in 1..=7 {
        cluster
            .post(0, &alice, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": format!("m{i}")}))
            .await;
    }
    let base = format!("/api/v1/conversations/{conv}/messages");
    assert_eq!(seqs(&cluster.get(1, &bob, &format!("{base}?limit=3")).await.1), vec![5, 6, 7], "newest page");
    assert_eq!(seqs(&cluster.get(1, &bob, &format!("{base}?before=5&limit=3")).await.1), vec![2, 3, 4]);
    assert_eq!(seqs(&cluster.get(1, &bob, &format!("{base}?before=2")).await.1), vec![1]);
    assert_eq!(
        seqs(&cluster.get(1, &bob, &format!("{base}?after=0&limit=2")).await.1),
        vec![1, 2],
        "oldest page after"
    );
    assert_eq!(
        seqs(&cluster.get(1, &bob, &format!("{base}?after=7")).await.1),
        Vec::<i64>::new(),
        "nothing after the end"
    );
    assert_eq!(seqs(&cluster.get(1, &bob, &format!("{base}?after=2&before=5")).await.1), vec![3, 4]);

    let mut alice_ws = cluster.socket(0, &alice).await;
    let (status, moved) =
        cluster.post(1, &bob, &format!("/api/v1/conversations/{conv}/delivered"), json!({"seq": 4})).await;
    assert_eq!((status, moved["seq"].as_i64(), moved["marked"].as_i64()), (200, Some(4), Some(4)));
    let ev = alice_ws.expect_type("delivered").await;
    assert_eq!((ev["seq"].as_i64(), ev["user"]["id"].as_i64()), (Some(4), Some(bob.id)));
    let (_, view) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}")).await;
    let bob_member = view["members"].as_array().expect("members").iter().find(|m| m["user"]["id"] == bob.id).cloned();
    let bob_member = bob_member.expect("bob is a member");
    assert_eq!((bob_member["last_delivered_seq"].as_i64(), bob_member["last_read_seq"].as_i64()), (Some(4), Some(0)));
    assert_eq!(view["unread_count"], 0, "alice's own messages are not unread for her");
    let (_, again) = cluster.post(1, &bob, &format!("/api/v1/conversations/{conv}/delivered"), json!({"seq": 2})).await;
    assert_eq!((again["seq"].clone(), again["marked"].as_i64()), (Value::Null, Some(0)), "never moves down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_lifecycle_rename_add_leave_delete() {
    let cluster = TestCluster::start(2).await;
    let owner = cluster.user("owner").await;
    let m1 = cluster.user("m1").await;
    let late = cluster.user("late").await;
    let (_, group) =
        cluster.post(0, &owner, "/api/v1/conversations/groups", json!({"title": "t", "member_ids": [m1.id]})).await;
    let conv = group["conversation"]["id"].as_i64().expect("an integer id");
    assert_eq!(group["conversation"]["kind"], "group");
    let roles: Vec<&str> =
        group["members"].as_array().expect("members").iter().map(|m| m["role"].as_str().expect("role")).collect();
    assert_eq!(roles, vec!["owner", "member"]);
    let mut m1_ws = cluster.socket(1, &m1).await;
    let mut late_ws = cluster.socket(1, &late).await;

    let (status, body) =
        cluster.send("PATCH", 1, &m1, &format!("/api/v1/conversations/{conv}"), json!({"title": "mine"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, renamed) =
        cluster.send("PATCH", 0, &owner, &format!("/api/v1/conversations/{conv}"), json!({"title": "team"})).await;
    assert_eq!((status, renamed["title"].as_str()), (200, Some("team")));
    assert_eq!(m1_ws.expect_type("conversation_updated").await["conversation"]["title"], "team");

    let (status, added) = cluster
        .post(0, &owner, &format!("/api/v1/conversations/{conv}/members"), json!({"user_ids": [late.id, m1.id]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(added["added"], json!([late.id]), "existing members are not added twice");
    assert_eq!(late_ws.expect_type("conversation_joined").await["conversation"]["id"], conv);
    assert_eq!(m1_ws.expect_type("member_added").await["user"]["id"], late.id);
    cluster.post(0, &owner, &format!("/api/v1/conversations/{conv}/messages"), json!({"content": "welcome"})).await;
    loop {
        let f = late_ws.expect_type("message_created").await;
        if f["message"]["content"] == "welcome" {
            break;
        }
    }

    // The owner leaves: the group keeps an admin (the longest-standing member).
    let (status, _) = cluster.post(0, &owner, &format!("/api/v1/conversations/{conv}/leave"), json!({})).await;
    assert_eq!(status, 204);
    let (_, view) = cluster.get(1, &m1, &format!("/api/v1/conversations/{conv}")).await;
    let m1_role = view["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["user"]["id"] == m1.id)
        .map(|m| m["role"].clone());
    assert_eq!(m1_role, Some(json!("admin")));
    let (status, _) = cluster.get(0, &owner, &format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(status, 404, "a former member learns nothing more");

    let (status, _) = cluster.send("DELETE", 1, &late, &format!("/api/v1/conversations/{conv}"), json!({})).await;
    assert_eq!(status, 403, "only admins delete a group");
    let (status, _) = cluster.send("DELETE", 1, &m1, &format!("/api/v1/conversations/{conv}"), json!({})).await;
    assert_eq!(status, 204);
    late_ws.expect_type("conversation_deleted").await;
    let (_, list) = cluster.get(1, &late, "/api/v1/conversations").await;
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_requests_accept_and_decline() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let (status, dm) =
        cluster.post(0, &alice, "/api/v1/conversations/dm", json!({"user_id": bob.id, "as_request": true})).await;
    assert_eq!(status, 200);
    let conv = dm["conversation"]["id"].as_i64().expect("an integer id");
    let path = format!("/api/v1/conversations/{conv}/messages");
    cluster.post(0, &alice, &path, json!({"content": "hi, can we talk?"})).await;

    let (_, requests) = cluster.get(1, &bob, "/api/v1/conversations?filter=requests").await;
    assert_eq!(requests.as_array().expect("list").len(), 1);
    let (_, active) = cluster.get(1, &bob, "/api/v1/conversations?filter=active").await;
    assert_eq!(active, json!([]));
    let (status, body) = cluster.post(1, &bob, &path, json!({"content": "answer"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "accept first");
    let (status, page) = cluster.get(1, &bob, &path).await;
    assert_eq!((status, seqs(&page)), (200, vec![1]), "a request can be read");

    let (status, _) =
        cluster.post(1, &bob, &format!("/api/v1/conversations/{conv}/request"), json!({"action": "accept"})).await;
    assert_eq!(status, 204);
    let (status, _) = cluster.post(1, &bob, &path, json!({"content": "sure"})).await;
    assert_eq!(status, 201);

    let (_, dm) =
        cluster.post(0, &alice, "/api/v1/conversations/dm", json!({"user_id": carol.id, "as_request": true})).await;
    let c2 = dm["conversation"]["id"].as_i64().expect("an integer id");
    let mut carol_ws = cluster.socket(1, &carol).await;
    let (status, _) =
        cluster.post(1, &carol, &format!("/api/v1/conversations/{c2}/request"), json!({"action": "decline"})).await;
    assert_eq!(status, 204);
    carol_ws.expect_type("conversation_left").await;
    cluster.post(0, &alice, &format!("/api/v1/conversations/{c2}/messages"), json!({"content": "please?"})).await;
    let after = carol_ws.drain(Duration::from_millis(500)).await;
    assert!(after.iter().all(|f| f["type"] != "message_created"), "a declined request delivers nothing: {after:?}");
    let (status, _) = cluster.get(1, &carol, &format!("/api/v1/conversations/{c2}")).await;
    assert_eq!(status, 404);
    let (status, body) =
        cluster.post(1, &carol, &format!("/api/v1/conversations/{c2}/request"), json!({"action": "accept"})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "declined: it is gone for her");
    let (status, body) =
        cluster.post(1, &bob, &format!("/api/v1/conversations/{conv}/request"), json!({"action": "maybe"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_size_limit_is_a_setting() {
    let cluster = TestCluster::start_with(1, None, |s| s.limits.max_message_chars = 10).await;
    let (alice, _bob, conv) = cluster.alice_and_bob().await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    assert_eq!(cluster.post(0, &alice, &path, json!({"content": "0123456789"})).await.0, 201);
    let (status, body) = cluster.post(0, &alice, &path, json!({"content": "0123456789x"})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("too_long")));
    assert!(body["message"].as_str().expect("message").contains("max 10"));
}
