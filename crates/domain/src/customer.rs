//! Who placed the order.

use std::fmt;

use crate::parse::{ParseError, check_chars};

/// A customer's name: 1..=200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerName(String);

impl CustomerName {
    /// Fewest characters (after trimming).
    pub const MIN_CHARS: usize = 1;
    /// Most characters (after trimming).
    pub const MAX_CHARS: usize = 200;

    /// Trims surrounding whitespace and checks the rules.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(ParseError::ControlCharacters);
        }
        check_chars(trimmed, Self::MIN_CHARS, Self::MAX_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's email address, stored as given and compared case-insensitively.
///
/// The syntax accepted is the pragmatic subset used by HTML forms: an unquoted
/// local part of at most 64 bytes and a domain of dot-separated labels (or an
/// IP literal in brackets), at most 254 characters in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEmail(String);

impl CustomerEmail {
    /// Most characters in an address (RFC 5321's path limit minus the brackets).
    pub const MAX_CHARS: usize = 254;
    const MAX_LOCAL_BYTES: usize = 64;
    const MAX_LABEL_BYTES: usize = 63;

    /// Checks the syntax; keeps the address exactly as given.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        check_chars(raw, 1, Self::MAX_CHARS)?;
        let (local, domain) = raw.rsplit_once('@').ok_or(ParseError::Email)?;
        if !Self::is_local_part(local) || !Self::is_domain(domain) {
            return Err(ParseError::Email);
        }
        Ok(Self(raw.to_owned()))
    }

    fn is_local_part(local: &str) -> bool {
        const SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";
        !local.is_empty()
            && local.len() <= Self::MAX_LOCAL_BYTES
            && local.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
    }

    fn is_domain(domain: &str) -> bool {
        if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            return literal.parse::<std::net::IpAddr>().is_ok();
        }
        !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= Self::MAX_LABEL_BYTES
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two addresses are compared by (lower case).
    pub fn comparison_key(&self) -> String {
        Self::key_of(&self.0)
    }

    /// The comparison key of any text, for looking up by an address that was
    /// never validated (a query filter, say).
    pub fn key_of(raw: &str) -> String {
        raw.to_lowercase()
    }
}

impl fmt::Display for CustomerEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(CustomerName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(matches!(CustomerName::parse("   "), Err(ParseError::Length { .. })));
        assert!(CustomerName::parse(&"é".repeat(200)).is_ok());
        assert!(matches!(CustomerName::parse(&"é".repeat(201)), Err(ParseError::Length { .. })));
    }

    #[test]
    fn names_refuse_control_characters() {
        assert_eq!(CustomerName::parse("Ada\0Lovelace"), Err(ParseError::ControlCharacters));
        assert_eq!(CustomerName::parse("Ada\u{7}"), Err(ParseError::ControlCharacters));
        // Combining marks and right-to-left text are letters, not control characters.
        assert!(CustomerName::parse("Zoë \u{5e9}\u{5dc}\u{5d5}\u{5dd} e\u{301}").is_ok());
    }

    #[test]
    fn emails_accept_common_forms() {
        for ok in ["ada@example.com", "Ada.Lovelace+orders@Sub.Example.co.uk", "a@b", "x@[127.0.0.1]"] {
            assert!(CustomerEmail::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn emails_refuse_malformed_forms() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "a@-x.com",
            "a@x-.com",
            "a@x..com",
            "a@@b.com",
            "a@[300.0.0.1]",
        ] {
            assert!(CustomerEmail::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert!(matches!(CustomerEmail::parse(&long), Err(ParseError::Length { .. })));
    }

    #[test]
    fn emails_keep_their_case_but_compare_without_it() {
        let email = CustomerEmail::parse("Ada@Example.COM").unwrap();
        assert_eq!(email.as_str(), "Ada@Example.COM");
        assert_eq!(email.comparison_key(), "ada@example.com");
    }
}
