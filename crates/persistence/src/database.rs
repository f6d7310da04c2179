//! Opening the database of either backend, and the adapters over it.

use std::sync::Arc;
use std::time::Duration;

use domain::EventFormat;
use tokio::sync::Notify;

use crate::api_keys::SqlApiKeyRepository;
use crate::deliveries::SqlDeliveryRepository;
use crate::orders::SqlOrderRepository;
use crate::outbox::SqlEmailOutbox;
use crate::pool::{PoolOptions, Pools};
use crate::postgres::Postgres;
use crate::sqlite::Sqlite;
use crate::url::DatabaseUrl;
use crate::webhook_endpoints::SqlWebhookEndpointRepository;
use crate::webhook_outbox::SqlWebhookOutbox;

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

impl MigrationError {
    pub(crate) fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Migration(error.into())
    }
}

/// An open, migrated database and the adapters over it.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) backend: Backend,
    /// Wakes this process's dispatcher when an email is queued.
    pub(crate) email_queued: Arc<Notify>,
    /// Wakes this process's webhook dispatcher when deliveries are queued;
    /// other processes find them by their sweep.
    pub(crate) webhook_queued: Arc<Notify>,
    /// How long one operation may take; see [`Database::run`].
    pub(crate) timeout: Duration,
    /// The pools `/metrics` reports.
    pools: Pools,
}

/// The open database, by backend.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Postgres(Postgres),
    Sqlite(Sqlite),
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed), applies
    /// pending migrations, and builds the pool.
    pub async fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, OpenError> {
        let email_queued = Arc::new(Notify::new());
        let pools = Pools::default();
        let backend = match url {
            DatabaseUrl::Postgres(url) => Backend::Postgres(Postgres::open(url, options, email_queued.clone()).await?),
            DatabaseUrl::Sqlite(path) => Backend::Sqlite(Sqlite::open(path, options, &pools).await?),
        };
        Ok(Self { backend, email_queued, webhook_queued: Arc::new(Notify::new()), timeout: options.timeout, pools })
    }

    /// The same database through a pool of its own with at most `max_size`
    /// connections, reported in `/metrics` as `name` (PostgreSQL; SQLite
    /// shares its pools and writer lock).
    ///
    /// A PostgreSQL connection is driven by a task on the runtime that opened
    /// it, so a pool used from one thread only keeps each query's wake-ups on
    /// that thread: one pool per HTTP worker saves a cross-thread hand-off per
    /// query.
    pub fn with_own_pool(&self, name: &'static str, max_size: u32) -> Self {
        let backend = match &self.backend {
            Backend::Postgres(db) => Backend::Postgres(db.with_own_pool(name, max_size, &self.pools)),
            Backend::Sqlite(db) => Backend::Sqlite(db.clone()),
        };
        Self { backend, ..self.clone() }
    }

    /// The order repository; it writes events down with `format`.
    pub fn orders(&self, format: Arc<dyn EventFormat>) -> SqlOrderRepository {
        SqlOrderRepository::new(self.clone(), format)
    }

    /// The API keys.
    pub fn api_keys(&self) -> SqlApiKeyRepository {
        SqlApiKeyRepository::new(self.clone())
    }

    /// The deliveries of both outboxes, as an operator sees and retries them.
    pub fn deliveries(&self) -> SqlDeliveryRepository {
        SqlDeliveryRepository::new(self.clone())
    }

    /// The email outbox; it writes the emails' events down with `format`.
    pub fn outbox(&self, format: Arc<dyn EventFormat>) -> SqlEmailOutbox {
        SqlEmailOutbox::new(self.clone(), format)
    }

    /// The webhook endpoints.
    pub fn webhook_endpoints(&self) -> SqlWebhookEndpointRepository {
        SqlWebhookEndpointRepository::new(self.clone())
    }

    /// The webhook outbox.
    pub fn webhook_outbox(&self) -> SqlWebhookOutbox {
        SqlWebhookOutbox::new(self.clone())
    }

    /// Tells this process's webhook dispatcher that `queued` deliveries
    /// were committed.
    pub(crate) fn webhooks_queued(&self, queued: usize) {
        if queued > 0 {
            self.webhook_queued.notify_one();
        }
    }

    /// Sets the `db_pool_*` metrics to the state of every pool opened
    /// through this database, now.
    pub fn record_pool_metrics(&self) {
        self.pools.record();
    }

    /// `"postgres"` or `"sqlite"`, for logs.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}
