//! W3C trace context on requests: a caller's `traceparent` (and `tracestate`)
//! is continued, and the request span names its trace id, so that a request's
//! log lines and its exported spans can be found from one another.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use opentelemetry::global;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACEPARENT: &str = "traceparent";

/// A request's id, carried in the OpenTelemetry context of its span and so
/// of every span under it, for the exporter to write on each of them (the
/// request span itself has it as a field).
#[derive(Debug, Clone)]
pub struct TracedRequestId(pub Arc<str>);

/// Makes the caller's trace, if it sent a valid `traceparent`, the parent of
/// `span`, and records the trace id on it (`trace_id`): the caller's, or the
/// one begun here when spans are exported. With neither, it stays empty.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap, request_id: &str) {
    let remote = headers
        .contains_key(TRACEPARENT)
        .then(|| global::get_text_map_propagator(|propagator| propagator.extract(&Headers(headers))))
        .filter(|cx| cx.span().span_context().is_valid());
    let parent = remote.clone().unwrap_or_default();
    // Refused only without the OpenTelemetry layer, that is when nothing is
    // exported: asked first, so that then nothing more is done.
    let exported = span.set_parent(parent.clone()).is_ok();
    if exported {
        let _ = span.set_parent(parent.with_value(TracedRequestId(request_id.into())));
    }
    let trace_id = match remote {
        Some(remote) => Some(remote.span().span_context().trace_id()),
        None if exported => Some(span.context().span().span_context().trace_id()),
        None => None,
    };
    if let Some(trace_id) = trace_id {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// actix-web's header map, read by a propagator.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
