//! Request and response bodies, and their mapping to and from the domain.

use domain::{
    Currency, CustomerEmail, CustomerName, EmailDelivery, NewOrder, NewOrderLine, Order, OrderId, OrderLine,
    OrderLines, OrderStatus, Quantity, Sku, Timestamp, UnitPrice,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::validation::{FieldError, FromJson, ObjectReader};

// Every member is optional in Rust only so that a missing one is reported
// with the others: garde's `required` insists on it and the schema says so.
// Each holds the domain value its text parsed into. The bounds in `#[schema]`
// are the domain's (checked by tests/tests/service/openapi.rs).
/// A new order. Unknown members are refused; the server computes every total.
#[derive(Debug, garde::Validate, ToSchema)]
#[schema(example = json!({
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "currency": "EUR",
    "items": [{"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250}]
}))]
pub struct CreateOrderRequest {
    /// Stored trimmed; no control characters. Length counts Unicode scalar values after trimming.
    #[garde(required)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    pub customer_name: Option<CustomerName>,
    /// Stored as given, compared case-insensitively.
    #[garde(required)]
    #[schema(required = true, value_type = String, format = "email", max_length = 254)]
    pub customer_email: Option<CustomerEmail>,
    /// An active ISO 4217 code, one of those listed; amounts are in its minor
    /// units (2 decimals for EUR, none for JPY, 3 for KWD). Another code is
    /// 422 `unknown_currency`.
    #[garde(required)]
    #[schema(required = true, value_type = String, pattern = "^[A-Z]{3}$", min_length = 3, max_length = 3)]
    pub currency: Option<Currency>,
    #[garde(required, dive)]
    #[schema(required = true, value_type = Vec<OrderItemRequest>, min_items = 1, max_items = 100)]
    pub items: Option<Vec<OrderItemRequest>>,
}

/// One entry of `items`.
#[derive(Debug, garde::Validate, ToSchema)]
pub struct OrderItemRequest {
    #[garde(required)]
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64)]
    pub sku: Option<Sku>,
    #[garde(required)]
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 10000)]
    pub quantity: Option<Quantity>,
    /// Minor units of the order's currency: cents of EUR (`1250` is 12.50 EUR),
    /// yen (`1250` is 1,250 JPY), thousandths of KWD (`1250` is 1.250 KWD).
    #[garde(required)]
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100000000)]
    pub unit_price_cents: Option<UnitPrice>,
}

impl FromJson for CreateOrderRequest {
    type Parsed = NewOrder;

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self {
            customer_name: object.text("customer_name", CustomerName::parse),
            customer_email: object.text("customer_email", CustomerEmail::parse),
            currency: object.text("currency", Currency::parse),
            items: object.array("items", OrderItemRequest::from_json),
        };
        object.finish();
        request
    }

    fn into_parsed(self, errors: &mut Vec<FieldError>) -> Option<NewOrder> {
        let items = self.items?;
        let count = items.len();
        let lines: Option<Vec<NewOrderLine>> = items.into_iter().map(OrderItemRequest::into_line).collect();
        // The count rule is applied once: to the lines when all of them are
        // valid, else to how many there are, beside the invalid ones.
        let counted = match lines {
            Some(lines) => OrderLines::parse(lines).map(Some),
            None => OrderLines::check_count(count).map(|()| None),
        };
        let lines = counted.map_err(|e| errors.push(FieldError::rule("items", &e))).ok()??;
        let new = NewOrder::new(self.customer_name?, self.customer_email?, self.currency?, lines);
        new.map_err(|overflow| errors.push(FieldError::new("items", "range", overflow.to_string()))).ok()
    }
}

impl FromJson for OrderItemRequest {
    type Parsed = NewOrderLine;

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let item = Self {
            sku: object.text("sku", Sku::parse),
            quantity: object.number("quantity", Quantity::parse),
            unit_price_cents: object.number("unit_price_cents", UnitPrice::parse),
        };
        object.finish();
        item
    }

    fn into_parsed(self, _: &mut Vec<FieldError>) -> Option<NewOrderLine> {
        self.into_line()
    }
}

impl OrderItemRequest {
    fn into_line(self) -> Option<NewOrderLine> {
        Some(NewOrderLine { sku: self.sku?, quantity: self.quantity?, unit_price: self.unit_price_cents? })
    }
}

/// The status to move an order to.
#[derive(Debug, garde::Validate, ToSchema)]
#[schema(example = json!({"status": "processing"}))]
pub struct ChangeStatusRequest {
    #[garde(required)]
    #[schema(required = true, value_type = StatusName)]
    pub status: Option<OrderStatus>,
}

/// An order's status. `pending` → `processing` | `cancelled`; `processing` →
/// `shipped` | `cancelled`; `shipped` → `delivered`; `delivered` and
/// `cancelled` are final.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum StatusName {
    Pending,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
}

/// Where the confirmation email stands: `pending` → `sent`, or `failed` once retries are exhausted.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum EmailStateName {
    Pending,
    Sent,
    Failed,
}

