//! The order status lifecycle.

use std::fmt;
use std::str::FromStr;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, not yet worked on.
    Pending,
    /// Being prepared.
    Processing,
    /// Handed to the carrier.
    Shipped,
    /// Arrived (terminal).
    Delivered,
    /// Called off (terminal).
    Cancelled,
}

/// A status change the lifecycle forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The current status.
    pub from: OrderStatus,
    /// The status asked for.
    pub to: OrderStatus,
}

/// Text that names no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status (expected one of pending, processing, shipped, delivered, cancelled)")]
pub struct UnknownStatus;

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    /// The lower-case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The lifecycle rule, in one place: may an order in `self` move to `to`?
    ///
    /// Staying in the same status is not a transition.
    pub fn transition_to(self, to: OrderStatus) -> Result<OrderStatus, TransitionError> {
        use OrderStatus::*;
        let allowed = matches!(
            (self, to),
            (Pending, Processing)
                | (Pending, Cancelled)
                | (Processing, Shipped)
                | (Processing, Cancelled)
                | (Shipped, Delivered)
        );
        if allowed { Ok(to) } else { Err(TransitionError { from: self, to }) }
    }

    /// Reads a status name for a request body, as a rule violation if unknown.
    pub fn parse(name: &str) -> Result<Self, crate::parse::ParseError> {
        name.parse().map_err(|_| crate::parse::ParseError::OneOf("pending, processing, shipped, delivered, cancelled"))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = UnknownStatus;

    /// Exactly one lower-case name; `PENDING` or `pending,shipped` are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or(UnknownStatus)
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    /// The table in API.md, written out: every pair not listed is forbidden.
    const ALLOWED: [(OrderStatus, OrderStatus); 5] = [
        (Pending, Processing),
        (Pending, Cancelled),
        (Processing, Shipped),
        (Processing, Cancelled),
        (Shipped, Delivered),
    ];

    #[test]
    fn every_pair_of_states_follows_the_table() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let result = from.transition_to(to);
                if ALLOWED.contains(&(from, to)) {
                    assert_eq!(result, Ok(to), "{from} -> {to} should be allowed");
                } else {
                    let err = result.expect_err("forbidden transition was allowed");
                    assert_eq!((err.from, err.to), (from, to));
                }
            }
        }
    }

    #[test]
    fn staying_put_is_not_a_transition() {
        for status in OrderStatus::ALL {
            assert!(status.transition_to(status).is_err(), "{status} -> {status}");
        }
    }

    #[test]
    fn delivered_and_cancelled_are_terminal() {
        let is_terminal = |from: &OrderStatus| OrderStatus::ALL.iter().all(|to| from.transition_to(*to).is_err());
        let terminal: Vec<_> = OrderStatus::ALL.into_iter().filter(is_terminal).collect();
        assert_eq!(terminal, [Delivered, Cancelled]);
    }

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        for bad in ["PENDING", "Pending", "", "pending,shipped", " pending"] {
            assert!(bad.parse::<OrderStatus>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn transition_error_names_both_states() {
        let err = Delivered.transition_to(Pending).unwrap_err();
        assert_eq!(err.to_string(), "an order cannot go from delivered to pending");
    }
}
