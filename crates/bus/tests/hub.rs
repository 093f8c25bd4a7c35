#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on purpose")]
//! One suite for both brokers: what a socket receives through the hub must not depend on
//! whether events travel in-process or through Redis.
use std::sync::Arc;
use std::time::Duration;

use chatwire_bus::{Broker, Hub, LocalBroker, Outbound, QueueLimits, RedisBroker, Subscription};
use chatwire_core::model::User;
use chatwire_core::{Channel, ConversationId, Event, UserId};

fn typing(conversation: ConversationId) -> Event {
    let user = User {
        id: UserId::from_int(7),
        username: "u".into(),
        email: String::new(),
        display_name: String::new(),
        avatar_url: None,
        last_seen: None,
    };
    // A fixed time: the byte-budget test counts each event's size on the wire, and a clock
    // reading's fraction is written with 3, 6 or 9 digits, whichever it needs.
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("a time");
    Event::Typing { conversation_id: conversation, user, is_typing: true, at }
}

fn left(user: UserId) -> Event {
    Event::ConversationLeft { user_id: user, conversation_id: ConversationId(99) }
}

/// A queue of `events`, with bytes to spare.
fn limits(events: usize) -> QueueLimits {
    QueueLimits { events, bytes: 1 << 20 }
}

async fn next(sub: &mut Subscription) -> Option<Event> {
    match tokio::time::timeout(Duration::from_millis(1500), sub.recv()).await {
        Ok(Some(Outbound::Event(e))) => Some((*e).clone()),
        _ => None,
    }
}

async fn nothing(sub: &mut Subscription) -> bool {
    tokio::time::timeout(Duration::from_millis(300), sub.recv()).await.is_err()
}

/// `publisher` and `receiver` may be the same hub (one node) or two hubs on one Redis (two nodes).
async fn fan_out_follows_joins_and_leaves(publisher: &Hub, receiver: &Hub) {
    let conv = ConversationId(1);
    let user = UserId::from_int(5);
    let mut a = receiver.register(limits(16));
    let mut b = receiver.register(limits(16));
    a.join(&[Channel::Conversation(conv)]).await.expect("join");
    b.join(&[Channel::Conversation(conv), Channel::User(user.clone())]).await.expect("join");

    publisher.broker().publish(&typing(conv)).await.expect("publish");
    assert!(matches!(next(&mut a).await, Some(Event::Typing { .. })));
    assert!(matches!(next(&mut b).await, Some(Event::Typing { .. })));

    publisher.broker().publish(&left(user)).await.expect("publish");
    assert!(matches!(next(&mut b).await, Some(Event::ConversationLeft { .. })));
    assert!(nothing(&mut a).await, "a is not on user_<id>");

    a.leave(Channel::Conversation(conv));
    publisher.broker().publish(&typing(conv)).await.expect("publish");
    assert!(next(&mut b).await.is_some());
    assert!(nothing(&mut a).await, "a left the conversation");

    drop(b);
    drop(a);
    // The last listener gone, the channels are released (asynchronously).
    for _ in 0..50 {
        if receiver.channel_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("channels still held: {}", receiver.channel_count());
}

async fn a_full_queue_marks_the_socket_slow_without_blocking_others(publisher: &Hub, receiver: &Hub) {
    let conv = ConversationId(2);
    let stalled = receiver.register(limits(2));
    let mut healthy = receiver.register(limits(16));
    stalled.join(&[Channel::Conversation(conv)]).await.expect("join");
    healthy.join(&[Channel::Conversation(conv)]).await.expect("join");
    for _ in 0..3 {
        publisher.broker().publish(&typing(conv)).await.expect("publish");
    }
    for _ in 0..3 {
        assert!(next(&mut healthy).await.is_some(), "the healthy socket gets everything");
    }
    tokio::time::timeout(Duration::from_secs(2), stalled.slow.wait()).await.expect("flagged slow");
    assert!(stalled.slow.is_raised());
    assert!(!healthy.slow.is_raised());
}

async fn bytes_over_budget_mark_the_socket_slow_and_taking_frees_them(publisher: &Hub, receiver: &Hub) {
    let conv = ConversationId(3);
    let size = serde_json::to_vec(&typing(conv)).expect("json").len();
    // Room for three events by count many times over, but for two by bytes.
    let stalled = receiver.register(QueueLimits { events: 100, bytes: size * 2 + size / 2 });
    let mut reading = receiver.register(QueueLimits { events: 100, bytes: size * 2 + size / 2 });
    stalled.join(&[Channel::Conversation(conv)]).await.expect("join");
    reading.join(&[Channel::Conversation(conv)]).await.expect("join");
    for _ in 0..3 {
        publisher.broker().publish(&typing(conv)).await.expect("publish");
        assert!(next(&mut reading).await.is_some(), "a socket that reads stays within budget");
        assert_eq!(reading.queued_bytes(), 0, "taking an event gives its bytes back");
    }
    tokio::time::timeout(Duration::from_secs(2), stalled.slow.wait()).await.expect("flagged slow by bytes");
    assert_eq!(stalled.queued_bytes(), size * 2, "the refused event is not charged");
    assert!(!reading.slow.is_raised());
}

fn local() -> Hub {
    Hub::start(Arc::new(LocalBroker::default()))
}

async fn redis_pair() -> (Hub, Hub) {
    let url = std::env::var("CHATWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let a: Arc<dyn Broker> = RedisBroker::connect(&url, &prefix).await.expect("redis");
    let b: Arc<dyn Broker> = RedisBroker::connect(&url, &prefix).await.expect("redis");
    (Hub::start(a), Hub::start(b))
}

#[tokio::test]
async fn local_fan_out() {
    let hub = local();
    fan_out_follows_joins_and_leaves(&hub, &hub).await;
}

#[tokio::test]
async fn redis_fan_out_across_two_hubs() {
    let (a, b) = redis_pair().await;
    fan_out_follows_joins_and_leaves(&a, &b).await;
}

#[tokio::test]
async fn local_slow_consumer() {
    let hub = local();
    a_full_queue_marks_the_socket_slow_without_blocking_others(&hub, &hub).await;
}

#[tokio::test]
async fn redis_slow_consumer() {
    let (a, b) = redis_pair().await;
    a_full_queue_marks_the_socket_slow_without_blocking_others(&a, &b).await;
}

#[tokio::test]
async fn local_byte_budget() {
    let hub = local();
    bytes_over_budget_mark_the_socket_slow_and_taking_frees_them(&hub, &hub).await;
}

#[tokio::test]
async fn redis_byte_budget() {
    let (a, b) = redis_pair().await;
    bytes_over_budget_mark_the_socket_slow_and_taking_frees_them(&a, &b).await;
}
