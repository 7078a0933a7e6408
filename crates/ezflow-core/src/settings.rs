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
//! To add a setting: add the field to [`Settings`] and its default, and one
//! entry to `FIELDS`. Files written before the field existed keep loading (the
//! key is simply absent, so it takes its default).
//!
//! This module does not decide what a setting *does* (resolving a model id,
//! forcing English for `.en` models, running the unload timer): it only
//! validates and stores values. It computes no paths of its own beyond
//! [`crate::paths::settings_file`].

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::paths::{self, PathsError};

/// The model used when the file names none.
pub const DEFAULT_MODEL: &str = "base.en";
/// The largest explicit thread count accepted.
pub const MAX_THREADS: u32 = 64;
/// The default delay before an unused model is unloaded.
pub const DEFAULT_IDLE_UNLOAD: Duration = Duration::from_secs(5 * 60);
/// The longest idle-unload delay accepted. The delay exists to hand memory
/// back; keeping a model for more than a day is "never" in all but name, and
/// the cap catches typos such as `"5000m"` while keeping deadline arithmetic
/// far from overflow.
pub const MAX_IDLE_UNLOAD: Duration = Duration::from_secs(24 * 60 * 60);

/// A settings file is a few hundred bytes; anything past this is not one
/// (someone saved a binary or a log over it) and is moved aside unread.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Whisper's languages, `(code, English name)`, in whisper.cpp's id order (the
/// index is the language id). 99 languages plus Cantonese (`yue`), which only
/// large-v3 models know.
pub const WHISPER_LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

const MODEL_ACCEPTS: &str = "a catalog model id such as \"base.en\", or the path to a model file";
const LANGUAGE_ACCEPTS: &str =
    "\"auto\", or a Whisper language code such as \"en\", \"de\" or \"fr\" (or its English name)";
const THREADS_ACCEPTS: &str = "0 (automatic: one per physical core) or a whole number from 1 to 64";
const TELEMETRY_ACCEPTS: &str = "true or false";
const TELEMETRY_ENDPOINT_ACCEPTS: &str =
    "\"\" (the built-in endpoint) or a URL starting with https:// or http://";
const HOTKEY_ACCEPTS: &str = "keys joined by +, such as \"Ctrl+Alt+Space\", \"Super+H\" or \"F9\"";
const HOTKEY_MODE_ACCEPTS: &str = "\"push-to-talk\" or \"toggle\"";
const INSERT_METHOD_ACCEPTS: &str = "\"paste\" or \"type\"";
const MICROPHONE_ACCEPTS: &str =
    "\"\" (the default input) or a device name from `ezflow microphones`";
const MAX_RECORDING_ACCEPTS: &str = "a duration such as \"90s\" or \"5m\", at most 30m";
const SLOW_OPERATION_ACCEPTS: &str =
    "\"off\", or a duration such as \"800ms\", \"2s\" or \"1m\" (from 10ms to 10m)";
const IDLE_UNLOAD_ACCEPTS: &str =
    "\"never\", \"immediately\", or a duration such as \"30s\", \"5m\", \"1h30m\" (at most 24h)";

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
            idle_unload: IdleUnload::default(),
            telemetry: false,
            telemetry_endpoint: String::new(),
            hotkey: DEFAULT_HOTKEY.to_owned(),
            hotkey_mode: HotkeyMode::PushToTalk,
            insert_method: InsertMethod::Paste,
            microphone: String::new(),
            max_recording: DEFAULT_MAX_RECORDING,
            slow_operation: Some(DEFAULT_SLOW_OPERATION),
        }
    }
}

/// What [`Settings::load_from`] found: the settings to use, and everything
/// the user should be told about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub settings: Settings,
    /// One entry per thing that was wrong; empty for a good or missing file.
    pub problems: Vec<SettingsProblem>,
    /// Where an unreadable file was moved to, if it was.
    pub moved_aside: Option<PathBuf>,
}

/// One thing wrong with the settings file. `Display` is a single line that
/// names the file (and the key) and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsProblem {
    /// The file exists but could not be read (permissions, a directory...).
    /// It was left as it is and the defaults are in use.
    Unreadable { path: PathBuf, reason: String },
    /// The file was not TOML; it was moved to `moved_to` and the defaults are
    /// in use.
    MovedAside {
        path: PathBuf,
        moved_to: PathBuf,
        reason: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// The file was not TOML and moving it aside failed; it was left as it is
    /// and the defaults are in use.
    CorruptNotMoved {
        path: PathBuf,
        reason: String,
        line: Option<usize>,
        column: Option<usize>,
        move_error: String,
    },
    /// A key this version does not know; it was ignored.
    UnknownKey {
        path: PathBuf,
        key: String,
        suggestion: Option<&'static str>,
    },
    /// A known key with a value that is not accepted; the key's default is in
    /// use instead.
    InvalidValue {
        path: PathBuf,
        key: &'static str,
        /// The value as written in the file (TOML syntax, shortened if long).
        value: String,
        reason: String,
        accepted: &'static str,
        /// The default now in use, as it would be written in the file.
        default: String,
    },
}

