//! `/deliveries` handlers (scope `admin`): what the outboxes hold, emails and
//! webhooks alike, and retrying a failed one.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use domain::{
    Delivery, DeliveryId, DeliveryKind, DeliveryQuery, DeliveryState, DeliveryTarget, EndpointId, EventId, OrderId,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Admin, Authorized};
use crate::dto::AsText;
use crate::event_format::EventTypeName;
use crate::paging::page_params;
use crate::problem::ApiError;

/// Which outbox: `email` (an order's confirmation email) or `webhook` (an event sent to an endpoint).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum DeliveryKindName {
    Email,
    Webhook,
}

/// Where a delivery stands: `pending` → `sent`, or `failed` once its attempts run out.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum DeliveryStateName {
    Pending,
    Sent,
    Failed,
}

/// A delivery of either outbox.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryBody<'a> {
    /// An email's is its order's id; a webhook delivery's is its own.
    #[schema(value_type = String, format = "uuid")]
    pub id: AsText<DeliveryId>,
    #[schema(value_type = DeliveryKindName)]
    pub kind: &'static str,
    #[schema(value_type = String, format = "uuid")]
    pub order_id: AsText<OrderId>,
    #[schema(value_type = DeliveryStateName)]
    pub state: &'static str,
    /// Attempts begun so far.
    pub attempts: u32,
    /// Why the last failed attempt failed; `null` once sent.
    #[schema(value_type = Option<String>, required = true)]
    pub last_error: Option<&'a str>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: AsText<Timestamp>,
    /// While `pending`: when the next attempt is due (or, while one is under
    /// way, when it is given up for lost); `null` otherwise.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_attempt_at: Option<AsText<Timestamp>>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub sent_at: Option<AsText<Timestamp>>,
    /// Webhooks only: the event sent (its `id` in the body).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid", required = false)]
    pub event_id: Option<AsText<EventId>>,
    /// Webhooks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<EventTypeName>, required = false)]
    pub event_type: Option<&'static str>,
    /// Webhooks only: the endpoint it goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid", required = false)]
    pub endpoint_id: Option<AsText<EndpointId>>,
    /// Emails only: the address it goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "email", required = false)]
    pub recipient: Option<&'a str>,
}

impl<'a> From<&'a Delivery> for DeliveryBody<'a> {
    fn from(delivery: &'a Delivery) -> Self {
        let mut body = Self {
            id: AsText(delivery.id),
            kind: delivery.kind().as_str(),
            order_id: AsText(delivery.order_id),
            state: delivery.state.as_str(),
            attempts: delivery.attempts,
            last_error: delivery.last_error.as_deref(),
            created_at: AsText(delivery.created_at),
            next_attempt_at: delivery.next_attempt_at().map(AsText),
            sent_at: delivery.sent_at.map(AsText),
            event_id: None,
            event_type: None,
            endpoint_id: None,
            recipient: None,
        };
        match &delivery.target {
            DeliveryTarget::Email { recipient } => body.recipient = Some(recipient),
            DeliveryTarget::Webhook { event_id, event_type, endpoint_id } => {
                body.event_id = Some(AsText(*event_id));
                body.event_type = Some(event_type.as_str());
                body.endpoint_id = Some(AsText(*endpoint_id));
            }
        }
        body
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeliveryList)]
pub struct DeliveryListBody<'a> {
    pub items: Vec<DeliveryBody<'a>>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` when nothing follows.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Query of `GET /deliveries`, checked as `GET /orders`'s is.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    order_id: Option<String>,
}

impl ListParams {
    fn into_query(self) -> Result<DeliveryQuery, ApiError> {
        let invalid = |what: String| ApiError::InvalidQuery(what);
        let (limit, after) = page_params(self.limit, self.cursor.as_deref())?;
        let mut query = DeliveryQuery::first_page(limit);
        query.after = after;
        if let Some(kind) = self.kind {
            query.kind = Some(DeliveryKind::parse(&kind).map_err(|e| invalid(format!("kind {e}")))?);
        }
        if let Some(state) = self.state {
            query.state = Some(DeliveryState::parse(&state).map_err(|e| invalid(format!("state {e}")))?);
        }
        if let Some(order_id) = self.order_id {
            query.order_id = Some(order_id.parse().map_err(|_| invalid("order_id must be a UUID".to_owned()))?);
        }
        Ok(query)
    }
}

/// List deliveries, emails and webhooks alike, newest first.
///
/// Ordered by `created_at` then `id`, both descending; without `kind`, both
/// outboxes in that one order. Page with `cursor`, repeating the same filters.
#[utoipa::path(
    get,
    path = "/deliveries",
    tag = "deliveries",
    operation_id = "list_deliveries",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("kind" = Option<DeliveryKindName>, Query, description = "Only this outbox"),
        ("state" = Option<DeliveryStateName>, Query, description = "Only deliveries in this state"),
        ("order_id" = Option<String>, Query, format = "uuid", description = "Only deliveries about this order"),
    ),
    responses((status = 200, description = "A page of deliveries", body = DeliveryListBody))
)]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query()?;
    let page = state.deliveries.list(&query).await?;
    Ok(HttpResponse::Ok().json(DeliveryListBody {
        items: page.items.iter().map(DeliveryBody::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// The `{id}` of a delivery path; anything but a UUID is an unknown delivery (404).
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPath(DeliveryId);

impl FromRequest for DeliveryPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        let id = raw.parse::<DeliveryId>().map(DeliveryPath).map_err(|_| ApiError::DeliveryNotFound(raw.to_owned()));
        std::future::ready(id)
    }
}

/// Retry a failed delivery.
///
/// Puts it back in its outbox, due now. Its `attempts` keep counting (they
/// fence the outbox's claims), so it gets one more attempt: if that fails
/// too, it is `failed` again. Answers the delivery as it now is.
#[utoipa::path(
    post,
    path = "/deliveries/{id}/retry",
    tag = "deliveries",
    operation_id = "retry_delivery",
    params(("id" = String, Path, format = "uuid", description = "The delivery's id")),
    responses((status = 200, description = "Pending again, due now", body = DeliveryBody))
)]
pub async fn retry_delivery(
    state: web::Data<AppState>,
    path: DeliveryPath,
    _: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.deliveries.retry(path.0).await?;
    tracing::info!(delivery_id = %delivery.id, kind = %delivery.kind(), "delivery retried");
    Ok(HttpResponse::Ok().json(DeliveryBody::from(&delivery)))
}
