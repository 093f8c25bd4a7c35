//! specs/003 (`django_messaging`): every endpoint and event, pagination edges, and the
//! authorization matrix, with users on different nodes.
use std::time::Duration;

use chatwire_test_support::{TestCluster, TestUser, WsClient};
use serde_json::{Value, json};

use super::assert_shape;

const API: &str = "/messages/api";

async fn events(cluster: &TestCluster, node: usize, user: &TestUser) -> WsClient {
    WsClient::connect(&cluster.node(node).ws_url("/messages/ws/", &user.token)).await.expect("socket")
}

const MESSAGE_EXAMPLE: &str = r#"{"id": 42, "content": "Hello!", "created_at": "2025-01-02T15:30:00Z", "updated_at": "2025-01-02T15:30:00Z",
    "is_edited": false, "is_deleted": false,
    "sender": {"id": 2, "username": "johndoe", "display_name": "John Doe", "avatar_url": "https://..."},
    "reactions": [{"emoji": "x", "count": 2, "users": [1, 3]}], "read_by": [1, 2], "chat": 1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_event_across_nodes() {
    let cluster = TestCluster::start(2).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let carol = cluster.user("carol").await;
    let mut bob_ws = events(&cluster, 1, &bob).await;

    // Users search: name, username, email; `q` required.
    let (status, found) = cluster.get(0, &alice, &format!("{API}/users/search/?q=CAROL@example")).await;
    assert_eq!(status, 200);
    assert_shape(
        &found,
        r#"{"results": [{"id": 5, "username": "janedoe", "display_name": "Jane Doe", "email": "jane@example.com", "avatar_url": "https://..."}]}"#,
    );
    assert_eq!(found["results"][0]["username"], "carol");
    let (status, body) = cluster.get(0, &alice, &format!("{API}/users/search/")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Invalid request")));
    assert!(body["details"]["q"].is_array());

    // Create a group and a DM.
    let (status, group) = cluster
        .post(
            0,
            &alice,
            &format!("{API}/chats/"),
            json!({"chat_type": "group", "title": "Project Team", "member_ids": [bob.id]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!((group["chat_type"].as_str(), group["title"].as_str()), (Some("group"), Some("Project Team")));
    let gid = group["id"].as_i64().expect("an integer id");
    // The group's record of its creation is a message from its creator: the document's message
    // always has a sender object, and real clients render `sender.display_name`.
    let (_, chats) = cluster.get(1, &bob, &format!("{API}/chats/")).await;
    let note = &chats["results"][0]["last_message"];
    assert_eq!(
        (note["content"].as_str(), note["sender"]["id"].as_i64()),
        (Some("ALICE created the group"), Some(alice.id))
    );
    assert_eq!(note["sender"]["display_name"], "ALICE");
    let (_, history) = cluster.get(1, &bob, &format!("{API}/chats/{gid}/messages/")).await;
    assert!(history["results"].as_array().expect("results").iter().all(|m| m["sender"].is_object()), "{history}");
    let live = bob_ws.expect_type("new_message").await;
    assert_eq!(live["message"]["sender"]["username"], "alice", "live too: {live}");
    let (status, dm) =
        cluster.post(1, &bob, &format!("{API}/chats/"), json!({"chat_type": "dm", "member_ids": [carol.id]})).await;
    assert_eq!((status, dm["chat_type"].as_str(), dm["title"].as_str()), (201, Some("dm"), Some("CAROL")));

    // Detail with admins; update by PUT and PATCH.
    let (_, detail) = cluster.get(1, &bob, &format!("{API}/chats/{gid}/")).await;
    assert_shape(
        &detail,
        r#"{"id": 1, "title": "t", "chat_type": "dm", "created_at": "2025", "updated_at": "2025",
        "members": [{"id": 1, "username": "u", "display_name": "U", "avatar_url": null}], "admins": [1]}"#,
    );
    assert_eq!(detail["admins"], json!([alice.id]));
    for method in ["PUT", "PATCH"] {
        let (status, updated) = cluster
            .send(method, 0, &alice, &format!("{API}/chats/{gid}/"), json!({"title": format!("Team {method}")}))
            .await;
        assert_eq!((status, updated["title"].as_str()), (200, Some(format!("Team {method}").as_str())));
    }

    // Send: 201; the other node's socket gets new_message.
    let (status, sent) =
        cluster.post(0, &alice, &format!("{API}/chats/{gid}/messages/"), json!({"content": "Hello, everyone!"})).await;
    assert_eq!(status, 201);
    assert_eq!(sent["content"], "Hello, everyone!");
    let mid = sent["id"].as_i64().expect("id");
    let ev = loop {
        let f = bob_ws.expect_type("new_message").await;
        if f["message"]["id"] == mid {
            break f;
        }
    };
    assert_eq!(ev["message"]["sender"]["username"], "alice");

    // Message detail with `chat`, reactions and read_by.
    let (status, reacted) =
        cluster.post(1, &bob, &format!("{API}/messages/{mid}/reactions/"), json!({"emoji": "👍"})).await;
    assert_eq!((status, reacted), (200, json!({"action": "added", "emoji": "👍", "message_id": mid})));
    let ev = bob_ws.expect_type("reaction_updated").await;
    assert_eq!((ev["message_id"].as_i64(), ev["reactions"][0]["count"].as_i64()), (Some(mid), Some(1)));
    let (status, read) = cluster.post(1, &bob, &format!("{API}/chats/{gid}/mark-as-read/"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(read["status"], "success");
    assert_eq!(read["marked_count"], 1, "the system messages are not counted");
    let (_, m) = cluster.get(0, &alice, &format!("{API}/messages/{mid}/")).await;
    assert_shape(&m, MESSAGE_EXAMPLE);
    assert_eq!(m["chat"], gid);
    assert_eq!(m["reactions"], json!([{"emoji": "👍", "count": 1, "users": [bob.id]}]));
    assert_eq!(m["read_by"], json!([bob.id]));
    let (_, again) = cluster.post(1, &bob, &format!("{API}/messages/{mid}/reactions/"), json!({"emoji": "👍"})).await;
    assert_eq!(again["action"], "removed");

    // Edit and delete, own only; events reach the other node.
    let (status, edited) = cluster
        .send("PATCH", 0, &alice, &format!("{API}/messages/{mid}/"), json!({"content": "Updated message content"}))
        .await;
    assert_eq!((status, edited["is_edited"].as_bool()), (200, Some(true)));
    let ev = bob_ws.expect_type("message_updated").await;
    assert_eq!(
        (ev["message"]["content"].as_str(), ev["message"]["is_edited"].as_bool()),
        (Some("Updated message content"), Some(true))
    );
    let (status, _) = cluster.send("DELETE", 0, &alice, &format!("{API}/messages/{mid}/"), json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(bob_ws.expect_type("message_deleted").await, json!({"type": "message_deleted", "message_id": mid}));

    // Typing over REST reaches the socket.
    let (status, _) = cluster.post(0, &alice, &format!("{API}/chats/{gid}/typing/"), json!({"is_typing": true})).await;
    assert_eq!(status, 200);
    let ev = bob_ws.expect_type("typing").await;
    assert_eq!((ev["user_id"].as_i64(), ev["is_typing"].as_bool()), (Some(alice.id), Some(true)));

    // Members: add (counting only new ones), remove.
    let (status, added) = cluster
        .post(0, &alice, &format!("{API}/chats/{gid}/members/add/"), json!({"user_ids": [carol.id, bob.id]}))
        .await;
    assert_eq!((status, added), (200, json!({"status": "success", "added_count": 1})));
    let (status, _) =
        cluster.send("DELETE", 0, &alice, &format!("{API}/chats/{gid}/members/{}/remove/", carol.id), json!({})).await;
    assert_eq!(status, 204);

    cluster.post(0, &alice, &format!("{API}/chats/{gid}/messages/"), json!({"content": "last"})).await;

    // The chats list, with last message, unread count and members; search.
    let (status, list) = cluster.get(1, &bob, &format!("{API}/chats/")).await;
    assert_eq!(status, 200);
    assert_shape(
        &list,
        r#"{"count": 2, "next": null, "previous": null, "results": [{"id": 1, "title": "John Doe", "chat_type": "dm",
        "created_at": "x", "updated_at": "x", "last_message": {"id": 42, "content": "Hello!", "created_at": "x",
        "sender": {"id": 2, "username": "johndoe", "display_name": "John Doe", "avatar_url": null}},
        "unread_count": 3, "members": [{"id": 1, "username": "u", "display_name": "U", "avatar_url": null}]}]}"#,
    );
    assert_eq!(list["count"], 2);
    assert_eq!(
        (list["results"][0]["last_message"]["content"].as_str(), list["results"][0]["unread_count"].as_i64()),
        (Some("last"), Some(1))
    );
    let (_, searched) = cluster.get(1, &bob, &format!("{API}/chats/?search=carol")).await;
    assert_eq!((searched["count"].as_i64(), searched["results"][0]["chat_type"].as_str()), (Some(1), Some("dm")));

    // Delete the chat.
    let (status, _) = cluster.send("DELETE", 0, &alice, &format!("{API}/chats/{gid}/"), json!({})).await;
    assert_eq!(status, 204);
    let (status, gone) = cluster.get(1, &bob, &format!("{API}/chats/{gid}/")).await;
    assert_eq!((status, gone), (404, json!({"detail": "Not found."})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_pagination_edges() {
    let cluster = TestCluster::start(1).await;
    let alice = cluster.user("alice").await;
    let bob = cluster.user("bob").await;
    let (_, dm) =
        cluster.post(0, &alice, &format!("{API}/chats/"), json!({"chat_type": "dm", "member_ids": [bob.id]})).await;
    let id = dm["id"].as_i64().expect("an integer id");
    let url = format!("{API}/chats/{id}/messages/");

    let (status, empty) = cluster.get(0, &alice, &url).await;
    assert_eq!((status, empty), (200, json!({"count": 0, "next": null, "previous": null, "results": []})));

    let mut ids = Vec::new();
    for i in 1..=120 {
        let (_, m) = cluster.post(0, &alice, &url, json!({"content": format!("m{i}")})).await;
        ids.push(m["id"].as_i64().expect("id"));
    }
    let contents = |page: &Value| -> Vec<String> {
        page["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|m| m["content"].as_str().expect("c").to_owned())
            .collect()
    };
    let (_, p1) = cluster.get(0, &bob, &url).await;
    assert_eq!(p1["count"], 120);
    assert_eq!(contents(&p1).first().map(String::as_str), Some("m71"));
    assert_eq!(contents(&p1).last().map(String::as_str), Some("m120"), "page 1 is the newest, oldest first");
    assert!(p1["next"].as_str().expect("next").ends_with("page=2"));
    assert_eq!(p1["previous"], Value::Null);
    let (_, p3) = cluster.get(0, &bob, &format!("{url}?page=3")).await;
    assert_eq!(contents(&p3), (1..=20).map(|i| format!("m{i}")).collect::<Vec<_>>(), "the last page is short");
    assert_eq!(p3["next"], Value::Null);
    assert!(p3["previous"].as_str().expect("previous").ends_with("page=2"));
    let (status, body) = cluster.get(0, &bob, &format!("{url}?page=4")).await;
    assert_eq!((status, body), (404, json!({"detail": "Invalid page."})));

    // before / after are message ids, exclusive.
    let (_, before) = cluster.get(0, &bob, &format!("{url}?before={}", ids[2])).await;
    assert_eq!((before["count"].as_i64(), contents(&before)), (Some(2), vec!["m1".to_owned(), "m2".to_owned()]));
    let (_, after) = cluster.get(0, &bob, &format!("{url}?after={}", ids[117])).await;
    assert_eq!(contents(&after), vec!["m119", "m120"]);
    let (_, nothing) = cluster.get(0, &bob, &format!("{url}?after={}", ids[119])).await;
    assert_eq!((nothing["count"].as_i64(), contents(&nothing).len()), (Some(0), 0), "nothing after the last");
    let (_, nothing) = cluster.get(0, &bob, &format!("{url}?before={}", ids[0])).await;
    assert_eq!(nothing["count"], 0, "nothing before the first");
    let (_, between) = cluster.get(0, &bob, &format!("{url}?after={}&before={}", ids[9], ids[13])).await;
    assert_eq!(contents(&between), vec!["m11", "m12", "m13"]);
    let (status, _) = cluster.get(0, &bob, &format!("{url}?before=abc")).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_in_the_documents_shapes() {
    let cluster = TestCluster::start(2).await;
    let owner = cluster.user("owner").await;
    let member = cluster.user("member").await;
    let stranger = cluster.user("stranger").await;
    let (_, group) = cluster
        .post(
            0,
            &owner,
            &format!("{API}/chats/"),
            json!({"chat_type": "group", "title": "g", "member_ids": [member.id]}),
        )
        .await;
    let gid = group["id"].as_i64().expect("an integer id");
    let (_, m) = cluster.post(0, &owner, &format!("{API}/chats/{gid}/messages/"), json!({"content": "mine"})).await;
    let mid = m["id"].as_i64().expect("id");
    let mut stranger_ws = events(&cluster, 1, &stranger).await;

    let not_found = json!({"detail": "Not found."});
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    // A non-member: every chat and message call is a 404 indistinguishable from a missing chat.
    let missing = uuid::Uuid::new_v4();
    for (method, path) in [
        ("GET", format!("{API}/chats/{gid}/")),
        ("GET", format!("{API}/chats/{missing}/")),
        ("GET", format!("{API}/chats/{gid}/messages/")),
        ("POST", format!("{API}/chats/{gid}/messages/")),
        ("PATCH", format!("{API}/chats/{gid}/")),
        ("DELETE", format!("{API}/chats/{gid}/")),
        ("POST", format!("{API}/chats/{gid}/mark-as-read/")),
        ("POST", format!("{API}/chats/{gid}/typing/")),
        ("GET", format!("{API}/messages/{mid}/")),
        ("PATCH", format!("{API}/messages/{mid}/")),
        ("POST", format!("{API}/messages/{mid}/reactions/")),
    ] {
        let (status, body) = cluster
            .send(method, 1, &stranger, &path, json!({"content": "x", "title": "x", "emoji": "x", "is_typing": true}))
            .await;
        assert_eq!((status, &body), (404, &not_found), "{method} {path}");
    }
    // A non-admin member: refused with 403.
    for (method, path, body) in [
        ("PATCH", format!("{API}/chats/{gid}/"), json!({"title": "mine now"})),
        ("DELETE", format!("{API}/chats/{gid}/"), json!({})),
        ("POST", format!("{API}/chats/{gid}/members/add/"), json!({"user_ids": [stranger.id]})),
        ("DELETE", format!("{API}/chats/{gid}/members/{}/remove/", owner.id), json!({})),
    ] {
        let (status, got) = cluster.send(method, 1, &member, &path, body).await;
        assert_eq!((status, &got), (403, &forbidden), "{method} {path}");
    }
    // A non-author: refused with 403.
    for method in ["PUT", "PATCH", "DELETE"] {
        let (status, got) =
            cluster.send(method, 1, &member, &format!("{API}/messages/{mid}/"), json!({"content": "edited"})).await;
        assert_eq!((status, &got), (403, &forbidden), "{method}");
    }
    let (_, m) = cluster.get(0, &owner, &format!("{API}/messages/{mid}/")).await;
    assert_eq!((m["content"].as_str(), m["is_edited"].as_bool()), (Some("mine"), Some(false)), "nothing changed");
    // Unauthenticated and bad input.
    let resp = cluster.http.get(format!("{}{API}/chats/", cluster.node(0).http())).send().await.expect("request");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"detail": "Authentication credentials were not provided."})
    );
    let (status, body) =
        cluster.post(0, &owner, &format!("{API}/chats/{gid}/messages/"), json!({"content": "x".repeat(1001)})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("Invalid request")));
    assert!(body["details"]["content"][0].as_str().expect("detail").contains("1000"));
    let (status, body) =
        cluster.post(0, &owner, &format!("{API}/chats/"), json!({"chat_type": "dm", "member_ids": []})).await;
    assert_eq!((status, body["details"]["member_ids"].is_array()), (400, true));
    let (status, body) = cluster.post(0, &owner, &format!("{API}/chats/"), json!({"chat_type": "channel"})).await;
    assert_eq!((status, body["details"]["chat_type"].is_array()), (400, true));

    assert!(stranger_ws.drain(Duration::from_millis(300)).await.is_empty(), "a stranger's socket heard something");
    stranger_ws.send(json!({"type": "new_message"})).await;
    assert_eq!(stranger_ws.expect_type("error").await["code"], "unknown_type", "the socket only sends events");
}
