//! What a database operation reports: a span named after it, for traces and
//! for the log lines written inside it, and its latency and the wait for a
//! connection, for `/metrics`. Names and labels are fixed strings, never
//! values, so no label carries customer data. The pools' own state is in
//! `pool.rs`, read at each scrape.

use std::time::Instant;

/// The span an operation runs in.
pub(crate) fn operation_span(operation: &'static str, system: &'static str) -> tracing::Span {
    tracing::info_span!(
        "db",
        otel.name = operation,
        db.operation = operation,
        db.system = system,
        otel.status_code = tracing::field::Empty
    )
}

/// An operation ended, `ok` or not, `started` ago (the wait for a connection
/// included); a failed one marks its span failed.
pub(crate) fn operation_ended(span: &tracing::Span, operation: &'static str, started: Instant, ok: bool) {
    if !ok {
        span.record("otel.status_code", "ERROR");
    }
    let outcome = if ok { "ok" } else { "error" };
    metrics::histogram!("db_operation_duration_seconds", "operation" => operation, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
}

/// A connection of `pool` was handed out after waiting since `started`.
pub(crate) fn connection_acquired(pool: &'static str, started: Instant) {
    metrics::histogram!("db_pool_acquire_duration_seconds", "pool" => pool).record(started.elapsed().as_secs_f64());
}

/// Gives the database metrics their help text and unit.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "db_operation_duration_seconds",
        Unit::Seconds,
        "Database operations by name and outcome, the wait for a connection included."
    );
    describe_histogram!("db_pool_acquire_duration_seconds", Unit::Seconds, "Waits for a pooled connection, by pool.");
    describe_gauge!("db_pool_max_connections", "Connections a pool may open.");
    describe_gauge!("db_pool_connections", "Connections a pool holds open.");
    describe_gauge!("db_pool_connections_in_use", "Connections checked out of a pool.");
    describe_gauge!("db_pool_waiting", "Callers waiting for a connection now.");
    describe_counter!("db_pool_waits_total", "Checkouts that had to wait for a connection.");
    describe_counter!("db_pool_timeouts_total", "Checkouts that gave up waiting for a connection.");
}
