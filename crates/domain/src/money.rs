//! Amounts of money and the currency they are in.

use std::fmt;

use crate::parse::{ParseError, check_range};

/// An ISO 4217-shaped currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Checks the form; the code is not looked up in a list.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(ParseError::Pattern("must be three upper-case letters (ISO 4217)")),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-negative amount in minor units (cents). Arithmetic is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// An amount of minor units; `None` if negative.
    pub fn from_cents(cents: i64) -> Option<Self> {
        (cents >= 0).then_some(Self(cents))
    }

    /// The amount in minor units.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self × factor`, `None` on overflow.
    pub fn checked_mul(self, factor: i64) -> Option<Money> {
        self.0.checked_mul(factor).filter(|v| *v >= 0).map(Money)
    }
}

/// The price of one unit of an item: 0..=100,000,000 minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice(Money);

impl UnitPrice {
    /// Highest unit price in minor units (one million in major units).
    pub const MAX_CENTS: i64 = 100_000_000;

    /// Checks the bounds.
    pub fn parse(cents: i64) -> Result<Self, ParseError> {
        check_range(cents, 0, Self::MAX_CENTS)?;
        Ok(Self(Money(cents)))
    }

    /// The price as money.
    pub fn money(self) -> Money {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_arithmetic_is_checked() {
        let max = Money::from_cents(i64::MAX).unwrap();
        assert_eq!(max.checked_add(Money::from_cents(1).unwrap()), None);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(Money::from_cents(1250).unwrap().checked_mul(2), Money::from_cents(2500));
        assert_eq!(Money::from_cents(-1), None);
    }

    #[test]
    fn unit_price_bounds() {
        assert!(UnitPrice::parse(0).is_ok());
        assert!(UnitPrice::parse(UnitPrice::MAX_CENTS).is_ok());
        assert_eq!(UnitPrice::parse(-1), Err(ParseError::Range { min: 0, max: UnitPrice::MAX_CENTS }));
        assert!(UnitPrice::parse(UnitPrice::MAX_CENTS + 1).is_err());
    }
}
