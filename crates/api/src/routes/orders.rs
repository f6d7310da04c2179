//! `/orders` handlers. They speak to the domain's `OrderService` only.

use actix_web::http::header::{self, HeaderValue};
use actix_web::mime;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{CustomerEmail, ListQuery, OrderStatus, Placed, Precondition, Version};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Authorized, ReadOrders, WriteOrders};
use crate::dto::{
    AsText, ChangeStatusRequest, CreateOrderRequest, EmailContentBody, OrderBody, OrderListBody, StatusBody, StatusName,
};
use crate::event_format::EventListBody;
use crate::extract::{JsonBody, OrderPath};
use crate::idempotency::{self, IDEMPOTENT_REPLAYED};
use crate::paging::page_params;
use crate::problem::ApiError;

/// Create an order.
///
/// Validates the body, stores the order and queues its confirmation email in
/// one transaction. With an `Idempotency-Key`, a retry with the same body gets
/// the first answer again (with `Idempotent-Replayed: true`) and creates nothing.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    operation_id = "create_order",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$",
            description = "Makes the request safe to retry: same key and same body → the first answer again, \
                           nothing created; same key, other body → 422 `idempotency_key_reused`. Keys expire after 24 h."),
    ),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the replay of the first answer)",
            body = OrderBody,
            headers(
                ("Location" = String, description = "`/orders/{id}` of the order"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer; absent otherwise"),
            )),
    )
)]
pub async fn create_order(
    state: web::Data<AppState>,
    caller: Authorized<WriteOrders>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency::key_of(&req, &body.0)?;
    let new = body.parse::<CreateOrderRequest>()?;
    let placed = state
        .orders
        .place(new, key, caller.cause(), |order| {
            let mut body = Vec::with_capacity(1024);
            serde_json::to_writer(&mut body, &OrderBody::from(order))?;
            Ok(String::from_utf8(body)?)
        })
        .await?;
    let (answer, replayed) = match placed {
        Placed::Created(answer) => (answer, false),
        Placed::Replayed(answer) => (answer, true),
    };
    if replayed {
        tracing::info!(order_id = %answer.order_id, "idempotent request replayed");
    } else {
        tracing::info!(order_id = %answer.order_id, "order created");
    }
    let mut response = HttpResponse::Created();
    response
        .content_type(mime::APPLICATION_JSON)
        .insert_header((header::LOCATION, format!("/orders/{}", answer.order_id)));
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(response.body(answer.body))
}

/// Query of `GET /orders`; values are checked after deserializing so each
/// problem is a 400 `invalid_query` with a clear detail. Unknown parameters
/// are ignored.
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
        let (limit, after) = page_params(self.limit, self.cursor.as_deref())?;
        let mut query = ListQuery::first_page(limit);
        query.after = after;
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
            query = query.with_customer_email(&email);
        }
        Ok(query)
    }
}

