//! The route table: the one list of what the app serves.

pub mod api_keys;
pub mod deliveries;
pub mod docs;
pub mod health;
pub mod metrics;
pub mod orders;
pub mod webhook_endpoints;

use actix_web::{HttpResponse, guard, web};

use crate::problem::ApiError;

/// GET, and HEAD with it (RFC 9110 §9.3.2): the same handler answers both,
/// and actix-http sends a HEAD answer's headers without its body.
fn get_and_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// The route for a method of the table: `get` brings HEAD along.
macro_rules! method {
    (get) => {
        get_and_head()
    };
    ($method:ident) => {
        web::$method()
    };
}

/// A resource's fallback: 405 with the methods it does allow (HEAD with GET).
fn method_not_allowed(methods: &[&str]) -> actix_web::Route {
    let allow = methods
        .iter()
        .flat_map(
            |m| if *m == "get" { vec!["GET".to_owned(), "HEAD".to_owned()] } else { vec![m.to_ascii_uppercase()] },
        )
        .collect::<Vec<_>>()
        .join(", ");
    web::to(move || {
        let allow = allow.clone();
        async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
    })
}

/// Writes [`SERVED`] and [`configure`] from one table, so the list that the
/// OpenAPI coverage test checks is the list that is registered.
macro_rules! routes {
    ($($path:literal => [$($method:ident => $handler:path),+ $(,)?]),+ $(,)?) => {
        /// Every `(method, path)` the app serves (and HEAD wherever GET).
        pub const SERVED: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        /// Registers every route; another method on a known path is 405 with `Allow`.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(method!($method).to($handler)))+
                        .default_service(method_not_allowed(&[$(stringify!($method)),+])),
                );
            )+
        }
    };
}

routes! {
    "/orders" => [get => orders::list_orders, post => orders::create_order],
    "/orders/{id}" => [get => orders::get_order],
    "/orders/{id}/status" => [get => orders::get_status, patch => orders::change_status],
    "/orders/{id}/events" => [get => orders::list_events],
    "/orders/{id}/confirmation-email" => [get => orders::get_confirmation_email],
    "/api-keys" => [get => api_keys::list_keys, post => api_keys::create_key],
    "/api-keys/{id}" => [delete => api_keys::revoke_key],
    "/webhook-endpoints" => [get => webhook_endpoints::list_endpoints, post => webhook_endpoints::create_endpoint],
    "/webhook-endpoints/{id}" => [
        get => webhook_endpoints::get_endpoint,
        patch => webhook_endpoints::update_endpoint,
        delete => webhook_endpoints::delete_endpoint,
    ],
    "/deliveries" => [get => deliveries::list_deliveries],
    "/deliveries/{id}/retry" => [post => deliveries::retry_delivery],
    "/health/live" => [get => health::live],
    "/health/ready" => [get => health::ready],
    "/metrics" => [get => metrics::metrics],
    "/openapi.json" => [get => docs::openapi_json],
    "/docs" => [get => docs::page],
    "/docs/{file}" => [get => docs::asset],
}