impl SettingsProblem {
    /// The settings file the problem is about.
    pub fn path(&self) -> &Path {
        match self {
            SettingsProblem::Unreadable { path, .. }
            | SettingsProblem::MovedAside { path, .. }
            | SettingsProblem::CorruptNotMoved { path, .. }
            | SettingsProblem::UnknownKey { path, .. }
            | SettingsProblem::InvalidValue { path, .. } => path,
        }
    }

    /// The key the problem is about, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsProblem::UnknownKey { key, .. } => Some(key),
            SettingsProblem::InvalidValue { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn fmt_position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsProblem::Unreadable { path, reason } => write!(
                f,
                "cannot read settings file {} ({reason}); using the default settings. \
                 Make sure it is a file you can read.",
                path.display()
            ),
            SettingsProblem::MovedAside {
                path,
                moved_to,
                reason,
                line,
                column,
            } => write!(
                f,
                "settings file {} is not valid TOML ({reason}{}); it was moved to {} and the \
                 default settings are in use. Fix that file and move it back, or delete it.",
                path.display(),
                fmt_position(*line, *column),
                moved_to.display()
            ),
            SettingsProblem::CorruptNotMoved {
                path,
                reason,
                line,
                column,
                move_error,
            } => write!(
                f,
                "settings file {} is not valid TOML ({reason}{}) and could not be moved aside \
                 ({move_error}); the default settings are in use and the file was left as it \
                 is. Fix it or move it away.",
                path.display(),
                fmt_position(*line, *column)
            ),
            SettingsProblem::UnknownKey {
                path,
                key,
                suggestion,
            } => {
                write!(
                    f,
                    "settings file {}: unknown key {key:?} ignored; ",
                    path.display()
                )?;
                match suggestion {
                    Some(s) => write!(f, "did you mean {s:?}?"),
                    None => write!(f, "known keys are: {}.", known_keys().join(", ")),
                }
            }
            SettingsProblem::InvalidValue {
                path,
                key,
                value,
                reason,
                accepted,
                default,
            } => write!(
                f,
                "settings file {}: `{key} = {value}` ignored ({reason}); using the default \
                 {default}. Accepted: {accepted}.",
                path.display()
            ),
        }
    }
}

/// One setting as it appears in the file. Loading, saving and the list of
/// known keys are all driven by `FIELDS`, so they cannot drift apart.
struct Field {
    key: &'static str,
    accepts: &'static str,
    /// The comment written above the key.
    comment: &'static str,
    /// Validates a value from the file and stores it; `Err` is the reason.
    apply: fn(&mut Settings, &toml::Value) -> Result<(), String>,
    /// The value as written to the file.
    write: fn(&Settings) -> toml::Value,
}

