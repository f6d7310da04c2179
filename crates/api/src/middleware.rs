//! The outermost middleware, which every response leaves through: it gives
//! the request its id and span (continuing the caller's trace), guards
//! against panics, renders every error as problem+json and writes the
//! access line.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use futures_util::FutureExt as _;
use tracing::Instrument as _;

use crate::problem::Problem;
use crate::problem_response::{self, RenderedProblem};
use crate::request_id::{REQUEST_ID, RequestId, request_id_of};
use crate::{access_log, http_metrics, trace_context};

/// Wraps the whole app (routes, default service, extractors).
pub async fn around_every_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = request_id_of(&req);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let path = req.path().to_owned();
    let span = access_log::request_span(&request_id, req.method(), &path);
    trace_context::continue_trace(&span, req.headers(), &request_id);
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.match_pattern();

    // No clone of the request may live across this call: the router needs
    // sole ownership of it. So failures below are answered through `Err`.
    let outcome = AssertUnwindSafe(next.call(req)).catch_unwind().instrument(span.clone()).await;
    let mut response = match outcome {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        Ok(Err(error)) => {
            let problem = problem_response::problem_of(&error.error_response());
            access_log::completed(&span, problem.status, started);
            http_metrics::observe(&method, http_metrics::route_label(route.as_deref()), problem.status, started);
            return Err(RenderedProblem::new(&problem, &path, &request_id).into());
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            span.in_scope(|| tracing::error!(panic = %message, "handler panicked"));
            let problem = Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR);
            access_log::completed(&span, problem.status, started);
            http_metrics::observe(&method, http_metrics::route_label(route.as_deref()), problem.status, started);
            return Err(RenderedProblem::new(&problem, &path, &request_id).into());
        }
    };

    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        response = problem_response::render(response, &path, &request_id);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    access_log::completed(&span, status, started);
    // `/orders/` matches only once NormalizePath, further in, has trimmed it.
    let route = route.or_else(|| response.request().match_pattern());
    http_metrics::observe(&method, http_metrics::route_label(route.as_deref()), status, started);
    Ok(response)
}
