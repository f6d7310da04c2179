//! SQLite: the file and its folder, per-connection pragmas, migrating,
//! checking that the file can be written, pooling, how an operation runs
//! (detached, and behind this process's writer lock when it writes), and
//! "database is locked", and the group commit of creates
//! (`group_commit.rs`). Its own statements (the sequential create path,
//! claims without `SKIP LOCKED`) are in `dialect.rs`.
//!
//! The dispatcher is woken in-process only, by the `Notify` that `orders.rs`
//! signals after a commit: there is no NOTIFY; other processes on the same
//! file find new emails by their sweep.
//!
//! The bundled SQLite is compiled (`LIBSQLITE3_FLAGS` in `.cargo/config.toml`)
//! without two process-wide mutexes that every connection would share:
//! - `SQLITE_DEFAULT_MEMSTATUS=0`: no allocation statistics, which SQLite
//!   keeps under one global mutex taken by every `sqlite3_malloc` and
//!   `sqlite3_free`. A list page allocates for each column of each row (the
//!   connection wrapper copies every value out of the statement), so 16
//!   readers queued on that mutex: about 420 `futex` calls per
//!   `GET /orders?limit=50`, nearly all on it, and 2.3 times fewer pages per
//!   second than without it.
//! - no `SQLITE_ENABLE_MEMORY_MANAGEMENT`: each connection keeps its page
//!   cache to itself, rather than all sharing one behind a global mutex (the
//!   next one contended once the first was gone); it only serves
//!   `sqlite3_release_memory`, which nothing here calls.

/// A random UUID (version bits aside) as the hyphenated lower-case text ids
/// are stored as: SQLite has no UUID function.
macro_rules! random_uuid {
    () => {{
        use crate::sqlite::{hex, lower_uuid, randomblob};
        use diesel::TextExpressionMethods as _;
        let part = |bytes: i32| hex(randomblob(bytes));
        lower_uuid(
            part(4)
                .concat("-")
                .concat(part(2))
                .concat("-")
                .concat(part(2))
                .concat("-")
                .concat(part(2))
                .concat("-")
                .concat(part(6)),
        )
    }};
}

mod create;
mod dialect;
mod group_commit;

#[diesel::declare_sql_function]
extern "SQL" {
    /// Random bytes, for random UUIDs (SQLite has no UUID function).
    fn randomblob(bytes: diesel::sql_types::Integer) -> diesel::sql_types::Binary;
    fn hex(bytes: diesel::sql_types::Binary) -> diesel::sql_types::Text;
    /// `lower`, typed as the UUID column it fills.
    #[sql_name = "lower"]
    fn lower_uuid(text: diesel::sql_types::Text) -> crate::sql_types::Uuid;
}

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use diesel::connection::SimpleConnection as _;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection as _, QueryResult, SqliteConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};
use futures_util::FutureExt as _;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::database::{MigrationError, OpenError};
use crate::error::DbError;
use crate::group_commit::CreateQueue;
use crate::operation::{Access, Conn, Operation};
use crate::pool::{PoolOptions, Pools, builder};
use crate::telemetry;

/// diesel's sync connection, run on blocking threads.
pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
type SqlitePool = bb8::Pool<AsyncDieselConnectionManager<SqliteConn>>;

/// The pools' names in `/metrics`.
const READS: &str = "reads";
const WRITES: &str = "writes";

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Per-connection settings, ending with `PRAGMA synchronous` (see
/// [`Synchronous::pragmas`]). busy_timeout comes first: the others may need
/// the write lock, and without it a concurrent start-up fails with "database
/// is locked".
///
/// `mmap_size`: readers read the file's pages where the kernel caches them,
/// rather than copying each into their own cache with a `pread` (under the
/// list load, `pread` and its copies were a fifth of the server's CPU; 1,550
/// to 1,970 pages a second without the map, 2,240 to 3,200 with it, in
/// alternated 10 s runs). The mapped pages are the
/// kernel's page cache, shared and dropped under pressure, but they show
/// in the process's RSS. An I/O error on the file, which `pread` returns,
/// would raise SIGBUS instead; the WAL and every write still go through
/// `write`.
macro_rules! pragmas {
    ($synchronous:literal) => {
        concat!(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 1073741824; \
             PRAGMA synchronous = ",
            $synchronous,
            ";"
        )
    };
}

/// When a SQLite commit is on disk (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Each commit is flushed to disk before it returns: an acknowledged
    /// order survives a power loss or an operating-system crash.
    #[default]
    Full,
    /// Commits are flushed at checkpoints only: faster, but the last ones
    /// before a power loss or an operating-system crash may roll back (a
    /// crash of the process alone loses nothing).
    Normal,
}

impl Synchronous {
    fn pragmas(self) -> &'static str {
        match self {
            Synchronous::Full => pragmas!("FULL"),
            Synchronous::Normal => pragmas!("NORMAL"),
        }
    }
}

/// An open SQLite database. Clones share the pools and the writer lock.
#[derive(Clone)]
pub(crate) struct Sqlite {
    /// Readers.
    pool: SqlitePool,
    /// The one connection every write of this process goes through. A
    /// connection drops its page cache whenever another connection wrote
    /// since its last transaction; writes spread over two connections re-read
    /// each page they touch (about 25 `pread`s per create, and 15 % fewer
    /// creates per second, in `make bench`).
    writes: SqlitePool,
    /// SQLite takes one writer at a time; this process's writers take turns
    /// on this lock instead of spinning in SQLite's busy handler.
    writer: Arc<Mutex<()>>,
    /// Creates waiting for the writer lock, written in batches (`group_commit.rs`).
    creates: CreateQueue,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("pool", &self.pool.state())
            .field("writes", &self.writes.state())
            .finish_non_exhaustive()
    }
}

