//! The aggregates `/v1/stats` returns and the dashboard shows: what each
//! figure counts, over which days, and how the real-time-factor percentiles
//! are defined. Backends compute [`Aggregates`]; this module turns a
//! requested number of days into the first hour counted and wraps the result
//! as [`Stats`].
//!
//! Percentiles use the nearest-rank method: the p-th percentile of `n`
//! sorted values is the value at 1-based rank `ceil(p × n / 100)`
//! ([`nearest_rank`]). The median is the 50th percentile, so for an even
//! count it is the lower of the two middle values; every percentile is a
//! value that was actually sent (two decimal places, like the input).

use ezflow_telemetry_schema::Hour;
use serde::{Deserialize, Serialize};

/// Days `/v1/stats` and `/` cover unless `?days=` says otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// The most days one request may cover.
pub const MAX_DAYS: u32 = 365;

/// Events counted in one UTC day, for one event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`, the UTC day of the events' hour.
    pub day: String,
    /// The event's `type` tag, such as `app_launched`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub count: u64,
}

/// Events (of every type) sent by one app version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionCount {
    pub app_version: String,
    pub count: u64,
}

/// Events (of every type) sent from one OS family and release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsCount {
    pub os: String,
    pub os_version: String,
    pub count: u64,
}

/// `transcription_completed` events for one model, on GPU or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionStats {
    pub model: String,
    pub gpu: bool,
    pub count: u64,
    /// Nearest-rank median of `real_time_factor`.
    pub median_real_time_factor: f64,
    /// Nearest-rank 95th percentile of `real_time_factor`.
    pub p95_real_time_factor: f64,
}

/// What a backend computes over the events of a time range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// Ordered by day, then type.
    pub events_per_day: Vec<DayCount>,
    /// Most events first, then by version.
    pub app_versions: Vec<VersionCount>,
    /// Most events first, then by OS and version.
    pub os: Vec<OsCount>,
    /// Ordered by model, CPU before GPU.
    pub transcriptions: Vec<TranscriptionStats>,
}

/// The `/v1/stats` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// How many UTC days are covered, today included.
    pub days: u32,
    /// The first UTC day covered, `YYYY-MM-DD`.
    pub since: String,
    /// All events counted (the sum of `events_per_day`).
    pub total_events: u64,
    pub events_per_day: Vec<DayCount>,
    pub app_versions: Vec<VersionCount>,
    pub os: Vec<OsCount>,
    pub transcriptions: Vec<TranscriptionStats>,
}

impl Stats {
    pub fn new(days: u32, since: Hour, aggregates: Aggregates) -> Stats {
        Stats {
            days,
            since: since.day(),
            total_events: aggregates.events_per_day.iter().map(|d| d.count).sum(),
            events_per_day: aggregates.events_per_day,
            app_versions: aggregates.app_versions,
            os: aggregates.os,
            transcriptions: aggregates.transcriptions,
        }
    }
}

/// The first hour counted when covering `days` UTC days up to `now` (Unix
/// seconds): midnight UTC of the day `days - 1` days before today. Events
/// after `now` (a client clock slightly ahead) are counted too.
pub fn since(days: u32, now: i64) -> Hour {
    let today = now.div_euclid(86_400) * 86_400;
    Hour::containing(today - i64::from(days.saturating_sub(1)) * 86_400)
}

/// Parses a `days` query value: a whole number from 1 to [`MAX_DAYS`].
pub fn parse_days(text: Option<&str>) -> Result<u32, String> {
    let Some(text) = text else {
        return Ok(DEFAULT_DAYS);
    };
    match text.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(format!(
            "days must be a whole number from 1 to {MAX_DAYS}, not {:?}",
            text.chars().take(20).collect::<String>()
        )),
    }
}

/// The 1-based rank of the `percent`-th percentile among `n` sorted values,
/// by the nearest-rank method: `ceil(percent × n / 100)`, at least 1.
pub fn nearest_rank(n: u64, percent: u64) -> u64 {
    (percent * n).div_ceil(100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_definition() {
        assert_eq!(nearest_rank(1, 50), 1);
        assert_eq!(nearest_rank(2, 50), 1);
        assert_eq!(nearest_rank(3, 50), 2);
        assert_eq!(nearest_rank(10, 50), 5);
        assert_eq!(nearest_rank(10, 95), 10);
        assert_eq!(nearest_rank(20, 95), 19);
        assert_eq!(nearest_rank(100, 95), 95);
        assert_eq!(nearest_rank(101, 95), 96);
    }

    #[test]
    fn days_are_whole_utc_days_including_today() {
        let now = Hour::parse("2026-11-27T17:00Z").unwrap().unix() + 1200;
        assert_eq!(since(1, now).to_string(), "2026-11-27T00:00Z");
        assert_eq!(since(30, now).to_string(), "2026-10-29T00:00Z");
    }

    #[test]
    fn days_parameter_is_checked() {
        assert_eq!(parse_days(None), Ok(DEFAULT_DAYS));
        assert_eq!(parse_days(Some("7")), Ok(7));
        assert_eq!(parse_days(Some("365")), Ok(365));
        for bad in ["0", "366", "-1", "seven", "", "1.5"] {
            assert!(parse_days(Some(bad)).is_err(), "{bad}");
        }
    }
}
