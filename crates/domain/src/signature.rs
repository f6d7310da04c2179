//! Webhook signatures, made the way Stripe makes them.
//!
//! Each delivery carries `t=<unix seconds>,v1=<hex HMAC-SHA256>`; the MAC
//! covers `"<t>.<body>"` and is keyed with the endpoint's whole secret text,
//! `whsec_…` included. Signing the time lets a receiver refuse replays; a
//! header may carry several `v1` entries while a secret is being rotated.
//!
//! # Example
//!
//! A receiver checks the header against the raw body, before parsing it:
//!
//! ```
//! use std::time::Duration;
//! use domain::signature::{SignatureError, SigningSecret, signature_header, verify_signature};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = SigningSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")?;
//! let body = br#"{"id":"0190b8f0-0000-7000-8000-000000000000","type":"order.created"}"#;
//! let header = signature_header(&secret, 1_700_000_000, body);
//! assert!(header.starts_with("t=1700000000,v1="));
//!
//! // The receiver: its own clock, a tolerance of five minutes.
//! let now = 1_700_000_030;
//! let tolerance = Duration::from_secs(300);
//! verify_signature(&header, body, &secret, now, tolerance)?;
//!
//! // A changed body, or the same delivery replayed an hour later, is refused.
//! let changed = verify_signature(&header, b"{}", &secret, now, tolerance);
//! assert_eq!(changed, Err(SignatureError::Mismatch));
//! let replayed = verify_signature(&header, body, &secret, now + 3600, tolerance);
//! assert_eq!(replayed, Err(SignatureError::TooOld));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::api_key::NoRandomness;
use crate::parse::ParseError;

type HmacSha256 = Hmac<Sha256>;

/// How far a signature's time may be from the receiver's clock when the
/// receiver has no reason to choose otherwise (Stripe's default).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// An endpoint's signing secret: `whsec_` and 256 random bits in base64url.
/// Its `Debug` does not show it, and it has no `Display`.
#[derive(Clone)]
pub struct SigningSecret(String);

impl SigningSecret {
    const PREFIX: &'static str = "whsec_";
    /// 32 bytes in base64url without padding.
    const ENCODED_LEN: usize = 43;

