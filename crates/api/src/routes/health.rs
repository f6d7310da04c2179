//! Liveness and readiness.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::problem::ApiError;

/// Readiness answers within this time even if the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health/live`: the process is up and serving.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /health/ready`: the database answers.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.orders.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" }))),
        Ok(Err(error)) => Err(ApiError::Unavailable(error)),
        Err(elapsed) => Err(ApiError::Unavailable(domain::RepositoryError::Unavailable(Box::new(elapsed)))),
    }
}
