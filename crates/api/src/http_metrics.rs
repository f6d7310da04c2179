//! What each request adds to `/metrics`: a count and a latency, by method,
//! route template and status. Labels come from fixed sets (the route table,
//! the standard methods), never from what a client wrote, so a client cannot
//! grow the number of series nor put data into a label.

use std::time::Instant;

use actix_web::http::{Method, StatusCode};

use crate::routes::SERVED;

/// A request not matched by any route.
const UNMATCHED: &str = "unmatched";

/// The route table's own copy of `pattern`, or [`UNMATCHED`].
pub fn route_label(pattern: Option<&str>) -> &'static str {
    pattern.and_then(|pattern| SERVED.iter().find(|(_, path)| *path == pattern)).map_or(UNMATCHED, |(_, path)| path)
}

fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    const NAMES: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.iter().position(|known| known == method).map_or("other", |i| NAMES[i])
}

/// Gives the metrics below their help text and unit.
pub fn describe() {
    metrics::describe_counter!("http_requests_total", "Requests answered, by method, route template and status.");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer, by method, route template and status."
    );
}

/// Records a finished request.
pub fn observe(method: &Method, route: &'static str, status: StatusCode, started: Instant) {
    let (method, status) = (method_label(method), status.as_u16().to_string());
    metrics::counter!("http_requests_total", "method" => method, "route" => route, "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(route_label(Some("/orders/{id}")), "/orders/{id}");
        assert_eq!(route_label(Some("/orders/5f0c…")), UNMATCHED);
        assert_eq!(route_label(None), UNMATCHED);
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
