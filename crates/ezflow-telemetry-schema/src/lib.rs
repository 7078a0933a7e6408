//! The anonymous usage events EZ Flow may send, version 1, as one typed
//! definition shared by the client (in `ezflow-core`) and the collector
//! (`ezflow-collector`), and the rules a batch must meet to be accepted.
//!
//! This crate owns the wire format and its validation, nothing else: no I/O,
//! no clock (callers pass "now"), no storage. `docs/telemetry.md` explains
//! every field and why it exists; a change to what is sent is a change here,
//! and a new [`SCHEMA_VERSION`].
//!
//! What an event can never hold is decided by its type: there is no field for
//! an identifier, a host name, a path, transcript text or audio, and every
//! free-form string is limited to a short, checked alphabet.

pub mod calendar;
mod hour;

use serde::{Deserialize, Serialize};

pub use hour::{unix_now, Hour, HourError};

/// The version of the event format this crate describes.
pub const SCHEMA_VERSION: u32 = 1;
/// Most events in one batch.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Largest request body the collector reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How far an event's hour may lie ahead of the collector's clock (clock
/// skew, and an hour that began on the client a moment early).
pub const MAX_FUTURE_SECS: i64 = 2 * 3600;
/// How old an event may be. The client drops queued events after
/// 14 days; the collector allows more for a slow queue.
pub const MAX_AGE_SECS: i64 = 31 * 24 * 3600;
/// Longest app version, OS version or model id, in bytes.
pub const MAX_SHORT_TEXT: usize = 32;
/// The largest real-time factor accepted: transcribing took 100× the audio's
/// length. Slower than that is a broken measurement, not a slow machine.
pub const MAX_REAL_TIME_FACTOR: f64 = 100.0;

/// One request body: a batch of events and the id that makes a retry of the
/// same batch idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// 32 lowercase hex digits, random per batch and kept for its retries.
    /// It names the batch, not the sender: the next batch has a new one.
    pub batch_id: String,
    pub events: Vec<Event>,
}

/// One thing that happened, with the little context that makes it useful.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The hour it happened in (UTC), never finer.
    pub hour: Hour,
    /// The EZ Flow version, such as `0.1.0`.
    pub app_version: String,
    pub os: OsFamily,
    /// The OS release, such as `12` for Debian 12 or `14.5` for macOS.
    pub os_version: String,
    pub arch: Arch,
    pub event: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// EZ Flow started.
    AppLaunched { surface: Surface },
    /// A dictation or file was transcribed.
    TranscriptionCompleted {
        /// How long the audio was, as a coarse bucket.
        audio: AudioBucket,
        /// A catalog model id, or `custom` for any other model file.
        model: String,
        /// Whether the transcription ran on a GPU.
        gpu: bool,
        /// Transcription time divided by audio length, rounded to two
        /// decimal places (see [`round_real_time_factor`]).
        real_time_factor: f64,
    },
    /// A model from the catalog was downloaded and verified.
    ModelDownloaded { model: String },
}

impl EventKind {
    /// The `type` tag as sent.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::AppLaunched { .. } => "app_launched",
            EventKind::TranscriptionCompleted { .. } => "transcription_completed",
            EventKind::ModelDownloaded { .. } => "model_downloaded",
        }
    }
}

/// Which EZ Flow program started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// The always-on dictation app (tray).
    App,
    /// A command-line run, such as `ezflow transcribe`.
    Cli,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    Linux,
    Macos,
    Windows,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Aarch64,
    Other,
}

impl OsFamily {
    /// The family this program was built for.
    pub fn current() -> OsFamily {
        match std::env::consts::OS {
            "linux" => OsFamily::Linux,
            "macos" => OsFamily::Macos,
            "windows" => OsFamily::Windows,
            _ => OsFamily::Other,
        }
    }
}

impl Arch {
    /// The CPU architecture this program was built for.
    pub fn current() -> Arch {
        match std::env::consts::ARCH {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Aarch64,
            _ => Arch::Other,
        }
    }
}

/// Audio length, coarsely: enough to tell dictations from long files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AudioBucket {
    #[serde(rename = "under_5s")]
    Under5s,
    #[serde(rename = "5s_to_15s")]
    From5To15s,
    #[serde(rename = "15s_to_60s")]
    From15To60s,
    #[serde(rename = "1m_to_5m")]
    From1To5m,
    #[serde(rename = "over_5m")]
    Over5m,
}

