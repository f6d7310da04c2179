//! Group commit: concurrent creates on SQLite share one transaction.
//!
//! With `synchronous = FULL` a commit returns only once the WAL is on disk,
//! so one transaction per order would hold creates to the disk's flush rate.
//! Every write of the process already takes turns on the writer lock; here a
//! create queues its rows and waits for its answer or for the lock, whichever
//! comes first. Whoever gets the lock takes everything queued and writes it
//! in one IMMEDIATE transaction: a batch is what arrived while the previous
//! one was written, so an idle service writes a create at once, waiting for
//! no batch to fill.
//!
//! - Each create runs in a savepoint of its own (diesel's nested
//!   transaction): one that fails, on a constraint or a trigger, is rolled
//!   back alone, and only its caller gets the error.
//! - Keys are taken in queue order inside the transaction, so the second of
//!   two creates with one key in a batch finds it taken, as across batches.
//! - Nobody is answered before the commit; a failed commit gives every create
//!   of the batch its error.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use diesel::{Connection as _, QueryResult, SqliteConnection};
use domain::{CreateOutcome, IdempotencyRecord};
use tokio::sync::{OwnedMutexGuard, oneshot};
use tracing::Instrument as _;

use super::create::{self, NewOrderRows};
use super::{Sqlite, classify};
use crate::error::DbError;
use crate::telemetry;

/// The batch's name in `/metrics` and traces; each create is `orders.create`.
const BATCH: &str = "orders.create_batch";

/// What a create did, and how many webhook deliveries it queued.
pub(crate) type Created = (CreateOutcome, usize);

/// A create waiting for a batch.
#[derive(Debug)]
struct Queued {
    rows: NewOrderRows,
    key: Option<IdempotencyRecord>,
    reply: oneshot::Sender<Result<Created, DbError>>,
}

/// The creates waiting for the writer lock. Shared by clones of [`Sqlite`].
#[derive(Debug, Clone, Default)]
pub(super) struct CreateQueue(Arc<Mutex<Vec<Queued>>>);

impl CreateQueue {
    fn push(&self, queued: Queued) {
        // Nothing panics while the lock is held, so a poisoned queue is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(queued);
    }

    fn take(&self) -> Vec<Queued> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Sqlite {
    /// Writes an order's rows, taking its idempotency key first if it has
    /// one, in the next batch; answers once that batch has committed.
    pub(crate) async fn create(&self, rows: NewOrderRows, key: Option<IdempotencyRecord>) -> Result<Created, DbError> {
        let (reply, mut answer) = oneshot::channel();
        self.creates.push(Queued { rows, key, reply });
        tokio::select! {
            // A batch that took this create answers while it still holds the
            // lock, so the answer is seen first and the lock passed on.
            biased;
            answered = &mut answer => return answered?,
            writing = self.writer.clone().lock_owned() => {
                // Detached, as every SQLite operation (see `Sqlite::run`): the
                // batch is written to the end even if this caller stops waiting.
                tokio::spawn(self.clone().write_batch(writing));
            }
        }
        answer.await?
    }

    /// Writes everything queued, holding the writer lock (`writing`), and
    /// answers each create.
    async fn write_batch(self, writing: OwnedMutexGuard<()>) {
        // A caller that stopped waiting (its time-out) is not written: it was
        // told the database is unavailable, and may retry.
        let batch: Vec<Queued> = self.creates.take().into_iter().filter(|queued| !queued.reply.is_closed()).collect();
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let span = telemetry::operation_span(BATCH, "sqlite");
        let (creates, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|queued| ((queued.rows, queued.key), queued.reply)).unzip();
        let written = self.write_locked(&writing, move |conn| write(conn, &creates)).instrument(span.clone()).await;
        telemetry::operation_ended(&span, BATCH, started, written.is_ok());
        match written {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that stopped waiting needs no answer.
                    drop(reply.send(result.map_err(|error| classify(error.into()))));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for reply in replies {
                    drop(reply.send(Err(DbError::Shared(error.clone()))));
                }
            }
        }
        drop(writing);
    }
}

/// The batch in one IMMEDIATE transaction, each create in a savepoint.
fn write(
    conn: &mut SqliteConnection,
    creates: &[(NewOrderRows, Option<IdempotencyRecord>)],
) -> QueryResult<Vec<QueryResult<Created>>> {
    conn.immediate_transaction(|conn| {
        Ok(creates.iter().map(|(rows, key)| conn.transaction(|conn| write_one(conn, rows, key.as_ref()))).collect())
    })
}

/// One create, as the single path does it: the key first, then the rows.
fn write_one(
    conn: &mut SqliteConnection,
    rows: &NewOrderRows,
    key: Option<&IdempotencyRecord>,
) -> QueryResult<Created> {
    macro_rules! load {
        ($query:expr, $conn:ident) => {
            diesel::RunQueryDsl::load($query, $conn)
        };
    }
    if let Some(record) = key
        && let Some(holder) = take_key!(conn, record, rows.order.created_at, load)
    {
        return Ok((holder.into_outcome(), 0));
    }
    Ok((CreateOutcome::Created, create::insert(conn, rows)?))
}
