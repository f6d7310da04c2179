//! Connection pools for both backends, chosen by the database URL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt as _;

/// The SQLite connection type: diesel's sync connection run on blocking threads.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
/// Pool of PostgreSQL connections.
pub type PgPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;
/// Pool of SQLite connections.
pub type SqlitePool = bb8::Pool<AsyncDieselConnectionManager<SqliteConn>>;

/// Which database a URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, kept as given.
    Postgres(String),
    /// `sqlite://path`, `sqlite:path` or `sqlite:///absolute/path`: the file path.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// The URL for messages: user, hosts, port and database of a PostgreSQL
    /// URL, never its password or options (which may carry one).
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            // A raw `@` in a password makes the rest look like a host: show nothing then.
            DatabaseUrl::Postgres(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(config) if !config.get_hosts().iter().any(|h| format!("{h:?}").contains('@')) => {
                    let hosts: Vec<String> = config
                        .get_hosts()
                        .iter()
                        .map(|host| match host {
                            tokio_postgres::config::Host::Tcp(name) => name.clone(),
                            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                        })
                        .collect();
                    let port = config.get_ports().first().map_or(String::new(), |p| format!(":{p}"));
                    format!(
                        "postgres://{}@{}{port}/{}",
                        config.get_user().unwrap_or(""),
                        hosts.join(","),
                        config.get_dbname().unwrap_or("")
                    )
                }
                _ => "postgres://(a URL that does not parse)".to_owned(),
            },
        }
    }
}

/// A database URL that cannot be used. It never holds the URL, which may
/// hold a password.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedUrl {
    /// Neither backend's scheme; what is kept describes the scheme only.
    #[error("must start with postgres://, postgresql:// or sqlite:// (got {0})")]
    Scheme(String),
    /// `sqlite:` with no file, or `:memory:`, which would lose every order.
    #[error("sqlite:// needs the path of a file")]
    NoFile,
    /// A PostgreSQL URL that does not parse. tokio-postgres names the option
    /// at fault, never its value.
    #[error("not a usable PostgreSQL URL: {0}")]
    Postgres(String),
    /// A PostgreSQL URL whose host holds an `@`: a password with a raw `@`.
    #[error("not a usable PostgreSQL URL: its host holds an '@' (write an '@' in the password as %40)")]
    AtInHost,
}

impl DatabaseUrl {
    /// Reads a URL; the scheme picks the backend.
    pub fn parse(url: &str) -> Result<Self, UnsupportedUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let config = url.parse::<tokio_postgres::Config>().map_err(|e| {
                // Its message is only "invalid connection string"; the cause names the option.
                UnsupportedUrl::Postgres(
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string),
                )
            })?;
            if config.get_hosts().iter().any(|host| format!("{host:?}").contains('@')) {
                return Err(UnsupportedUrl::AtInHost);
            }
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            return match path {
                "" | ":memory:" => Err(UnsupportedUrl::NoFile),
                path => Ok(Self::Sqlite(PathBuf::from(path))),
            };
        }
        let scheme = url.split_once("://").map(|(scheme, _)| scheme).filter(|scheme| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        Err(UnsupportedUrl::Scheme(scheme.map_or_else(|| "no scheme".to_owned(), |s| format!("{s}://…"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_show_no_password() {
        for url in [
            "postgres://orders:s3cr%40t@db.example:5433/orders",
            "postgres://db.example/orders?password=s3cret&user=orders",
        ] {
            let shown = DatabaseUrl::parse(url).unwrap().redacted();
            assert!(!shown.contains("s3c"), "{url} → {shown}");
            assert!(shown.contains("db.example") && shown.ends_with("/orders"), "{url} → {shown}");
        }
        let malformed = DatabaseUrl::Postgres("postgres://orders:p@ss@db.example/orders".into()).redacted();
        assert!(!malformed.contains("ss@"), "{malformed}");
        assert_eq!(DatabaseUrl::parse("sqlite://data/x.db").unwrap().redacted(), "sqlite://data/x.db");
    }

    #[test]
    fn unusable_urls_are_described_without_their_secrets() {
        for (url, shown) in [
            ("postgress://orders:s3cret@db.example/orders", "postgress://…"),
            ("orders:s3cret@db.example/orders", "no scheme"),
            ("s3cret", "no scheme"),
            ("postgres://orders:s3cret@db.example:port/orders", "`port`"),
            ("postgres://orders:p@s3cret@db.example/orders", "%40"),
            ("sqlite::memory:", "path of a file"),
        ] {
            let error = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(error.contains(shown) && !error.contains("s3c"), "{url} → {error}");
        }
    }
}

/// Pool sizes and time-outs.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Connections at most.
    pub max_size: u32,
    /// How long one operation may take, waiting for a connection included,
    /// before the caller is told the database is unavailable.
    pub timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 10, timeout: Duration::from_secs(3) }
    }
}

/// A pool of either backend.
#[derive(Clone)]
pub enum Pool {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite, and the lock its writers in this process take turns on.
    Sqlite(SqlitePool, std::sync::Arc<tokio::sync::Mutex<()>>),
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pool::Postgres(pool) => f.debug_tuple("Postgres").field(&pool.state()).finish(),
            Pool::Sqlite(pool, _) => f.debug_tuple("Sqlite").field(&pool.state()).finish(),
        }
    }
}

/// bb8 only says "timed out" to the caller; this puts the real cause in the log.
#[derive(Debug, Clone, Copy)]
struct LogErrors;

impl<E: std::fmt::Display> bb8::ErrorSink<E> for LogErrors {
    fn sink(&self, error: E) {
        tracing::warn!(error = %error, "database connection failed");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<E>> {
        Box::new(*self)
    }
}

fn builder<M: bb8::ManageConnection>(options: &PoolOptions) -> bb8::Builder<M>
where
    M::Error: std::fmt::Display,
{
    bb8::Pool::builder().max_size(options.max_size).connection_timeout(options.timeout).error_sink(Box::new(LogErrors))
}

pub(crate) fn postgres(url: &str, options: &PoolOptions) -> PgPool {
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

/// Per-connection settings. busy_timeout comes first: the others may need the
/// write lock, and without it a concurrent start-up fails with "database is locked".
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

pub(crate) fn sqlite(path: &Path, options: &PoolOptions) -> SqlitePool {
    let mut config = ManagerConfig::<SqliteConn>::default();
    // A local file needs no liveness check.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|url| {
        let url = url.to_owned();
        async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(SQLITE_PRAGMAS).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path.to_string_lossy(), config);
    builder(options).build_unchecked(manager)
}
