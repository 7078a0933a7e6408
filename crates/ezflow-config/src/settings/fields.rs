//! The field table: one entry per key of the settings file, with what it
//! accepts, the comment written above it, how a value from the file is
//! checked and stored, and how it is written back. Loading, saving and the
//! list of known keys are all driven by this table, so they cannot drift
//! apart.
//!
//! The same table drives editing from outside the file ([`fields`],
//! [`Settings::with_values`], [`Settings::values_json`]): the settings
//! window's checks are the file's checks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::beam_size::beam_size_from_toml;
use super::duration::parse_duration_secs;
use super::idle_unload::idle_unload_from_toml;
use super::language::parse_language;
use super::problem::one_line;
use super::threads::threads_from_toml;
use super::{HotkeyMode, IdleUnload, InsertMethod, Settings, MAX_MAX_RECORDING};
use crate::suggest::closest;

pub(super) const MODEL_ACCEPTS: &str =
    "a catalog model id such as \"base.en\", or the path to a model file";
pub(super) const LANGUAGE_ACCEPTS: &str =
    "\"auto\", or a Whisper language code such as \"en\", \"de\" or \"fr\" (or its English name)";
pub(super) const THREADS_ACCEPTS: &str =
    "0 (automatic: one per physical core) or a whole number from 1 to 64";
pub(super) const BEAM_SIZE_ACCEPTS: &str =
    "a whole number from 1 (greedy decoding, the fastest) to 8";
pub(super) const TELEMETRY_ACCEPTS: &str = "true or false";
pub(super) const AUTOSTART_ACCEPTS: &str = "true or false";
pub(super) const TELEMETRY_ENDPOINT_ACCEPTS: &str =
    "\"\" (the built-in endpoint) or a URL starting with https:// or http://";
pub(super) const HOTKEY_ACCEPTS: &str =
    "keys joined by +, such as \"Ctrl+Alt+Space\", \"Super+H\" or \"F9\"";
pub(super) const HOTKEY_MODE_ACCEPTS: &str = "\"push-to-talk\" or \"toggle\"";
pub(super) const INSERT_METHOD_ACCEPTS: &str = "\"paste\" or \"type\"";
pub(super) const MICROPHONE_ACCEPTS: &str =
    "\"\" (the default input) or a device name from `ezflow microphones`";
pub(super) const MAX_RECORDING_ACCEPTS: &str = "a duration such as \"90s\" or \"5m\", at most 30m";
pub(super) const SLOW_OPERATION_ACCEPTS: &str =
    "\"off\", or a duration such as \"800ms\", \"2s\" or \"1m\" (from 10ms to 10m)";
pub(super) const IDLE_UNLOAD_ACCEPTS: &str =
    "\"never\", \"immediately\", or a duration such as \"30s\", \"5m\", \"1h30m\" (at most 24h)";

/// One setting as it appears in the file. Loading, saving and the list of
/// known keys are all driven by `FIELDS`, so they cannot drift apart.
pub(super) struct Field {
    pub(super) key: &'static str,
    pub(super) accepts: &'static str,
    /// The comment written above the key.
    pub(super) comment: &'static str,
    /// Validates a value from the file and stores it; `Err` is the reason.
    pub(super) apply: fn(&mut Settings, &toml::Value) -> Result<(), String>,
    /// The value as written to the file.
    pub(super) write: fn(&Settings) -> toml::Value,
}

pub(super) const FIELDS: &[Field] = &[
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
        key: "beam_size",
        accepts: BEAM_SIZE_ACCEPTS,
        comment: "Candidate transcripts the decoder keeps: 1 is greedy (the fastest); more\n\
                  # can be more accurate and takes longer (docs/accuracy.md has the figures).",
        apply: |s, v| {
            s.beam_size = beam_size_from_toml(v)?;
            Ok(())
        },
        write: |s| toml::Value::Integer(s.beam_size.get() as i64),
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
            s.telemetry = expect_bool(v)?;
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
    Field {
        key: "autostart",
        accepts: AUTOSTART_ACCEPTS,
        comment: "Start EZ Flow when you log in (off unless you turn it on). EZ Flow keeps its\n\
                  # entry in the desktop's autostart folder in step: `ezflow autostart status`.",
        apply: |s, v| {
            s.autostart = expect_bool(v)?;
            Ok(())
        },
        write: |s| toml::Value::Boolean(s.autostart),
    },
];

