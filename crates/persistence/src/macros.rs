//! One query body, compiled once per backend.
//!
//! diesel's query builder is generic, but a function generic over the
//! connection needs a bound per query shape and its future cannot be proven
//! `Send`. Expanding the same tokens in each arm of a `match` gives each backend
//! its own concrete, `Send` code from a single source.

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend.
macro_rules! with_connection {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::pool::Pool::Postgres(pool) => {
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                let $conn = &mut *pooled;
                $body
            }
            $crate::pool::Pool::Sqlite(pool) => {
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                let $conn = &mut *pooled;
                $body
            }
        }
    };
}

/// Runs `$body` in a transaction. On SQLite it begins IMMEDIATE, taking the
/// write lock up front, so busy_timeout applies instead of a mid-transaction
/// "database is locked".
macro_rules! in_transaction {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::pool::Pool::Postgres(pool) => {
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                diesel_async::AsyncConnection::transaction::<_, $crate::error::DbError, _>(
                    &mut *pooled,
                    async |$conn| $body,
                )
                .await
            }
            $crate::pool::Pool::Sqlite(pool) => {
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                pooled.immediate_transaction::<_, $crate::error::DbError, _>(async |$conn| $body).await
            }
        }
    };
}
