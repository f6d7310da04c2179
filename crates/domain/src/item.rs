//! What is ordered: stock-keeping units, quantities and order lines.

use std::fmt;

use crate::money::{Money, UnitPrice};
use crate::parse::{ParseError, check_chars, check_range};

/// A stock-keeping unit: 1..=64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// Most characters in a SKU.
    pub const MAX_CHARS: usize = 64;
    /// The allowed form, as a regular expression (for API documentation).
    pub const PATTERN: &'static str = "^[A-Za-z0-9._-]{1,64}$";

    /// Checks length and alphabet.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        check_chars(raw, 1, Self::MAX_CHARS)?;
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(ParseError::Pattern("may contain only letters, digits, '.', '_' and '-'"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many units of a SKU: 1..=10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(u16);

impl Quantity {
    /// Fewest units on a line.
    pub const MIN: i64 = 1;
    /// Most units on a line.
    pub const MAX: i64 = 10_000;

    /// Checks the bounds.
    pub fn parse(value: i64) -> Result<Self, ParseError> {
        check_range(value, Self::MIN, Self::MAX)?;
        // In 1..=10_000, so it fits.
        Ok(Self(u16::try_from(value).unwrap_or(u16::MAX)))
    }

    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

/// One line of an order as the client asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: UnitPrice,
}

/// The lines of a new order: 1..=100 of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines(pub(crate) Vec<NewOrderLine>);

impl OrderLines {
    /// Fewest lines an order may have.
    pub const MIN: usize = 1;
    /// Most lines an order may have.
    pub const MAX: usize = 100;

    /// Checks how many lines there are.
    pub fn parse(lines: Vec<NewOrderLine>) -> Result<Self, ParseError> {
        Self::check_count(lines.len())?;
        Ok(Self(lines))
    }

    /// The same rule on a count alone, for a reader that reports a wrong
    /// count beside invalid lines it could not turn into [`NewOrderLine`]s.
    pub fn check_count(count: usize) -> Result<(), ParseError> {
        if (Self::MIN..=Self::MAX).contains(&count) {
            Ok(())
        } else {
            Err(ParseError::Length { min: Self::MIN, max: Self::MAX, unit: "items" })
        }
    }
}

/// One line of a stored order, with its computed total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// `quantity × unit_price`.
    pub line_total: Money,
}

impl OrderLine {
    /// Prices a requested line; `None` if the total overflows (it cannot within the bounds above).
    pub fn price(line: NewOrderLine) -> Option<Self> {
        let line_total = line.unit_price.money().checked_mul(line.quantity.get())?;
        Some(Self { sku: line.sku, quantity: line.quantity, unit_price: line.unit_price.money(), line_total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_alphabet_and_length() {
        assert!(Sku::parse("BOOK-001").is_ok());
        assert!(Sku::parse("a.b_c-D9").is_ok());
        assert!(Sku::parse(&"X".repeat(64)).is_ok());
        assert!(matches!(Sku::parse(&"X".repeat(65)), Err(ParseError::Length { .. })));
        assert!(matches!(Sku::parse(""), Err(ParseError::Length { .. })));
        for bad in ["BOOK 001", "BOOK/1", "ÄPFEL", "a;DROP TABLE"] {
            assert!(matches!(Sku::parse(bad), Err(ParseError::Pattern(_))), "{bad}");
        }
    }

    #[test]
    fn quantity_bounds() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(10_000).unwrap().get(), 10_000);
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(10_001).is_err());
        assert!(Quantity::parse(-5).is_err());
    }

    #[test]
    fn an_order_has_one_to_a_hundred_lines() {
        let line = || NewOrderLine {
            sku: Sku::parse("X").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
            unit_price: UnitPrice::parse(1).unwrap(),
        };
        assert!(OrderLines::parse(vec![line()]).is_ok());
        assert!(OrderLines::parse(vec![line(); 100]).is_ok());
        assert!(matches!(OrderLines::parse(vec![]), Err(ParseError::Length { unit: "items", .. })));
        assert!(matches!(OrderLines::parse(vec![line(); 101]), Err(ParseError::Length { .. })));
    }

    #[test]
    fn line_total_is_quantity_times_price() {
        let line = OrderLine::price(NewOrderLine {
            sku: Sku::parse("BOOK-001").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
            unit_price: UnitPrice::parse(1250).unwrap(),
        })
        .unwrap();
        assert_eq!(line.line_total.cents(), 2500);
    }
}
