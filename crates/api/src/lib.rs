//! The HTTP edge: actix-web routes, extractors, problem+json errors.
//!
//! Handlers depend on the domain's `OrderService` and ports only; this crate
//! does not know which database is behind them.

mod access_log;
mod auth;
mod dto;
mod event_format;
mod extract;
mod http_metrics;
mod idempotency;
mod middleware;
mod openapi;
mod paging;
mod problem;
mod problem_response;
mod request_id;
mod routes;
pub mod trace_context;
mod validation;

pub use event_format::EventJson;
pub use http_metrics::describe as describe_metrics;
pub use routes::SERVED;
pub use routes::metrics::MetricsExposition;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpResponse, web};
use domain::{DeliveryService, KeyService, OrderService, WebhookService};

use crate::problem::ApiError;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The order use cases.
    pub orders: OrderService,
    /// API keys, and the ring requests are checked against.
    pub keys: KeyService,
    /// Webhook endpoints.
    pub webhooks: WebhookService,
    /// What the outboxes hold, for operators.
    pub deliveries: DeliveryService,
    /// Right of the `@` in the confirmation emails' `Message-ID`s: the
    /// sender's domain.
    pub mail_domain: String,
    /// What `/metrics` serves.
    pub metrics: std::sync::Arc<dyn MetricsExposition>,
    /// How long a client may take to send a request body (a slow-body guard;
    /// the request head has its own time-out in the server).
    pub body_timeout: std::time::Duration,
}

/// The whole application: routes, error handling, middleware.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(extract::BodyTimeout(state.body_timeout))
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(extract::BODY_LIMIT))
        .app_data(
            web::QueryConfig::default().error_handler(|error, _| ApiError::InvalidQuery(error.to_string()).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::RouteNotFound.into()))
        .configure(routes::configure)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::RouteNotFound) }))
        // `/orders/` reaches `/orders` without a redirect.
        .wrap(NormalizePath::new(TrailingSlash::Trim))
        .wrap(from_fn(middleware::around_every_request))
}