impl AudioBucket {
    pub fn of_seconds(seconds: f64) -> AudioBucket {
        match seconds {
            s if s < 5.0 => AudioBucket::Under5s,
            s if s < 15.0 => AudioBucket::From5To15s,
            s if s < 60.0 => AudioBucket::From15To60s,
            s if s < 300.0 => AudioBucket::From1To5m,
            _ => AudioBucket::Over5m,
        }
    }
}

/// Rounds a real-time factor to two decimal places, the precision sent.
pub fn round_real_time_factor(rtf: f64) -> f64 {
    (rtf * 100.0).round() / 100.0
}

/// Why a batch was refused. `Display` says which field and why, for the
/// collector's 4xx body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema version {found} is not supported (this collector takes {SCHEMA_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("batch_id must be 32 lowercase hex digits")]
    BadBatchId,
    #[error("a batch must hold at least one event")]
    EmptyBatch,
    #[error("a batch holds at most {MAX_EVENTS_PER_BATCH} events; this one has {count}")]
    TooManyEvents { count: usize },
    #[error("events[{index}].{field}: {reason}")]
    BadField {
        index: usize,
        field: &'static str,
        reason: String,
    },
}

impl Batch {
    /// Checks everything the types alone do not: counts, lengths,
    /// alphabets, ranges and timestamps against `now` (Unix seconds).
    pub fn validate(&self, now: i64) -> Result<(), SchemaError> {
        if self.schema != SCHEMA_VERSION {
            return Err(SchemaError::UnsupportedVersion { found: self.schema });
        }
        if !is_batch_id(&self.batch_id) {
            return Err(SchemaError::BadBatchId);
        }
        if self.events.is_empty() {
            return Err(SchemaError::EmptyBatch);
        }
        if self.events.len() > MAX_EVENTS_PER_BATCH {
            return Err(SchemaError::TooManyEvents {
                count: self.events.len(),
            });
        }
        for (index, event) in self.events.iter().enumerate() {
            event
                .validate(now)
                .map_err(|(field, reason)| SchemaError::BadField {
                    index,
                    field,
                    reason,
                })?;
        }
        Ok(())
    }
}

impl Event {
    /// The checks of [`Batch::validate`] for one event: `Err` names the
    /// field and the reason.
    pub fn validate(&self, now: i64) -> Result<(), (&'static str, String)> {
        let hour = self.hour.unix();
        if hour > now + MAX_FUTURE_SECS {
            return Err(("hour", format!("{} is in the future", self.hour)));
        }
        if hour < now - MAX_AGE_SECS {
            return Err((
                "hour",
                format!("{} is older than {} days", self.hour, MAX_AGE_SECS / 86_400),
            ));
        }
        check_short_text("app_version", &self.app_version, is_version_char)?;
        check_short_text("os_version", &self.os_version, is_version_char)?;
        match &self.event {
            EventKind::AppLaunched { .. } => {}
            EventKind::TranscriptionCompleted {
                model,
                real_time_factor,
                ..
            } => {
                check_short_text("event.model", model, is_model_char)?;
                let rtf = *real_time_factor;
                if !(rtf.is_finite() && rtf > 0.0 && rtf <= MAX_REAL_TIME_FACTOR) {
                    return Err((
                        "event.real_time_factor",
                        format!("{rtf} is not between 0 and {MAX_REAL_TIME_FACTOR}"),
                    ));
                }
                if round_real_time_factor(rtf) != rtf {
                    return Err((
                        "event.real_time_factor",
                        format!("{rtf} has more than two decimal places"),
                    ));
                }
            }
            EventKind::ModelDownloaded { model } => {
                check_short_text("event.model", model, is_model_char)?;
            }
        }
        Ok(())
    }
}

/// True for 32 lowercase hex digits.
pub fn is_batch_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')
}

fn is_model_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
}

