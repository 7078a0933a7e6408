//! An hour of UTC time, the only timestamp an event carries: written as
//! `2026-11-27T14:00Z`, so a reader sees at a glance that nothing finer is
//! kept. Conversion to and from Unix time uses [`crate::calendar`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

/// The start of an hour, in Unix seconds (always a multiple of 3600).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an hour written as YYYY-MM-DDTHH:00Z")]
pub struct HourError {
    text: String,
}

impl Hour {
    /// The hour that contains `unix_seconds`.
    pub fn containing(unix_seconds: i64) -> Hour {
        Hour(unix_seconds.div_euclid(3600) * 3600)
    }

    /// The hour that contains the system clock's now.
    pub fn now() -> Hour {
        Hour::containing(unix_now())
    }

    /// The start of the hour, in Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// The calendar day, `YYYY-MM-DD`.
    pub fn day(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// Parses `YYYY-MM-DDTHH:00Z`, and nothing else.
    pub fn parse(text: &str) -> Result<Hour, HourError> {
        let err = || HourError {
            text: text.chars().take(40).collect(),
        };
        let b = text.as_bytes();
        if b.len() != 17 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || &b[13..] != b":00Z" {
            return Err(err());
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, HourError> {
            let s = &text[range];
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            s.parse().map_err(|_| err())
        };
        let (y, m, d, h) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || h > 23 {
            return Err(err());
        }
        Ok(Hour(days_from_civil(y, m, d) * 86_400 + h * 3600))
    }
}

/// The system clock as Unix seconds; a clock before 1970 reads as 0.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.0.rem_euclid(86_400) / 3600;
        write!(f, "{}T{h:02}:00Z", self.day())
    }
}

impl Serialize for Hour {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hour {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hour, D::Error> {
        let text = String::deserialize(d)?;
        Hour::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_and_parse() {
        // 2000-03-01T00:00:00Z and 2026-11-27T22:13:20Z (checked with Python).
        assert_eq!(
            Hour::containing(951_868_800).to_string(),
            "2000-03-01T00:00Z"
        );
        let h = Hour::containing(1_795_737_600 + 22 * 3600 + 800);
        assert_eq!(h.to_string(), "2026-11-27T22:00Z");
        assert_eq!(Hour::parse("2026-11-27T22:00Z"), Ok(h));
        assert_eq!(h.day(), "2026-11-27");
        assert_eq!(Hour::parse("1970-01-01T00:00Z").unwrap().unix(), 0);
    }

    #[test]
    fn every_hour_of_four_years_round_trips() {
        let start = Hour::parse("2024-01-01T00:00Z").unwrap().unix();
        for i in 0..(4 * 366 * 24) {
            let h = Hour(start + i * 3600);
            assert_eq!(Hour::parse(&h.to_string()), Ok(h));
        }
    }

    #[test]
    fn anything_finer_or_malformed_is_refused() {
        for bad in [
            "2026-11-27T22:13Z",
            "2026-11-27T22:00:00Z",
            "2026-11-27 22:00Z",
            "2026-02-30T01:00Z",
            "2025-02-29T01:00Z",
            "2026-13-01T00:00Z",
            "2026-11-27T24:00Z",
            "+026-11-27T22:00Z",
            "",
        ] {
            assert!(Hour::parse(bad).is_err(), "{bad}");
        }
        assert!(Hour::parse("2024-02-29T23:00Z").is_ok());
    }
}
