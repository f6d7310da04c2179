//! PostgreSQL's side of group commit (see `group_commit.rs`). A turn is one
//! of `WRITERS` permits, and a batch one transaction on a pooled connection:
//!
//! 1. the batch's idempotency keys, each taken as a single create takes it,
//!    all pipelined. A key that appears twice in the batch is taken by its
//!    first create; the second finds it as the first left it, as it would
//!    in the next batch.
//! 2. the rows of every create whose key was free, in one multi-row insert
//!    per table, pipelined (`create.rs`);
//! 3. the commit.
//!
//! A batch that fails on a query (a constraint, a trigger, a deadlock between
//! two processes' batches over their keys) is rolled back and written again
//! create by create, each in a transaction of its own, in queue order: the
//! create that fails, fails alone. A lost connection fails the batch.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Instant;

use diesel::QueryResult;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use domain::{CreateOutcome, IdempotencyRecord};
use futures_util::future::try_join_all;

use super::{Postgres, create, unless_session_ended};
use crate::error::DbError;
use crate::group_commit::{Created, NewOrder, Written};
use crate::models::{KeyRow, NewOrderRows};
use crate::sql_types::DbInstant;
use crate::telemetry;

/// Batches one process writes at a time: one waits for its commit to reach
/// the disk while the next is sent.
pub(super) const WRITERS: usize = 2;

impl Postgres {
    /// Writes an order's rows, taking its idempotency key first if it has
    /// one, in the next batch; answers once that batch has committed.
    pub(crate) async fn create(&self, create: NewOrder) -> Result<Created, DbError> {
        let writers = &self.writers;
        self.creates
            .submit(
                create,
                "postgresql",
                || writers.clone().acquire_owned(),
                |_turn, creates| {
                    let this = self.clone();
                    async move {
                        let timeout = this.options.timeout;
                        tokio::time::timeout(timeout, this.write_batch(creates))
                            .await
                            .unwrap_or(Err(DbError::TimedOut(timeout)))
                    }
                },
            )
            .await
    }

    async fn write_batch(&self, creates: Vec<NewOrder>) -> Written {
        let asked = Instant::now();
        let mut pooled = self.pool.get().await?;
        telemetry::connection_acquired(self.name, asked);
        let conn: &mut AsyncPgConnection = &mut pooled;
        let together = conn.transaction(async |conn| write_together(conn, &creates).await).await;
        match unless_session_ended(conn, together.map_err(DbError::from)).await {
            Ok(created) => Ok(created.into_iter().map(Ok).collect()),
            Err(DbError::Query(_)) => {
                let mut results = Vec::with_capacity(creates.len());
                for create in &creates {
                    let one =
                        conn.transaction(async |conn| write_one(conn, &create.rows, create.key.as_ref()).await).await;
                    results.push(unless_session_ended(conn, one.map_err(DbError::from)).await);
                }
                Ok(results)
            }
            Err(error) => Err(error),
        }
    }
}

/// Takes `record`'s key on `conn` for an order created `at`: `None` if taken,
/// else who holds it. Pipelines with the other keys of the batch.
async fn take_key(
    mut conn: &AsyncPgConnection,
    record: &IdempotencyRecord,
    at: DbInstant,
) -> QueryResult<Option<KeyRow>> {
    macro_rules! load {
        ($query:expr, $conn:ident) => {
            diesel_async::RunQueryDsl::load($query, $conn).await
        };
    }
    let conn = &mut conn;
    Ok(take_key!(conn, record, at, load))
}

/// The whole batch, inside the caller's transaction.
async fn write_together(conn: &mut AsyncPgConnection, creates: &[NewOrder]) -> QueryResult<Vec<Created>> {
    let shared: &AsyncPgConnection = conn;
    // What each create found instead of writing its rows; `None`: write them.
    let mut found: Vec<Option<CreateOutcome>> = vec![None; creates.len()];
    let mut first_with: HashMap<&str, (usize, &IdempotencyRecord)> = HashMap::new();
    let mut repeats = Vec::new();
    let mut takes = Vec::new();
    for (i, create) in creates.iter().enumerate() {
        let Some(record) = &create.key else { continue };
        match first_with.entry(record.request.key.as_str()) {
            Entry::Occupied(first) => repeats.push((i, *first.get())),
            Entry::Vacant(slot) => {
                slot.insert((i, record));
                takes.push(async move {
                    take_key(shared, record, create.rows.order.created_at).await.map(|holder| (i, holder))
                });
            }
        }
    }
    for (i, holder) in try_join_all(takes).await? {
        found[i] = holder.map(KeyRow::into_outcome);
    }
    for (i, (first, record)) in repeats {
        found[i] = Some(found[first].clone().unwrap_or_else(|| KeyRow::stored_by(record).into_outcome()));
    }
    let fresh: Vec<&NewOrderRows> =
        creates.iter().zip(&found).filter(|(_, found)| found.is_none()).map(|(create, _)| &create.rows).collect();
    let queued = if fresh.is_empty() { 0 } else { create::insert_batch(shared, &fresh).await? };
    Ok(found.into_iter().map(|found| found.map_or((CreateOutcome::Created, queued), |outcome| (outcome, 0))).collect())
}

/// One create in the caller's transaction, as the batch would write it.
async fn write_one(
    conn: &mut AsyncPgConnection,
    rows: &NewOrderRows,
    key: Option<&IdempotencyRecord>,
) -> QueryResult<Created> {
    if let Some(record) = key
        && let Some(holder) = take_key(conn, record, rows.order.created_at).await?
    {
        return Ok((holder.into_outcome(), 0));
    }
    Ok((CreateOutcome::Created, create::insert(conn, rows).await?))
}
