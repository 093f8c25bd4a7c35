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

/// Group commit: many concurrent sends (new ones, retries, a used key under another message,
/// strangers) share batches; only the new ones are numbered, and the seqs stay gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_new_sends_retries_and_strangers_numbers_only_the_new() {
    use chatwire_core::CoreError;
    let db = TestDb::new().await;
    let settings = chatwire_store::WriterSettings { lanes: 1, ..Default::default() };
    let store = Arc::new(PgStore::with_settings(
        chatwire_store::connect_pool(&db.url, 4).expect("pool"),
        std::time::Duration::from_secs(10),
        settings,
    ));
    let (a, b, stranger) = (user(&store, "a").await, user(&store, "b").await, user(&store, "c").await);
    let (conv, _) = store.get_or_create_dm(&a.id, &b.id, MemberState::Active).await.expect("dm");
    let keyed = |key: String, content: &str| NewMessage {
        content: content.into(),
        client_key: Some(key),
        ..NewMessage::default()
    };
    // (sender, message): a's keyed sends, b's plain ones, retries of a's first ten, a's keys
    // 10-14 under other content, and a stranger.
    let mut sends: Vec<(User, NewMessage)> = Vec::new();
    for i in 0..30 {
        sends.push((a.clone(), keyed(format!("a{i}"), &format!("a says {i}"))));
        sends.push((b.clone(), text(&format!("b says {i}"))));
    }
    for i in 0..10 {
        sends.push((a.clone(), keyed(format!("a{i}"), &format!("a says {i}"))));
    }
    for i in 10..15 {
        sends.push((a.clone(), keyed(format!("a{i}"), "something else")));
    }
    for i in 0..10 {
        sends.push((stranger.clone(), keyed(format!("s{i}"), "let me in")));
    }
    let tasks: Vec<_> = sends
        .into_iter()
        .map(|(sender, msg)| {
            let store = store.clone();
            tokio::spawn(async move {
                let answer = store.insert_message(conv.id, Some(&sender), MessageKind::Text, &msg).await;
                (sender.id, msg, answer)
            })
        })
        .collect();
    let (mut created, mut retried, mut refused_key, mut strangers) = (Vec::new(), 0, 0, 0);
    for task in tasks {
        let (sender, msg, answer) = task.await.expect("task");
        match answer {
            Ok(Some(sent)) if sent.created => {
                assert_eq!(sent.message.content, msg.content);
                created.push((sent.message.seq, msg.client_key.clone()));
            }
            Ok(Some(sent)) => {
                assert_eq!(sent.message.client_key, msg.client_key);
                retried += 1;
            }
            Ok(None) => {
                assert_eq!(sender, stranger.id);
                strangers += 1;
            }
            Err(CoreError::Conflict(_)) => refused_key += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    let mut seqs: Vec<i64> = created.iter().map(|(seq, _)| *seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=60).collect::<Vec<i64>>(), "60 new messages, gapless");
    assert_eq!((retried, refused_key, strangers), (10, 5, 10));
    let stats = store.write_stats();
    let (batches, carried) = (
        stats.batches.load(std::sync::atomic::Ordering::Relaxed),
        stats.sends.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert_eq!(carried, 85);
    assert!(batches < carried, "sends shared batches ({batches} batches for {carried})");
    eprintln!("{carried} sends in {batches} batches");
}

/// Two nodes' writers batching the same conversations at once: no deadlock (each statement locks
/// its conversations in id order), every send stored, every conversation gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_overlapping_conversations_stay_gapless() {
    let db = TestDb::new().await;
    let node = || Arc::new(PgStore::new(chatwire_store::connect_pool(&db.url, 4).expect("pool")));
    let (one, two) = (node(), node());
    let users = [user(&one, "a").await, user(&one, "b").await, user(&one, "c").await];
    let mut conversations = Vec::new();
    for (x, y) in [(0, 1), (1, 2), (0, 2)] {
        let (conv, _) = one.get_or_create_dm(&users[x].id, &users[y].id, MemberState::Active).await.expect("dm");
        conversations.push((conv.id, users[x].clone()));
    }
    let mut tasks = Vec::new();
    for i in 0..300 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        let (conv, sender) = conversations[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            let sent = store.insert_message(conv, Some(&sender), MessageKind::Text, &text(&format!("{i}"))).await;
            (conv, sent.expect("stored, no deadlock").expect("member").message.seq)
        }));
    }
    let mut per: std::collections::HashMap<_, Vec<i64>> = std::collections::HashMap::new();
    for t in tasks {
        let (conv, seq) = t.await.expect("task");
        per.entry(conv).or_default().push(seq);
    }
    for (_, mut seqs) in per {
        seqs.sort();
        assert_eq!(seqs, (1..=100).collect::<Vec<i64>>());
    }
}

/// Past its queue a lane refuses at once (`overloaded`) instead of letting every sender wait;
/// what it refused is not stored, and what it took stays gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_refuses_the_excess_at_once() {
    use chatwire_core::CoreError;
    let db = TestDb::new().await;
    let settings = chatwire_store::WriterSettings { lanes: 1, max_batch: 4, queue: 2, ..Default::default() };
    let store = Arc::new(PgStore::with_settings(
        chatwire_store::connect_pool(&db.url, 2).expect("pool"),
        std::time::Duration::from_secs(10),
        settings,
    ));
    let (a, b) = (user(&store, "a").await, user(&store, "b").await);
    let (conv, _) = store.get_or_create_dm(&a.id, &b.id, MemberState::Active).await.expect("dm");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let answer = store.insert_message(conv.id, Some(&a), MessageKind::Text, &text(&format!("{i}"))).await;
                (answer, started.elapsed())
            })
        })
        .collect();
    // A group's record of a change already made waits its turn instead: never refused.
    let note = {
        let (store, a) = (store.clone(), a.clone());
        tokio::spawn(async move { store.insert_message(conv.id, Some(&a), MessageKind::System, &text("note")).await })
    };
    let (mut stored, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.expect("task") {
            (Ok(Some(sent)), _) => stored.push(sent.message.seq),
            (Err(CoreError::Overloaded { retry_after }), waited) => {
                assert!(retry_after > std::time::Duration::ZERO);
                assert!(waited < std::time::Duration::from_millis(200), "refused at once, not after {waited:?}");
                refused += 1;
            }
            (other, _) => panic!("unexpected: {:?}", other.map(|s| s.map(|s| s.message.seq))),
        }
    }
    assert!(refused > 0, "200 sends at once into a queue of 2 must refuse some");
    let note = note.await.expect("task").expect("the note is stored, not refused").expect("stored");
    stored.push(note.message.seq);
    stored.sort();
    assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>(), "what was taken is gapless");
    let count = store.count_messages(conv.id).await.expect("count");
    assert_eq!(count, stored.len() as i64, "nothing refused was stored");
    assert_eq!(store.write_stats().refused.load(std::sync::atomic::Ordering::Relaxed), refused);
    eprintln!("stored {}, refused {refused}", stored.len());
}
