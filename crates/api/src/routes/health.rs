//! Liveness and readiness.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::AppState;
use crate::problem::ApiError;

const OK: &str = "ok";

/// `{"status": "ok"}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Live {
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

/// `{"status": "ok", "database": "ok"}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
    #[schema(pattern = "^ok$")]
    pub database: &'static str,
}

/// Readiness answers within this time even if the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving (never touches the database).
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    operation_id = "live",
    responses((status = 200, description = "Up", body = Live))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: OK })
}

/// Readiness: the database answers (503 `unavailable` otherwise).
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    operation_id = "ready",
    responses((status = 200, description = "Ready", body = Ready))
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.orders.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Ready { status: OK, database: OK })),
        Ok(Err(error)) => Err(ApiError::Unavailable(error)),
        Err(elapsed) => Err(ApiError::Unavailable(domain::RepositoryError::Unavailable(Box::new(elapsed)))),
    }
}
