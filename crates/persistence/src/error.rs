//! Storage errors, mapped once to the domain's `RepositoryError`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection as _};
use domain::{CorruptRecord, RepositoryError};

use crate::pool::Pool;

/// Everything that can go wrong inside this crate. `diesel::Error` never leaves it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("could not check out a database connection")]
    Checkout(#[from] bb8::RunError<PoolError>),
    #[error("database query failed")]
    Query(#[from] DieselError),
    #[error("the database ended the connection")]
    ConnectionLost(#[source] DieselError),
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// Bounds a whole operation (waiting for a connection included), so no request
/// waits longer than `limit` for a database that does not answer.
///
/// On SQLite the operation runs as a task of its own and is not cancelled
/// when the caller stops waiting: a SQLite query runs on a blocking thread
/// that shares the connection, and a connection handed back to the pool while
/// that thread still holds it makes the pool's check panic. The task finishes
/// (busy_timeout bounds it) and returns the connection itself. A PostgreSQL
/// operation can be dropped at any point: the pool discards a connection left
/// inside a transaction.
pub(crate) async fn bounded<T: Send + 'static>(
    pool: &Pool,
    limit: std::time::Duration,
    operation: impl std::future::Future<Output = Result<T, DbError>> + Send + 'static,
) -> Result<T, RepositoryError> {
    let outcome = match pool {
        Pool::Postgres(_) => tokio::time::timeout(limit, operation).await,
        Pool::Sqlite(..) => match tokio::time::timeout(limit, tokio::spawn(operation)).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(failed)) => return Err(RepositoryError::Other(Box::new(failed))),
            Err(elapsed) => Err(elapsed),
        },
    };
    match outcome {
        Ok(result) => Ok(result?),
        Err(_) => Err(DbError::TimedOut(limit).into()),
    }
}

impl From<DbError> for RepositoryError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Corrupt(corrupt) => RepositoryError::Corrupt(corrupt),
            DbError::Query(ref query) if !is_unavailable(query) => RepositoryError::Other(Box::new(error)),
            DbError::Checkout(_) | DbError::Query(_) | DbError::ConnectionLost(_) | DbError::TimedOut(_) => {
                RepositoryError::Unavailable(Box::new(error))
            }
        }
    }
}

/// Errors that say "the database is not there right now", not "this query is wrong".
fn is_unavailable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => true,
            // SQLite's "database is locked" (busy_timeout ran out): transient.
            DatabaseErrorKind::Unknown => info.message().contains("database is locked"),
            _ => false,
        },
        DieselError::BrokenTransactionManager => true,
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_unavailable(commit_error),
        _ => false,
    }
}

/// Tells a query that is wrong from a PostgreSQL session that ended under it.
///
/// The server ends a session with a FATAL error — 57P01 from
/// `pg_terminate_backend` or a fast shutdown, 57P02, 57P05, … — and then
/// closes the connection. diesel does not pass the SQLSTATE on, and the
/// message is in the server's language, so an error not known to be
/// transient is followed by an empty query: it fails only on a connection that
/// is gone. Error paths alone pay the round trip.
pub(crate) async fn unless_session_ended<T>(
    conn: &mut AsyncPgConnection,
    result: Result<T, DbError>,
) -> Result<T, DbError> {
    match result {
        Err(DbError::Query(error)) if !is_unavailable(&error) && conn.batch_execute("").await.is_err() => {
            Err(DbError::ConnectionLost(error))
        }
        other => other,
    }
}
