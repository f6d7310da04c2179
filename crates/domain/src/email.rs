//! The confirmation email: what it says and where its delivery stands.

use std::fmt;
use std::str::FromStr;

use crate::order::{Order, OrderId};
use crate::parse::ParseError;
use crate::ports::BoxError;
use crate::time::Timestamp;

/// Delivery state of an order's confirmation email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailState {
    /// Queued or being retried.
    Pending,
    /// Handed to the mail transport.
    Sent,
    /// Retries exhausted (or refused for good).
    Failed,
}

impl EmailState {
    /// Every state.
    pub const ALL: [EmailState; 3] = [EmailState::Pending, EmailState::Sent, EmailState::Failed];

    /// A state by its name, as a client writes it.
    pub fn parse(name: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|state| state.as_str() == name).ok_or(ParseError::OneOf("pending, sent, failed"))
    }

    /// The lower-case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailState::Pending => "pending",
            EmailState::Sent => "sent",
            EmailState::Failed => "failed",
        }
    }
}

impl fmt::Display for EmailState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EmailState {
    type Err = crate::order::CorruptRecord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).map_err(|_| crate::order::CorruptRecord("unknown delivery state"))
    }
}

/// Where an order's confirmation email stands, as shown on the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailDelivery {
    pub state: EmailState,
    pub attempts: u32,
    pub sent_at: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl EmailDelivery {
    /// A freshly queued email.
    pub fn queued() -> Self {
        Self { state: EmailState::Pending, attempts: 0, sent_at: None, last_error: None }
    }
}

/// An email ready to hand to a transport: written once, when its order is
/// placed, stored with it, and sent as stored on every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub order_id: OrderId,
    pub recipient: String,
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The HTML alternative of `body`; `None` for a text-only email (written
    /// by [`PlainTextEmail`], or queued before emails had HTML).
    pub html: Option<String>,
    /// When it was written: its `Date`, the same on every attempt.
    pub written_at: Timestamp,
}

impl EmailMessage {
    /// The confirmation email of `order` with these bodies: the recipient,
    /// subject and date every format shares.
    pub fn confirmation_with(order: &Order, body: String, html: Option<String>) -> Self {
        Self {
            order_id: order.id(),
            recipient: order.customer_email().as_str().to_owned(),
            subject: format!("Order {} confirmed", order.id().reference()),
            body,
            html,
            written_at: order.created_at(),
        }
    }

    /// The confirmation email for a freshly placed order, in plain text only.
    pub fn confirmation(order: &Order) -> Self {
        use fmt::Write as _;
        let currency = order.currency();
        let mut body = format!(
            "Hello {},\n\nthank you for your order {} ({}).\n\n",
            order.customer_name(),
            order.id().reference(),
            order.id()
        );
        for line in order.lines() {
            let _ = writeln!(
                body,
                "  {} x {} at {} = {}",
                line.quantity.get(),
                line.sku,
                currency.format(line.unit_price),
                currency.format(line.line_total)
            );
        }
        let _ = write!(body, "\nTotal: {}\n", currency.format(order.total()));
        Self::confirmation_with(order, body, None)
    }

    /// A `Message-ID` that is the same on every attempt, so a mail system can
    /// drop the duplicate an at-least-once retry may produce.
    pub fn message_id(&self, domain: &str) -> String {
        format!("<order-{}.confirmation@{domain}>", self.order_id)
    }
}

/// How the confirmation email is written. It is written once, in the
/// request that places the order, and stored with it: a retry sends the same
/// email and a preview shows it. Templates are a presentation concern, so
/// the mail side implements this; [`PlainTextEmail`] is the domain's own.
pub trait EmailFormat: Send + Sync + 'static {
    fn confirmation(&self, order: &Order) -> Result<EmailMessage, BoxError>;
}

/// Text only: [`EmailMessage::confirmation`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTextEmail;

impl EmailFormat for PlainTextEmail {
    fn confirmation(&self, order: &Order) -> Result<EmailMessage, BoxError> {
        Ok(EmailMessage::confirmation(order))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in [EmailState::Pending, EmailState::Sent, EmailState::Failed] {
            assert_eq!(state.as_str().parse::<EmailState>().unwrap(), state);
        }
        assert!("queued".parse::<EmailState>().is_err());
    }
}
