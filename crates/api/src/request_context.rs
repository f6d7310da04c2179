//! The outermost middleware: request id, tracing span, panic guard, and the
//! rendering of every error response as problem+json.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt as _;
use tracing::Instrument as _;

use crate::problem::{PROBLEM_JSON, Problem};

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// 1..=128 of `[A-Za-z0-9._:-]`: safe to echo into headers, logs and JSON.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

/// Wraps the whole app (routes, default service, extractors): every response
/// leaves through here.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| well_formed(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let path = req.path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %path);
    let started = Instant::now();

    // No clone of the request may live across this call: the router needs
    // sole ownership of it. So failures below are answered through `Err`.
    let outcome = AssertUnwindSafe(next.call(req)).catch_unwind().instrument(span.clone()).await;
    let mut response = match outcome {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        Ok(Err(error)) => {
            let problem = problem_of(&error.error_response());
            return Err(finished(problem, &path, &request_id, &span, started));
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            span.in_scope(|| tracing::error!(panic = %message, "handler panicked"));
            let problem = Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(finished(problem, &path, &request_id, &span, started));
        }
    };

    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        response = render_problem(response, &path, &request_id);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    completed(&span, status, started);
    Ok(response)
}

/// The access line, in the request's span.
fn completed(span: &tracing::Span, status: StatusCode, started: Instant) {
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), latency_us = started.elapsed().as_micros(), "request completed");
    });
}

/// The `Problem` a handler or extractor attached to an error response, or one
/// made from the status for the framework's own.
fn problem_of(response: &actix_web::HttpResponse) -> Problem {
    response.extensions().get::<Problem>().cloned().unwrap_or_else(|| Problem::for_status(response.status()))
}

/// A problem already rendered for its request, handed to actix as an error
/// when no response object is at hand.
#[derive(Debug)]
struct RenderedProblem {
    status: StatusCode,
    body: Vec<u8>,
    request_id: String,
}

impl std::fmt::Display for RenderedProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request failed with {}", self.status)
    }
}

impl actix_web::ResponseError for RenderedProblem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut response = actix_web::HttpResponse::build(self.status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
            .body(self.body.clone());
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        response
    }
}

fn finished(
    problem: Problem,
    path: &str,
    request_id: &str,
    span: &tracing::Span,
    started: Instant,
) -> actix_web::Error {
    let status = problem.status;
    completed(span, status, started);
    let body = serde_json::to_vec(&problem.body(path, request_id)).unwrap_or_default();
    RenderedProblem { status, body, request_id: request_id.to_owned() }.into()
}

/// Gives an error response its problem+json body.
fn render_problem(response: ServiceResponse<BoxBody>, path: &str, request_id: &str) -> ServiceResponse<BoxBody> {
    let problem = problem_of(response.response());
    let body = serde_json::to_vec(&problem.body(path, request_id)).unwrap_or_default();
    response.map_body(|head, _| {
        head.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        BoxBody::new(body)
    })
}
