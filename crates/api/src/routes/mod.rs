//! The route table.

pub mod health;
pub mod orders;

use actix_web::{HttpResponse, web};

use crate::problem::ApiError;

/// A resource's fallback: 405 with the methods it does allow.
fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::post().to(orders::create_order))
            .route(web::get().to(orders::list_orders))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(orders::get_order))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/orders/{id}/status")
            .route(web::get().to(orders::get_status))
            .route(web::patch().to(orders::change_status))
            .default_service(method_not_allowed("GET, PATCH")),
    )
    .service(
        web::resource("/health/live").route(web::get().to(health::live)).default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/health/ready").route(web::get().to(health::ready)).default_service(method_not_allowed("GET")),
    );
}
