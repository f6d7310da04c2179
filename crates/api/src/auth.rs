//! The bearer-key guard: an extractor that lets a request through only with
//! a key that has the scope its operation needs.
//!
//! It runs before the body is read, so a caller without a valid key learns
//! nothing about the request's validity (401/403 come right after routing).

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use domain::{Caller, Cause, Scope};

use crate::AppState;
use crate::problem::ApiError;
use crate::request_id::RequestId;

/// The scope an operation needs, as a type.
pub trait Needs {
    const SCOPE: Scope;
}

/// Reading orders.
#[derive(Debug)]
pub struct ReadOrders;
/// Creating orders and changing their status.
#[derive(Debug)]
pub struct WriteOrders;
/// Managing API keys.
#[derive(Debug)]
pub struct Admin;
/// Scraping metrics.
#[derive(Debug)]
pub struct ReadMetrics;

impl Needs for ReadOrders {
    const SCOPE: Scope = Scope::OrdersRead;
}
impl Needs for WriteOrders {
    const SCOPE: Scope = Scope::OrdersWrite;
}
impl Needs for Admin {
    const SCOPE: Scope = Scope::Admin;
}
impl Needs for ReadMetrics {
    const SCOPE: Scope = Scope::MetricsRead;
}

/// Proof that the caller's key grants `N`'s scope, and the request as the
/// cause of what it changes.
#[derive(Debug)]
pub struct Authorized<N> {
    cause: Cause,
    needs: PhantomData<N>,
}

impl<N> Authorized<N> {
    /// The key and request id, for the events the request causes.
    pub fn cause(&self) -> Cause {
        self.cause.clone()
    }
}

impl<N: Needs> FromRequest for Authorized<N> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, N::SCOPE).map(|caller| Authorized {
            cause: Cause {
                api_key: Some(caller.key_id),
                request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
            },
            needs: PhantomData,
        }))
    }
}

fn authorize(req: &HttpRequest, needed: Scope) -> Result<Caller, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(ApiError::Internal("no app state".into()))?;
    let caller = state.keys.ring().authorize(bearer(req), needed);
    // The access line names the key, never its secret.
    if let Ok(caller) = &caller {
        tracing::Span::current().record("key_id", tracing::field::display(&caller.key_id));
    }
    Ok(caller?)
}

/// The credential of `Authorization: Bearer <credential>` (the scheme in
/// any case, RFC 9110 §11.1); `None` for any other header or none.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credential.trim_start_matches(' '))
}
