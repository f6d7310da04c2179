//! Error responses rendered as problem+json with their request's path and
//! id, the framework's own included.

use actix_web::HttpResponse;
use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

use crate::problem::{PROBLEM_JSON, Problem};
use crate::request_id::REQUEST_ID;

/// The `Problem` a handler or extractor attached to an error response, or one
/// made from the status for the framework's own.
pub fn problem_of(response: &HttpResponse) -> Problem {
    response.extensions().get::<Problem>().cloned().unwrap_or_else(|| Problem::for_status(response.status()))
}

/// Gives an error response its problem+json body.
pub fn render(response: ServiceResponse<BoxBody>, path: &str, request_id: &str) -> ServiceResponse<BoxBody> {
    let problem = problem_of(response.response());
    let body = serde_json::to_vec(&problem.body(path, request_id)).unwrap_or_default();
    response.map_body(|head, _| {
        head.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        BoxBody::new(body)
    })
}

/// A problem already rendered for its request, handed to actix as an error
/// when no response object is at hand (the request was consumed by a
/// handler that failed or panicked).
#[derive(Debug)]
pub struct RenderedProblem {
    status: StatusCode,
    body: Vec<u8>,
    request_id: String,
}

impl RenderedProblem {
    /// Renders `problem` for the request at `path` with `request_id`.
    pub fn new(problem: &Problem, path: &str, request_id: &str) -> Self {
        let body = serde_json::to_vec(&problem.body(path, request_id)).unwrap_or_default();
        Self { status: problem.status, body, request_id: request_id.to_owned() }
    }
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

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
            .body(self.body.clone());
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        response
    }
}
