//! Deliveries: what the outboxes send, emails and webhooks alike, as an
//! operator sees them.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::parse::ParseError;

/// A delivery's id. A confirmation email's is its order's id (an order has
/// one); a webhook delivery's is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(Uuid);

impl DeliveryId {
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for DeliveryId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for DeliveryId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Which outbox a delivery is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// An order's confirmation email.
    Email,
    /// An event sent to a webhook endpoint.
    Webhook,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Email => "email",
            DeliveryKind::Webhook => "webhook",
        }
    }

    pub fn parse(name: &str) -> Result<Self, ParseError> {
        match name {
            "email" => Ok(DeliveryKind::Email),
            "webhook" => Ok(DeliveryKind::Webhook),
            _ => Err(ParseError::OneOf("email, webhook")),
        }
    }
}

impl fmt::Display for DeliveryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
