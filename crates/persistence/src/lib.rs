//! Storage adapters: the domain's `OrderRepository` and `EmailOutbox` on
//! PostgreSQL and SQLite, through diesel-async and bb8, with embedded
//! migrations. One binary serves both; the database URL picks the backend.

#[macro_use]
mod macros;

mod api_keys;
mod database;
mod error;
pub mod migrate;
mod models;
mod orders;
mod outbox;
pub mod pool;
mod schema;
mod sql_types;
mod store;

pub use api_keys::SqlApiKeyRepository;
pub use database::{Database, OpenError};
pub use orders::SqlOrderRepository;
pub use outbox::SqlEmailOutbox;
pub use pool::{DatabaseUrl, PoolOptions, UnsupportedUrl};