const FIELDS: &[Field] = &[
    Field {
        key: "model",
        accepts: MODEL_ACCEPTS,
        comment: "The speech model: a catalog id such as \"base.en\", or the path to a model file.",
        apply: |s, v| {
            s.model = check_model(expect_str(v, "\"base.en\"")?)?;
            Ok(())
        },
        write: |s| toml::Value::String(s.model.clone()),
    },
    Field {
        key: "language",
        accepts: LANGUAGE_ACCEPTS,
        comment: "The spoken language: \"auto\" to detect it, or a code such as \"en\" or \"de\".\n\
                  # English-only models (names ending in .en) always use English.",
        apply: |s, v| {
            s.language = parse_language(expect_str(v, "\"en\"")?)?;
            Ok(())
        },
        write: |s| toml::Value::String(s.language.as_str().to_owned()),
    },
    Field {
        key: "threads",
        accepts: THREADS_ACCEPTS,
        comment: "Threads used for transcription: 0 means one per physical core.",
        apply: |s, v| {
            s.threads = threads_from_toml(v)?;
            Ok(())
        },
        write: |s| toml::Value::Integer(i64::from(s.threads.get())),
    },
    Field {
        key: "idle_unload",
        accepts: IDLE_UNLOAD_ACCEPTS,
        comment: "When to unload the model after its last use, to give its memory back:\n\
                  # \"never\", \"immediately\", or a delay such as \"30s\", \"5m\", \"1h30m\" (at most 24h).",
        apply: |s, v| {
            s.idle_unload = idle_unload_from_toml(v)?;
            Ok(())
        },
        write: |s| toml::Value::String(s.idle_unload.to_string()),
    },
    Field {
        key: "telemetry",
        accepts: TELEMETRY_ACCEPTS,
        comment: "Send anonymous usage statistics (off unless you turn it on). What is sent,\n\
                  # and how to see it first: `ezflow telemetry preview`, docs/telemetry.md.",
        apply: |s, v| {
            s.telemetry = match v {
                toml::Value::Boolean(b) => *b,
                other => {
                    return Err(format!(
                        "expected true or false without quotes, found {}",
                        type_name(other)
                    ))
                }
            };
            Ok(())
        },
        write: |s| toml::Value::Boolean(s.telemetry),
    },
    Field {
        key: "telemetry_endpoint",
        accepts: TELEMETRY_ENDPOINT_ACCEPTS,
        comment: "Where statistics are sent: \"\" for the endpoint built into this version,\n\
                  # or the base URL of your own collector.",
        apply: |s, v| {
            s.telemetry_endpoint = check_endpoint(expect_str(v, "\"https://telemetry.example.org\"")?)?;
            Ok(())
        },
        write: |s| toml::Value::String(s.telemetry_endpoint.clone()),
    },
    Field {
        key: "hotkey",
        accepts: HOTKEY_ACCEPTS,
        comment: "The global shortcut that starts dictation.",
        apply: |s, v| {
            s.hotkey = check_model(expect_str(v, "\"Ctrl+Alt+Space\"")?)?;
            Ok(())
        },
        write: |s| toml::Value::String(s.hotkey.clone()),
    },
    Field {
        key: "hotkey_mode",
        accepts: HOTKEY_MODE_ACCEPTS,
        comment: "\"push-to-talk\": hold the shortcut while you speak. \"toggle\": press to start, again to stop.",
        apply: |s, v| {
            s.hotkey_mode = match expect_str(v, "\"toggle\"")?.trim() {
                "push-to-talk" => HotkeyMode::PushToTalk,
                "toggle" => HotkeyMode::Toggle,
                other => return Err(format!("{other:?} is not a mode")),
            };
            Ok(())
        },
        write: |s| toml::Value::String(s.hotkey_mode.as_str().to_owned()),
    },
    Field {
        key: "insert_method",
        accepts: INSERT_METHOD_ACCEPTS,
        comment: "How text reaches the focused window: \"paste\" (through the clipboard, which is\n\
                  # restored afterwards) or \"type\" (key by key; slower, for apps that block pasting).",
        apply: |s, v| {
            s.insert_method = match expect_str(v, "\"paste\"")?.trim() {
                "paste" => InsertMethod::Paste,
                "type" => InsertMethod::Type,
                other => return Err(format!("{other:?} is not a method")),
            };
            Ok(())
        },
        write: |s| toml::Value::String(s.insert_method.as_str().to_owned()),
    },
    Field {
        key: "microphone",
        accepts: MICROPHONE_ACCEPTS,
        comment: "The microphone: \"\" for the system default, or a name from `ezflow microphones`.",
        apply: |s, v| {
            let name = expect_str(v, "\"\"")?;
            if name.chars().any(char::is_control) {
                return Err("it contains a control character".to_owned());
            }
            s.microphone = name.trim().to_owned();
            Ok(())
        },
        write: |s| toml::Value::String(s.microphone.clone()),
    },
    Field {
        key: "max_recording",
        accepts: MAX_RECORDING_ACCEPTS,
        comment: "The longest one dictation may record before it stops by itself.",
        apply: |s, v| {
            let secs = parse_duration_secs(expect_str(v, "\"5m\"")?.trim())?;
            if secs == 0 {
                return Err("a zero length".to_owned());
            }
            if secs > MAX_MAX_RECORDING.as_secs() {
                return Err("longer than 30m".to_owned());
            }
            s.max_recording = Duration::from_secs(secs);
            Ok(())
        },
        write: |s| toml::Value::String(IdleUnload::After(s.max_recording).to_string()),
    },
    Field {
        key: "slow_operation",
        accepts: SLOW_OPERATION_ACCEPTS,
        comment: "Log a warning, with the time of each stage, for any dictation, model load \
                  or start that takes longer than this (\"off\" for never).",
        apply: |s, v| {
            let text = expect_str(v, "\"2s\"")?.trim();
            if text.eq_ignore_ascii_case("off") {
                s.slow_operation = None;
                return Ok(());
            }
            let threshold = match text.strip_suffix("ms") {
                Some(ms) => Duration::from_millis(
                    ms.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{ms:?} is not a whole number of milliseconds"))?,
                ),
                None => Duration::from_secs(parse_duration_secs(text)?),
            };
            if threshold < Duration::from_millis(10) || threshold > Duration::from_secs(600) {
                return Err("outside 10ms to 10m".to_owned());
            }
            s.slow_operation = Some(threshold);
            Ok(())
        },
        write: |s| {
            toml::Value::String(match s.slow_operation {
                None => "off".to_owned(),
                Some(d) if d.subsec_millis() != 0 => format!("{}ms", d.as_millis()),
                Some(d) => IdleUnload::After(d).to_string(),
            })
        },
    },
];

/// The keys the settings file knows, in the order they are written.
pub fn known_keys() -> Vec<&'static str> {
    FIELDS.iter().map(|f| f.key).collect()
}

