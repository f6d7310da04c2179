//! What both backends' connection pools share: their size, their time-out,
//! and where a failed connection attempt is reported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sqlite::Synchronous;

/// Pool sizes and time-outs, and how SQLite's connections flush commits.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Connections at most.
    pub max_size: u32,
    /// How long one operation may take, waiting for a connection included,
    /// before the caller is told the database is unavailable.
    pub timeout: Duration,
    /// SQLite only: when a commit is on disk.
    pub sqlite_synchronous: Synchronous,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 10, timeout: Duration::from_secs(3), sqlite_synchronous: Synchronous::default() }
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

/// A pool builder with `options` applied; each backend adds its connection manager.
pub(crate) fn builder<M: bb8::ManageConnection>(options: &PoolOptions) -> bb8::Builder<M>
where
    M::Error: std::fmt::Display,
{
    bb8::Pool::builder().max_size(options.max_size).connection_timeout(options.timeout).error_sink(Box::new(LogErrors))
}

/// Every pool this process opened, by name, for `/metrics`. Clones of a
/// [`Database`](crate::Database) share it; pools of one name (the HTTP
/// workers' pools, say) are reported as one.
#[derive(Clone, Default)]
pub(crate) struct Pools(Arc<Mutex<Vec<Watched>>>);

struct Watched {
    name: &'static str,
    max_size: u32,
    state: Box<dyn Fn() -> bb8::State + Send + Sync>,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools").finish_non_exhaustive()
    }
}

impl Pools {
    /// Reports `pool` under `name` from now on.
    pub(crate) fn watch<M: bb8::ManageConnection>(&self, name: &'static str, max_size: u32, pool: &bb8::Pool<M>) {
        let pool = pool.clone();
        let watched = Watched { name, max_size, state: Box::new(move || pool.state()) };
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(watched);
    }

    /// Sets the pool gauges and counters to the pools' state now.
    pub(crate) fn record(&self) {
        let watched = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut names: Vec<&'static str> = watched.iter().map(|w| w.name).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let (mut max, mut open, mut idle, mut waiting, mut waited, mut timed_out) = (0u64, 0u64, 0u64, 0, 0, 0);
            for pool in watched.iter().filter(|w| w.name == name) {
                let state = (pool.state)();
                max += u64::from(pool.max_size);
                open += u64::from(state.connections);
                idle += u64::from(state.idle_connections);
                waiting += state.statistics.pending_gets();
                waited += state.statistics.get_waited;
                timed_out += state.statistics.get_timed_out;
            }
            metrics::gauge!("db_pool_max_connections", "pool" => name).set(max as f64);
            metrics::gauge!("db_pool_connections", "pool" => name).set(open as f64);
            metrics::gauge!("db_pool_connections_in_use", "pool" => name).set(open.saturating_sub(idle) as f64);
            metrics::gauge!("db_pool_waiting", "pool" => name).set(waiting as f64);
            metrics::counter!("db_pool_waits_total", "pool" => name).absolute(waited);
            metrics::counter!("db_pool_timeouts_total", "pool" => name).absolute(timed_out);
        }
    }
}
