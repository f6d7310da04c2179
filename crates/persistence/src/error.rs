//! Storage errors, mapped once to the domain's `RepositoryError`. Each
//! backend's module first names the failures only its driver can tell apart
//! (a PostgreSQL session that ended, a SQLite database that stayed locked).

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
    #[error("the database ended the connection")]
    ConnectionLost(#[source] DieselError),
    #[error("another writer held the database for longer than busy_timeout")]
    Busy(#[source] DieselError),
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    #[error("the database task did not finish")]
    Task(#[from] tokio::task::JoinError),
    #[error("the batch writing this create stopped without an answer")]
    Unanswered(#[from] tokio::sync::oneshot::error::RecvError),
    /// One failure given to several callers: a SQLite batch whose commit failed.
    #[error(transparent)]
    Shared(std::sync::Arc<DbError>),
}

impl DbError {
    /// "The database is not there right now", not "this request is wrong".
    fn is_unavailable(&self) -> bool {
        match self {
            DbError::Query(query) => is_unavailable(query),
            DbError::Corrupt(_) | DbError::Task(_) | DbError::Unanswered(_) => false,
            DbError::Checkout(_) | DbError::ConnectionLost(_) | DbError::Busy(_) | DbError::TimedOut(_) => true,
            DbError::Shared(shared) => shared.is_unavailable(),
        }
    }
}

impl From<DbError> for RepositoryError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Corrupt(corrupt) => RepositoryError::Corrupt(corrupt),
            error if error.is_unavailable() => RepositoryError::Unavailable(Box::new(error)),
            error => RepositoryError::Other(Box::new(error)),
        }
    }
}

/// Errors that say "the database is not there right now", not "this query is
/// wrong", as diesel reports them for either backend.
pub(crate) fn is_unavailable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection, _) => {
            true
        }
        DieselError::BrokenTransactionManager => true,
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_unavailable(commit_error),
        _ => false,
    }
}
