//! Group commit: concurrent creates share one transaction, on both backends.
//!
//! A commit waits for the disk (SQLite with `synchronous = FULL`, PostgreSQL
//! always), and each transaction costs its own round trips and statements, so
//! one transaction per order holds creates to the disk's flush rate and the
//! database's per-statement cost. Here a create queues its rows and waits for
//! its answer or for a turn to write, whichever comes first. Whoever gets a
//! turn takes what is queued and writes it in one transaction: a batch is
//! what arrived while the previous one was written, so an idle service writes
//! a create at once, waiting for no batch to fill.
//!
//! What is shared, whatever the backend: nobody is answered before the
//! commit; a batch whose commit fails gives each of its creates the error;
//! one create that fails never fails the others; an idempotency key that
//! appears twice in a batch is taken by the first, as across two batches.
//! How each backend writes a batch, and what a turn is there, is in
//! `sqlite/group_commit.rs` and `postgres/group_commit.rs`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use domain::{CreateOutcome, IdempotencyRecord};
use tokio::sync::oneshot;
use tracing::Instrument as _;

use crate::database::{Backend, Database};
use crate::error::DbError;
use crate::models::NewOrderRows;
use crate::telemetry;

/// The batch's name in `/metrics` and traces; each create is `orders.create`.
const BATCH: &str = "orders.create_batch";

/// At most this many creates in one transaction: on PostgreSQL a batch's
/// lines travel in one statement, whose parameters are capped at 65,535, and
/// 64 orders of 100 lines bind 38,400. The rest wait for the next turn.
const MAX_BATCH: usize = 64;

/// What a create did, and whether its transaction queued webhook deliveries
/// (how many; a batch's creates each report the batch's).
pub(crate) type Created = (CreateOutcome, usize);

/// A create, as the repository hands it over.
#[derive(Debug)]
pub(crate) struct NewOrder {
    pub rows: NewOrderRows,
    /// Taken before the rows are written; if it is held, nothing is written.
    pub key: Option<IdempotencyRecord>,
}

/// What writing a batch gives: each create's result, in the batch's order,
/// or the one error that failed them all.
pub(crate) type Written = Result<Vec<Result<Created, DbError>>, DbError>;

impl Database {
    /// Writes `create` in the next batch of its backend.
    pub(crate) async fn create(&self, create: NewOrder) -> Result<Created, DbError> {
        match &self.backend {
            Backend::Postgres(db) => db.create(create).await,
            Backend::Sqlite(db) => db.create(create).await,
        }
    }
}

/// A create waiting for a batch.
#[derive(Debug)]
struct Queued {
    create: NewOrder,
    reply: oneshot::Sender<Result<Created, DbError>>,
}

/// The creates waiting for a turn. Shared by clones of a backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateQueue(Arc<Mutex<Vec<Queued>>>);

impl CreateQueue {
    /// Queues `create` and waits for its answer, taking a turn to write a
    /// batch whenever `turn` gives one first. The batch is written by
    /// `write`, given the turn (such as a held lock) to prove it, in a task
    /// of its own, so that it is written to the end even if this caller stops
    /// waiting; the turn is held until every create is answered.
    pub(crate) async fn submit<Turn, Write, Writing>(
        &self,
        create: NewOrder,
        db_system: &'static str,
        mut turn: impl FnMut() -> Turn,
        write: Write,
    ) -> Result<Created, DbError>
    where
        Turn: Future + Send,
        Turn::Output: Send + 'static,
        Write: Fn(&Turn::Output, Vec<NewOrder>) -> Writing,
        Writing: Future<Output = Written> + Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        self.push(Queued { create, reply });
        loop {
            tokio::select! {
                // A batch that took this create answers before it gives its
                // turn back, so the answer is seen first.
                biased;
                answered = &mut answer => return answered?,
                turn = turn() => {
                    // Everything queued, this create included unless a batch
                    // took it already or the cap leaves it for the next turn.
                    let batch = self.take();
                    if batch.is_empty() {
                        // A batch in flight has it: no turn is needed again.
                        return answer.await?;
                    }
                    let (creates, replies) = batch.into_iter().map(|queued| (queued.create, queued.reply)).unzip();
                    let writing = write(&turn, creates);
                    tokio::spawn(answer_each(turn, writing, replies, db_system));
                }
            }
        }
    }

    fn push(&self, queued: Queued) {
        // Nothing panics while the lock is held, so a poisoned queue is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(queued);
    }

    /// Up to `MAX_BATCH` creates, oldest first. A caller that stopped waiting
    /// (its time-out) is not written: it was told the database is
    /// unavailable, and may retry.
    fn take(&self) -> Vec<Queued> {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        queue.retain(|queued| !queued.reply.is_closed());
        let batch = queue.len().min(MAX_BATCH);
        let rest = queue.split_off(batch);
        std::mem::replace(&mut *queue, rest)
    }
}

/// Runs `writing`, a batch's write, as the operation `orders.create_batch`,
/// and answers each create before giving `turn` back.
async fn answer_each<Turn>(
    turn: Turn,
    writing: impl Future<Output = Written>,
    replies: Vec<oneshot::Sender<Result<Created, DbError>>>,
    db_system: &'static str,
) {
    let started = Instant::now();
    let span = telemetry::operation_span(BATCH, db_system);
    let written = writing.instrument(span.clone()).await;
    telemetry::operation_ended(&span, BATCH, started, written.is_ok());
    match written {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                // A caller that stopped waiting needs no answer.
                drop(reply.send(result));
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            for reply in replies {
                drop(reply.send(Err(DbError::Shared(error.clone()))));
            }
        }
    }
    drop(turn);
}
