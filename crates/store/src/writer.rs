//! Group commit. Every send of a node goes to one of a few lanes; a lane takes whatever has piled
//! up while its previous batch was committing (up to `max_batch`), writes it with one statement
//! and one commit, then answers each sender. There is no timer: at low load a batch is one
//! message and costs one round trip; under load batches grow by themselves.
//!
//! A conversation always maps to the same lane, and a lane has one batch in flight, so the sends
//! of one conversation on one node commit in the order they arrived.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use tokio::sync::{mpsc, oneshot};

use chatwire_core::model::{MessageKind, NewMessage, Sent, User};
use chatwire_core::{ConversationId, CoreError, CoreResult};

use crate::error::StoreError;
use crate::pool::{PgPool, StoreMetrics, checkout};
use crate::queries::{message_batch, messages};

/// One send waiting for its batch.
struct Pending {
    conversation: ConversationId,
    sender: Option<User>,
    kind: MessageKind,
    msg: NewMessage,
    reply: oneshot::Sender<CoreResult<Option<Sent>>>,
}

/// How the lanes are sized.
#[derive(Clone, Copy, Debug)]
pub struct WriterSettings {
    /// Lanes (each commits one batch at a time, on its own pooled connection).
    pub lanes: usize,
    /// The most sends one statement carries.
    pub max_batch: usize,
    /// Sends that may wait per lane; past it a send is refused as overloaded
    /// (`CHATWIRE_DB_WRITE_QUEUE`).
    pub queue: usize,
    /// How long a batch may take before its senders are told the database is unavailable.
    pub timeout: Duration,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings { lanes: 2, max_batch: 256, queue: 4096, timeout: Duration::from_millis(5500) }
    }
}

#[derive(Clone)]
pub(crate) struct Writer {
    lanes: Vec<mpsc::Sender<Pending>>,
    stats: Arc<WriteStats>,
}

/// What the lanes have done: batches committed and the sends they carried.
#[derive(Default, Debug)]
pub struct WriteStats {
    pub batches: AtomicU64,
    pub sends: AtomicU64,
    /// Sends refused because their lane was full.
    pub refused: AtomicU64,
}

impl Writer {
    /// Starts the lanes on the current runtime.
    pub fn start(pool: PgPool, settings: WriterSettings, metrics: StoreMetrics) -> Writer {
        let stats = Arc::new(WriteStats::default());
        let lanes = (0..settings.lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(settings.queue.max(1));
                tokio::spawn(lane(pool.clone(), rx, settings, stats.clone(), metrics.clone()));
                tx
            })
            .collect();
        Writer { lanes, stats }
    }

    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Inserts one message in the next batch of its conversation's lane; `None` when its sender
    /// may not post there.
    pub async fn insert(
        &self,
        conversation: ConversationId,
        sender: Option<&User>,
        kind: MessageKind,
        msg: &NewMessage,
    ) -> CoreResult<Option<Sent>> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { conversation, sender: sender.cloned(), kind, msg: msg.clone(), reply };
        let lane = &self.lanes[conversation.0.rem_euclid(self.lanes.len() as i64) as usize];
        if kind == MessageKind::System {
            // A group's record of a change already made is never refused: it waits its turn.
            lane.send(pending).await.map_err(|_| CoreError::Unavailable("the message writer stopped".into()))?;
        } else {
            // A full lane means sends arrive faster than Postgres takes them: waiting would only
            // let every sender's latency grow, so the excess is refused at once.
            lane.try_send(pending).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    CoreError::Overloaded { retry_after: Duration::from_secs(1) }
                }
                mpsc::error::TrySendError::Closed(_) => CoreError::Unavailable("the message writer stopped".into()),
            })?;
        }
        answer.await.map_err(|_| CoreError::Unavailable("the message writer stopped".into()))?
    }
}

