//! The order aggregate.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::customer::{CustomerEmail, CustomerName};
use crate::email::EmailDelivery;
use crate::item::{NewOrderLine, OrderLine, OrderLines, Quantity, Sku};
use crate::money::{Currency, Money};
use crate::status::OrderStatus;
use crate::time::Timestamp;

/// An order's id: a UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(Uuid);

impl OrderId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// What a customer quotes: the id's last 8 hex digits, upper-case. The
    /// last, not the first: those are random, where the first count time
    /// and are shared by every order of the same minute.
    pub fn reference(&self) -> String {
        let hex = self.0.simple().to_string();
        hex[hex.len() - 8..].to_ascii_uppercase()
    }
}

impl From<Uuid> for OrderId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for OrderId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// How many times an order's status has been set; it starts at 1 and moves
/// only when the status changes. Clients send it back in `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// A new order's version.
    pub const FIRST: Version = Version(1);

    pub fn get(self) -> i64 {
        self.0
    }

    /// The version after this one.
    pub fn next(self) -> Version {
        Version(self.0.saturating_add(1))
    }
}

impl From<i64> for Version {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The total of a new order does not fit in 64 bits (not reachable within
/// the bounds of lines, quantities and prices, but arithmetic stays checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the order total is too large")]
pub struct TotalOverflow;

/// A valid order request: what a client asks for, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    customer_name: CustomerName,
    customer_email: CustomerEmail,
    currency: Currency,
    lines: Vec<OrderLine>,
    total: Money,
}

impl NewOrder {
    /// Prices every line and the total, with checked arithmetic.
    pub fn new(
        customer_name: CustomerName,
        customer_email: CustomerEmail,
        currency: Currency,
        lines: OrderLines,
    ) -> Result<Self, TotalOverflow> {
        let lines = lines.0.into_iter().map(OrderLine::price).collect::<Option<Vec<_>>>().ok_or(TotalOverflow)?;
        let total = total_of(&lines).ok_or(TotalOverflow)?;
        Ok(Self { customer_name, customer_email, currency, lines, total })
    }

