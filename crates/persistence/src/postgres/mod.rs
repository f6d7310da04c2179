//! PostgreSQL: connecting, migrating and pooling, how an operation runs, and
//! how a session that ended is told from a query that failed. Its own
//! statements (`SKIP LOCKED` claims) are in `dialect.rs`; the inserts of a
//! create in `create.rs`; its group commit in `group_commit.rs`; its
//! LISTEN/NOTIFY wake-up in `wake_up.rs`; its migrations in `migrate.rs`.

mod create;
mod dialect;
mod group_commit;
mod migrate;
mod wake_up;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection as _, RecyclingMethod,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use futures_util::FutureExt as _;
use tokio::sync::{Notify, Semaphore};

use crate::database::OpenError;
use crate::error::{DbError, is_unavailable};
use crate::group_commit::CreateQueue;
use crate::operation::{Access, Conn, Operation};
use crate::pool::{PoolOptions, Pools, builder};
use crate::telemetry;

type PgPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;

/// How long start-up waits for PostgreSQL to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open PostgreSQL database.
#[derive(Clone)]
pub(crate) struct Postgres {
    url: String,
    /// The pool's name in `/metrics`.
    name: &'static str,
    options: PoolOptions,
    pool: PgPool,
    /// The LISTEN task; it ends when the last clone is dropped.
    _listener: Arc<wake_up::Listener>,
    /// Creates waiting for a turn to write, in batches (`group_commit.rs`),
    /// shared by every pool of the process.
    creates: CreateQueue,
    /// The turns.
    writers: Arc<Semaphore>,
}

impl std::fmt::Debug for Postgres {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("pool", &self.pool.state()).finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects once (so an unreachable server fails here with its real
    /// cause, not with a pool time-out later), migrates, starts listening for
    /// queued emails (each wakes `email_queued`), and builds the pool.
    pub(crate) async fn open(url: &str, options: &PoolOptions, email_queued: Arc<Notify>) -> Result<Self, OpenError> {
        probe(url).await?;
        migrate::run(url).await?;
        let listener = Arc::new(wake_up::Listener::start(url.to_owned(), email_queued));
        let pool = pool(url, options);
        Ok(Self {
            url: url.to_owned(),
            name: "main",
            options: options.clone(),
            pool,
            _listener: listener,
            creates: CreateQueue::default(),
            writers: Arc::new(Semaphore::new(group_commit::WRITERS)),
        })
    }

    /// The same database through a new pool, `name`d, of at most `max_size`
    /// connections, which `pools` reports.
    pub(crate) fn with_own_pool(&self, name: &'static str, max_size: u32, pools: &Pools) -> Self {
        let options = PoolOptions { max_size: max_size.max(1), ..self.options.clone() };
        let pool = pool(&self.url, &options);
        pools.watch(name, options.max_size, &pool);
        Self { pool, name, ..self.clone() }
    }

    /// Runs an operation in place: it can be dropped at any point, since the
    /// pool discards a connection left inside a transaction.
    pub(crate) async fn run<T: Send>(&self, access: Access, operation: impl Operation<T>) -> Result<T, DbError> {
        let asked = Instant::now();
        let mut pooled = self.pool.get().await?;
        telemetry::connection_acquired(self.name, asked);
        let conn: &mut AsyncPgConnection = &mut pooled;
        let result = match access {
            Access::Read | Access::Write => operation(Conn::Postgres(conn)).await,
            Access::Transaction => conn.transaction(async move |conn| operation(Conn::Postgres(conn)).await).await,
        };
        unless_session_ended(&mut pooled, result).await
    }
}

/// Tells a query that is wrong from a session that ended under it.
///
/// The server ends a session with a FATAL error — 57P01 from
/// `pg_terminate_backend` or a fast shutdown, 57P02, 57P05, … — and then
/// closes the connection. diesel does not pass the SQLSTATE on, and the
/// message is in the server's language, so an error not known to be
/// transient is followed by an empty query: it fails only on a connection that
/// is gone. Error paths alone pay the round trip.
async fn unless_session_ended<T>(conn: &mut AsyncPgConnection, result: Result<T, DbError>) -> Result<T, DbError> {
    match result {
        Err(DbError::Query(error)) if !is_unavailable(&error) && conn.batch_execute("").await.is_err() => {
            Err(DbError::ConnectionLost(error))
        }
        other => other,
    }
}

/// Connects once with tokio-postgres directly: diesel-async keeps only the
/// top-level message ("error connecting to server"), this keeps the cause
/// ("Connection refused", "password authentication failed", …).
async fn probe(url: &str) -> Result<(), OpenError> {
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

fn pool(url: &str, options: &PoolOptions) -> PgPool {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // Checked out connections are checked without a round trip: a connection
    // whose socket closed (a database restart) is dropped and replaced; one
    // that is merely idle costs nothing. The default runs `SELECT 1` on every
    // checkout, one extra round trip per request.
    config.recycling_method = RecyclingMethod::CustomFunction(Box::new(|conn| {
        let broken = conn.is_broken();
        async move { if broken { Err(diesel::result::Error::BrokenTransactionManager) } else { Ok(()) } }.boxed()
    }));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    builder(options).build_unchecked(manager)
}
