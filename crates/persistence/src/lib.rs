//! Storage adapters: the domain's `OrderRepository`, `EmailOutbox` and
//! `WebhookOutbox` on PostgreSQL and SQLite, through diesel-async and bb8,
//! with embedded migrations. One binary serves both; the database URL picks the backend.
//!
//! What differs by backend lives in `postgres/` and `sqlite/`; the
//! repositories (`orders.rs`, `outbox.rs`, `webhook_outbox.rs`) are written once, and run every
//! operation through `operation.rs`.

#[macro_use]
mod operation;

mod api_keys;
mod database;
mod deliveries;
#[macro_use]
mod dialect;
mod error;
mod events;
mod group_commit;
mod models;
#[macro_use]
mod orders;
mod outbox;
mod pool;
mod postgres;
mod prepared;
mod schema;
mod sql_types;
mod sqlite;
mod telemetry;
mod url;
mod webhook_endpoints;
mod webhook_outbox;

pub use api_keys::SqlApiKeyRepository;
pub use database::{Database, MigrationError, OpenError};
pub use deliveries::SqlDeliveryRepository;
pub use orders::SqlOrderRepository;
pub use outbox::SqlEmailOutbox;
pub use pool::PoolOptions;
pub use sqlite::Synchronous;
pub use telemetry::describe_metrics;
pub use url::{DatabaseUrl, UnsupportedUrl};
pub use webhook_endpoints::SqlWebhookEndpointRepository;
pub use webhook_outbox::SqlWebhookOutbox;