    pub fn total(&self) -> Money {
        self.total
    }
}

fn total_of(lines: &[OrderLine]) -> Option<Money> {
    lines.iter().try_fold(Money::ZERO, |sum, line| sum.checked_add(line.line_total))
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    id: OrderId,
    customer_name: CustomerName,
    customer_email: CustomerEmail,
    currency: Currency,
    lines: Vec<OrderLine>,
    total: Money,
    status: OrderStatus,
    confirmation_email: EmailDelivery,
    version: Version,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl Order {
    /// A new order as it is first stored: pending, version 1, email queued.
    pub fn place(new: NewOrder, id: OrderId, now: Timestamp) -> Self {
        Self {
            id,
            customer_name: new.customer_name,
            customer_email: new.customer_email,
            currency: new.currency,
            lines: new.lines,
            total: new.total,
            status: OrderStatus::Pending,
            confirmation_email: EmailDelivery::queued(),
            version: Version::FIRST,
            created_at: now,
            updated_at: now,
        }
    }

    /// A status change as a store makes it: the version moves on.
    #[cfg(feature = "in-memory")]
    pub(crate) fn set_status(&mut self, to: OrderStatus, at: Timestamp) {
        self.status = to;
        self.version = self.version.next();
        self.updated_at = at;
    }

    /// Where the confirmation email stands, for a store to update.
    #[cfg(feature = "in-memory")]
    pub(crate) fn delivery_mut(&mut self) -> &mut EmailDelivery {
        &mut self.confirmation_email
    }

    /// Rebuilds an order from what a store kept, checking every rule again
    /// and recomputing the totals, so a damaged row cannot pass for an order.
    pub fn restore(stored: StoredOrder) -> Result<Self, CorruptRecord> {
        let lines = stored
            .lines
            .into_iter()
            .map(|line| {
                OrderLine::price(NewOrderLine {
                    sku: Sku::parse(&line.sku).map_err(|_| CorruptRecord("invalid sku"))?,
                    quantity: Quantity::parse(line.quantity).map_err(|_| CorruptRecord("invalid quantity"))?,
                    unit_price: crate::money::UnitPrice::parse(line.unit_price_cents)
                        .map_err(|_| CorruptRecord("invalid unit price"))?,
                })
                .ok_or(CorruptRecord("line total overflows"))
            })
            .collect::<Result<Vec<_>, CorruptRecord>>()?;
        let total = total_of(&lines).ok_or(CorruptRecord("order total overflows"))?;
        let email = stored.confirmation_email;
        Ok(Self {
            id: stored.id,
            customer_name: CustomerName::parse(&stored.customer_name)
                .map_err(|_| CorruptRecord("invalid customer name"))?,
            customer_email: CustomerEmail::parse(&stored.customer_email)
                .map_err(|_| CorruptRecord("invalid customer email"))?,
            currency: Currency::from_stored(&stored.currency).ok_or(CorruptRecord("invalid currency"))?,
            lines,
            total,
            status: stored.status.parse().map_err(|_| CorruptRecord("unknown order status"))?,
            confirmation_email: EmailDelivery {
                state: email.state.parse()?,
                attempts: u32::try_from(email.attempts).map_err(|_| CorruptRecord("negative attempts"))?,
                sent_at: email.sent_at,
                last_error: email.last_error,
            },
            version: Version(stored.version),
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }

    pub fn id(&self) -> OrderId {
        self.id
    }
    /// Who ordered (trimmed).
    pub fn customer_name(&self) -> &CustomerName {
        &self.customer_name
    }
    /// Where the confirmation goes (as given).
    pub fn customer_email(&self) -> &CustomerEmail {
        &self.customer_email
    }
    /// The currency of every amount on the order.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// The currency's code, borrowed from the order.
    pub fn currency_code(&self) -> &str {
        self.currency.as_str()
    }
    /// The lines, in the order the client sent them.
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }
    /// Sum of the line totals.
    pub fn total(&self) -> Money {
        self.total
    }
    /// Where the order is in its lifecycle.
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// Where its confirmation email stands.
    pub fn confirmation_email(&self) -> &EmailDelivery {
        &self.confirmation_email
    }
    /// Moves with every status change.
    pub fn version(&self) -> Version {
        self.version
    }
    /// When it was placed.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// When its status last changed (or when it was placed).
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
}

/// An order as a store keeps it: plain values, checked by [`Order::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub id: OrderId,
    /// Name as stored.
    pub customer_name: String,
    /// Email as stored.
    pub customer_email: String,
    pub currency: String,
    pub lines: Vec<StoredLine>,
    pub status: String,
    pub confirmation_email: StoredDelivery,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// Stored delivery state of the confirmation email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub state: String,
    pub attempts: i64,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A stored record that breaks a domain rule (damaged or hand-edited data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored order is corrupt: {0}")]
pub struct CorruptRecord(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::EmailState;
    use crate::money::UnitPrice;

    fn line(sku: &str, quantity: i64, cents: i64) -> NewOrderLine {
        NewOrderLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            unit_price: UnitPrice::parse(cents).unwrap(),
        }
    }

    fn new_order(lines: Vec<NewOrderLine>) -> Result<NewOrder, TotalOverflow> {
        NewOrder::new(
            CustomerName::parse("Ada Lovelace").unwrap(),
            CustomerEmail::parse("ada@example.com").unwrap(),
            Currency::parse("EUR").unwrap(),
            OrderLines::parse(lines).unwrap(),
        )
    }

    #[test]
    fn totals_are_the_sum_of_line_totals() {
        let order = new_order(vec![line("BOOK-001", 2, 1250), line("PEN-7", 3, 199)]).unwrap();
        assert_eq!(order.total().cents(), 2500 + 597);
    }

    #[test]
    fn the_largest_order_does_not_overflow() {
        let lines =
            (0..OrderLines::MAX).map(|i| line(&format!("SKU-{i}"), Quantity::MAX, UnitPrice::MAX_CENTS)).collect();
        let order = new_order(lines).unwrap();
        assert_eq!(order.total().cents(), 100 * 10_000 * 100_000_000);
    }

    #[test]
    fn a_placed_order_is_pending_at_version_one_with_its_email_queued() {
        let now = Timestamp::now();
        let order = Order::place(new_order(vec![line("A", 1, 5)]).unwrap(), OrderId::generate(), now);
        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.version(), Version::FIRST);
        assert_eq!(order.confirmation_email().state, EmailState::Pending);
        assert_eq!((order.created_at(), order.updated_at()), (now, now));
    }

    #[test]
    fn restore_recomputes_totals_and_refuses_damaged_rows() {
        let now = Timestamp::now();
        let mut stored = StoredOrder {
            id: OrderId::generate(),
            customer_name: "Ada".into(),
            customer_email: "ada@example.com".into(),
            currency: "EUR".into(),
            lines: vec![StoredLine { sku: "A".into(), quantity: 2, unit_price_cents: 300 }],
            status: "shipped".into(),
            confirmation_email: StoredDelivery {
                state: "sent".into(),
                attempts: 1,
                sent_at: Some(now),
                last_error: None,
            },
            version: 3,
            created_at: now,
            updated_at: now,
        };
        let order = Order::restore(stored.clone()).unwrap();
        assert_eq!(order.total().cents(), 600);
        assert_eq!(order.status(), OrderStatus::Shipped);
        stored.status = "lost".into();
        assert!(Order::restore(stored).is_err());
    }
}
