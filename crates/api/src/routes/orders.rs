//! `/orders` handlers. They speak to the domain's `OrderService` only.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::mime;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Cursor, CustomerEmail, ListQuery, OrderStatus, PageSize, Placed, Precondition, Version};
use serde::Deserialize;

use crate::AppState;
use crate::dto::{ChangeStatusRequest, CreateOrderRequest, OrderBody, OrderListBody, StatusBody};
use crate::extract::{JsonBody, OrderPath};
use crate::idempotency::{self, IDEMPOTENT_REPLAYED};
use crate::problem::ApiError;

/// `POST /orders`
pub async fn create_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency::key_of(&req, &body.0)?;
    let new = body.validate::<CreateOrderRequest>()?.into_new_order().map_err(|e| ApiError::Validation(vec![e]))?;
    let placed = state
        .orders
        .place(new, key, |order| (201, serde_json::to_string(&OrderBody::from(order)).unwrap_or_default()))
        .await?;
    let (response, replayed) = match placed {
        Placed::Created(response) => (response, false),
        Placed::Replayed(response) => (response, true),
    };
    if replayed {
        tracing::info!(order_id = %response.order_id, "idempotent request replayed");
    } else {
        tracing::info!(order_id = %response.order_id, "order created");
    }
    let status = StatusCode::from_u16(response.status).map_err(|e| ApiError::Internal(e.into()))?;
    let mut answer = HttpResponse::build(status);
    answer
        .content_type(mime::APPLICATION_JSON)
        .insert_header((header::LOCATION, format!("/orders/{}", response.order_id)));
    if replayed {
        answer.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(answer.body(response.body))
}

/// Query of `GET /orders`; values are checked after deserializing so each
/// problem is a 400 `invalid_query` with a clear detail.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
    status: Option<String>,
    customer_email: Option<String>,
}

impl ListParams {
    fn into_query(self) -> Result<ListQuery, ApiError> {
        let invalid = |what: String| ApiError::InvalidQuery(what);
        let limit = match self.limit {
            Some(n) => PageSize::parse(n).map_err(|e| invalid(format!("limit {e}")))?,
            None => PageSize::DEFAULT,
        };
        let mut query = ListQuery::first_page(limit);
        if let Some(cursor) = self.cursor {
            query.after = Some(Cursor::decode(&cursor).map_err(|e| invalid(format!("cursor: {e}")))?);
        }
        if let Some(status) = self.status {
            query.status = Some(OrderStatus::parse(&status).map_err(|e| invalid(format!("status {e}")))?);
        }
        if let Some(email) = self.customer_email {
            // No stored address can hold these, and PostgreSQL refuses NUL in text.
            if email.chars().count() > CustomerEmail::MAX_CHARS || email.chars().any(char::is_control) {
                return Err(invalid(
                    "customer_email must be at most 254 characters without control characters".to_owned(),
                ));
            }
            query.customer_email_key = Some(CustomerEmail::key_of(&email));
        }
        Ok(query)
    }
}

/// `GET /orders`
pub async fn list_orders(state: web::Data<AppState>, params: web::Query<ListParams>) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query()?;
    let page = state.orders.list(&query).await?;
    Ok(HttpResponse::Ok().json(OrderListBody {
        items: page.items.iter().map(OrderBody::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

fn etag(version: Version) -> String {
    format!("\"{version}\"")
}

/// `GET /orders/{id}`
pub async fn get_order(state: web::Data<AppState>, path: OrderPath) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(path.0).await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(order.version()))).json(OrderBody::from(&order)))
}

/// `GET /orders/{id}/status`
pub async fn get_status(state: web::Data<AppState>, path: OrderPath) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(path.0).await?;
    Ok(HttpResponse::Ok().json(StatusBody::from(&order)))
}

/// `If-Match`: `*`, or one or more strong entity tags `"<version>"`. Weak tags
/// never match under the strong comparison HTTP requires here.
fn precondition(req: &HttpRequest) -> Result<Option<Precondition>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let invalid = || ApiError::InvalidHeader("If-Match must be * or a list of entity tags".to_owned());
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(Some(Precondition::Exists));
    }
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        let (weak, quoted) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let opaque = quoted.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(invalid)?;
        if opaque.contains('"') {
            return Err(invalid());
        }
        if let (false, Ok(version)) = (weak, opaque.parse::<i64>()) {
            versions.push(Version::from(version));
        }
    }
    Ok(Some(Precondition::AnyOf(versions)))
}

/// `PATCH /orders/{id}/status`
pub async fn change_status(
    state: web::Data<AppState>,
    path: OrderPath,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let precondition = precondition(&req)?;
    let to = body.validate::<ChangeStatusRequest>()?.target().map_err(|e| ApiError::Validation(vec![e]))?;
    let order = state.orders.change_status(path.0, to, precondition).await?;
    tracing::info!(order_id = %order.id(), status = %order.status(), "order status changed");
    Ok(HttpResponse::Ok()
        .insert_header((
            header::ETAG,
            HeaderValue::from_str(&etag(order.version())).map_err(|e| ApiError::Internal(e.into()))?,
        ))
        .json(StatusBody::from(&order)))
}
