//! The one way to run a database operation: `operation!` and [`Database::run`].
//!
//! An operation names its access (read, write, or a write in one transaction)
//! and gives a body: an async block that returns `Result<_, DbError>`, so `?`
//! and `return` end the body, and only the body, everywhere. The runner
//! checks out a connection, bounds the whole operation with the time-out, and
//! maps its error to the domain's once. What each backend does around the body
//! (SQLite's writer lock and detached task, PostgreSQL's check for an ended
//! session) lives in that backend's module.
//!
//! One body serves both backends only as a macro: diesel's query builder is
//! generic, but a function generic over the connection needs a bound per query
//! shape and its future cannot be proven `Send`. Expanding the same tokens in
//! each arm of a `match` gives each backend its own concrete, `Send` code.

use diesel_async::AsyncPgConnection;
use domain::RepositoryError;
use futures_util::future::BoxFuture;
use std::time::Instant;
use tracing::Instrument as _;

use crate::database::{Backend, Database};
use crate::error::DbError;
use crate::sqlite::SqliteConn;
use crate::telemetry;

/// What an operation does to the database: a choice every operation makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads only. Never waits for a writer (SQLite runs in WAL mode).
    Read,
    /// Writes with statements that are each atomic on their own. On SQLite,
    /// first takes this process's writer lock, so writers queue in memory
    /// rather than spin in SQLite's busy handler, which keeps their tail
    /// latency flat.
    Write,
    /// Writes in one transaction: all or nothing. On SQLite, takes the writer
    /// lock and begins IMMEDIATE, so busy_timeout applies up front rather than
    /// a "database is locked" in the middle.
    Transaction,
}

/// A pooled connection, of whichever backend is open.
pub(crate) enum Conn<'c> {
    Postgres(&'c mut AsyncPgConnection),
    Sqlite(&'c mut SqliteConn),
}

/// The future an operation's body makes.
pub(crate) type Body<'c, T> = BoxFuture<'c, Result<T, DbError>>;

/// An operation's body, given a connection. Owned (`'static`) because SQLite
/// runs it as a task of its own.
pub(crate) trait Operation<T>: for<'c> FnOnce(Conn<'c>) -> Body<'c, T> + Send + 'static {}

impl<T, F> Operation<T> for F where F: for<'c> FnOnce(Conn<'c>) -> Body<'c, T> + Send + 'static {}

/// Boxes a body; taking the output type as a bound lets `?` in the async
/// block infer its error type.
pub(crate) fn body<'c, T>(future: impl Future<Output = Result<T, DbError>> + Send + 'c) -> Body<'c, T> {
    Box::pin(future)
}

/// Runs `$body` (a `Result<_, DbError>`) on `$db` with `$access`
/// ([`Access`]: `Read`, `Write` or `Transaction`), with `$conn` bound to the
/// connection, as the operation `$name` (`"<module>.<method>"`: the span's
/// name and the latency metric's label). Evaluates to a future of `Result<_, RepositoryError>`. The body
/// is an async block's: `?` and `return` leave the body only. It owns what it
/// uses (`move`).
macro_rules! operation {
    ($db:expr, $name:literal, $access:ident, |$conn:ident| $body:expr) => {
        $db.run($name, $crate::operation::Access::$access, move |connection| {
            $crate::operation::body(async move {
                match connection {
                    $crate::operation::Conn::Postgres($conn) => $body,
                    $crate::operation::Conn::Sqlite($conn) => $body,
                }
            })
        })
    };
}

impl Database {
    /// The backend as OpenTelemetry's `db.system` names it.
    fn db_system(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgresql",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Runs one operation; see `operation!`, which is how it is called.
    ///
    /// The time-out bounds the whole operation, waiting for a lock or a
    /// connection included, so no request waits longer for a database that
    /// does not answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        name: &'static str,
        access: Access,
        operation: impl Operation<T>,
    ) -> Result<T, RepositoryError> {
        self.measure(name, async {
            match &self.backend {
                Backend::Postgres(db) => db.run(access, operation).await,
                Backend::Sqlite(db) => db.run(access, operation).await,
            }
        })
        .await
    }

    /// Bounds `running` by the time-out, in the span and with the latency
    /// metric of the operation `name`: what [`Database::run`] does around a
    /// body, for work that runs no body of its own (a create waiting for its
    /// SQLite batch).
    pub(crate) async fn measure<T>(
        &self,
        name: &'static str,
        running: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, RepositoryError> {
        let started = Instant::now();
        let span = telemetry::operation_span(name, self.db_system());
        let outcome = tokio::time::timeout(self.timeout, running)
            .instrument(span.clone())
            .await
            .unwrap_or(Err(DbError::TimedOut(self.timeout)));
        telemetry::operation_ended(&span, name, started, outcome.is_ok());
        Ok(outcome?)
    }
}
