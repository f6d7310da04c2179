//! Extractors that fail with our problems, in API.md's order of precedence.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use domain::OrderId;
use serde_json::Value;

use crate::problem::ApiError;
use crate::validation::{self, FromJson};

/// Largest accepted body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long reading a body may take; registered as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// A JSON body, read and parsed: 415 for another media type, 413 past
/// [`BODY_LIMIT`], 400 if it is not JSON. Validation (422) is a separate step,
/// so a handler can check headers (400) in between, as API.md's precedence asks.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl JsonBody {
    /// Reads the value as the domain value of request `T`, listing every invalid field (422).
    pub fn parse<T: FromJson>(&self) -> Result<T::Parsed, ApiError> {
        validation::read::<T>(self.0.clone()).map_err(ApiError::Validation)
    }
}

/// `application/json`, any case, any parameters.
fn is_json(req: &HttpRequest) -> Option<bool> {
    let value = req.headers().get(header::CONTENT_TYPE)?;
    let media_type = value.to_str().ok().and_then(|v| v.split(';').next()).unwrap_or_default();
    Some(media_type.trim().eq_ignore_ascii_case("application/json"))
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = Bytes::from_request(req, payload);
        let limit = req.app_data::<BodyTimeout>().map_or(std::time::Duration::from_secs(10), |t| t.0);
        Box::pin(async move {
            if json == Some(false) {
                return Err(ApiError::UnsupportedMediaType);
            }
            let Ok(body) = tokio::time::timeout(limit, body).await else {
                return Err(ApiError::BodyTimeout);
            };
            let bytes = match body {
                Ok(bytes) => bytes,
                // Without a Content-Type, a body at all is the first problem.
                Err(_) if json.is_none() => return Err(ApiError::UnsupportedMediaType),
                Err(error) => {
                    return Err(match error.as_error::<PayloadError>() {
                        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
                        _ => ApiError::MalformedJson(error.to_string()),
                    });
                }
            };
            if json.is_none() && !bytes.is_empty() {
                return Err(ApiError::UnsupportedMediaType);
            }
            // serde_json refuses what API.md calls "not JSON": empty, BOM,
            // NaN, comments, trailing documents, invalid UTF-8, lone surrogates,
            // nesting past 128 levels.
            serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::MalformedJson(e.to_string()))
        })
    }
}

/// The `{id}` of an order path; anything but a UUID is an unknown order (404).
#[derive(Debug, Clone, Copy)]
pub struct OrderPath(pub OrderId);

impl FromRequest for OrderPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        std::future::ready(raw.parse::<OrderId>().map(OrderPath).map_err(|_| ApiError::OrderNotFound(raw.to_owned())))
    }
}
