//! The data answers the settings window asks for: settings, models,
//! telemetry, history and microphones, as typed structs.
//!
//! It owns their shapes on the wire only (docs/control-socket.md, "Requests
//! for the settings window"); what goes in them is the app's business. Like
//! [`crate::StatusReport`], every struct ignores fields it does not know
//! and gives missing ones their default, so old and new clients and
//! servers read each other.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The answer to `settings`, `settings-check`, `settings-set` and
/// `autostart-set`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettingsReport {
    /// Every setting: key → the JSON form of its TOML value
    /// (`"idle_unload":"5m"`, `"threads":0`, `"telemetry":false`).
    pub values: Map<String, Value>,
    /// What each key accepts, in the order the file lists them.
    pub fields: Vec<SettingField>,
    /// Whether EZ Flow's own XDG autostart entry is in place.
    pub start_at_login: bool,
    /// The settings file.
    pub path: String,
}

/// One key of the settings file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettingField {
    pub key: String,
    /// What the key accepts, in words.
    pub accepts: String,
    /// The comment the file has above the key, on one line.
    pub help: String,
    /// Its value when the file does not set it.
    pub default: Value,
}

/// The answer to `models` and the `model-…` requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelsReport {
    /// The `model` setting (a catalog id, an installed id, or a path).
    pub active: String,
    /// Whether the active model names a file that exists.
    pub active_installed: bool,
    /// Whether the model is in memory now.
    pub loaded: bool,
    /// The catalog model suited to this machine (cores and memory).
    pub recommended: String,
    /// The models directory.
    pub dir: String,
    /// Every catalog model, in catalog order.
    pub catalog: Vec<CatalogModel>,
    /// Installed models that are not in the catalog (imported, hand-placed).
    pub other: Vec<OtherModel>,
    /// Running downloads of models that are not in the catalog
    /// (`model-download-url`); catalog downloads are in [`CatalogModel`].
    pub downloads: Vec<UrlDownload>,
}

/// One catalog model and where it stands here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogModel {
    pub id: String,
    pub description: String,
    pub size_bytes: u64,
    pub english_only: bool,
    pub installed: bool,
    pub active: bool,
    /// The running download, if one runs.
    pub download: Option<DownloadProgress>,
    /// Bytes of an unfinished earlier download that the next one resumes
    /// (0 when there is none).
    pub partial_bytes: u64,
}

/// A running download's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DownloadProgress {
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: u64,
}

/// A running download of a model outside the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UrlDownload {
    /// The id it will have once installed (the `name` it was asked under).
    pub id: String,
    pub url: String,
    pub done: u64,
    /// The full size; 0 while the server has not said.
    pub total: u64,
    pub bytes_per_sec: u64,
}

/// An installed model outside the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OtherModel {
    /// Its id, as `model-activate` and `model-remove` take it.
    pub id: String,
    /// The file name shown to people.
    pub name: String,
    pub path: String,
    pub size_bytes: u64,
    pub active: bool,
}

/// The answer to `telemetry` and `telemetry-set`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryReport {
    pub enabled: bool,
    /// Where statistics go; `None` when this build has no endpoint and the
    /// settings name none.
    pub endpoint: Option<String>,
    /// One plain paragraph: what is sent, that it is anonymous, off by
    /// default, and how to see it first.
    pub explanation: String,
    /// The exact JSON of the next batch, if events wait.
    pub next_batch: Option<Value>,
    /// What was sent, oldest first.
    pub sent: Vec<SentBatch>,
}

/// One entry of the sent log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SentBatch {
    /// When, as RFC 3339 UTC (`2026-12-03T10:00:00Z`).
    pub sent_at: String,
    /// One line: "delivered 12 events", "dropped: …", "will retry: …".
    pub outcome: String,
    pub batch: Option<Value>,
}

/// The answer to `stats-history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryReport {
    /// The last dictations (at most 200), oldest first.
    pub dictations: Vec<DictationPoint>,
    /// Memory samples (at most 288), oldest first.
    pub memory: Vec<MemoryPoint>,
}

/// One dictation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DictationPoint {
    /// When it ended, Unix seconds.
    pub at: u64,
    pub audio_ms: u64,
    pub latency_ms: u64,
    pub real_time_factor: Option<f64>,
}

/// One memory sample.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryPoint {
    /// Unix seconds.
    pub at: u64,
    pub pss_bytes: Option<u64>,
    /// What happened: `start`, `load`, `unload`, `dictation`, `request`.
    pub why: String,
}

/// The answer to `microphones`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MicrophonesReport {
    /// The `microphone` setting (`""`: the default input).
    pub selected: String,
    pub devices: Vec<MicrophoneDevice>,
}

/// One input device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MicrophoneDevice {
    pub name: String,
    pub is_default: bool,
}
