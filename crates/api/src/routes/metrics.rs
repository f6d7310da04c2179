//! `GET /metrics` (scope `metrics:read`): the Prometheus text exposition.

use actix_web::{HttpResponse, web};

use crate::AppState;
use crate::auth::{Authorized, ReadMetrics};

/// The Prometheus text format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` serves. The binary owns the exporter; this crate only
/// knows that it renders text, and that rendering may first read state
/// (pools, outbox backlogs) that no event reports.
#[async_trait::async_trait]
pub trait MetricsExposition: std::fmt::Debug + Send + Sync {
    async fn render(&self) -> String;
}

/// The metrics, in the Prometheus text format. Labels carry route
/// templates, methods, statuses, outbox kinds, pool and operation names:
/// never an id nor customer data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text format, version 0.0.4", content_type = "text/plain", body = String))
)]
pub async fn metrics(_: Authorized<ReadMetrics>, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT_FORMAT).body(state.metrics.render().await)
}
