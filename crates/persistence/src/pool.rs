//! What both backends' connection pools share: their size, their time-out,
//! and where a failed connection attempt is reported.

use std::time::Duration;

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