const HEADER: &str = "\
# EZ Flow settings.
#
# EZ Flow rewrites this file when settings change in the app; comments and keys
# it does not know are not kept. If this file cannot be read as TOML, it is
# moved aside (settings.toml.corrupt-...) and the defaults are used.
";

impl Settings {
    /// Loads the settings file at its usual place ([`paths::settings_file`]).
    /// Fails only if that place cannot be determined.
    pub fn load() -> Result<LoadReport, SettingsError> {
        Ok(Settings::load_from(&paths::settings_file()?))
    }

    /// Loads settings from `path`. Never fails: whatever is wrong is in the
    /// report's `problems`, and the settings hold every value that could be
    /// used, defaults for the rest. See the module docs for what happens to a
    /// broken file.
    pub fn load_from(path: &Path) -> LoadReport {
        let mut report = LoadReport {
            settings: Settings::default(),
            problems: Vec::new(),
            moved_aside: None,
        };
        match inspect(path) {
            Inspection::Missing => {
                tracing::debug!(path = %path.display(), "no settings file; using defaults");
            }
            Inspection::Unreadable(e) => {
                report.problems.push(SettingsProblem::Unreadable {
                    path: path.to_owned(),
                    reason: one_line(&e.to_string()),
                });
            }
            Inspection::Corrupt(c) => match move_aside(path) {
                Ok(moved_to) => {
                    tracing::warn!(
                        path = %path.display(),
                        moved_to = %moved_to.display(),
                        reason = %c.reason,
                        "settings file is not valid TOML; moved it aside"
                    );
                    report.moved_aside = Some(moved_to.clone());
                    report.problems.push(SettingsProblem::MovedAside {
                        path: path.to_owned(),
                        moved_to,
                        reason: c.reason,
                        line: c.line,
                        column: c.column,
                    });
                }
                Err(e) => report.problems.push(SettingsProblem::CorruptNotMoved {
                    path: path.to_owned(),
                    reason: c.reason,
                    line: c.line,
                    column: c.column,
                    move_error: one_line(&e.to_string()),
                }),
            },
            Inspection::Table(table) => {
                report.settings = Settings::from_table(path, &table, &mut report.problems);
            }
        }
        for problem in &report.problems {
            tracing::debug!(%problem, "settings problem");
        }
        report
    }

    /// Judges each key of a parsed file on its own.
    fn from_table(
        path: &Path,
        table: &toml::Table,
        problems: &mut Vec<SettingsProblem>,
    ) -> Settings {
        let defaults = Settings::default();
        let mut settings = Settings::default();
        for (key, value) in table {
            let Some(field) = FIELDS.iter().find(|f| f.key == key) else {
                problems.push(SettingsProblem::UnknownKey {
                    path: path.to_owned(),
                    key: key.clone(),
                    suggestion: closest(key, FIELDS.iter().map(|f| f.key)),
                });
                continue;
            };
            if let Err(reason) = (field.apply)(&mut settings, value) {
                problems.push(SettingsProblem::InvalidValue {
                    path: path.to_owned(),
                    key: field.key,
                    value: render_value(value),
                    reason: one_line(&reason),
                    accepted: field.accepts,
                    default: (field.write)(&defaults).to_string(),
                });
            }
        }
        settings
    }

