//! Opening the database: check it, migrate, then pool.

use std::path::Path;
use std::sync::Arc;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, SqliteConnection};
use tokio::sync::Notify;

use crate::api_keys::SqlApiKeyRepository;
use crate::migrate::{self, MigrationError};
use crate::orders::SqlOrderRepository;
use crate::outbox::SqlEmailOutbox;
use crate::pool::{self, DatabaseUrl, Pool, PoolOptions, SQLITE_PRAGMAS};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The folder for the SQLite file could not be made.
    #[error("could not create the folder {path} for the SQLite database")]
    CreateFolder {
        /// The folder.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL did not accept a connection.
    #[error("could not connect to PostgreSQL")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Connecting or migrating failed.
    #[error(transparent)]
    Migrate(#[from] MigrationError),
    /// The SQLite database can be read but not written.
    #[error("the SQLite database cannot be written")]
    NotWritable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How long start-up waits for PostgreSQL to accept a connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects once with tokio-postgres directly: diesel-async keeps only the
/// top-level message ("error connecting to server"), this keeps the cause
/// ("Connection refused", "password authentication failed", …).
async fn probe_postgres(url: &str) -> Result<(), OpenError> {
    let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Unreachable(e);
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio_postgres::connect(url, tokio_postgres::NoTls))
        .await
        .map_err(|elapsed| unreachable(format!("no answer within {CONNECT_TIMEOUT:?} ({elapsed})").into()))?;
    let (client, connection) = connected.map_err(|e| unreachable(e.into()))?;
    drop(client);
    // The connection future ends once the client is gone.
    let _ = connection.await;
    Ok(())
}

/// Writes in a transaction that is rolled back. SQLite opens a file it may not
/// write read-only, without an error, and every write then fails; so does a
/// database whose folder or -wal/-shm files are read-only. `BEGIN IMMEDIATE`
/// alone does not tell: it succeeds on such a database in WAL mode.
async fn probe_sqlite(path: &Path) -> Result<(), OpenError> {
    let path = path.to_string_lossy().into_owned();
    let written = tokio::task::spawn_blocking(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = SqliteConnection::establish(&path)?;
        conn.batch_execute(SQLITE_PRAGMAS)?;
        conn.batch_execute("BEGIN IMMEDIATE; CREATE TABLE write_probe (x); ROLLBACK")?;
        Ok(())
    })
    .await;
    match written {
        Ok(result) => result.map_err(OpenError::NotWritable),
        Err(failed) => Err(OpenError::NotWritable(failed.into())),
    }
}

/// An open, migrated database and the adapters over it.
#[derive(Debug, Clone)]
pub struct Database {
    url: DatabaseUrl,
    options: PoolOptions,
    pool: Pool,
    email_queued: Arc<Notify>,
    timeout: std::time::Duration,
    /// The PostgreSQL LISTEN task; the outbox holds it, and it ends when the
    /// last holder is dropped.
    listener: Option<Arc<AbortOnDrop>>,
}

/// Aborts a background task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed), applies
    /// pending migrations, and builds the pool.
    ///
    /// Migrating opens a plain connection first, so an unreachable database
    /// fails here with its real cause rather than a pool time-out later.
    pub async fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, OpenError> {
        let email_queued = Arc::new(Notify::new());
        let mut listener = None;
        let pool = match url {
            DatabaseUrl::Postgres(url) => {
                probe_postgres(url).await?;
                migrate::postgres(url).await?;
                let task = tokio::spawn(crate::outbox::listen(url.clone(), email_queued.clone()));
                listener = Some(Arc::new(AbortOnDrop(task.abort_handle())));
                Pool::Postgres(pool::postgres(url, options))
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|source| OpenError::CreateFolder { path: folder.display().to_string(), source })?;
                }
                migrate::sqlite(path).await?;
                probe_sqlite(path).await?;
                Pool::Sqlite(pool::sqlite(path, options), Arc::default())
            }
        };
        Ok(Self { url: url.clone(), options: options.clone(), pool, email_queued, timeout: options.timeout, listener })
    }

    /// The same database through a pool of its own with at most `max_size`
    /// connections (PostgreSQL; SQLite shares its pool and writer lock).
    ///
    /// A PostgreSQL connection is driven by a task on the runtime that opened
    /// it, so a pool used from one thread only keeps each query's wake-ups on
    /// that thread: one pool per HTTP worker saves a cross-thread hand-off per
    /// query.
    pub fn with_own_pool(&self, max_size: u32) -> Self {
        let pool = match &self.url {
            DatabaseUrl::Postgres(url) => {
                Pool::Postgres(pool::postgres(url, &PoolOptions { max_size: max_size.max(1), ..self.options.clone() }))
            }
            DatabaseUrl::Sqlite(_) => self.pool.clone(),
        };
        Self { pool, ..self.clone() }
    }

    /// The order repository.
    pub fn orders(&self) -> SqlOrderRepository {
        SqlOrderRepository::new(self.pool.clone(), self.email_queued.clone(), self.timeout)
    }

    /// The API keys.
    pub fn api_keys(&self) -> SqlApiKeyRepository {
        SqlApiKeyRepository::new(self.pool.clone(), self.timeout)
    }

    /// The email outbox.
    pub fn outbox(&self) -> SqlEmailOutbox {
        SqlEmailOutbox::new(self.pool.clone(), self.email_queued.clone(), self.timeout, self.listener.clone())
    }

    /// `"postgres"` or `"sqlite"`, for logs.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(..) => "sqlite",
        }
    }
}