async fn lane(
    pool: PgPool,
    mut rx: mpsc::Receiver<Pending>,
    settings: WriterSettings,
    stats: Arc<WriteStats>,
    metrics: StoreMetrics,
) {
    let mut batch = Vec::with_capacity(settings.max_batch);
    while rx.recv_many(&mut batch, settings.max_batch).await > 0 {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.sends.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let answers = match tokio::time::timeout(settings.timeout, commit(&pool, &metrics, &batch)).await {
            Ok(Ok(answers)) => answers,
            Ok(Err(err)) => {
                let err = CoreError::from(err);
                batch.iter().map(|_| Err(err.clone())).collect()
            }
            Err(_) => {
                let err = CoreError::Unavailable("postgres did not answer in time".into());
                batch.iter().map(|_| Err(err.clone())).collect()
            }
        };
        for (pending, answer) in batch.drain(..).zip(answers) {
            // A sender that gave up waiting is not an error: its message is stored all the same,
            // and its retry (same key) gets it back.
            let _ = pending.reply.send(answer);
        }
    }
}

/// Commits one batch; answers in the batch's order. A statement that fails as a whole (a key
/// raced in by another node, one bad row) is retried row by row, so one row's trouble is only
/// that row's.
async fn commit(
    pool: &PgPool,
    metrics: &StoreMetrics,
    batch: &[Pending],
) -> Result<Vec<CoreResult<Option<Sent>>>, StoreError> {
    let mut conn = checkout(pool, &metrics.pool_wait).await.map_err(|e| StoreError::Pool(format!("postgres: {e}")))?;
    match insert_all(&mut conn, batch).await {
        Ok(answers) => Ok(answers.into_iter().map(|a| a.map_err(CoreError::from)).collect()),
        // Retrying row by row a database that is not answering would only wait longer.
        Err(err) if batch.len() == 1 || err.is_outage() => Err(err),
        Err(_) => {
            let mut answers = Vec::with_capacity(batch.len());
            for one in batch.chunks(1) {
                let answer = match insert_all(&mut conn, one).await {
                    Ok(mut a) => a.pop().unwrap_or(Ok(None)),
                    Err(err) => Err(err),
                };
                answers.push(answer.map_err(CoreError::from));
            }
            Ok(answers)
        }
    }
}

/// One statement for the batch, then, for each row it refused, whether its key stands for a
/// message stored before (a retry) or the sender may not post.
async fn insert_all(
    conn: &mut AsyncPgConnection,
    batch: &[Pending],
) -> Result<Vec<Result<Option<Sent>, StoreError>>, StoreError> {
    let rows: Vec<message_batch::Row<'_>> = batch
        .iter()
        .map(|p| {
            let att = p.msg.attachment.as_ref();
            message_batch::Row {
                conversation: p.conversation.0,
                sender_id: p.sender.as_ref().map(|s| s.id.as_str()),
                kind: p.kind.as_str(),
                content: &p.msg.content,
                attachment_url: att.map(|a| a.url.as_str()),
                attachment_name: att.map(|a| a.name.as_str()),
                attachment_mime: att.map(|a| a.mime.as_str()),
                attachment_size: att.map(|a| a.size),
                client_key: p.msg.client_key.as_deref(),
            }
        })
        .collect();
    let inserted = match message_batch::insert(conn, &rows).await {
        Ok(inserted) => inserted,
        // The key was committed by someone else (a retry on another node) while this batch
        // waited for its lock: the retry row by row finds it.
        Err(StoreError::Query(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)))
            if batch.len() == 1 && info.constraint_name() == Some("messages_sender_client_key") =>
        {
            Vec::new()
        }
        Err(err) => return Err(err),
    };
    let mut answers: Vec<Option<Result<Option<Sent>, StoreError>>> = batch.iter().map(|_| None).collect();
    for (index, row) in inserted {
        let sender = batch[index].sender.clone();
        answers[index] = Some(row.into_message(sender).map(|message| Some(Sent { message, created: true })));
    }
    let mut out = Vec::with_capacity(batch.len());
    for (pending, answer) in batch.iter().zip(answers) {
        out.push(match (answer, &pending.sender) {
            (Some(answer), _) => answer,
            (None, Some(sender)) => messages::original_for_key(conn, pending.conversation, sender, &pending.msg).await,
            (None, None) => Ok(None),
        });
    }
    Ok(out)
}
