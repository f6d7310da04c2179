//! Storage errors, mapped once to the domain's `RepositoryError`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use domain::{CorruptRecord, RepositoryError};

/// Everything that can go wrong inside this crate. `diesel::Error` never leaves it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("could not check out a database connection")]
    Checkout(#[from] bb8::RunError<PoolError>),
    #[error("database query failed")]
    Query(#[from] DieselError),
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// Bounds a whole operation (waiting for a connection included), so no request
/// waits longer than `limit` for a database that does not answer.
pub(crate) async fn bounded<T>(
    limit: std::time::Duration,
    operation: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, RepositoryError> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(DbError::TimedOut(limit).into()),
    }
}

impl From<DbError> for RepositoryError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Corrupt(corrupt) => RepositoryError::Corrupt(corrupt),
            DbError::Query(ref query) if !is_unavailable(query) => RepositoryError::Other(Box::new(error)),
            DbError::Checkout(_) | DbError::Query(_) | DbError::TimedOut(_) => {
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
        _ => false,
    }
}
