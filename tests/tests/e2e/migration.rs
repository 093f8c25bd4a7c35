//! Migrations on a database filled as the previous release left it (`external_ids`: UUID users,
//! UUID conversations, history, watermarks, reactions, idempotency keys, a system note), and
//! `group_commit` with nodes of the previous release still writing.
use chatwire_test_support::{TestCluster, TestDb, TestUser, sign};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

const ALICE: &str = "8d0e3b2c-0000-4000-8000-00000000000a";
const BOB: &str = "8d0e3b2c-0000-4000-8000-00000000000b";
const CAROL: &str = "8d0e3b2c-0000-4000-8000-00000000000c";
const DM: &str = "11111111-0000-4000-8000-000000000001";
const GROUP: &str = "22222222-0000-4000-8000-000000000002";

/// What the release before integer ids wrote, row by row.
const OLD_ROWS: &str = "
INSERT INTO users (id, username, email, display_name) VALUES
  ('8d0e3b2c-0000-4000-8000-00000000000a', 'alice', 'alice@example.com', 'Alice'),
  ('8d0e3b2c-0000-4000-8000-00000000000b', 'bob', 'bob@example.com', ''),
  ('8d0e3b2c-0000-4000-8000-00000000000c', 'carol', '', '');
INSERT INTO conversations (id, kind, title, dm_low, dm_high, created_by, created_at) VALUES
  ('11111111-0000-4000-8000-000000000001', 'dm', '', '8d0e3b2c-0000-4000-8000-00000000000a',
   '8d0e3b2c-0000-4000-8000-00000000000b', '8d0e3b2c-0000-4000-8000-00000000000a', now() - interval '2 days'),
  ('22222222-0000-4000-8000-000000000002', 'group', 'Team', NULL, NULL,
   '8d0e3b2c-0000-4000-8000-00000000000a', now() - interval '1 day');
INSERT INTO members (conversation_id, user_id, role, last_read_seq, last_delivered_seq) VALUES
  ('11111111-0000-4000-8000-000000000001', '8d0e3b2c-0000-4000-8000-00000000000a', 'member', 3, 3),
  ('11111111-0000-4000-8000-000000000001', '8d0e3b2c-0000-4000-8000-00000000000b', 'member', 2, 2),
  ('22222222-0000-4000-8000-000000000002', '8d0e3b2c-0000-4000-8000-00000000000a', 'owner', 0, 0),
  ('22222222-0000-4000-8000-000000000002', '8d0e3b2c-0000-4000-8000-00000000000c', 'member', 0, 0);
INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_key) VALUES
  ('11111111-0000-4000-8000-000000000001', 1, '8d0e3b2c-0000-4000-8000-00000000000a', 'text', 'one', 'key-1'),
  ('11111111-0000-4000-8000-000000000001', 2, '8d0e3b2c-0000-4000-8000-00000000000b', 'text', 'two', NULL),
  ('11111111-0000-4000-8000-000000000001', 3, '8d0e3b2c-0000-4000-8000-00000000000a', 'text', 'three', NULL),
  ('22222222-0000-4000-8000-000000000002', 1, NULL, 'system', 'Alice created the group', NULL),
  ('22222222-0000-4000-8000-000000000002', 2, '8d0e3b2c-0000-4000-8000-00000000000c', 'text', 'hi team', NULL);
INSERT INTO reactions (message_id, user_id, emoji)
  SELECT id, '8d0e3b2c-0000-4000-8000-00000000000b', '👍' FROM messages WHERE content = 'one';
";

