//! One query body, compiled once per backend.
//!
//! diesel's query builder is generic, but a function generic over the
//! connection needs a bound per query shape and its future cannot be proven
//! `Send`. Expanding the same tokens in each arm of a `match` gives each backend
//! its own concrete, `Send` code from a single source. Inside the body,
//! `Backend` names the arm's diesel backend.
//!
//! SQLite takes one writer at a time; writers in this process queue on an
//! in-process lock instead of spinning in SQLite's busy handler, which keeps
//! their tail latency flat. Readers never wait for it (WAL).

/// Runs `$body`, a `Result<_, DbError>`, with `$conn` bound to a pooled
/// connection, as a `read`er or a `write`r (which, on SQLite, first takes the
/// in-process writer lock). `?` in the body ends the body.
macro_rules! on_connection {
    ($pool:expr, $access:ident, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::pool::Pool::Postgres(pool) => {
                #[allow(dead_code)]
                type Backend = diesel::pg::Pg;
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                let result: Result<_, $crate::error::DbError> = async {
                    let $conn = &mut *pooled;
                    $body
                }
                .await;
                $crate::error::unless_session_ended(&mut pooled, result).await
            }
            $crate::pool::Pool::Sqlite(pool, writer) => {
                #[allow(dead_code)]
                type Backend = diesel::sqlite::Sqlite;
                let _writing = on_connection!(@$access writer);
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                let $conn = &mut *pooled;
                let result: Result<_, $crate::error::DbError> = async { $body }.await;
                result
            }
        }
    };
    (@read $writer:ident) => {{
        let _ = $writer;
    }};
    (@write $writer:ident) => {
        $writer.lock().await
    };
}

/// [`on_connection`] for reads.
macro_rules! with_connection {
    ($pool:expr, |$conn:ident| $body:expr) => {
        on_connection!($pool, read, |$conn| $body)
    };
}

/// [`on_connection`] for writes.
macro_rules! with_writer {
    ($pool:expr, |$conn:ident| $body:expr) => {
        on_connection!($pool, write, |$conn| $body)
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
                let result = diesel_async::AsyncConnection::transaction::<_, $crate::error::DbError, _>(
                    &mut *pooled,
                    async |$conn| $body,
                )
                .await;
                $crate::error::unless_session_ended(&mut pooled, result).await
            }
            $crate::pool::Pool::Sqlite(pool, writer) => {
                let _writing = writer.lock().await;
                let mut pooled = pool.get().await.map_err($crate::error::DbError::from)?;
                pooled.immediate_transaction::<_, $crate::error::DbError, _>(async |$conn| $body).await
            }
        }
    };
}