impl FromJson for ChangeStatusRequest {
    type Parsed = OrderStatus;

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self { status: object.text("status", OrderStatus::parse) };
        object.finish();
        request
    }

    fn into_parsed(self, _: &mut Vec<FieldError>) -> Option<OrderStatus> {
        self.status
    }
}

/// A value written into the JSON as text straight from its `Display`, with
/// no intermediate `String` (ids and times, several per order in a list).
#[derive(Debug, Clone, Copy)]
pub struct AsText<T>(pub T);

impl<T: std::fmt::Display> Serialize for AsText<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// An order as the API shows it, borrowed from the domain order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderBody<'a> {
    /// UUID v7, generated by the service.
    #[schema(value_type = String, format = "uuid")]
    pub id: AsText<OrderId>,
    #[schema(value_type = String)]
    pub customer_name: &'a str,
    #[schema(value_type = String, format = "email")]
    pub customer_email: &'a str,
    #[schema(value_type = String, pattern = "^[A-Z]{3}$")]
    pub currency: &'a str,
    #[schema(value_type = Vec<OrderItemBody>)]
    pub items: Lines<'a>,
    /// Sum of `line_total_cents`, in minor units.
    pub total_cents: i64,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    pub confirmation_email: EmailBody<'a>,
    /// Starts at 1, moves with every status change; the ETag.
    #[schema(minimum = 1)]
    pub version: i64,
    /// RFC 3339, UTC, microseconds.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: AsText<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: AsText<Timestamp>,
}

/// An order's lines, serialized in place.
#[derive(Debug)]
pub struct Lines<'a>(&'a [OrderLine]);

impl Serialize for Lines<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(OrderItemBody::from))
    }
}

/// One line of an order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderItem)]
pub struct OrderItemBody<'a> {
    #[schema(value_type = String)]
    pub sku: &'a str,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// Minor units of the order's currency.
    #[schema(minimum = 0, maximum = 100000000)]
    pub unit_price_cents: i64,
    /// `quantity × unit_price_cents`, computed by the service.
    pub line_total_cents: i64,
}

/// Where the confirmation email stands. Sending it changes neither the
/// order's `version` nor its `updated_at`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConfirmationEmail)]
pub struct EmailBody<'a> {
    #[schema(value_type = EmailStateName)]
    pub state: &'static str,
    pub attempts: u32,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub sent_at: Option<AsText<Timestamp>>,
    /// Why the last attempt failed; `null` once sent.
    #[schema(value_type = Option<String>, required = true)]
    pub last_error: Option<&'a str>,
}

/// An order's confirmation email as it was or will be sent: written when the
/// order was placed and stored with it, so every attempt sends exactly this.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConfirmationEmailContent)]
pub struct EmailContentBody<'a> {
    #[schema(value_type = String, format = "uuid")]
    pub order_id: AsText<OrderId>,
    /// The customer's address, as given.
    pub recipient: &'a str,
    pub subject: &'a str,
    /// The `Message-ID` header, the same on every attempt.
    pub message_id: String,
    /// The `Date` header: when the email was written.
    #[schema(value_type = String, format = DateTime)]
    pub date: AsText<Timestamp>,
    /// The plain-text part, as sent.
    pub text: &'a str,
    /// The HTML part, as sent; `null` for an email queued before emails had
    /// one (it is sent as text only).
    #[schema(required = true)]
    pub html: Option<&'a str>,
}

/// An order's status and its confirmation email.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderStatus)]
pub struct StatusBody<'a> {
    #[schema(value_type = String, format = "uuid")]
    pub order_id: AsText<OrderId>,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    pub confirmation_email: EmailBody<'a>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: AsText<Timestamp>,
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderList)]
pub struct OrderListBody<'a> {
    pub items: Vec<OrderBody<'a>>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` when nothing follows.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<'a> From<&'a EmailDelivery> for EmailBody<'a> {
    fn from(delivery: &'a EmailDelivery) -> Self {
        Self {
            state: delivery.state.as_str(),
            attempts: delivery.attempts,
            sent_at: delivery.sent_at.map(AsText),
            last_error: delivery.last_error.as_deref(),
        }
    }
}

impl<'a> From<&'a OrderLine> for OrderItemBody<'a> {
    fn from(line: &'a OrderLine) -> Self {
        Self {
            sku: line.sku.as_str(),
            quantity: line.quantity.get(),
            unit_price_cents: line.unit_price.cents(),
            line_total_cents: line.line_total.cents(),
        }
    }
}

impl<'a> From<&'a Order> for OrderBody<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: AsText(order.id()),
            customer_name: order.customer_name().as_str(),
            customer_email: order.customer_email().as_str(),
            currency: order.currency_code(),
            items: Lines(order.lines()),
            total_cents: order.total().cents(),
            status: order.status().as_str(),
            confirmation_email: order.confirmation_email().into(),
            version: order.version().get(),
            created_at: AsText(order.created_at()),
            updated_at: AsText(order.updated_at()),
        }
    }
}

impl<'a> From<&'a Order> for StatusBody<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            order_id: AsText(order.id()),
            status: order.status().as_str(),
            confirmation_email: order.confirmation_email().into(),
            updated_at: AsText(order.updated_at()),
        }
    }
}