    /// The file's text: a comment header, then every key with its comment.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::from(HEADER);
        for field in FIELDS {
            out.push_str("\n# ");
            out.push_str(field.comment);
            out.push('\n');
            out.push_str(field.key);
            out.push_str(" = ");
            out.push_str(&(field.write)(self).to_string());
            out.push('\n');
        }
        out
    }

    /// Saves to the usual place ([`paths::settings_file`]).
    pub fn save(&self) -> Result<(), SettingsError> {
        self.save_to(&paths::settings_file()?)
    }

    /// Writes every key to `path` atomically: a temporary file in the same
    /// directory, fsync, rename over `path`, fsync of the directory. Creates
    /// the directory if needed. A symlinked `path` is followed, so a settings
    /// file kept in a dotfiles repository stays there; the existing file's
    /// permissions are kept.
    ///
    /// Only the settings are written: comments and unknown keys in the old
    /// file are not preserved. An existing file that is not valid TOML (the
    /// user's half-finished edit, say) is moved aside first, never replaced;
    /// one that cannot be read is left alone and the save fails.
    pub fn save_to(&self, path: &Path) -> Result<(), SettingsError> {
        let target = resolve_symlinks(path);
        let save_err = |step: String, source: io::Error| SettingsError::Save {
            path: path.to_owned(),
            step,
            source,
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = target.file_name().ok_or_else(|| {
            save_err(
                "it does not name a file".to_owned(),
                io::Error::from(io::ErrorKind::InvalidInput),
            )
        })?;
        fs::create_dir_all(&dir).map_err(|e| {
            save_err(
                format!("could not create the directory {}", dir.display()),
                e,
            )
        })?;

        let old_permissions = match inspect(&target) {
            Inspection::Missing => None,
            Inspection::Table(_) => fs::metadata(&target).ok().map(|m| m.permissions()),
            Inspection::Unreadable(e) => {
                return Err(save_err(
                    "the existing file cannot be read, so it was not replaced".to_owned(),
                    e,
                ))
            }
            Inspection::Corrupt(c) => match move_aside(&target) {
                Ok(moved_to) => {
                    tracing::warn!(
                        path = %target.display(),
                        moved_to = %moved_to.display(),
                        reason = %c.reason,
                        "settings file about to be replaced is not valid TOML; moved it aside"
                    );
                    None
                }
                Err(e) => {
                    return Err(SettingsError::CorruptInTheWay {
                        path: target,
                        reason: c.reason,
                        move_error: one_line(&e.to_string()),
                    })
                }
            },
        };

        let (tmp_path, mut tmp) =
            crate::atomic_file::create_temp_file(&dir, &file_name.to_string_lossy()).map_err(
                |e| {
                    save_err(
                        format!("could not create a temporary file in {}", dir.display()),
                        e,
                    )
                },
            )?;
        let written = (|| {
            if let Some(p) = old_permissions {
                tmp.set_permissions(p)?;
            }
            tmp.write_all(self.to_toml_string().as_bytes())?;
            tmp.sync_all()?;
            drop(tmp);
            fs::rename(&tmp_path, &target)
        })();
        if let Err(e) = written {
            // The temporary file is ours and holds nothing the user wrote.
            let _ = fs::remove_file(&tmp_path);
            return Err(save_err(
                format!("could not write {}", tmp_path.display()),
                e,
            ));
        }
        crate::atomic_file::sync_dir(&dir);
        tracing::debug!(path = %target.display(), "settings saved");
        Ok(())
    }
}

/// Follows symlinks (even dangling ones) to the file that should be replaced.
fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut p = path.to_owned();
    // Bounded like the kernel's own limit, so a symlink loop cannot hang us.
    for _ in 0..40 {
        let is_link = fs::symlink_metadata(&p)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            return p;
        }
        match fs::read_link(&p) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = p.parent().map(|d| d.join(&t)).unwrap_or(t),
            Err(_) => return p,
        }
    }
    path.to_owned()
}

struct Corruption {
    reason: String,
    line: Option<usize>,
    column: Option<usize>,
}

enum Inspection {
    Missing,
    Unreadable(io::Error),
    Corrupt(Corruption),
    Table(toml::Table),
}

fn inspect(path: &Path) -> Inspection {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Inspection::Missing,
        Err(e) => return Inspection::Unreadable(e),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        return Inspection::Unreadable(e);
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Inspection::Corrupt(Corruption {
            reason: "larger than 1 MiB, far too big for a settings file".to_owned(),
            line: None,
            column: None,
        });
    }
    // Some editors (Notepad) start UTF-8 files with a byte-order mark.
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let valid = &body[..e.valid_up_to()];
            // The prefix is valid UTF-8 by construction; lossy keeps this panic-free.
            let (line, column) = line_col(&String::from_utf8_lossy(valid), valid.len());
            return Inspection::Corrupt(Corruption {
                reason: "not UTF-8 text".to_owned(),
                line: Some(line),
                column: Some(column),
            });
        }
    };
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => Inspection::Table(t),
        Err(e) => {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            Inspection::Corrupt(Corruption {
                reason: one_line(e.message()),
                line,
                column,
            })
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Renames `path` to `<name>.corrupt-YYYYMMDD-HHMMSS[-N]` beside it without
/// ever replacing an existing file.
fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    let stamp = utc_stamp(SystemTime::now());
    for n in 1..=1000u32 {
        let candidate_name = if n == 1 {
            format!("{name}.corrupt-{stamp}")
        } else {
            format!("{name}.corrupt-{stamp}-{n}")
        };
        let candidate = path.with_file_name(candidate_name);
        // A hard link fails if the name is taken, so unlike rename it can
        // never clobber an earlier moved-aside file, even in a race.
        match fs::hard_link(path, &candidate) {
            Ok(()) => {
                if let Err(e) = fs::remove_file(path) {
                    let _ = fs::remove_file(&candidate);
                    return Err(e);
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            Err(_) => {
                // File systems without hard links (FAT, some network mounts):
                // check, then rename. Only a concurrent writer could race this.
                if fs::symlink_metadata(&candidate).is_ok() {
                    continue;
                }
                fs::rename(path, &candidate)?;
                return Ok(candidate);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many moved-aside settings files with the same timestamp",
    ))
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Collapses a message onto one line so problems stay one line each.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as it would appear in TOML, kept to one short line.
fn render_value(v: &toml::Value) -> String {
    let s = match v {
        // Rust's escaping matches TOML basic strings for everything a user
        // would type, and escapes newlines and control bytes.
        toml::Value::String(s) => format!("{s:?}"),
        other => one_line(&other.to_string()),
    };
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "a whole number",
        toml::Value::Float(_) => "a decimal number",
        toml::Value::Boolean(_) => "true/false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

fn expect_str<'a>(v: &'a toml::Value, example: &str) -> Result<&'a str, String> {
    match v {
        toml::Value::String(s) => Ok(s),
        other => Err(format!(
            "expected text in quotes such as {example}, found {}",
            type_name(other)
        )),
    }
}

fn check_model(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("it is empty".to_owned());
    }
    if s.chars().any(char::is_control) {
        return Err("it contains a control character".to_owned());
    }
    Ok(s.to_owned())
}

fn check_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| "it does not start with https:// or http://".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("it has no host".to_owned());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains a space or control character".to_owned());
    }
    Ok(s.to_owned())
}