/// The keys the settings file knows, in the order they are written.
pub fn known_keys() -> Vec<&'static str> {
    FIELDS.iter().map(|f| f.key).collect()
}

/// A value as it would appear in TOML, kept to one short line.
pub(super) fn render_value(v: &toml::Value) -> String {
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

pub(super) fn type_name(v: &toml::Value) -> &'static str {
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

pub(super) fn expect_str<'a>(v: &'a toml::Value, example: &str) -> Result<&'a str, String> {
    match v {
        toml::Value::String(s) => Ok(s),
        other => Err(format!(
            "expected text in quotes such as {example}, found {}",
            type_name(other)
        )),
    }
}

/// A whole number as the file must write it: `key = 4`. A number in quotes
/// is named as such, with the line to write instead.
pub(super) fn expect_whole_number(v: &toml::Value, key: &str) -> Result<i64, String> {
    match v {
        toml::Value::Integer(n) => Ok(*n),
        toml::Value::String(s) if s.trim().parse::<i64>().is_ok() => Err(format!(
            "a number in quotes; write it without them: {key} = {}",
            s.trim()
        )),
        other => Err(format!(
            "expected a whole number, found {}",
            type_name(other)
        )),
    }
}

/// A whole number given on the command line.
pub(super) fn parse_whole_number(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| "not a whole number".to_owned())
}

pub(super) fn expect_bool(v: &toml::Value) -> Result<bool, String> {
    match v {
        toml::Value::Boolean(b) => Ok(*b),
        other => Err(format!(
            "expected true or false without quotes, found {}",
            type_name(other)
        )),
    }
}

pub(super) fn check_model(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("it is empty".to_owned());
    }
    if s.chars().any(char::is_control) {
        return Err("it contains a control character".to_owned());
    }
    Ok(s.to_owned())
}

pub(super) fn check_endpoint(s: &str) -> Result<String, String> {
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

/// One key of the settings file as a settings editor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    pub key: &'static str,
    /// What the key accepts, in words.
    pub accepts: &'static str,
    /// The comment the file has above the key, on one line.
    pub help: String,
    /// The value when the file does not set it.
    pub default: toml::Value,
}

/// Every key, in the order the file lists them.
pub fn fields() -> Vec<FieldInfo> {
    let defaults = Settings::default();
    FIELDS
        .iter()
        .map(|f| FieldInfo {
            key: f.key,
            accepts: f.accepts,
            help: f.comment.replace("\n# ", " "),
            default: (f.write)(&defaults),
        })
        .collect()
}

impl Settings {
    /// Every key's value as the file writes it, in the file's order.
    pub fn values(&self) -> Vec<(&'static str, toml::Value)> {
        FIELDS.iter().map(|f| (f.key, (f.write)(self))).collect()
    }

