//! What the loop needs of usage telemetry: start it for the settings in
//! force (the launch event and the background sender, when enabled), count
//! each dictation, and stop it. The real one is `ezflow_core::telemetry`'s
//! queue and sender (`wiring.rs`); the unit tests use one that records
//! nothing on disk.
//!
//! An interface only: telemetry never changes what the loop does.

use std::time::Duration;

use ezflow_config::settings::Settings;
use ezflow_control::TelemetryReport;

/// What telemetry is, in one plain paragraph, for the settings window.
pub const EXPLANATION: &str = "EZ Flow can send anonymous usage statistics to help make it \
better: that it started, how long each dictation's audio was (in broad buckets), which \
catalog model transcribed it and how fast, and which models were downloaded, each with the \
hour it happened in (never finer), the app's version, the operating system and its version \
and the processor type. Never your words, your \
audio, file names, or anything that identifies you or this computer; each batch gets a new \
random id. It is off until you turn it on. You can see the exact JSON of the next batch here \
(or with `ezflow telemetry preview`) before anything is sent, and every batch already sent \
(`ezflow telemetry sent`).";

pub trait UsageTelemetry {
    /// Consent, the next batch and the sent log, as the window shows them.
    fn report(&self) -> TelemetryReport;
    /// Starts (or restarts, after the setting or endpoint changed) for
    /// `settings`.
    fn start(&mut self, settings: &Settings);
    /// Stops the background sender.
    fn stop(&mut self);
    /// Counts a transcribed dictation of `audio` with `model`.
    fn dictation(&self, audio: Duration, model: &str, took: Duration);
}

/// Unix seconds as RFC 3339 UTC (`2026-12-03T10:00:00Z`).
pub fn rfc3339(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let (y, m, d) = ezflow_core::telemetry::schema::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_860_000), "2026-11-28T10:00:00Z");
    }
}
