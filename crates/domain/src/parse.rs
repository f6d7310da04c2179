//! Why a raw value was refused by one of the domain's constructors.

/// A value that does not satisfy a domain rule.
///
/// Each variant has a stable machine-readable [`code`](ParseError::code) and a
/// human-readable message (its `Display`), so the HTTP edge can report every
/// field without knowing the rules themselves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The length (in Unicode scalar values, or entries for lists) is out of bounds.
    #[error("must be between {min} and {max} {unit} long")]
    Length {
        /// Smallest allowed length.
        min: usize,
        /// Largest allowed length.
        max: usize,
        /// What is counted: "characters", "items".
        unit: &'static str,
    },
    /// A number is out of bounds.
    #[error("must be between {min} and {max}")]
    Range {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Not a valid email address.
    #[error("not a valid email address")]
    Email,
    /// The text does not have the required form; the message says which.
    #[error("{0}")]
    Pattern(&'static str),
    /// Not one of the allowed values; the message lists them.
    #[error("must be one of {0}")]
    OneOf(&'static str),
    /// The text holds control characters (NUL included).
    #[error("must not contain control characters")]
    ControlCharacters,
    /// Not a currency code in force in ISO 4217 (withdrawn codes, and codes
    /// such as XAU or XXX that name no currency, included).
    #[error("must be an active ISO 4217 currency code, such as EUR, USD or JPY")]
    UnknownCurrency,
}

impl ParseError {
    /// Stable machine-readable code, one per rule.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Length { .. } => "length",
            ParseError::Range { .. } => "range",
            ParseError::Email => "email",
            ParseError::Pattern(_) => "pattern",
            ParseError::OneOf(_) => "one_of",
            ParseError::ControlCharacters => "control_characters",
            ParseError::UnknownCurrency => "unknown_currency",
        }
    }
}

/// Counts Unicode scalar values and checks them against `min..=max`.
pub(crate) fn check_chars(value: &str, min: usize, max: usize) -> Result<(), ParseError> {
    // `bytes >= chars`, so a short byte length proves a short char length
    // without walking a 60,000-character string twice.
    let count = if value.len() <= max { value.chars().count() } else { value.chars().take(max + 1).count() };
    if (min..=max).contains(&count) { Ok(()) } else { Err(ParseError::Length { min, max, unit: "characters" }) }
}

/// Checks an integer against `min..=max`.
pub(crate) fn check_range(value: i64, min: i64, max: i64) -> Result<(), ParseError> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(ParseError::Range { min, max }) }
}