    /// [`Settings::values`] as JSON: the JSON forms of the TOML values
    /// (`"idle_unload":"5m"`, `"threads":0`, `"telemetry":false`).
    pub fn values_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), toml_to_json(&value)))
            .collect()
    }

    /// These settings with `values` (key → TOML value) applied, each judged
    /// by the same rule as in the file. All or nothing: if any key is
    /// unknown or any value refused, the answer is every refusal, one line
    /// per key, fit to show beside that field.
    pub fn with_values<'a>(
        &self,
        values: impl IntoIterator<Item = (&'a str, &'a toml::Value)>,
    ) -> Result<Settings, BTreeMap<String, String>> {
        let mut settings = self.clone();
        let mut errors = BTreeMap::new();
        for (key, value) in values {
            let Some(field) = FIELDS.iter().find(|f| f.key == key) else {
                let hint = match closest(key, FIELDS.iter().map(|f| f.key)) {
                    Some(near) => format!("did you mean \"{near}\"?"),
                    None => format!("known settings: {}", known_keys().join(", ")),
                };
                errors.insert(key.to_owned(), format!("unknown setting; {hint}"));
                continue;
            };
            if let Err(reason) = (field.apply)(&mut settings, value) {
                errors.insert(
                    key.to_owned(),
                    format!(
                        "{}: {}; accepted: {}",
                        render_value(value),
                        one_line(&reason),
                        field.accepts
                    ),
                );
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// [`Settings::with_values`] with JSON forms of the TOML values, as the
    /// control socket carries them. `null`, and lists or objects where a
    /// setting has none, are refused like any wrong type.
    pub fn with_json_values(
        &self,
        values: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Settings, BTreeMap<String, String>> {
        let mut converted = Vec::new();
        let mut errors = BTreeMap::new();
        for (key, value) in values {
            match json_to_toml(value) {
                Some(v) => converted.push((key.as_str(), v)),
                None => {
                    let accepts = FIELDS
                        .iter()
                        .find(|f| f.key == key)
                        .map_or("a string, a whole number or true/false", |f| f.accepts);
                    errors.insert(
                        key.clone(),
                        format!("{value} is not a setting value; accepted: {accepts}"),
                    );
                }
            }
        }
        let applied = self.with_values(converted.iter().map(|(k, v)| (*k, v)));
        match applied {
            Ok(settings) if errors.is_empty() => Ok(settings),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

/// The JSON form of a TOML value.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The TOML value of a JSON one; `None` for `null` (TOML has none) and for
/// numbers TOML cannot hold.
pub fn json_to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            toml::Value::Array(items.iter().map(json_to_toml).collect::<Option<_>>()?)
        }
        serde_json::Value::Object(map) => toml::Value::Table(
            map.iter()
                .map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_field_is_listed_with_its_default() {
        let list = fields();
        assert_eq!(list.iter().map(|f| f.key).collect::<Vec<_>>(), known_keys());
        let idle = list.iter().find(|f| f.key == "idle_unload").unwrap();
        assert_eq!(idle.default, toml::Value::String("5m".into()));
        assert!(
            !idle.help.contains('#') && !idle.help.contains('\n'),
            "{}",
            idle.help
        );
    }

    #[test]
    fn json_values_apply_all_or_nothing() {
        let base = Settings::default();
        let new = base
            .with_json_values(&json(
                r#"{"idle_unload":"30s","threads":2,"telemetry":true}"#,
            ))
            .unwrap();
        assert_eq!(new.idle_unload.to_string(), "30s");
        assert_eq!(new.threads.get(), 2);
        assert!(new.telemetry);
        assert_eq!(new.values_json()["idle_unload"], "30s");
        assert_eq!(new.values_json()["threads"], 2);

        let errors = base
            .with_json_values(&json(
                r#"{"idle_unload":"30s","threads":65,"telemetry":null,"idle_unlaod":"1m"}"#,
            ))
            .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors["threads"].starts_with("65: "),
            "{}",
            errors["threads"]
        );
        assert!(
            errors["threads"].contains("accepted: 0 (automatic"),
            "{}",
            errors["threads"]
        );
        assert!(
            errors["telemetry"].contains("null"),
            "{}",
            errors["telemetry"]
        );
        assert_eq!(
            errors["idle_unlaod"],
            "unknown setting; did you mean \"idle_unload\"?"
        );
    }

    #[test]
    fn autostart_is_a_switch_and_off_by_default() {
        let base = Settings::default();
        assert!(!base.autostart);
        assert_eq!(base.values_json()["autostart"], false);
        let on = base
            .with_json_values(&json(r#"{"autostart":true}"#))
            .unwrap();
        assert!(on.autostart);
        let errors = base
            .with_json_values(&json(r#"{"autostart":"yes"}"#))
            .unwrap_err();
        assert!(
            errors["autostart"].contains("expected true or false without quotes"),
            "{}",
            errors["autostart"]
        );
    }

    #[test]
    fn values_round_trip_through_json() {
        let settings = Settings::default()
            .with_json_values(&json(r#"{"slow_operation":"off","microphone":"USB"}"#))
            .unwrap();
        let again = Settings::default()
            .with_json_values(&settings.values_json())
            .unwrap();
        assert_eq!(again, settings);
    }
}
