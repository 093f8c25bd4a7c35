//! Redis Cluster with sharded pub/sub, on a private three-primary cluster made from the
//! machine's redis-server: two nodes' hubs, one publishing and one listening, as two chatwire
//! nodes would.
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chatwire_bus::{Broker, ClusterBroker, Hub, Outbound, QueueLimits, Subscription};
use chatwire_core::{Channel, ConversationId, Event, UserId};
use chatwire_test_support::RedisCluster;

fn left(conversation: i64) -> Event {
    Event::ConversationDeleted { conversation_id: ConversationId(conversation) }
}

async fn next(sub: &mut Subscription) -> Option<Event> {
    match tokio::time::timeout(Duration::from_secs(3), sub.recv()).await {
        Ok(Some(Outbound::Event(e))) => Some((*e).clone()),
        _ => None,
    }
}

/// `field` summed over every primary's `INFO` section `section` (`cmdstat_spublish:calls=N`).
fn sum_over(cluster: &RedisCluster, args: &[&str], parse: impl Fn(&str) -> usize) -> usize {
    cluster
        .ports
        .iter()
        .map(|p| {
            let out = Command::new("redis-cli").args(["-p", &p.to_string()]).args(args).output().expect("redis-cli");
            parse(&String::from_utf8_lossy(&out.stdout))
        })
        .sum()
}

fn spublish_calls(cluster: &RedisCluster) -> usize {
    sum_over(cluster, &["info", "commandstats"], |info| {
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_spublish:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_pub_sub_spreads_channels_over_shards_with_one_spublish_per_event() {
    let cluster = RedisCluster::start().await;
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let a: Arc<dyn Broker> = ClusterBroker::connect(&cluster.urls(), &prefix).await.expect("cluster");
    let b: Arc<dyn Broker> = ClusterBroker::connect(&cluster.urls(), &prefix).await.expect("cluster");
    let (publisher, receiver) = (Hub::start(a), Hub::start(b));

    // Thirty conversations and a user: their channels hash to slots on every shard.
    let mut socket = receiver.register(QueueLimits { events: 1024, bytes: 1 << 20 });
    let mut channels: Vec<Channel> = (1..=30).map(|c| Channel::Conversation(ConversationId(c))).collect();
    channels.push(Channel::User(UserId::from_int(7)));
    socket.join(&channels).await.expect("join");
    let per_shard: Vec<usize> = cluster
        .ports
        .iter()
        .map(|p| {
            let out = Command::new("redis-cli")
                .args(["-p", &p.to_string(), "pubsub", "shardchannels", &format!("{prefix}*")])
                .output()
                .expect("redis-cli");
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
        })
        .collect();
    assert_eq!(per_shard.iter().sum::<usize>(), 31, "every channel subscribed once: {per_shard:?}");
    assert!(per_shard.iter().all(|n| *n > 0), "channels spread over all three shards: {per_shard:?}");

    let before = spublish_calls(&cluster);
    for c in 1..=30 {
        publisher.broker().publish(&left(c)).await.expect("spublish");
    }
    let mut got = Vec::new();
    for _ in 1..=30 {
        match next(&mut socket).await {
            Some(Event::ConversationDeleted { conversation_id }) => got.push(conversation_id.0),
            other => panic!("expected a deletion, got {other:?}"),
        }
    }
    got.sort_unstable();
    assert_eq!(got, (1..=30).collect::<Vec<_>>(), "each event once, whatever shard carried it");
    assert_eq!(spublish_calls(&cluster) - before, 30, "exactly one SPUBLISH per event");

    // Leaving a channel unsubscribes it on its shard; its events stop.
    socket.leave(Channel::Conversation(ConversationId(1)));
    for _ in 0..50 {
        let still = sum_over(&cluster, &["pubsub", "shardnumsub", &format!("{prefix}chat_1")], |out| {
            out.lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
        });
        if still == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publisher.broker().publish(&left(1)).await.expect("spublish");
    publisher.broker().publish(&left(2)).await.expect("spublish");
    match next(&mut socket).await {
        Some(Event::ConversationDeleted { conversation_id }) => {
            assert_eq!(conversation_id.0, 2, "nothing from the channel left")
        }
        other => panic!("expected conversation 2's event, got {other:?}"),
    }
}
