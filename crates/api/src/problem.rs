//! RFC 9457 problem details: the one shape of every error response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::{OrderError, RepositoryError, TransitionError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::validation::FieldError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem before the request context (path, request id) is added: handlers
/// and extractors produce it, the request middleware renders it.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    /// Short summary; the same for every problem of this code.
    pub title: &'static str,
    /// What happened in this case.
    pub detail: String,
    /// Invalid fields (422 only).
    pub errors: Vec<FieldError>,
    /// `Allow` for 405.
    pub allow: Option<String>,
}

impl Problem {
    /// A problem without field errors.
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, title, detail: detail.into(), errors: Vec::new(), allow: None }
    }

    /// The problem for a status the framework produced on its own.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, title, detail) = match status.as_u16() {
            400 => ("bad_request", "Bad request", "the request could not be understood"),
            404 => ("not_found", "Not found", "no resource at this path"),
            405 => ("method_not_allowed", "Method not allowed", "this method is not allowed on this path"),
            408 => ("request_timeout", "Request timeout", "the request was not received in time"),
            413 => ("payload_too_large", "Payload too large", "the request body is larger than 64 KiB"),
            415 => ("unsupported_media_type", "Unsupported media type", "the body must be application/json"),
            431 => ("headers_too_large", "Request header fields too large", "the request headers are too large"),
            503 => ("unavailable", "Service unavailable", "the service is unavailable; retry later"),
            s if s >= 500 => ("internal", "Internal server error", "the server failed to answer the request"),
            _ => ("error", "Request failed", "the request failed"),
        };
        Self::new(status, code, title, detail)
    }

    /// The `type` URI: a relative reference per code.
    pub fn type_uri(&self) -> String {
        format!("/problems/{}", self.code.replace('_', "-"))
    }

    /// The JSON body, with the request's path and id.
    pub fn body(&self, instance: &str, request_id: &str) -> ProblemBody<'_> {
        ProblemBody {
            type_: self.type_uri(),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            instance: instance.to_owned(),
            code: self.code,
            request_id: request_id.to_owned(),
            errors: (!self.errors.is_empty()).then_some(&self.errors),
        }
    }

    /// An empty response carrying this problem; the request middleware renders it.
    pub fn response(self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // RFC 9110 §15.5.9: the server has decided to close the connection.
            builder.force_close();
        }
        let mut response =
            builder.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))).finish();
        if let Some(allow) = self.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// An RFC 9457 problem: the body of every non-2xx response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// A relative URI naming the kind of problem, e.g. `/problems/validation-failed`.
    #[serde(rename = "type")]
    #[schema(rename = "type", format = "uri-reference")]
    pub type_: String,
    pub title: &'static str,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong in this case (for 5xx: nothing internal).
    #[schema(value_type = String)]
    pub detail: &'a str,
    /// The request path.
    #[schema(format = "uri-reference")]
    pub instance: String,
    /// Stable machine-readable code: `malformed_json`, `invalid_query`, `invalid_header`,
    /// `not_found`, `method_not_allowed`, `request_timeout`, `invalid_transition`,
    /// `precondition_failed`, `payload_too_large`, `unsupported_media_type`,
    /// `validation_failed`, `idempotency_key_reused`, `internal`, `unavailable`.
    pub code: &'static str,
    /// Equal to the response's `X-Request-Id`.
    pub request_id: String,
    /// 422 `validation_failed` only: every invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>, required = false)]
    pub errors: Option<&'a Vec<FieldError>>,
}

/// Every error a handler or extractor returns, mapped to HTTP once, here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no order with id {0}")]
    OrderNotFound(String),
    #[error("no resource at this path")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body was not received in time")]
    BodyTimeout,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("this Idempotency-Key was already used for a different request body")]
    IdempotencyKeyReused,
    #[error("the order is at version {current}; If-Match did not match")]
    PreconditionFailed { current: i64 },
    #[error(transparent)]
    InvalidTransition(TransitionError),
    #[error("the database is unavailable")]
    Unavailable(#[source] RepositoryError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::NotFound(id) => ApiError::OrderNotFound(id.to_string()),
            OrderError::PreconditionFailed { current } => ApiError::PreconditionFailed { current: current.get() },
            OrderError::InvalidTransition(e) => ApiError::InvalidTransition(e),
            OrderError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            OrderError::Repository(e) => e.into(),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Unavailable(_) => ApiError::Unavailable(error),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl ApiError {
    /// The problem this error is shown as.
    pub fn problem(&self) -> Problem {
        use StatusCode as S;
        let mut problem = match self {
            ApiError::OrderNotFound(_) => Problem::new(S::NOT_FOUND, "not_found", "Not found", self.to_string()),
            ApiError::RouteNotFound => Problem::for_status(S::NOT_FOUND),
            ApiError::MethodNotAllowed { allow } => {
                let mut problem = Problem::new(
                    S::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "Method not allowed",
                    format!("allowed methods: {allow}"),
                );
                problem.allow = Some(allow.clone());
                problem
            }
            ApiError::UnsupportedMediaType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "the body must be sent with Content-Type: application/json",
            ),
            ApiError::PayloadTooLarge { .. } => {
                Problem::new(S::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large", self.to_string())
            }
            ApiError::BodyTimeout => {
                Problem::new(S::REQUEST_TIMEOUT, "request_timeout", "Request timeout", self.to_string())
            }
            ApiError::MalformedJson(_) => {
                Problem::new(S::BAD_REQUEST, "malformed_json", "Malformed JSON", self.to_string())
            }
            ApiError::InvalidQuery(_) => {
                Problem::new(S::BAD_REQUEST, "invalid_query", "Invalid query parameter", self.to_string())
            }
            ApiError::InvalidHeader(_) => {
                Problem::new(S::BAD_REQUEST, "invalid_header", "Invalid header", self.to_string())
            }
            ApiError::Validation(errors) => {
                let detail = match errors.len() {
                    1 => "1 field is invalid".to_owned(),
                    n => format!("{n} fields are invalid"),
                };
                let mut problem =
                    Problem::new(S::UNPROCESSABLE_ENTITY, "validation_failed", "Request validation failed", detail);
                problem.errors = errors.clone();
                problem
            }
            ApiError::IdempotencyKeyReused => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                self.to_string(),
            ),
            ApiError::PreconditionFailed { .. } => {
                Problem::new(S::PRECONDITION_FAILED, "precondition_failed", "Precondition failed", self.to_string())
            }
            ApiError::InvalidTransition(_) => {
                Problem::new(S::CONFLICT, "invalid_transition", "Invalid status transition", self.to_string())
            }
            ApiError::Unavailable(_) => Problem::for_status(S::SERVICE_UNAVAILABLE),
            ApiError::Internal(_) => Problem::for_status(S::INTERNAL_SERVER_ERROR),
        };
        // 5xx bodies say nothing internal; the log line has the cause chain.
        if problem.status.is_server_error() {
            problem.detail = Problem::for_status(problem.status).detail;
        }
        problem
    }
}

/// `error: cause: cause…`, for log lines.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Unavailable(_) | ApiError::Internal(_) = self {
            tracing::error!(error = %cause_chain(self), "request failed");
        }
        self.problem().response()
    }
}