/// Suggests the candidate nearest to `input`, if one is near enough to be a
/// typo rather than a different word.
fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input = input.to_lowercase().replace('-', "_");
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = if input.len() >= 3 && c.starts_with(input.as_str()) {
            // A prefix ("lang", "idle") is as good as a one-letter slip.
            1
        } else {
            edit_distance(&input, c)
        };
        let limit = (c.chars().count() / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent swaps, the
/// commonest typo (`idle_unlaod`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
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

// ---------------------------------------------------------------- language

/// The spoken language: automatic detection, or one of
/// [`WHISPER_LANGUAGES`]. Written as `"auto"` or the language code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Language(Option<&'static str>);

impl Language {
    /// Let Whisper detect the language.
    pub const AUTO: Language = Language(None);

    /// The Whisper code (`"de"`), or `None` for automatic detection.
    pub fn code(self) -> Option<&'static str> {
        self.0
    }

    /// `"auto"` or the code, as written in the settings file.
    pub fn as_str(self) -> &'static str {
        self.0.unwrap_or("auto")
    }

    /// The language's English name (`"german"`), or `None` for automatic.
    pub fn name(self) -> Option<&'static str> {
        let code = self.0?;
        WHISPER_LANGUAGES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| *n)
    }

    pub fn is_auto(self) -> bool {
        self.0.is_none()
    }
}

/// Accepts `auto`, a code or an English name, in any case (as whisper.cpp
/// itself does); the code is what gets stored.
fn parse_language(s: &str) -> Result<Language, String> {
    let wanted = s.trim().to_lowercase();
    if wanted == "auto" {
        return Ok(Language::AUTO);
    }
    if wanted.is_empty() {
        return Err("it is empty; write \"auto\" to detect the language".to_owned());
    }
    if let Some((code, _)) = WHISPER_LANGUAGES
        .iter()
        .find(|(c, n)| *c == wanted || *n == wanted)
    {
        return Ok(Language(Some(code)));
    }
    let names = WHISPER_LANGUAGES.iter().map(|(_, n)| *n);
    let hint = match closest(&wanted, names) {
        Some(name) => {
            let code = WHISPER_LANGUAGES
                .iter()
                .find(|(_, n)| *n == name)
                .map_or("", |(c, _)| *c);
            format!("; did you mean {code:?} ({name})?")
        }
        None => String::new(),
    };
    Err(format!("Whisper does not know this language{hint}"))
}

impl FromStr for Language {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        parse_language(s).map_err(|r| invalid("language", s, r, LANGUAGE_ACCEPTS))
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ----------------------------------------------------------------- threads

/// How many threads transcription uses: automatic (one per physical core)
/// or an explicit count from 1 to [`MAX_THREADS`]. Written as 0 for automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Threads(u32);

impl Threads {
    /// One thread per physical core.
    pub const AUTO: Threads = Threads(0);

    /// `0` is automatic; otherwise 1 to [`MAX_THREADS`].
    pub fn new(n: u32) -> Result<Threads, SettingsError> {
        check_threads(i64::from(n))
            .map_err(|r| invalid("threads", &n.to_string(), r, THREADS_ACCEPTS))
    }

    /// The count as written in the file: 0 for automatic.
    pub fn get(self) -> u32 {
        self.0
    }

    pub fn is_auto(self) -> bool {
        self.0 == 0
    }