    /// A new secret from the operating system's randomness.
    pub fn generate() -> Result<Self, NoRandomness> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        Ok(Self(format!("{}{}", Self::PREFIX, URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Reads a stored or configured secret.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let well_formed = raw.strip_prefix(Self::PREFIX).is_some_and(|encoded| {
            encoded.len() == Self::ENCODED_LEN
                && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !well_formed {
            return Err(ParseError::Pattern("must be whsec_ followed by 43 base64url characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The whole secret, to store or to show once.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn mac(&self, unix_seconds: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(self.0.as_bytes()).unwrap_or_else(|_| unreachable!());
        mac.update(unix_seconds.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// The `Orders-Signature` value for `body` sent at `unix_seconds`.
pub fn signature_header(secret: &SigningSecret, unix_seconds: i64, body: &[u8]) -> String {
    let tag = secret.mac(unix_seconds, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=<integer>,v1=<64 hex digits>[,v1=…]`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The signed time is further from now than the tolerance, either way:
    /// a replay, or clocks far apart.
    #[error("the signature's time is outside the tolerance")]
    TooOld,
    /// No `v1` entry is the MAC of this body with this secret.
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks an `Orders-Signature` header against the raw `body`.
///
/// Any one `v1` entry may match; keys other than `t` and `v1` are ignored, so
/// that new schemes can be added beside `v1`. The MAC is checked before the
/// time, and compared in constant time.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &SigningSecret,
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut time = None;
    let mut tags = Vec::new();
    for entry in header.split(',') {
        let (key, value) = entry.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" if time.is_none() => time = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "t" => return Err(SignatureError::Malformed),
            "v1" => tags.push(decode_tag(value).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    let time = time.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mac = secret.mac(time, body);
    if !tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    if now_unix.abs_diff(time) > tolerance.as_secs() {
        return Err(SignatureError::TooOld);
    }
    Ok(())
}

/// 64 hex digits (either case) into the 32 bytes of a SHA-256 MAC.
fn decode_tag(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut tag = [0u8; 32];
    for (byte, pair) in tag.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(tag)
}

// Not `u8::from_str_radix`: it takes a leading `+`.
fn nibble(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|n| u8::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const BODY: &[u8] = br#"{"id":"0190b8f0-0000-7000-8000-000000000000","type":"order.created"}"#;
    const T: i64 = 1_700_000_000;
    /// Computed apart from this code: Python's `hmac.new(SECRET, b"1700000000." + BODY, sha256)`.
    const KNOWN_TAG: &str = "ccd85ee6852888da9f6f393f95dfb172ed630c040a4562b5f76194b8143296c9";

    fn secret() -> SigningSecret {
        SigningSecret::parse(SECRET).unwrap()
    }

    fn tolerance() -> Duration {
        Duration::from_secs(300)
    }

    #[test]
    fn header_matches_an_independently_computed_vector() {
        assert_eq!(signature_header(&secret(), T, BODY), format!("t={T},v1={KNOWN_TAG}"));
    }

    #[test]
    fn generated_secrets_parse_back_and_differ() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_eq!(SigningSecret::parse(a.as_str()).unwrap().as_str(), a.as_str());
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 49);
    }

    #[test]
    fn parse_refuses_other_forms() {
        for raw in [
            "",
            "whsec_",
            &SECRET[1..],
            &SECRET[..SECRET.len() - 1],
            &format!("{SECRET}A"),
            "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+",
            "WHSEC_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        ] {
            assert!(SigningSecret::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", secret());
        assert!(!shown.contains("AAEC"), "{shown}");
    }

    #[test]
    fn a_fresh_signature_verifies() {
        let header = signature_header(&secret(), T, BODY);
        assert_eq!(verify_signature(&header, BODY, &secret(), T + 299, tolerance()), Ok(()));
        assert_eq!(verify_signature(&header, BODY, &secret(), T - 299, tolerance()), Ok(()));
    }

    #[test]
    fn the_known_vector_verifies_in_upper_case_too() {
        let header = format!("t={T},v1={}", KNOWN_TAG.to_uppercase());
        assert_eq!(verify_signature(&header, BODY, &secret(), T, tolerance()), Ok(()));
    }

    #[test]
    fn another_body_time_or_secret_mismatches() {
        let header = signature_header(&secret(), T, BODY);
        let other = SigningSecret::generate().unwrap();
        assert_eq!(verify_signature(&header, b"{}", &secret(), T, tolerance()), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(&header, BODY, &other, T, tolerance()), Err(SignatureError::Mismatch));
        let moved = header.replacen(&T.to_string(), &(T + 1).to_string(), 1);
        assert_eq!(verify_signature(&moved, BODY, &secret(), T, tolerance()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_signature_outside_the_tolerance_is_too_old() {
        let header = signature_header(&secret(), T, BODY);
        assert_eq!(verify_signature(&header, BODY, &secret(), T + 301, tolerance()), Err(SignatureError::TooOld));
        assert_eq!(verify_signature(&header, BODY, &secret(), T - 301, tolerance()), Err(SignatureError::TooOld));
        assert_eq!(verify_signature(&header, BODY, &secret(), i64::MIN, tolerance()), Err(SignatureError::TooOld));
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let old = SigningSecret::generate().unwrap();
        let with_old = signature_header(&old, T, BODY);
        let with_new = signature_header(&secret(), T, BODY);
        let old_tag = with_old.split_once(",v1=").unwrap().1;
        let rotating = format!("{with_new},v1={old_tag},v0=ignored");
        assert_eq!(verify_signature(&rotating, BODY, &secret(), T, tolerance()), Ok(()));
        assert_eq!(verify_signature(&rotating, BODY, &old, T, tolerance()), Ok(()));
        let third = SigningSecret::generate().unwrap();
        assert_eq!(verify_signature(&rotating, BODY, &third, T, tolerance()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let tag = KNOWN_TAG;
        for header in [
            String::new(),
            format!("v1={tag}"),
            format!("t={T}"),
            format!("t=soon,v1={tag}"),
            format!("t={T},t={T},v1={tag}"),
            format!("t={T},v1={}", &tag[1..]),
            format!("t={T},v1={}g", &tag[1..]),
            format!("t={T},v1=+{}", &tag[1..]),
            format!("t={T};v1={tag}"),
            format!("t={T},v1={tag},garbage"),
        ] {
            assert_eq!(
                verify_signature(&header, BODY, &secret(), T, tolerance()),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn spaces_around_entries_are_tolerated() {
        let header = format!("t={T}, v1={KNOWN_TAG}");
        assert_eq!(verify_signature(&header, BODY, &secret(), T, tolerance()), Ok(()));
    }
}
