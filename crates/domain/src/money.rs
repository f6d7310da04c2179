//! Amounts of money and the currency they are in.

use std::fmt;

use crate::parse::{ParseError, check_range};

/// A currency of ISO 4217, with its minor unit: how many decimals its
/// amounts have (EUR 2, JPY 0, KWD 3). Every amount the service keeps is an
/// integer count of minor units of its order's currency.
///
/// ```
/// use domain::{Currency, Money};
///
/// let yen = Currency::parse("JPY").unwrap();
/// assert_eq!(yen.minor_units(), 0);
/// assert_eq!(yen.format(Money::from_cents(1250).unwrap()), "1,250 JPY");
/// assert_eq!(Currency::parse("KWD").unwrap().format(Money::from_cents(1250).unwrap()), "1.250 KWD");
/// assert!(Currency::parse("XYZ").is_err(), "not a currency");
/// assert!(Currency::parse("XXX").is_err(), "a code for no currency");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

impl Currency {
    /// An active ISO 4217 code, from the list the `iso_currency` crate keeps:
    /// not one withdrawn since, nor one naming no currency (XAU, XTS, XXX:
    /// those have no minor unit).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let iso = iso_currency::Currency::from_code(raw).ok_or(ParseError::UnknownCurrency)?;
        if iso.is_superseded().is_some() || iso.is_special() {
            return Err(ParseError::UnknownCurrency);
        }
        let minor_units = iso.exponent().and_then(|e| u8::try_from(e).ok()).ok_or(ParseError::UnknownCurrency)?;
        match raw.as_bytes() {
            &[a, b, c] => Ok(Self { code: [a, b, c], minor_units }),
            _ => Err(ParseError::UnknownCurrency),
        }
    }

    /// Every active code, in alphabetical order (for documents that list them).
    pub fn all_active() -> impl Iterator<Item = Currency> {
        let letters = b'A'..=b'Z';
        letters
            .clone()
            .flat_map(move |a| {
                let letters = b'A'..=b'Z';
                letters.clone().flat_map(move |b| (b'A'..=b'Z').map(move |c| [a, b, c]))
            })
            .filter_map(|code| std::str::from_utf8(&code).ok().and_then(|code| Self::parse(code).ok()))
    }

    /// A code read back from storage. Orders taken before codes were checked
    /// against ISO 4217 may hold any three capital letters: such a code keeps
    /// two decimals, as it was shown then, rather than make its order
    /// unreadable.
    pub fn from_stored(raw: &str) -> Option<Self> {
        Self::parse(raw).ok().or_else(|| match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => {
                Some(Self { code: [a, b, c], minor_units: 2 })
            }
            _ => None,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in, so this cannot fail.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimals of an amount in this currency.
    pub fn minor_units(self) -> u8 {
        self.minor_units
    }

    /// `money` as a customer reads it: major units with thousands grouped by
    /// commas, the currency's own number of decimals after a point, then the
    /// code (`12.50 EUR`, `1,250 JPY`, `1.250 KWD`). The code rather than a
    /// symbol, since `$` or `kr` name several currencies.
    pub fn format(self, money: Money) -> String {
        let divisor = 10_i64.pow(u32::from(self.minor_units));
        let (major, minor) = (money.cents() / divisor, money.cents() % divisor);
        let digits = major.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 8);
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if self.minor_units > 0 {
            grouped.push_str(&format!(".{minor:0width$}", width = usize::from(self.minor_units)));
        }
        format!("{grouped} {}", self.as_str())
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
    fn currency_is_an_active_iso_4217_code() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
        assert_eq!(Currency::parse("CLF").unwrap().minor_units(), 4);
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", "", "XYZ", "XXX", "XTS", "XAU", "HRK"] {
            assert_eq!(Currency::parse(bad), Err(ParseError::UnknownCurrency), "{bad}");
        }
    }

    #[test]
    fn the_active_list_is_sorted_and_holds_each_minor_unit() {
        let all: Vec<Currency> = Currency::all_active().collect();
        assert!(all.windows(2).all(|pair| pair[0].as_str() < pair[1].as_str()));
        assert!((150..=190).contains(&all.len()), "{} codes", all.len());
        for units in [0, 2, 3, 4] {
            assert!(all.iter().any(|c| c.minor_units() == units), "{units}");
        }
    }

    #[test]
    fn a_stored_code_outside_the_list_stays_readable() {
        assert_eq!(Currency::from_stored("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::from_stored("XYZ").unwrap().minor_units(), 2);
        assert_eq!(Currency::from_stored("xyz"), None);
    }

    #[test]
    fn amounts_read_as_customers_read_them() {
        let amount = |code: &str, cents: i64| Currency::parse(code).unwrap().format(Money::from_cents(cents).unwrap());
        assert_eq!(amount("EUR", 1250), "12.50 EUR");
        assert_eq!(amount("USD", 5), "0.05 USD");
        assert_eq!(amount("EUR", 123_456_789), "1,234,567.89 EUR");
        assert_eq!(amount("JPY", 1250), "1,250 JPY");
        assert_eq!(amount("JPY", 0), "0 JPY");
        assert_eq!(amount("KWD", 1250), "1.250 KWD");
        assert_eq!(amount("KWD", 1_000_005), "1,000.005 KWD");
        assert_eq!(amount("CLF", 12_345), "1.2345 CLF");
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
