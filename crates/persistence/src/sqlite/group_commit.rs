//! SQLite's side of group commit (see `group_commit.rs`): a turn is this
//! process's writer lock, which every write already takes, and a batch is one
//! IMMEDIATE transaction in one trip to the writing connection's thread.
//!
//! - Each create runs in a savepoint of its own (diesel's nested
//!   transaction): one that fails, on a constraint or a trigger, is rolled
//!   back alone, and only its caller gets the error.
//! - Keys are taken in queue order inside the transaction, so the second of
//!   two creates with one key in a batch finds it taken, as across batches.

use diesel::{Connection as _, QueryResult, SqliteConnection};
use domain::{CreateOutcome, IdempotencyRecord};

use super::{Sqlite, classify, create};
use crate::error::DbError;
use crate::group_commit::{Created, NewOrder};
use crate::models::NewOrderRows;

impl Sqlite {
    /// Writes an order's rows, taking its idempotency key first if it has
    /// one, in the next batch; answers once that batch has committed.
    pub(crate) async fn create(&self, create: NewOrder) -> Result<Created, DbError> {
        let writer = &self.writer;
        self.creates
            .submit(
                create,
                "sqlite",
                || writer.clone().lock_owned(),
                |writing, creates| {
                    let written = self.write_locked(writing, move |conn| write(conn, &creates));
                    async move {
                        let results = written.await?;
                        Ok(results.into_iter().map(|result| result.map_err(|error| classify(error.into()))).collect())
                    }
                },
            )
            .await
    }
}

/// The batch in one IMMEDIATE transaction, each create in a savepoint.
fn write(conn: &mut SqliteConnection, creates: &[NewOrder]) -> QueryResult<Vec<QueryResult<Created>>> {
    conn.immediate_transaction(|conn| {
        Ok(creates
            .iter()
            .map(|create| conn.transaction(|conn| write_one(conn, &create.rows, create.key.as_ref())))
            .collect())
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
