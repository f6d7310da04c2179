//! Embedded migrations, one folder per backend, run at start-up.

use std::path::Path;

use diesel::{Connection, SqliteConnection, connection::SimpleConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::pool::SQLITE_PRAGMAS;

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Any lock id will do, as long as every process uses the same one: it keeps
/// two processes starting at once from applying the same migration twice.
const MIGRATION_LOCK: i64 = 0x6f72_6465_7273;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// No connection for migrating.
    #[error("could not connect to the database to migrate it")]
    Connect(#[from] diesel::ConnectionError),
    /// A migration failed.
    #[error("a migration failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The blocking task died.
    #[error("the migration task did not finish")]
    Task(#[from] tokio::task::JoinError),
}

fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> MigrationError {
    MigrationError::Migration(error.into())
}

/// Applies pending PostgreSQL migrations under an advisory lock.
///
/// The harness is synchronous; it runs on a blocking thread through
/// `AsyncConnectionWrapper`, which works on any tokio runtime flavour.
pub async fn postgres(url: &str) -> Result<(), MigrationError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        // A peer stuck holding the lock must not hang start-up for ever.
        conn.batch_execute(&format!("SET lock_timeout = '60s'; SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .map_err(failed)?;
        let result = conn.run_pending_migrations(POSTGRES).map(drop).map_err(failed);
        // The lock also ends with the connection; unlocking is a courtesy.
        let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
        result
    })
    .await?
}

/// Applies pending SQLite migrations (SQLite's write lock serialises processes).
pub async fn sqlite(path: &Path) -> Result<(), MigrationError> {
    let path = path.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = SqliteConnection::establish(&path)?;
        conn.batch_execute(SQLITE_PRAGMAS).map_err(failed)?;
        conn.run_pending_migrations(SQLITE).map(drop).map_err(failed)
    })
    .await?
}