    /// The number of threads to actually use.
    pub fn resolve(self) -> usize {
        if self.is_auto() {
            physical_cores()
        } else {
            self.0 as usize
        }
    }
}

fn check_threads(n: i64) -> Result<Threads, String> {
    match n {
        n if n < 0 => Err("a thread count cannot be negative".to_owned()),
        n if n > i64::from(MAX_THREADS) => Err(format!("more than {MAX_THREADS} threads")),
        n => Ok(Threads(n as u32)),
    }
}

fn threads_from_toml(v: &toml::Value) -> Result<Threads, String> {
    match v {
        toml::Value::Integer(n) => check_threads(*n),
        toml::Value::String(s) if s.trim().parse::<i64>().is_ok() => Err(format!(
            "a number in quotes; write it without them: threads = {}",
            s.trim()
        )),
        other => Err(format!(
            "expected a whole number, found {}",
            type_name(other)
        )),
    }
}

/// Accepts `auto` or a number, for command-line flags.
impl FromStr for Threads {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(Threads::AUTO);
        }
        let reason = match t.parse::<i64>() {
            Ok(n) => match check_threads(n) {
                Ok(th) => return Ok(th),
                Err(r) => r,
            },
            Err(_) => "not a whole number".to_owned(),
        };
        Err(invalid("threads", s, reason, THREADS_ACCEPTS))
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_auto() {
            f.write_str("auto")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Threads {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        check_threads(n).map_err(serde::de::Error::custom)
    }
}

/// The number of physical CPU cores this process may use (hyperthread
/// siblings count once), at least 1. Whisper runs no faster on sibling
/// threads, so this is the automatic thread count.
///
/// On Linux it counts distinct `(physical id, core id)` pairs in
/// `/proc/cpuinfo`; elsewhere, or when that file lacks them (some ARM boards
/// and VMs), it falls back to [`std::thread::available_parallelism`]. It never
/// exceeds `available_parallelism`, which honours CPU affinity and container
/// limits.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    #[cfg(target_os = "linux")]
    if let Ok(text) = fs::read_to_string("/proc/cpuinfo") {
        if let Some(n) = count_physical_cores(&text) {
            return n.clamp(1, logical);
        }
    }
    logical
}

/// Distinct `(physical id, core id)` pairs, or `None` if any processor
/// entry lacks a core id (so the count would be a guess).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn count_physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = HashSet::new();
    for block in cpuinfo.split("\n\n") {
        let mut is_processor = false;
        let mut package = "0";
        let mut core = None;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim() {
                "processor" => is_processor = true,
                "physical id" => package = v.trim(),
                "core id" => core = Some(v.trim()),
                _ => {}
            }
        }
        if !is_processor {
            continue;
        }
        cores.insert((package, core?));
    }
    (!cores.is_empty()).then_some(cores.len())
}

// ------------------------------------------------------------- idle unload

/// When to unload the model after its last use. Written as `"never"`,
/// `"immediately"` or a duration such as `"5m"` or `"1h30m"`.
///
/// `After` holds whole seconds, from 1 s to [`MAX_IDLE_UNLOAD`]; when written,
/// sub-second parts are dropped and `After(Duration::ZERO)` is written as
/// `"immediately"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleUnload {
    /// Keep the model loaded until the process exits.
    Never,
    /// Unload as soon as each transcription finishes.
    Immediately,
    /// Unload this long after the last use.
    After(Duration),
}

impl Default for IdleUnload {
    fn default() -> Self {
        IdleUnload::After(DEFAULT_IDLE_UNLOAD)
    }
}

impl IdleUnload {
    /// The delay before unloading: `None` for never, zero for immediately.
    pub fn delay(self) -> Option<Duration> {
        match self {
            IdleUnload::Never => None,
            IdleUnload::Immediately => Some(Duration::ZERO),
            IdleUnload::After(d) => Some(d),
        }
    }
}

fn idle_unload_from_toml(v: &toml::Value) -> Result<IdleUnload, String> {
    match v {
        toml::Value::String(s) => parse_idle_unload(s),
        toml::Value::Integer(n) => Err(format!(
            "a bare number has no unit; write it in quotes with one, such as \"{n}s\""
        )),
        other => Err(format!(
            "expected text in quotes such as \"5m\", found {}",
            type_name(other)
        )),
    }
}

fn parse_idle_unload(s: &str) -> Result<IdleUnload, String> {
    let t = s.trim().to_lowercase();
    match t.as_str() {
        "never" => return Ok(IdleUnload::Never),
        "immediately" => return Ok(IdleUnload::Immediately),
        "" => return Err("it is empty".to_owned()),
        _ => {}
    }
    let secs = parse_duration_secs(&t)?;
    if secs == 0 {
        return Err(
            "a zero delay; write \"immediately\" to unload right after each use".to_owned(),
        );
    }
    if secs > MAX_IDLE_UNLOAD.as_secs() {
        return Err(
            "longer than 24h, the longest delay accepted; write \"never\" to keep the model loaded"
                .to_owned(),
        );
    }
    Ok(IdleUnload::After(Duration::from_secs(secs)))
}

