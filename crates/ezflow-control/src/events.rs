//! The events a `watch` connection carries: one JSON object per line,
//! `{"event":"<kebab-case name>",…}`.
//!
//! It owns their shapes only. The server's `watch` mode (`server.rs`) sends
//! them; the app decides when. Unknown event names read as
//! [`Event::Unknown`] and unknown fields are ignored, so an older client
//! keeps working against a newer app.

use serde::{Deserialize, Serialize};

/// Something the app wants open windows to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The app's state changed (and once right after `watch`).
    State(StateEvent),
    /// A download's progress, at most 10 times a second per download.
    Download(DownloadEvent),
    /// A download ended; `error` is `None` when the model is installed.
    DownloadFinished(FinishedEvent),
    /// An import's progress.
    Import(ImportEvent),
    /// An import ended.
    ImportFinished(ImportFinishedEvent),
    /// The level meter's input, about 20 times a second.
    Level(LevelEvent),
    /// The level meter closed its input (`error` says why if it failed).
    LevelFinished(LevelFinishedEvent),
    /// The settings changed; ask again.
    Settings,
    /// The models changed; ask again.
    Models,
    /// Telemetry changed; ask again.
    Telemetry,
    /// Someone asked for the settings window while it is open.
    Focus,
    /// An event this client does not know (a newer app).
    #[serde(other)]
    Unknown,
}

impl Event {
    /// The JSON line for this event, newline included.
    pub fn to_line(&self) -> String {
        let mut line =
            serde_json::to_string(self).unwrap_or_else(|_| r#"{"event":"unknown"}"#.to_owned());
        line.push('\n');
        line
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateEvent {
    /// As `status` names it: `idle`, `loading`, `recording`, …
    pub state: String,
    pub model: String,
    pub model_loaded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DownloadEvent {
    pub id: String,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FinishedEvent {
    pub id: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportEvent {
    pub path: String,
    /// What it is doing: `reading`, `converting`, `writing`.
    pub step: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportFinishedEvent {
    /// The installed model's id (empty when it failed before one was known).
    pub id: String,
    pub path: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LevelEvent {
    pub device: String,
    /// Root mean square of the last ~50 ms, 0 to 1.
    pub rms: f32,
    /// Largest absolute sample of the last ~50 ms, 0 to 1.
    pub peak: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LevelFinishedEvent {
    pub device: String,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_as_in_the_docs() {
        assert_eq!(
            Event::State(StateEvent {
                state: "loading".into(),
                model: "base.en".into(),
                model_loaded: false,
            })
            .to_line(),
            "{\"event\":\"state\",\"state\":\"loading\",\"model\":\"base.en\",\"model_loaded\":false}\n"
        );
        assert_eq!(Event::Focus.to_line(), "{\"event\":\"focus\"}\n");
        assert_eq!(
            Event::DownloadFinished(FinishedEvent {
                id: "tiny.en".into(),
                error: None
            })
            .to_line(),
            "{\"event\":\"download-finished\",\"id\":\"tiny.en\",\"error\":null}\n"
        );
        let level = Event::Level(LevelEvent {
            device: "default".into(),
            rms: 0.031,
            peak: 0.22,
        });
        assert_eq!(
            level.to_line(),
            "{\"event\":\"level\",\"device\":\"default\",\"rms\":0.031,\"peak\":0.22}\n"
        );
    }

    #[test]
    fn events_decode_tolerantly() {
        let e: Event = serde_json::from_str(r#"{"event":"meteor","x":1}"#).unwrap();
        assert_eq!(e, Event::Unknown);
        let e: Event = serde_json::from_str(r#"{"event":"download","id":"x","new":[1]}"#).unwrap();
        assert_eq!(
            e,
            Event::Download(DownloadEvent {
                id: "x".into(),
                ..Default::default()
            })
        );
        let e: Event = serde_json::from_str(r#"{"event":"settings","why":"file"}"#).unwrap();
        assert_eq!(e, Event::Settings);
    }
}