impl Sqlite {
    /// Creates the file's folder if needed, migrates (which creates the file),
    /// checks that it can be written, and builds the pool.
    pub(crate) async fn open(path: &Path, options: &PoolOptions, pools: &Pools) -> Result<Self, OpenError> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .map_err(|source| OpenError::CreateFolder { path: folder.display().to_string(), source })?;
        }
        let pragmas = options.sqlite_synchronous.pragmas();
        migrate(path, pragmas).await?;
        probe(path, pragmas).await?;
        let reads = pool(path, options, pragmas);
        let writes = pool(path, &PoolOptions { max_size: 1, ..options.clone() }, pragmas);
        pools.watch(READS, options.max_size, &reads);
        pools.watch(WRITES, 1, &writes);
        Ok(Self { pool: reads, writes, writer: Arc::default(), creates: CreateQueue::default() })
    }

    /// Runs an operation as a task of its own, which is not cancelled when
    /// the caller stops waiting: a SQLite query runs on a blocking thread that
    /// shares the connection, and a connection handed back to the pool while
    /// that thread still holds it makes the pool's check panic. The task
    /// finishes (busy_timeout bounds it) and returns the connection itself.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        access: Access,
        operation: impl Operation<T>,
    ) -> Result<T, DbError> {
        let this = self.clone();
        tokio::spawn(async move { this.run_here(access, operation).await }).await?
    }

    async fn run_here<T: Send>(&self, access: Access, operation: impl Operation<T>) -> Result<T, DbError> {
        let asked = Instant::now();
        let (_writing, mut pooled) = match access {
            Access::Read => (None, self.pool.get().await?),
            Access::Write | Access::Transaction => (Some(self.writer.lock().await), self.writes.get().await?),
        };
        // A writer's wait for the lock is its wait for the one connection.
        telemetry::connection_acquired(if access == Access::Read { READS } else { WRITES }, asked);
        let conn: &mut SqliteConn = &mut pooled;
        let result = match access {
            Access::Read | Access::Write => operation(Conn::Sqlite(conn)).await,
            Access::Transaction => {
                conn.immediate_transaction(async move |conn| operation(Conn::Sqlite(conn)).await).await
            }
        };
        result.map_err(classify)
    }

    /// Runs `write` in one trip to the thread of the connection every write
    /// goes through, for a caller that holds the writer lock (`_writing`).
    /// The future borrows neither, so that it can be spawned.
    fn write_locked<T, W>(
        &self,
        _writing: &OwnedMutexGuard<()>,
        write: W,
    ) -> impl Future<Output = Result<T, DbError>> + Send + 'static + use<T, W>
    where
        T: Send + 'static,
        W: FnOnce(&mut SqliteConnection) -> QueryResult<T> + Send + 'static,
    {
        let writes = self.writes.clone();
        async move {
            let asked = Instant::now();
            let mut pooled = writes.get().await?;
            telemetry::connection_acquired(WRITES, asked);
            pooled.spawn_blocking(write).await.map_err(|error| classify(error.into()))
        }
    }
}

/// Tells "database is locked" apart from other failed queries.
fn classify(error: DbError) -> DbError {
    match error {
        DbError::Query(query) if is_busy(&query) => DbError::Busy(query),
        other => other,
    }
}

/// "database is locked": busy_timeout ran out while another process held the
/// write lock. Transient.
fn is_busy(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => info.message().contains("database is locked"),
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_busy(commit_error),
        _ => false,
    }
}

/// Applies pending migrations. Under one IMMEDIATE transaction, so processes
/// starting together on a new file take turns: each reads which migrations
/// are applied only once it holds the write lock (without it, two found none
/// applied and the second failed on "table orders already exists").
async fn migrate(path: &Path, pragmas: &'static str) -> Result<(), MigrationError> {
    let path = path.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = SqliteConnection::establish(&path)?;
        conn.batch_execute(pragmas).map_err(MigrationError::failed)?;
        conn.immediate_transaction::<_, Box<dyn std::error::Error + Send + Sync>, _>(|conn| {
            conn.run_pending_migrations(MIGRATIONS).map(drop)
        })
        .map_err(MigrationError::failed)
    })
    .await?
}

/// Writes in a transaction that is rolled back. SQLite opens a file it may not
/// write read-only, without an error, and every write then fails; so does a
/// database whose folder or -wal/-shm files are read-only. `BEGIN IMMEDIATE`
/// alone does not tell: it succeeds on such a database in WAL mode.
async fn probe(path: &Path, pragmas: &'static str) -> Result<(), OpenError> {
    let path = path.to_string_lossy().into_owned();
    let written = tokio::task::spawn_blocking(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = SqliteConnection::establish(&path)?;
        conn.batch_execute(pragmas)?;
        conn.batch_execute("BEGIN IMMEDIATE; CREATE TABLE write_probe (x); ROLLBACK")?;
        Ok(())
    })
    .await;
    match written {
        Ok(result) => result.map_err(OpenError::NotWritable),
        Err(failed) => Err(OpenError::NotWritable(failed.into())),
    }
}

fn pool(path: &Path, options: &PoolOptions, pragmas: &'static str) -> SqlitePool {
    let mut config = ManagerConfig::<SqliteConn>::default();
    // A local file needs no liveness check.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(pragmas).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path.to_string_lossy(), config);
    builder(options).build_unchecked(manager)
}
