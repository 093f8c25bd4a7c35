//! Three dialects, one set of conversations: a `threads` client, a `dotted` client and a
//! `spherespace` client talk to each other on different nodes.
use chatwire_test_support::{TestCluster, WsClient};
use serde_json::{Value, json};

async fn next_where(ws: &mut WsClient, key: &str, value: &str) -> Value {
    loop {
        let f = ws.recv().await;
        if f[key] == value {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_dotted_and_spherespace_clients_share_conversations() {
    let cluster = TestCluster::start(3).await;
    let alice = cluster.user("alice").await; // threads
    let bob = cluster.user("bob").await; // dotted
    let carol = cluster.user("carol").await; // spherespace
    let mut alice_ws =
        WsClient::connect(&cluster.node(0).ws_url("/ws/chat/room/", &alice.token)).await.expect("threads");
    let mut bob_ws = WsClient::connect(&cluster.node(1).ws_url("/ws/chat/", &bob.token)).await.expect("dotted");
    let mut carol_ws = WsClient::connect(&cluster.node(2).ws_url("/ws/chat/?dialect=spherespace", &carol.token))
        .await
        .expect("spherespace");

    // threads -> dotted: the thread is created by the first message.
    alice_ws.send(json!({"action": "chat_message", "message_body": "hi bob", "receiver_id": bob.id})).await;
    let conf = next_where(&mut alice_ws, "action", "conf_message").await;
    let got = next_where(&mut bob_ws, "type", "chat.message").await;
    assert_eq!(got["message"]["content"], "hi bob");
    assert_eq!(got["message"]["id"], conf["created_msg_id"]);
    let dm = got["message"]["conversation_id"].as_i64().expect("dotted: an integer conversation id");

    // dotted -> threads, in the same conversation.
    bob_ws.send(json!({"type": "chat.message", "conversation_id": dm, "content": "hi alice"})).await;
    let re = next_where(&mut alice_ws, "action", "re_message").await;
    assert_eq!((re["message_body"].as_str(), re["sender_id"].as_i64()), (Some("hi alice"), Some(bob.id)));

    // spherespace -> threads: carol starts by username (a request for alice) and writes.
    let (status, conv) = cluster.post(2, &carol, "/api/conversations/", json!({"username": "alice"})).await;
    assert_eq!(status, 201);
    let c2_uuid = conv["id"].as_str().expect("spherespace: a UUID conversation id").to_owned();
    let c2 = chatwire_core::ConversationId::from_uuid(c2_uuid.parse().expect("a UUID"))
        .expect("a conversation's UUID name")
        .0;
    carol_ws
        .send(json!({"type": "chat_message", "conversation_id": c2_uuid, "content": "hello from spherespace"}))
        .await;
    let re = next_where(&mut alice_ws, "action", "re_message").await;
    assert_eq!(re["message_body"], "hello from spherespace");
    // threads -> spherespace: alice answers by user id; the same DM is used (and carol hears it).
    alice_ws.send(json!({"action": "chat_message", "message_body": "hi carol", "receiver_id": carol.id})).await;
    let heard = loop {
        let f = next_where(&mut carol_ws, "type", "new_message").await;
        if f["message"]["content"] == "hi carol" {
            break f;
        }
    };
    assert_eq!(heard["conversation_id"], c2_uuid.as_str());
    // Threads has no message requests: replying accepted carol's.
    let (_, pending) = cluster.get(0, &alice, "/api/v1/conversations?filter=requests").await;
    assert_eq!(pending, json!([]));

    // Each dialect's listing sees the same conversations.
    let (_, threads) = cluster.get(0, &alice, "/chat/user/threads/").await;
    let mut ids: Vec<i64> =
        threads["entity"].as_array().expect("threads").iter().map(|t| t["id"].as_i64().expect("id")).collect();
    ids.sort();
    let mut expected = vec![dm, c2];
    expected.sort();
    assert_eq!(ids, expected);
    bob_ws.send(json!({"type": "chat.get_messages", "conversation_id": dm})).await;
    let history = next_where(&mut bob_ws, "type", "chat.messages").await;
    let contents: Vec<&str> =
        history["messages"].as_array().expect("m").iter().map(|m| m["content"].as_str().expect("c")).collect();
    assert_eq!(contents, vec!["hi bob", "hi alice"]);
    let (_, carols) = cluster.get(2, &carol, &format!("/api/conversations/{c2_uuid}/messages/")).await;
    let contents: Vec<&str> = carols.as_array().expect("m").iter().map(|m| m["content"].as_str().expect("c")).collect();
    assert_eq!(contents, vec!["hello from spherespace", "hi carol"]);
    // And the native API agrees.
    let (_, native) = cluster.get(1, &bob, "/api/v1/conversations").await;
    assert_eq!(native[0]["conversation"]["id"], dm);
}
