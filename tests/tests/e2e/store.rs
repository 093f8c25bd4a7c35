//! The store on its own, against a real database: the invariants every dialect leans on.
use std::sync::Arc;

use chatwire_core::UserId;
use chatwire_core::model::{MemberState, MessageKind, MessagePage, NewMessage, Profile, ReactionChange, User};
use chatwire_core::ports::{ListFilter, Store};
use chatwire_store::PgStore;
use chatwire_test_support::TestDb;

async fn store(db: &TestDb) -> Arc<PgStore> {
    Arc::new(PgStore::new(chatwire_store::connect_pool(&db.url, 8).expect("pool")))
}

async fn user(store: &PgStore, name: &str) -> User {
    let id = UserId::from_int(chatwire_test_support::next_user_id());
    store.upsert_user(&id, &Profile { username: Some(name.into()), ..Profile::default() }).await.expect("user")
}

fn text(content: &str) -> NewMessage {
    NewMessage { content: content.into(), ..NewMessage::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_get_gapless_unique_seqs() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let (a, b) = (user(&store, "a").await, user(&store, "b").await);
    let (conv, _) = store.get_or_create_dm(&a.id, &b.id, MemberState::Active).await.expect("dm");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, sender) = (store.clone(), if i % 2 == 0 { a.clone() } else { b.clone() });
        tasks.push(tokio::spawn(async move {
            store.insert_message(conv.id, Some(&sender), MessageKind::Text, &text(&format!("{i}"))).await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("task").expect("insert").expect("member").message.seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_dm_creation_ends_with_one_conversation() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let (a, b) = (user(&store, "a").await, user(&store, "b").await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        let (x, y) = if i % 2 == 0 { (a.id.clone(), b.id.clone()) } else { (b.id.clone(), a.id.clone()) };
        tasks.push(tokio::spawn(async move { store.get_or_create_dm(&x, &y, MemberState::Active).await }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let (c, new) = t.await.expect("task").expect("dm");
        ids.push(c.id);
        created += usize::from(new);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_membership_and_watermarks() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let (a, b, c) = (user(&store, "a").await, user(&store, "b").await, user(&store, "c").await);
    let (conv, _) = store.get_or_create_dm(&a.id, &b.id, MemberState::Active).await.expect("dm");

    let keyed = NewMessage { content: "once".into(), client_key: Some("k".into()), ..NewMessage::default() };
    let first = store.insert_message(conv.id, Some(&a), MessageKind::Text, &keyed).await.expect("ok").expect("member");
    let again = store.insert_message(conv.id, Some(&a), MessageKind::Text, &keyed).await.expect("ok").expect("member");
    assert!(first.created && !again.created);
    assert_eq!(first.message.id, again.message.id);
    // The retry burnt no seq.
    let next = store.insert_message(conv.id, Some(&a), MessageKind::Text, &text("two")).await.expect("ok").expect("m");
    assert_eq!(next.message.seq, 2);

    // A stranger cannot post.
    assert!(store.insert_message(conv.id, Some(&c), MessageKind::Text, &text("x")).await.expect("ok").is_none());

    // Unread, read watermark, counts of newly read.
    let views = store.list_conversations(&b.id, ListFilter::Visible).await.expect("list");
    assert_eq!(views[0].unread_count, 2);
    assert_eq!(store.unread_total(&b.id).await.expect("total"), 2);
    assert_eq!(store.unread_total(&a.id).await.expect("total"), 0, "one's own messages are never unread");
    let moved = store.mark_read(conv.id, &b.id, Some(1)).await.expect("read").expect("moved");
    assert_eq!((moved.seq, moved.covered), (1, 1));
    assert!(store.mark_read(conv.id, &b.id, Some(1)).await.expect("read").is_none(), "never moves down or twice");
    let moved = store.mark_read(conv.id, &b.id, Some(99)).await.expect("read").expect("moved");
    assert_eq!(moved.seq, 2, "capped at the last seq");
    let views = store.list_conversations(&b.id, ListFilter::Visible).await.expect("list");
    assert_eq!(views[0].unread_count, 0);
    assert_eq!(store.unread_total(&b.id).await.expect("total"), 0);
    let member = views[0].member(&b.id).expect("member");
    assert_eq!(member.last_delivered_seq, 2, "read implies delivered");

    // Soft delete keeps the seq; reactions toggle.
    let (change, groups) = store.toggle_reaction(first.message.id, &b.id, "👍").await.expect("react");
    assert_eq!((change, groups[0].count), (ReactionChange::Added, 1));
    let (change, groups) = store.toggle_reaction(first.message.id, &b.id, "👍").await.expect("react");
    assert_eq!((change, groups.len()), (ReactionChange::Removed, 0));
    let deleted = store.delete_message(first.message.id).await.expect("delete");
    assert!(deleted.is_deleted() && deleted.content.is_empty());
    let page = store.list_messages(conv.id, MessagePage { before: None, after: None, limit: 10 }).await.expect("list");
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    let page =
        store.list_messages(conv.id, MessagePage { before: Some(2), after: None, limit: 10 }).await.expect("list");
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1]);
}
