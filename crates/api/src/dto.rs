//! Request and response bodies, and their mapping to and from the domain.

use domain::{
    Currency, CustomerEmail, CustomerName, EmailDelivery, NewOrder, NewOrderLine, Order, OrderLine, OrderStatus,
    Quantity, Sku, UnitPrice,
};
use serde::Serialize;
use serde_json::Value;

use crate::validation::{FieldError, FromJson, ObjectReader, integer_rule, text_rule};

/// `POST /orders` body. Every field is optional here only so that a missing
/// one is reported with the others; garde's `required` insists on it.
#[derive(Debug, garde::Validate)]
pub struct CreateOrderRequest {
    #[garde(required, custom(text_rule(CustomerName::parse)))]
    pub customer_name: Option<String>,
    #[garde(required, custom(text_rule(CustomerEmail::parse)))]
    pub customer_email: Option<String>,
    #[garde(required, custom(text_rule(Currency::parse)))]
    pub currency: Option<String>,
    #[garde(required, length(min = NewOrder::MIN_ITEMS, max = NewOrder::MAX_ITEMS), dive)]
    pub items: Option<Vec<OrderItemRequest>>,
}

/// One entry of `items`.
#[derive(Debug, garde::Validate)]
pub struct OrderItemRequest {
    #[garde(required, custom(text_rule(Sku::parse)))]
    pub sku: Option<String>,
    #[garde(required, custom(integer_rule(Quantity::parse)))]
    pub quantity: Option<i64>,
    #[garde(required, custom(integer_rule(UnitPrice::parse)))]
    pub unit_price_cents: Option<i64>,
}

impl FromJson for CreateOrderRequest {
    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self {
            customer_name: object.string("customer_name"),
            customer_email: object.string("customer_email"),
            currency: object.string("currency"),
            items: object.array("items", OrderItemRequest::from_json),
        };
        object.finish();
        request
    }
}

impl FromJson for OrderItemRequest {
    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let item = Self {
            sku: object.string("sku"),
            quantity: object.integer("quantity"),
            unit_price_cents: object.integer("unit_price_cents"),
        };
        object.finish();
        item
    }
}

/// After validation every field is present and parses; this is the one place
/// the strings become domain values. A failure here means the garde rules and
/// the domain disagree, and is still reported as a 422, never a panic.
fn present<T>(value: Option<T>, field: &str) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError { field: field.to_owned(), code: "required", message: "is required".to_owned() })
}

fn parsed<T>(result: Result<T, domain::ParseError>, field: &str) -> Result<T, FieldError> {
    result.map_err(|e| FieldError { field: field.to_owned(), code: e.code(), message: e.to_string() })
}

impl CreateOrderRequest {
    /// The validated request as a domain value.
    pub fn into_new_order(self) -> Result<NewOrder, FieldError> {
        let name = present(self.customer_name, "customer_name")?;
        let email = present(self.customer_email, "customer_email")?;
        let currency = present(self.currency, "currency")?;
        let lines = present(self.items, "items")?
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let at = |field: &str| format!("items[{i}].{field}");
                Ok(NewOrderLine {
                    sku: parsed(Sku::parse(&present(item.sku, &at("sku"))?), &at("sku"))?,
                    quantity: parsed(Quantity::parse(present(item.quantity, &at("quantity"))?), &at("quantity"))?,
                    unit_price: parsed(
                        UnitPrice::parse(present(item.unit_price_cents, &at("unit_price_cents"))?),
                        &at("unit_price_cents"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        NewOrder::new(
            parsed(CustomerName::parse(&name), "customer_name")?,
            parsed(CustomerEmail::parse(&email), "customer_email")?,
            parsed(Currency::parse(&currency), "currency")?,
            lines,
        )
        .map_err(|e| FieldError { field: "items".to_owned(), code: "length", message: e.to_string() })
    }
}

/// `PATCH /orders/{id}/status` body.
#[derive(Debug, garde::Validate)]
pub struct ChangeStatusRequest {
    #[garde(required, custom(text_rule(OrderStatus::parse)))]
    pub status: Option<String>,
}

impl FromJson for ChangeStatusRequest {
    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self { status: object.string("status") };
        object.finish();
        request
    }
}

impl ChangeStatusRequest {
    /// The validated target status.
    pub fn target(self) -> Result<OrderStatus, FieldError> {
        parsed(OrderStatus::parse(&present(self.status, "status")?), "status")
    }
}

/// An order as the API shows it.
#[derive(Debug, Serialize)]
pub struct OrderBody {
    pub id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub currency: String,
    pub items: Vec<OrderItemBody>,
    pub total_cents: i64,
    pub status: &'static str,
    pub confirmation_email: EmailBody,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// One line of an order.
#[derive(Debug, Serialize)]
pub struct OrderItemBody {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// Where the confirmation email stands.
#[derive(Debug, Serialize)]
pub struct EmailBody {
    pub state: &'static str,
    pub attempts: u32,
    pub sent_at: Option<String>,
    pub last_error: Option<String>,
}

/// `GET /orders/{id}/status` and the answer to a status change.
#[derive(Debug, Serialize)]
pub struct StatusBody {
    pub order_id: String,
    pub status: &'static str,
    pub confirmation_email: EmailBody,
    pub updated_at: String,
}

/// `GET /orders`.
#[derive(Debug, Serialize)]
pub struct OrderListBody {
    pub items: Vec<OrderBody>,
    pub next_cursor: Option<String>,
}

impl From<&EmailDelivery> for EmailBody {
    fn from(delivery: &EmailDelivery) -> Self {
        Self {
            state: delivery.state.as_str(),
            attempts: delivery.attempts,
            sent_at: delivery.sent_at.map(|t| t.to_rfc3339()),
            last_error: delivery.last_error.clone(),
        }
    }
}

impl From<&OrderLine> for OrderItemBody {
    fn from(line: &OrderLine) -> Self {
        Self {
            sku: line.sku.as_str().to_owned(),
            quantity: line.quantity.get(),
            unit_price_cents: line.unit_price.cents(),
            line_total_cents: line.line_total.cents(),
        }
    }
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id().to_string(),
            customer_name: order.customer_name().as_str().to_owned(),
            customer_email: order.customer_email().as_str().to_owned(),
            currency: order.currency().as_str().to_owned(),
            items: order.lines().iter().map(OrderItemBody::from).collect(),
            total_cents: order.total().cents(),
            status: order.status().as_str(),
            confirmation_email: order.confirmation_email().into(),
            version: order.version().get(),
            created_at: order.created_at().to_rfc3339(),
            updated_at: order.updated_at().to_rfc3339(),
        }
    }
}

impl From<&Order> for StatusBody {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.id().to_string(),
            status: order.status().as_str(),
            confirmation_email: order.confirmation_email().into(),
            updated_at: order.updated_at().to_rfc3339(),
        }
    }
}
