//! Order events: each change to an order, stored in the transaction of the
//! change. They make the order's timeline and are what webhooks deliver.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::api_key::ApiKeyId;
use crate::order::{Order, OrderId};
use crate::parse::ParseError;
use crate::status::OrderStatus;
use crate::time::Timestamp;

/// An event's id: a UUID v7. A webhook receiver drops a delivery whose event
/// id it has seen, since a delivery may arrive more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(Uuid);

impl EventId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for EventId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What kind of change an event records; webhook endpoints subscribe to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// `order.created`
    OrderCreated,
    /// `order.status_changed`
    StatusChanged,
    /// `order.confirmation_email.sent`
    EmailSent,
    /// `order.confirmation_email.failed`: given up on after the last attempt.
    EmailFailed,
}

impl EventType {
    /// Every type, in the order of an order's life.
    pub const ALL: [EventType; 4] =
        [EventType::OrderCreated, EventType::StatusChanged, EventType::EmailSent, EventType::EmailFailed];

    /// The name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::StatusChanged => "order.status_changed",
            EventType::EmailSent => "order.confirmation_email.sent",
            EventType::EmailFailed => "order.confirmation_email.failed",
        }
    }

    /// One of the names [`EventType::as_str`] gives.
    ///
    /// ```
    /// use domain::EventType;
    ///
    /// assert_eq!(EventType::parse("order.created"), Ok(EventType::OrderCreated));
    /// assert!(EventType::parse("order.deleted").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|t| t.as_str() == name).ok_or(ParseError::OneOf(
            "order.created, order.status_changed, order.confirmation_email.sent, order.confirmation_email.failed",
        ))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What changed, with what the type alone does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created,
    StatusChanged {
        from: OrderStatus,
        to: OrderStatus,
    },
    EmailSent,
    /// The email was given up on; `error` is the last attempt's.
    EmailFailed {
        error: String,
    },
}

impl Change {
    pub fn event_type(&self) -> EventType {
        match self {
            Change::Created => EventType::OrderCreated,
            Change::StatusChanged { .. } => EventType::StatusChanged,
            Change::EmailSent => EventType::EmailSent,
            Change::EmailFailed { .. } => EventType::EmailFailed,
        }
    }
}

/// The request behind a change, where there was one (the dispatcher's
/// changes have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// The API key the request was made with.
    pub api_key: Option<ApiKeyId>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

/// An event as it is written: the order as it is after the change.
#[derive(Debug, Clone, Copy)]
pub struct OrderEvent<'a> {
    pub id: EventId,
    pub change: &'a Change,
    pub occurred_at: Timestamp,
    pub order: &'a Order,
    pub cause: &'a Cause,
}

impl OrderEvent<'_> {
    pub fn event_type(&self) -> EventType {
        self.change.event_type()
    }
}

/// How an event is written down: once, in the transaction of the change.
/// The timeline shows it and every webhook delivery of it sends it, byte for
/// byte. The HTTP edge implements it, since the order in it is the API's.
pub trait EventFormat: Send + Sync + 'static {
    fn render(&self, event: &OrderEvent<'_>) -> String;
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub order_id: OrderId,
    pub occurred_at: Timestamp,
    /// What [`EventFormat::render`] wrote.
    pub payload: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
        assert_eq!(EventType::parse("ORDER.CREATED").unwrap_err().code(), "one_of");
    }

    #[test]
    fn a_change_names_its_type() {
        let change = Change::StatusChanged { from: OrderStatus::Pending, to: OrderStatus::Shipped };
        assert_eq!(change.event_type(), EventType::StatusChanged);
        assert_eq!(Change::EmailFailed { error: "x".into() }.event_type().as_str(), "order.confirmation_email.failed");
    }
}
