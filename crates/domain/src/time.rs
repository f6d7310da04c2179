//! Points in time, at the precision every store keeps.

use std::fmt;

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};

/// A UTC instant truncated to microseconds.
///
/// PostgreSQL keeps microseconds; truncating here means what a client got in a
/// 201 body is exactly what it reads back later, on either database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    /// The first instant of year 1, in Unix microseconds.
    const MIN_MICROS: i64 = -62_135_596_800_000_000;
    /// The last microsecond of year 9999.
    const MAX_MICROS: i64 = 253_402_300_799_999_999;

    /// The instant `micros` microseconds after the Unix epoch; `None` outside
    /// years 1 to 9999, which is what both databases store and what the
    /// fixed-width text form can hold.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        if !(Self::MIN_MICROS..=Self::MAX_MICROS).contains(&micros) {
            return None;
        }
        DateTime::from_timestamp_micros(micros).map(Self)
    }

    /// This instant plus `duration` (saturating at chrono's range).
    pub fn plus(self, duration: std::time::Duration) -> Self {
        let delta = chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX);
        Self::from(self.0.checked_add_signed(delta).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }

    /// How long after `earlier` this is; zero if it is not after it (clocks
    /// of two processes may disagree).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        (self.0 - earlier.0).to_std().unwrap_or_default()
    }

    /// As the standard library's clock reads it.
    pub fn as_system_time(self) -> std::time::SystemTime {
        self.0.into()
    }

    /// As a chrono value.
    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// RFC 3339 with exactly six fractional digits and a `Z`: fixed width, so
    /// the text sorts like the instant (SQLite stores it this way). The same
    /// text as `Display`, which writes it without allocating.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// Parses RFC 3339 text (any offset), truncating to microseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text).ok().map(|t| Self::from(t.with_timezone(&Utc)))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.trunc_subsecs(6))
    }
}

impl fmt::Display for Timestamp {
    /// `2026-11-24T18:00:00.123456Z`, written digit by digit: a page of
    /// orders writes three of these per order, and `{:02}` padding through
    /// the formatting machinery showed in the profile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for slot in text[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        // Years outside 1..=9999 cannot be written in this fixed form; they
        // are never made (from_unix_micros refuses them; clocks and the
        // databases stay far inside).
        put(0, 4, u32::try_from(t.year()).unwrap_or(0).min(9999));
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, t.timestamp_subsec_micros());
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_microseconds_and_formats_fixed_width() {
        let t = Timestamp::from(DateTime::parse_from_rfc3339("2026-11-24T18:00:00.123456789Z").unwrap().to_utc());
        assert_eq!(t.to_rfc3339(), "2026-11-24T18:00:00.123456Z");
        let whole = Timestamp::from_unix_micros(1_700_000_000_000_000).unwrap();
        assert_eq!(whole.to_rfc3339(), "2023-11-14T22:13:20.000000Z");
        let early = Timestamp::from_unix_micros(-62_135_596_800_000_000 + 7).unwrap();
        assert_eq!(early.to_rfc3339(), "0001-01-01T00:00:00.000007Z");
        let late = Timestamp::from_unix_micros(253_402_300_799_999_999).unwrap();
        assert_eq!(late.to_rfc3339(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp::from_unix_micros(-62_135_596_800_000_001), None);
        assert_eq!(Timestamp::from_unix_micros(253_402_300_800_000_000), None);
        // The same text chrono writes for RFC 3339 with microseconds.
        let now = Timestamp::now();
        assert_eq!(now.to_rfc3339(), now.as_datetime().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::from_unix_micros(t.unix_micros()), Some(t));
    }
}
