//! The settings file (`settings.toml`): what each setting means, which values
//! it accepts, and how the file is read and written.
//!
//! Loading never fails and never loses what the user wrote:
//!
//! - a missing file (first run) gives the defaults, silently;
//! - a file that is not TOML at all (syntax error, not UTF-8, a binary blob) is
//!   *moved aside* to `settings.toml.corrupt-YYYYMMDD-HHMMSS` (UTC; `-2`, `-3`,
//!   ... appended if that name is taken) and the defaults are used; it is never
//!   deleted or overwritten;
//! - in a valid file, each key is judged on its own: an unknown key or a bad
//!   value is reported and ignored (that key keeps its default), every other
//!   key is used, and the file is left untouched.
//!
//! Saving writes every key with a comment, atomically (temporary file in the
//! same directory, fsync, rename). It does not preserve the user's comments or
//! keys this version does not know; if the file about to be replaced is not
//! valid TOML, it is moved aside first rather than overwritten.
//!
//! One file per concern: `fields.rs` is the table of keys, `file.rs` reads
//! and writes the file, `problem.rs` says what was wrong with it, and each
//! value type with its own parsing has its file (`language.rs`,
//! `threads.rs`, `idle_unload.rs`, `duration.rs`). Typo suggestions come
//! from [`crate::suggest`].
//!
//! To add a setting: add the field to [`Settings`] and its default, and one
//! entry to `FIELDS` in `fields.rs`. Files written before the field existed keep loading (the
//! key is simply absent, so it takes its default).
//!
//! This module does not decide what a setting *does* (resolving a model id,
//! forcing English for `.en` models, running the unload timer): it only
//! validates and stores values. It computes no paths of its own beyond
//! [`crate::paths::settings_file`].

mod beam_size;
mod duration;
mod fields;
mod file;
mod idle_unload;
mod language;
mod problem;
mod threads;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::paths::PathsError;

pub use beam_size::{BeamSize, MAX_BEAM_SIZE};
pub use fields::{fields, json_to_toml, known_keys, toml_to_json, FieldInfo};
pub use idle_unload::IdleUnload;
pub use language::{Language, WHISPER_LANGUAGES};
pub use problem::{LoadReport, SettingsProblem};
pub use threads::{physical_cores, Threads};

/// The model used when the file names none.
pub const DEFAULT_MODEL: &str = "base.en";
/// The largest explicit thread count accepted.
pub const MAX_THREADS: u32 = 64;
/// The first-run beam width: greedy. Measured against beam search on the
/// labelled clips (docs/accuracy.md).
pub const DEFAULT_BEAM_SIZE: u32 = 1;
/// The default delay before an unused model is unloaded.
pub const DEFAULT_IDLE_UNLOAD: Duration = Duration::from_secs(5 * 60);
/// The longest idle-unload delay accepted. The delay exists to hand memory
/// back; keeping a model for more than a day is "never" in all but name, and
/// the cap catches typos such as `"5000m"` while keeping deadline arithmetic
/// far from overflow.
pub const MAX_IDLE_UNLOAD: Duration = Duration::from_secs(24 * 60 * 60);

/// Something went wrong with settings: a value that is not accepted, or the
/// file could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid {key} {value:?}: {reason}; accepted: {accepted}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
        accepted: &'static str,
    },
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error("cannot save settings to {}: {step}: {source}", path.display())]
    Save {
        path: PathBuf,
        step: String,
        source: io::Error,
    },
    #[error(
        "cannot save settings to {}: the file there is not a valid settings file ({reason}) \
         and could not be moved aside ({move_error}); it was left untouched, move or fix it and try again",
        path.display()
    )]
    CorruptInTheWay {
        path: PathBuf,
        reason: String,
        move_error: String,
    },
}

/// All of EZ Flow's settings. `Default` gives the first-run values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// A catalog model id (e.g. `base.en`) or the path to a model file;
    /// resolving it is the catalog's job.
    pub model: String,
    /// The spoken language, or automatic detection.
    pub language: Language,
    /// How many threads transcription uses.
    pub threads: Threads,
    /// How many candidate transcripts the decoder keeps (1: greedy).
    pub beam_size: BeamSize,
    /// When to unload the model after its last use.
    pub idle_unload: IdleUnload,
    /// Whether the user agreed to send anonymous usage statistics. Off
    /// until they say yes; see the `telemetry` module.
    pub telemetry: bool,
    /// Where statistics go instead of the endpoint built in (a base URL such
    /// as `https://telemetry.example.org`); empty for the built-in one.
    pub telemetry_endpoint: String,
    /// The global shortcut, as text such as `Ctrl+Alt+Space`. The desktop
    /// layer parses it (and reports a bad one); here it is only kept.
    pub hotkey: String,
    /// Hold the shortcut while speaking, or press it once to start and once
    /// to stop.
    pub hotkey_mode: HotkeyMode,
    /// How the transcript gets into the focused application.
    pub insert_method: InsertMethod,
    /// The microphone by name; empty for the system's default input.
    pub microphone: String,
    /// The longest a recording may run before it stops by itself.
    pub max_recording: Duration,
    /// An operation (a dictation from key-up to text, a model load, the
    /// start) that takes longer than this is logged as a warning with the
    /// time of each of its stages; `None` turns the warning off.
    pub slow_operation: Option<Duration>,
    /// Start EZ Flow when the user logs in. Off until they turn it on. The
    /// app keeps the desktop's autostart entry in step with it; here it is
    /// only kept.
    pub autostart: bool,
}

/// Push-to-talk or toggle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HotkeyMode {
    PushToTalk,
    Toggle,
}

impl HotkeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HotkeyMode::PushToTalk => "push-to-talk",
            HotkeyMode::Toggle => "toggle",
        }
    }
}

/// Paste through the clipboard (restored afterwards), or type each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InsertMethod {
    Paste,
    Type,
}

impl InsertMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            InsertMethod::Paste => "paste",
            InsertMethod::Type => "type",
        }
    }
}

/// The shortcut used until the user picks another.
pub const DEFAULT_HOTKEY: &str = "Ctrl+Alt+Space";
/// The default and the largest `max_recording`.
pub const DEFAULT_MAX_RECORDING: Duration = Duration::from_secs(5 * 60);
pub const MAX_MAX_RECORDING: Duration = Duration::from_secs(30 * 60);
/// The default `slow_operation`: a dictation of a few seconds that takes
/// longer than this from key-up to text feels slow.
pub const DEFAULT_SLOW_OPERATION: Duration = Duration::from_secs(2);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: DEFAULT_MODEL.to_owned(),
            language: Language::AUTO,
            threads: Threads::AUTO,
            beam_size: BeamSize::DEFAULT,
            idle_unload: IdleUnload::default(),
            telemetry: false,
            telemetry_endpoint: String::new(),
            hotkey: DEFAULT_HOTKEY.to_owned(),
            hotkey_mode: HotkeyMode::PushToTalk,
            insert_method: InsertMethod::Paste,
            microphone: String::new(),
            max_recording: DEFAULT_MAX_RECORDING,
            slow_operation: Some(DEFAULT_SLOW_OPERATION),
            autostart: false,
        }
    }
}

fn invalid(
    key: &'static str,
    value: &str,
    reason: String,
    accepted: &'static str,
) -> SettingsError {
    SettingsError::InvalidValue {
        key,
        value: value.to_owned(),
        reason,
        accepted,
    }
}
