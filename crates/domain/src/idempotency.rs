//! Idempotency keys: a client may retry `POST /orders` safely.

use std::fmt;

use crate::order::OrderId;
use crate::parse::{ParseError, check_chars};
use crate::time::Timestamp;

/// A client-chosen key: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Most characters in a key.
    pub const MAX_CHARS: usize = 255;

    /// Checks length and alphabet (`!` to `~`: no spaces, no control characters).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        check_chars(raw, 1, Self::MAX_CHARS)?;
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::Pattern("must be visible ASCII characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyed request: the key and a fingerprint of what was asked, so a reuse
/// of the key for something else can be told apart from a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    pub key: IdempotencyKey,
    /// Equal for equal requests (same JSON value), different otherwise.
    pub fingerprint: String,
}

/// The answer to a create, made by the caller and opaque here: stored with
/// the key and repeated, byte for byte, to every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The order the request created.
    pub order_id: OrderId,
    /// What the caller answered.
    pub body: String,
}

/// What a store keeps for a key until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request: IdempotentRequest,
    /// The answer to repeat.
    pub answer: Answer,
    /// When the key may be used afresh.
    pub expires_at: Timestamp,
}

/// What a keyed create found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The order was stored (and the key with it, if there was one).
    Created,
    /// The key was already used, by a request with this fingerprint; nothing was stored.
    KeyTaken {
        /// The fingerprint of the request that used the key.
        fingerprint: String,
        answer: Answer,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("order-2026-11-24:#42!~").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "has space", "tab\t", "ümlaut", "nul\0", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