/// List orders, newest first.
///
/// Ordered by `created_at` then `id`, both descending. Page with `cursor`,
/// repeating the same filters.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    operation_id = "list_orders",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("status" = Option<StatusName>, Query, description = "Only orders in this status"),
        ("customer_email" = Option<String>, Query, max_length = 254, description = "Only orders of this customer (case-insensitive)"),
    ),
    responses((status = 200, description = "A page of orders", body = OrderListBody))
)]
pub async fn list_orders(
    state: web::Data<AppState>,
    _: Authorized<ReadOrders>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.into_inner().into_query()?;
    let page = state.orders.list(&query).await?;
    let body = OrderListBody {
        items: page.items.iter().map(OrderBody::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    };
    Ok(HttpResponse::Ok().content_type(mime::APPLICATION_JSON).body(to_json(&body, 512 * page.items.len() + 64)?))
}

fn etag(version: Version) -> String {
    format!("\"{version}\"")
}

/// Read one order.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    operation_id = "get_order",
    params(("id" = String, Path, format = "uuid", description = "The order's id")),
    responses((status = 200, description = "The order", body = OrderBody,
        headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`"))))
)]
pub async fn get_order(
    state: web::Data<AppState>,
    path: OrderPath,
    _: Authorized<ReadOrders>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(path.0).await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(order.version()))).json(OrderBody::from(&order)))
}

/// Check an order's status and its confirmation email.
#[utoipa::path(
    get,
    path = "/orders/{id}/status",
    tag = "orders",
    operation_id = "get_order_status",
    params(("id" = String, Path, format = "uuid", description = "The order's id")),
    responses((status = 200, description = "Status and confirmation email", body = StatusBody))
)]
pub async fn get_status(
    state: web::Data<AppState>,
    path: OrderPath,
    _: Authorized<ReadOrders>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(path.0).await?;
    Ok(HttpResponse::Ok().json(StatusBody::from(&order)))
}

/// Serializes into a buffer sized for the answer up front, instead of one that
/// doubles its way up (a page of 50 orders is about 25 KiB).
fn to_json(body: &impl serde::Serialize, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut buffer = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buffer, body).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(buffer)
}

/// `If-Match`: `*`, or a list of entity tags, possibly over several header
/// lines. Comparison is strong: only `"<version>"` exactly as this service
/// writes it matches (not `W/"1"`, not `"01"`).
fn precondition(req: &HttpRequest) -> Result<Option<Precondition>, ApiError> {
    let invalid = || ApiError::InvalidHeader("If-Match must be * or a list of entity tags".to_owned());
    let mut tags = Vec::new();
    for value in req.headers().get_all(header::IF_MATCH) {
        let text = value.to_str().map_err(|_| invalid())?;
        tags.extend(text.split(',').map(str::trim).filter(|tag| !tag.is_empty()));
    }
    match tags.as_slice() {
        [] if req.headers().contains_key(header::IF_MATCH) => return Err(invalid()),
        [] => return Ok(None),
        ["*"] => return Ok(Some(Precondition::Exists)),
        _ => {}
    }
    let mut versions = Vec::new();
    for tag in tags {
        let (weak, quoted) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let opaque = quoted.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(invalid)?;
        if opaque.contains('"') {
            return Err(invalid());
        }
        let version = opaque.parse::<i64>().ok().filter(|v| *v > 0 && v.to_string() == opaque);
        if let (false, Some(version)) = (weak, version) {
            versions.push(Version::from(version));
        }
    }
    Ok(Some(Precondition::AnyOf(versions)))
}

/// Change an order's status.
///
/// Only the lifecycle's transitions are allowed (409 otherwise, also for the
/// current status). With `If-Match`, the change applies only to that version
/// (412 otherwise); a mismatch wins over an invalid transition.
#[utoipa::path(
    patch,
    path = "/orders/{id}/status",
    tag = "orders",
    operation_id = "change_order_status",
    params(
        ("id" = String, Path, format = "uuid", description = "The order's id"),
        ("If-Match" = Option<String>, Header,
            description = "`\"<version>\"` from `ETag`, a list of them, or `*`; compared strongly"),
    ),
    request_body(content = ChangeStatusRequest, content_type = "application/json"),
    responses((status = 200, description = "The new status", body = StatusBody,
        headers(("ETag" = String, description = "`\"<version>\"` after the change"))))
)]
pub async fn change_status(
    state: web::Data<AppState>,
    path: OrderPath,
    caller: Authorized<WriteOrders>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let precondition = precondition(&req)?;
    let to = body.parse::<ChangeStatusRequest>()?;
    let order = state.orders.change_status(path.0, to, precondition, caller.cause()).await?;
    tracing::info!(order_id = %order.id(), status = %order.status(), "order status changed");
    Ok(HttpResponse::Ok()
        .insert_header((
            header::ETAG,
            HeaderValue::from_str(&etag(order.version())).map_err(|e| ApiError::Internal(e.into()))?,
        ))
        .json(StatusBody::from(&order)))
}

/// An order's events, oldest first.
///
/// Each change to the order is recorded in the transaction of the change:
/// `order.created`, `order.status_changed` (with `from` and `to`),
/// `order.confirmation_email.sent` and `order.confirmation_email.failed`.
/// Each is the body webhook endpoints receive for it.
#[utoipa::path(
    get,
    path = "/orders/{id}/events",
    tag = "orders",
    operation_id = "list_order_events",
    params(("id" = String, Path, format = "uuid", description = "The order's id")),
    responses((status = 200, description = "The order's events, oldest first", body = EventListBody))
)]
pub async fn list_events(
    state: web::Data<AppState>,
    path: OrderPath,
    _: Authorized<ReadOrders>,
) -> Result<HttpResponse, ApiError> {
    let events = state.orders.events(path.0).await?;
    let items = events
        .into_iter()
        .map(|event| serde_json::value::RawValue::from_string(event.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(EventListBody { items }))
}

/// The confirmation email as it was or will be sent.
///
/// For support: what the customer got, or will get. The email is written
/// when the order is placed and stored with it; every attempt sends it as
/// stored, so this is the text and HTML the mail server received, with its
/// subject, recipient, `Message-ID` and `Date`.
#[utoipa::path(
    get,
    path = "/orders/{id}/confirmation-email",
    tag = "orders",
    operation_id = "get_confirmation_email",
    params(("id" = String, Path, format = "uuid", description = "The order's id")),
    responses((status = 200, description = "The confirmation email", body = EmailContentBody))
)]
pub async fn get_confirmation_email(
    state: web::Data<AppState>,
    path: OrderPath,
    _: Authorized<ReadOrders>,
) -> Result<HttpResponse, ApiError> {
    let email = state.orders.confirmation_email(path.0).await?;
    Ok(HttpResponse::Ok().json(EmailContentBody {
        order_id: AsText(email.order_id),
        recipient: &email.recipient,
        subject: &email.subject,
        message_id: email.message_id(&state.mail_domain),
        date: AsText(email.written_at),
        text: &email.body,
        html: email.html.as_deref(),
    }))
}