fn user(id: &str, name: &str) -> TestUser {
    // The identity provider may write the UUID in capitals; it is the same user.
    let token = sign(&json!({"sub": id.to_uppercase(), "exp": jsonwebtoken::get_current_timestamp() + 600}));
    TestUser { id: 0, name: name.into(), token }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_database_carries_over() {
    let db = TestDb::migrated_until("2026-11-21-000003").await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connect");
    diesel::sql_query("BEGIN").execute(&mut conn).await.expect("begin");
    for statement in OLD_ROWS.split(';').filter(|s| !s.trim().is_empty()) {
        diesel::sql_query(statement).execute(&mut conn).await.expect(statement);
    }
    diesel::sql_query("COMMIT").execute(&mut conn).await.expect("commit");
    let applied = db.migrate().await;
    assert!(applied.iter().any(|v| v.contains("000001")), "applied {applied:?}");
    drop(conn);

    let cluster = TestCluster::start_on(db, 1, None, |_| {}).await;
    let (alice, bob, carol) = (user(ALICE, "alice"), user(BOB, "bob"), user(CAROL, "carol"));

    // Conversations are numbered in creation order; everything else is where it was.
    let (status, list) = cluster.get(0, &alice, "/api/v1/conversations").await;
    assert_eq!(status, 200, "{list}");
    let mut ids: Vec<(i64, String)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|v| {
            (
                v["conversation"]["id"].as_i64().expect("integer id"),
                v["conversation"]["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec![(1, "dm".to_owned()), (2, "group".to_owned())]);
    let (_, dm) = cluster.get(0, &bob, "/api/v1/conversations/1").await;
    assert_eq!((dm["conversation"]["last_seq"].as_i64(), dm["unread_count"].as_i64()), (Some(3), Some(1)), "{dm}");
    assert_eq!(dm["last_message"]["content"], "three");
    let (_, history) = cluster.get(0, &alice, "/api/v1/conversations/1/messages").await;
    let seqs: Vec<(i64, &str)> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|m| (m["seq"].as_i64().expect("seq"), m["content"].as_str().expect("c")))
        .collect();
    assert_eq!(seqs, vec![(1, "one"), (2, "two"), (3, "three")]);
    assert_eq!(history[0]["sender"]["id"], ALICE);
    assert_eq!(history[0]["reactions"], json!([{"emoji": "👍", "count": 1, "users": [BOB]}]));

    // Old system notes have a sender now (the group's creator), in every dialect.
    let (_, notes) = cluster.get(0, &carol, "/messages/api/chats/2/messages/").await;
    let note = &notes["results"][0];
    assert_eq!(
        (note["content"].as_str(), note["sender"]["username"].as_str()),
        (Some("Alice created the group"), Some("alice"))
    );

    // The DM pair is still unique, the old idempotency key still holds, seqs go on.
    let (_, again) = cluster.post(0, &bob, "/api/v1/conversations/dm", json!({"user_id": ALICE})).await;
    assert_eq!(again["conversation"]["id"], 1);
    let (status, retry) = cluster
        .post(0, &alice, "/api/v1/conversations/1/messages", json!({"content": "one", "client_key": "key-1"}))
        .await;
    assert_eq!((status, retry["seq"].as_i64()), (200, Some(1)), "the original comes back: {retry}");
    let (status, four) = cluster.post(0, &alice, "/api/v1/conversations/1/messages", json!({"content": "four"})).await;
    assert_eq!((status, four["seq"].as_i64()), (201, Some(4)), "{four}");

    // A new conversation continues the numbering.
    let (_, new) = cluster.post(0, &carol, "/api/v1/conversations/dm", json!({"user_id": BOB})).await;
    assert_eq!(new["conversation"]["id"], 3);

    // Links that named a conversation by its old UUID still work (spherespace).
    let (status, old_link) = cluster.get(0, &alice, &format!("/api/conversations/{DM}/messages/")).await;
    assert_eq!(status, 200, "{old_link}");
    assert_eq!(old_link.as_array().map(Vec::len), Some(4));
    let (status, _) = cluster.get(0, &bob, &format!("/api/conversations/{GROUP}/messages/")).await;
    assert_eq!(status, 404, "bob is not in the group");
}

/// The insert a node of the previous release runs (one row, `last_seq + 1` under a row lock, the
/// trigger writing the seq back), as it ran it.
const PREVIOUS_RELEASE_INSERT: &str = "
INSERT INTO messages (conversation_id, seq, sender_id, kind, content)
SELECT c.id, c.last_seq + 1, $2, 'text', $3 FROM conversations c
WHERE c.id = $1 AND EXISTS (SELECT 1 FROM members m WHERE m.conversation_id = c.id AND m.user_id = $2
    AND m.state = 'active')
FOR UPDATE";

/// Migration `group_commit` during a rolling upgrade: nodes of the previous release (single-row
/// inserts that rely on the seq trigger) and of this one (batches that bump `last_seq` themselves)
/// write the same conversation at once; every message gets its own seq, gapless, and `last_seq`
/// ends at the highest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_nodes_number_one_conversation_together() {
    use diesel::sql_types::{BigInt, Text};
    let cluster = TestCluster::start_local().await;
    let (alice, bob, conv) = cluster.alice_and_bob().await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let mut old_nodes = Vec::new();
    for i in 0..20 {
        let url = cluster.db.url.clone();
        let sender = bob.id.to_string();
        old_nodes.push(tokio::spawn(async move {
            let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
            diesel::sql_query(PREVIOUS_RELEASE_INSERT)
                .bind::<BigInt, _>(conv)
                .bind::<Text, _>(sender)
                .bind::<Text, _>(format!("old {i}"))
                .execute(&mut conn)
                .await
                .expect("the previous release's insert")
        }));
    }
    let mut new_seqs = Vec::new();
    for i in 0..20 {
        let (status, sent) = cluster.post(0, &alice, &path, json!({"content": format!("new {i}")})).await;
        assert_eq!(status, 201, "{sent}");
        new_seqs.push(sent["seq"].as_i64().expect("seq"));
    }
    for node in old_nodes {
        assert_eq!(node.await.expect("task"), 1, "one row each");
    }
    let (_, history) = cluster.get(0, &alice, &format!("{path}?after=0&limit=100")).await;
    let seqs: Vec<i64> = history.as_array().expect("list").iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>(), "40 messages, one seq each, gapless");
    assert!(new_seqs.windows(2).all(|w| w[0] < w[1]), "one sender's sends in order: {new_seqs:?}");
    let (_, view) = cluster.get(0, &alice, &format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(view["conversation"]["last_seq"], 40, "last_seq at the highest");
    // And the conversation goes on from there.
    let (_, next) = cluster.post(0, &bob, &path, json!({"content": "after"})).await;
    assert_eq!(next["seq"], 41);
}
