//! One line per request, in the request's span (which names the request id,
//! method, path and trace id): its status and how long it took.

use std::time::Instant;

use actix_web::http::StatusCode;

/// The span every log line of a request is written in.
pub fn request_span(request_id: &str, method: &actix_web::http::Method, path: &str) -> tracing::Span {
    // `key_id` is filled in by the key guard once a key checked out,
    // `trace_id` by `trace_context::continue_trace`.
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %path,
        key_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        otel.status_code = tracing::field::Empty
    )
}

/// The access line. A 5xx also marks the request's exported span as failed.
pub fn completed(span: &tracing::Span, status: StatusCode, started: Instant) {
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), latency_us = started.elapsed().as_micros(), "request completed");
    });
}
