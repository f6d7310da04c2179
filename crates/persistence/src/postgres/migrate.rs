//! Embedded migrations from `migrations/postgres`, applied at start-up.

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use crate::database::MigrationError;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Any lock id will do, as long as every process uses the same one: it keeps
/// two processes starting at once from applying the same migration twice.
const MIGRATION_LOCK: i64 = 0x6f72_6465_7273;

/// Applies pending migrations under an advisory lock.
///
/// The harness is synchronous; it runs on a blocking thread through
/// `AsyncConnectionWrapper`, which works on any tokio runtime flavour.
pub(super) async fn run(url: &str) -> Result<(), MigrationError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        // A peer stuck holding the lock must not hang start-up for ever.
        conn.batch_execute(&format!("SET lock_timeout = '60s'; SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .map_err(MigrationError::failed)?;
        let result = conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(MigrationError::failed);
        // The lock also ends with the connection; unlocking is a courtesy.
        let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
        result
    })
    .await?
}
