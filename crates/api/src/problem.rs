//! RFC 9457 problem details: the one shape of every error response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::{
    AccessError, DeliveryError, KeyError, OrderError, RefusedDestination, RepositoryError, TransitionError,
    WebhookError,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::validation::FieldError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Writes [`Code`] and [`Code::ALL`] from one list, so the `enum` of codes in
/// the OpenAPI document is exactly the set a problem can carry.
macro_rules! codes {
    ($($variant:ident => $text:literal),+ $(,)?) => {
        /// The stable machine-readable `code` of a problem.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant),+
        }

        impl Code {
            /// Every code.
            pub const ALL: &[Code] = &[$(Code::$variant),+];

            /// The code as it appears in a problem body.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text),+
                }
            }
        }
    };
}

codes! {
    MalformedJson => "malformed_json",
    InvalidQuery => "invalid_query",
    InvalidHeader => "invalid_header",
    Unauthenticated => "unauthenticated",
    InsufficientScope => "insufficient_scope",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    RequestTimeout => "request_timeout",
    InvalidTransition => "invalid_transition",
    DeliveryNotFailed => "delivery_not_failed",
    PreconditionFailed => "precondition_failed",
    PayloadTooLarge => "payload_too_large",
    UnsupportedMediaType => "unsupported_media_type",
    ValidationFailed => "validation_failed",
    IdempotencyKeyReused => "idempotency_key_reused",
    Internal => "internal",
    Unavailable => "unavailable",
    // The fallbacks of `Problem::for_status`, for a status the framework
    // produced on its own; actix-http writes its 400 and 431 before the
    // request reaches the application, so these are not expected.
    BadRequest => "bad_request",
    HeadersTooLarge => "headers_too_large",
    Other => "error",
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Stable machine-readable code; one per kind of problem."))
            .enum_values(Some(Code::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl ToSchema for Code {}

/// A problem before the request context (path, request id) is added: handlers
/// and extractors produce it, the request middleware renders it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: Code,
    /// Short summary; the same for every problem of this code.
    pub title: &'static str,
    /// What happened in this case.
    pub detail: String,
    /// Invalid fields (422 only).
    pub errors: Vec<FieldError>,
    /// A header the status calls for: `Allow` (405), `WWW-Authenticate` (401, 403).
    pub header: Option<(header::HeaderName, String)>,
}

impl Problem {
    /// A problem without field errors.
    pub fn new(status: StatusCode, code: Code, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, title, detail: detail.into(), errors: Vec::new(), header: None }
    }

    /// The problem for a status the framework produced on its own.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, title, detail) = match status.as_u16() {
            400 => (Code::BadRequest, "Bad request", "the request could not be understood"),
            404 => (Code::NotFound, "Not found", "no resource at this path"),
            405 => (Code::MethodNotAllowed, "Method not allowed", "this method is not allowed on this path"),
            408 => (Code::RequestTimeout, "Request timeout", "the request was not received in time"),
            413 => (Code::PayloadTooLarge, "Payload too large", "the request body is larger than 64 KiB"),
            415 => (Code::UnsupportedMediaType, "Unsupported media type", "the body must be application/json"),
            431 => (Code::HeadersTooLarge, "Request header fields too large", "the request headers are too large"),
            503 => (Code::Unavailable, "Service unavailable", "the service is unavailable; retry later"),
            s if s >= 500 => (Code::Internal, "Internal server error", "the server failed to answer the request"),
            _ => (Code::Other, "Request failed", "the request failed"),
        };
        Self::new(status, code, title, detail)
    }

    /// The `type` URI: a relative reference per code.
    pub fn type_uri(&self) -> String {
        format!("/problems/{}", self.code.as_str().replace('_', "-"))
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
        if let Some((name, value)) = &self.header
            && let Ok(value) = HeaderValue::from_str(value)
        {
            response.headers_mut().insert(name.clone(), value);
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
    // No doc comment: utoipa would wrap the inlined enum in an `allOf` with an
    // object schema to carry it, and no string would then match.
    #[schema(inline)]
    pub code: Code,
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
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("no order with id {0}")]
    OrderNotFound(String),
    #[error("no API key with id {0}")]
    KeyNotFound(String),
    #[error("no webhook endpoint with id {0}")]
    EndpointNotFound(String),
    #[error("no delivery with id {0}")]
    DeliveryNotFound(String),
    #[error("{0}; only a failed delivery to an existing endpoint can be retried")]
    DeliveryNotRetryable(String),
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
            OrderError::Answer(e) | OrderError::Email(e) => ApiError::Internal(e),
            OrderError::Repository(e) => e.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NotFound(id) => ApiError::KeyNotFound(id.to_string()),
            KeyError::Repository(e) => e.into(),
            other @ KeyError::NoRandomness(_) => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::NotFound(id) => ApiError::EndpointNotFound(id.to_string()),
            // A URL the service will not call is an invalid `url`.
            WebhookError::Refused(refused) => {
                let code = match refused {
                    RefusedDestination::Private { .. } => "private_address",
                    RefusedDestination::Unresolvable(_) => "unresolvable",
                };
                ApiError::Validation(vec![FieldError::new("url", code, refused.to_string())])
            }
            WebhookError::Repository(e) => e.into(),
            other @ WebhookError::NoRandomness(_) => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<DeliveryError> for ApiError {
    fn from(error: DeliveryError) -> Self {
        match error {
            DeliveryError::NotFound(id) => ApiError::DeliveryNotFound(id.to_string()),
            refused @ (DeliveryError::NotFailed(_) | DeliveryError::EndpointDeleted(_)) => {
                ApiError::DeliveryNotRetryable(refused.to_string())
            }
            DeliveryError::Repository(e) => e.into(),
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
            ApiError::Access(AccessError::Unauthenticated) => {
                let mut problem =
                    Problem::new(S::UNAUTHORIZED, Code::Unauthenticated, "Unauthenticated", self.to_string());
                problem.header = Some((header::WWW_AUTHENTICATE, "Bearer".to_owned()));
                problem
            }
            ApiError::Access(AccessError::InsufficientScope(scope)) => {
                let mut problem =
                    Problem::new(S::FORBIDDEN, Code::InsufficientScope, "Insufficient scope", self.to_string());
                let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
                problem.header = Some((header::WWW_AUTHENTICATE, challenge));
                problem
            }
            ApiError::OrderNotFound(_)
            | ApiError::KeyNotFound(_)
            | ApiError::EndpointNotFound(_)
            | ApiError::DeliveryNotFound(_) => {
                Problem::new(S::NOT_FOUND, Code::NotFound, "Not found", self.to_string())
            }
            ApiError::RouteNotFound => Problem::for_status(S::NOT_FOUND),
            ApiError::MethodNotAllowed { allow } => {
                let mut problem = Problem::new(
                    S::METHOD_NOT_ALLOWED,
                    Code::MethodNotAllowed,
                    "Method not allowed",
                    format!("allowed methods: {allow}"),
                );
                problem.header = Some((header::ALLOW, allow.clone()));
                problem
            }
            ApiError::UnsupportedMediaType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "Unsupported media type",
                "the body must be sent with Content-Type: application/json",
            ),
            ApiError::PayloadTooLarge { .. } => {
                Problem::new(S::PAYLOAD_TOO_LARGE, Code::PayloadTooLarge, "Payload too large", self.to_string())
            }
            ApiError::BodyTimeout => {
                Problem::new(S::REQUEST_TIMEOUT, Code::RequestTimeout, "Request timeout", self.to_string())
            }
            ApiError::MalformedJson(_) => {
                Problem::new(S::BAD_REQUEST, Code::MalformedJson, "Malformed JSON", self.to_string())
            }
            ApiError::InvalidQuery(_) => {
                Problem::new(S::BAD_REQUEST, Code::InvalidQuery, "Invalid query parameter", self.to_string())
            }
            ApiError::InvalidHeader(_) => {
                Problem::new(S::BAD_REQUEST, Code::InvalidHeader, "Invalid header", self.to_string())
            }
            ApiError::Validation(errors) => {
                let detail = match errors.len() {
                    1 => "1 field is invalid".to_owned(),
                    n => format!("{n} fields are invalid"),
                };
                let mut problem =
                    Problem::new(S::UNPROCESSABLE_ENTITY, Code::ValidationFailed, "Request validation failed", detail);
                problem.errors = errors.clone();
                problem
            }
            ApiError::IdempotencyKeyReused => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                Code::IdempotencyKeyReused,
                "Idempotency key reused",
                self.to_string(),
            ),
            ApiError::PreconditionFailed { .. } => {
                Problem::new(S::PRECONDITION_FAILED, Code::PreconditionFailed, "Precondition failed", self.to_string())
            }
            ApiError::InvalidTransition(_) => {
                Problem::new(S::CONFLICT, Code::InvalidTransition, "Invalid status transition", self.to_string())
            }
            ApiError::DeliveryNotRetryable(_) => {
                Problem::new(S::CONFLICT, Code::DeliveryNotFailed, "Delivery not failed", self.to_string())
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