/// Parses `1h30m`, `90s`, `5 min`, ...: numbers each followed by a unit,
/// largest unit first, each unit once. Returns whole seconds, saturating
/// (the caller rejects anything that large anyway).
fn parse_duration_secs(t: &str) -> Result<u64, String> {
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    let mut total: u64 = 0;
    // Seconds per unit of the last component; each must be smaller.
    let mut last_unit: Option<u64> = None;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(match chars[i] {
                '-' => "a negative delay makes no sense".to_owned(),
                '+' => "write the number without a sign".to_owned(),
                '.' => {
                    "fractions are not accepted; write \"1h30m\" rather than \"1.5h\"".to_owned()
                }
                c => format!("expected a number where {c:?} is"),
            });
        }
        let digits: String = chars[start..i].iter().collect();
        if i < chars.len() && (chars[i] == '.' || chars[i] == ',') {
            return Err(
                "fractions are not accepted; write \"1h30m\" rather than \"1.5h\"".to_owned(),
            );
        }
        // Too many digits to fit is far beyond the cap; saturate.
        let n: u64 = digits.parse().unwrap_or(u64::MAX);
        skip_ws(&mut i);
        let unit_start = i;
        while i < chars.len() && chars[i].is_alphabetic() {
            i += 1;
        }
        let unit: String = chars[unit_start..i].iter().collect();
        let per_unit = match unit.as_str() {
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "" => {
                return Err(format!(
                    "{digits} has no unit; add s, m or h, such as \"{digits}s\""
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?}; use s (seconds), m (minutes) or h (hours)"
                ))
            }
        };
        if last_unit.is_some_and(|last| per_unit >= last) {
            return Err("each unit may appear once, largest first, such as \"1h30m\"".to_owned());
        }
        last_unit = Some(per_unit);
        total = total.saturating_add(n.saturating_mul(per_unit));
        skip_ws(&mut i);
    }
    Ok(total)
}

impl FromStr for IdleUnload {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        parse_idle_unload(s).map_err(|r| invalid("idle_unload", s, r, IDLE_UNLOAD_ACCEPTS))
    }
}

impl fmt::Display for IdleUnload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self {
            IdleUnload::Never => return f.write_str("never"),
            IdleUnload::Immediately => return f.write_str("immediately"),
            IdleUnload::After(d) => d.as_secs(),
        };
        if d == 0 {
            return f.write_str("immediately");
        }
        let (h, m, s) = (d / 3600, d / 60 % 60, d % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for IdleUnload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IdleUnload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<u64, String> {
        parse_duration_secs(s)
    }

    #[test]
    fn duration_components_add_up() {
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("1h 30m 15s"), Ok(5415));
        assert_eq!(secs("2 minutes"), Ok(120));
        assert_eq!(secs("0s"), Ok(0));
    }

    #[test]
    fn duration_rejects_malformed_input_with_a_reason() {
        assert!(secs("5").unwrap_err().contains("no unit"));
        assert!(secs("-5m").unwrap_err().contains("negative"));
        assert!(secs("1.5h").unwrap_err().contains("fractions"));
        assert!(secs("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(secs("30m1h").unwrap_err().contains("largest first"));
        assert!(secs("5m5m").unwrap_err().contains("once"));
        assert!(secs("m").unwrap_err().contains("expected a number"));
    }

    #[test]
    fn duration_saturates_instead_of_overflowing() {
        assert_eq!(secs("99999999999999999999999h"), Ok(u64::MAX));
        assert_eq!(secs("18446744073709551615h"), Ok(u64::MAX));
    }

    #[test]
    fn utc_stamp_matches_known_dates() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc_stamp(at(0)), "19700101-000000");
        assert_eq!(utc_stamp(at(951_782_400 + 3661)), "20000229-010101");
        assert_eq!(utc_stamp(at(1_709_251_199)), "20240229-235959");
        assert_eq!(utc_stamp(at(4_102_444_800)), "21000101-000000");
    }

    #[test]
    fn cpuinfo_counts_cores_not_hyperthreads() {
        let block = |p: u32, pkg: u32, core: u32| {
            format!("processor\t: {p}\nphysical id\t: {pkg}\ncore id\t\t: {core}\nflags\t\t: fpu\n")
        };
        // Two packages, two cores each, two threads per core.
        let mut text = String::new();
        let mut p = 0;
        for pkg in 0..2 {
            for _thread in 0..2 {
                for core in 0..2 {
                    text.push_str(&block(p, pkg, core));
                    text.push('\n');
                    p += 1;
                }
            }
        }
        assert_eq!(count_physical_cores(&text), Some(4));
        // An ARM-style cpuinfo has no core ids: no guess.
        assert_eq!(
            count_physical_cores("processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\n"),
            None
        );
        assert_eq!(count_physical_cores(""), None);
    }

    #[test]
    fn closest_suggests_typos_only() {
        let keys = ["model", "language", "threads", "idle_unload"];
        assert_eq!(closest("idle_unlaod", keys), Some("idle_unload"));
        assert_eq!(closest("idle-unload", keys), Some("idle_unload"));
        assert_eq!(closest("Model", keys), Some("model"));
        assert_eq!(closest("lang", keys), Some("language"));
        assert_eq!(closest("thread", keys), Some("threads"));
        assert_eq!(closest("hotkey", keys), None);
        assert_eq!(closest("x", keys), None);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a = 1\nbé = ?", 11), (2, 5));
        assert_eq!(line_col("abc", 0), (1, 1));
        // Past the end and inside a character are clamped, not a panic.
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
