//! The orders domain: values that cannot be invalid, the rules that relate
//! them, and the ports (traits) storage and mail adapters implement.
//!
//! No I/O happens here; adapters in other crates do it behind [`ports`].
//!
//! # Example
//!
//! Parse raw input into domain values, place an order and move it through
//! its lifecycle:
//!
//! ```
//! use domain::{
//!     Currency, CustomerEmail, CustomerName, EmailMessage, NewOrder, NewOrderLine, Order,
//!     OrderId, OrderLines, OrderStatus, Quantity, Sku, Timestamp, UnitPrice,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let line = NewOrderLine {
//!     sku: Sku::parse("BOOK-001")?,
//!     quantity: Quantity::parse(2)?,
//!     unit_price: UnitPrice::parse(1250)?,
//! };
//! let new = NewOrder::new(
//!     CustomerName::parse("  Ada Lovelace ")?,
//!     CustomerEmail::parse("ada@example.com")?,
//!     Currency::parse("EUR")?,
//!     OrderLines::parse(vec![line])?,
//! )?;
//! assert_eq!(new.total().cents(), 2500);
//!
//! let order = Order::place(new, OrderId::generate(), Timestamp::now());
//! assert_eq!(order.customer_name().as_str(), "Ada Lovelace");
//! assert_eq!(order.status(), OrderStatus::Pending);
//!
//! // The lifecycle is one rule: pending may go to processing, not to delivered.
//! assert!(order.status().transition_to(OrderStatus::Processing).is_ok());
//! assert!(order.status().transition_to(OrderStatus::Delivered).is_err());
//!
//! // Invalid input never becomes a domain value.
//! assert!(Sku::parse("no spaces allowed").is_err());
//! assert!(Quantity::parse(0).is_err());
//!
//! let email = EmailMessage::confirmation(&order);
//! assert_eq!(email.recipient, "ada@example.com");
//! assert!(email.body.contains("Total: 25.00 EUR"));
//! # Ok(())
//! # }
//! ```

pub mod api_key;
pub mod customer;
pub mod delivery;
pub mod email;
pub mod event;
pub mod idempotency;
pub mod item;
pub mod keys;
pub mod listing;
#[cfg(feature = "in-memory")]
pub mod memory;
pub mod money;
pub mod order;
pub mod parse;
pub mod ports;
pub mod service;
pub mod signature;
pub mod status;
pub mod time;
pub mod webhook;
pub mod webhook_delivery;
pub mod webhook_url;

pub use api_key::{
    AccessError, ApiKey, ApiKeyId, Caller, IssuedKey, KeyHash, KeyName, KeyRing, NoRandomness, RingMark, Scope, Scopes,
    StoredKey, Token,
};
pub use customer::{CustomerEmail, CustomerName};
pub use delivery::{
    Backlog, Delivery, DeliveryError, DeliveryId, DeliveryKind, DeliveryPage, DeliveryQuery, DeliveryRepository,
    DeliveryService, DeliveryState, DeliveryTarget, RetryOutcome,
};
pub use email::{EmailDelivery, EmailFormat, EmailMessage, EmailState, PlainTextEmail};
pub use event::{Cause, Change, EventFormat, EventId, EventType, OrderEvent, RecordedEvent};
pub use idempotency::{Answer, CreateOutcome, IdempotencyKey, IdempotencyRecord, IdempotentRequest};
pub use item::{NewOrderLine, OrderLine, OrderLines, Quantity, Sku};
pub use keys::{KeyError, KeyService};
pub use listing::{Cursor, InvalidCursor, ListQuery, Listed, ListedId, Page, PageSize};
pub use money::{Currency, Money, UnitPrice};
pub use order::{
    CorruptRecord, NewOrder, Order, OrderId, StoredDelivery, StoredLine, StoredOrder, TotalOverflow, Version,
};
pub use parse::ParseError;
pub use ports::{
    ApiKeyRepository, BoxError, ClaimedEmail, EmailOutbox, EmailQueueing, EmailSender, OrderCreation, OrderRepository,
    RepositoryError, SendError, StatusUpdate,
};
pub use service::{OrderError, OrderService, Placed, Precondition};
pub use signature::{SignatureError, SigningSecret, signature_header, verify_signature};
pub use status::{OrderStatus, TransitionError, UnknownStatus};
pub use time::Timestamp;
pub use webhook::{
    EndpointId, StoredEndpoint, Subscriptions, WebhookEndpoint, WebhookEndpointRepository, WebhookError, WebhookService,
};
pub use webhook_delivery::{ClaimedWebhook, WebhookOutbox};
pub use webhook_url::{DestinationPolicy, RefusedDestination, WebhookUrl, is_public_address};