fn check_short_text(
    field: &'static str,
    value: &str,
    allowed: fn(char) -> bool,
) -> Result<(), (&'static str, String)> {
    if value.is_empty() {
        return Err((field, "must not be empty".to_owned()));
    }
    if value.len() > MAX_SHORT_TEXT {
        return Err((field, format!("longer than {MAX_SHORT_TEXT} bytes")));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err((field, format!("character {c:?} is not allowed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_800_000; // 2026-11-27T17:20:00Z

    fn event(kind: EventKind) -> Event {
        Event {
            hour: Hour::containing(NOW),
            app_version: "0.1.0".into(),
            os: OsFamily::Linux,
            os_version: "12".into(),
            arch: Arch::X86_64,
            event: kind,
        }
    }

    fn batch(events: Vec<Event>) -> Batch {
        Batch {
            schema: SCHEMA_VERSION,
            batch_id: "0123456789abcdef0123456789abcdef".into(),
            events,
        }
    }

    #[test]
    fn a_typical_batch_round_trips_and_validates() {
        let b = batch(vec![
            event(EventKind::AppLaunched {
                surface: Surface::App,
            }),
            event(EventKind::TranscriptionCompleted {
                audio: AudioBucket::Under5s,
                model: "base.en".into(),
                gpu: false,
                real_time_factor: 0.06,
            }),
            event(EventKind::ModelDownloaded {
                model: "tiny.en-q8_0".into(),
            }),
        ]);
        let json = serde_json::to_string(&b).unwrap();
        let back: Batch = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.validate(NOW), Ok(()));
        assert!(
            json.contains(r#""type":"transcription_completed""#),
            "{json}"
        );
        assert!(json.contains(r#""audio":"under_5s""#), "{json}");
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let good = serde_json::to_value(batch(vec![event(EventKind::ModelDownloaded {
            model: "tiny".into(),
        })]))
        .unwrap();
        for pointer in ["", "/events/0", "/events/0/event"] {
            let mut v = good.clone();
            v.pointer_mut(pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("user_id".into(), "abc".into());
            let err = serde_json::from_value::<Batch>(v).unwrap_err();
            assert!(
                err.to_string().contains("unknown field"),
                "{pointer}: {err}"
            );
        }
    }

    #[test]
    fn values_out_of_range_are_refused() {
        let rtf = |r: f64| {
            batch(vec![event(EventKind::TranscriptionCompleted {
                audio: AudioBucket::Under5s,
                model: "tiny".into(),
                gpu: false,
                real_time_factor: r,
            })])
            .validate(NOW)
        };
        assert!(rtf(0.0).is_err());
        assert!(rtf(-1.0).is_err());
        assert!(rtf(f64::INFINITY).is_err());
        assert!(rtf(101.0).is_err());
        assert!(rtf(0.123).is_err(), "finer than two decimals");
        assert_eq!(rtf(0.12), Ok(()));

        let mut e = event(EventKind::ModelDownloaded {
            model: "/home/ann/m.bin".into(),
        });
        assert!(matches!(
            batch(vec![e.clone()]).validate(NOW),
            Err(SchemaError::BadField {
                field: "event.model",
                ..
            })
        ));
        e.event = EventKind::ModelDownloaded {
            model: "tiny".into(),
        };
        e.hour = Hour::containing(NOW + 3 * 3600);
        assert!(batch(vec![e.clone()]).validate(NOW).is_err(), "future");
        e.hour = Hour::containing(NOW - 40 * 86_400);
        assert!(batch(vec![e.clone()]).validate(NOW).is_err(), "ancient");
        e.hour = Hour::containing(NOW);
        e.app_version = "x".repeat(33);
        assert!(batch(vec![e]).validate(NOW).is_err(), "long version");
    }

    #[test]
    fn batch_level_rules() {
        let one = event(EventKind::AppLaunched {
            surface: Surface::Cli,
        });
        assert_eq!(batch(vec![]).validate(NOW), Err(SchemaError::EmptyBatch));
        assert_eq!(
            batch(vec![one.clone(); MAX_EVENTS_PER_BATCH + 1]).validate(NOW),
            Err(SchemaError::TooManyEvents {
                count: MAX_EVENTS_PER_BATCH + 1
            })
        );
        let mut b = batch(vec![one]);
        b.batch_id = "0123456789ABCDEF0123456789ABCDEF".into();
        assert_eq!(b.validate(NOW), Err(SchemaError::BadBatchId));
        b.batch_id = "0123456789abcdef0123456789abcdef".into();
        b.schema = 2;
        assert_eq!(
            b.validate(NOW),
            Err(SchemaError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn audio_buckets_and_rounding() {
        assert_eq!(AudioBucket::of_seconds(1.2), AudioBucket::Under5s);
        assert_eq!(AudioBucket::of_seconds(11.0), AudioBucket::From5To15s);
        assert_eq!(AudioBucket::of_seconds(30.0), AudioBucket::From15To60s);
        assert_eq!(AudioBucket::of_seconds(120.0), AudioBucket::From1To5m);
        assert_eq!(AudioBucket::of_seconds(301.0), AudioBucket::Over5m);
        assert_eq!(round_real_time_factor(0.0585), 0.06);
        assert_eq!(round_real_time_factor(1.234), 1.23);
    }
}
