//! `X-Request-Id`: the id every response carries and every log line of a
//! request names.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderName;

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for handlers (events record it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's id when it is well formed, else a new one (UUID v7).
pub fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| well_formed(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// 1..=128 of `[A-Za-z0-9._:-]`: safe to echo into headers, logs and JSON.
fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}
