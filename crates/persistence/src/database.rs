//! Opening the database: migrate, then pool.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::migrate::{self, MigrationError};
use crate::orders::SqlOrderRepository;
use crate::outbox::SqlEmailOutbox;
use crate::pool::{self, DatabaseUrl, Pool, PoolOptions};

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
    /// Connecting or migrating failed.
    #[error(transparent)]
    Migrate(#[from] MigrationError),
}

/// An open, migrated database and the adapters over it.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    email_queued: Arc<Notify>,
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed), applies
    /// pending migrations, and builds the pool.
    ///
    /// Migrating opens a plain connection first, so an unreachable database
    /// fails here with its real cause rather than a pool time-out later.
    pub async fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, OpenError> {
        let pool = match url {
            DatabaseUrl::Postgres(url) => {
                migrate::postgres(url).await?;
                Pool::Postgres(pool::postgres(url, options))
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|source| OpenError::CreateFolder { path: folder.display().to_string(), source })?;
                }
                migrate::sqlite(path).await?;
                Pool::Sqlite(pool::sqlite(path, options))
            }
        };
        Ok(Self { pool, email_queued: Arc::new(Notify::new()) })
    }

    /// The order repository.
    pub fn orders(&self) -> SqlOrderRepository {
        SqlOrderRepository::new(self.pool.clone(), self.email_queued.clone())
    }

    /// The email outbox.
    pub fn outbox(&self) -> SqlEmailOutbox {
        SqlEmailOutbox::new(self.pool.clone(), self.email_queued.clone())
    }

    /// `"postgres"` or `"sqlite"`, for logs.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(_) => "sqlite",
        }
    }
}
