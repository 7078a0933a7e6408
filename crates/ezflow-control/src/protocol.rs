//! The control socket's wire format: JSON lines. Each request is one JSON
//! object on one line (`{"cmd":"status"}`), answered by exactly one response
//! line (`{"ok":true,…}` or `{"ok":false,"error":"…"}`).
//!
//! It owns the types and their encoding, and reading one bounded line off a
//! stream; it does no I/O of its own beyond that and knows nothing of what a
//! request does.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::reports::{
    HistoryReport, MicrophonesReport, ModelsReport, SettingsReport, TelemetryReport,
};

/// The longest line either side accepts, without its newline. A request is a
/// few dozen bytes and a status response a few hundred; the cap keeps a
/// confused or hostile peer from making the other side buffer without end.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What a client asks of the app. On the wire: `{"cmd":"<kebab-case name>"}`,
/// with a request's arguments as fields beside `cmd`
/// (`{"cmd":"model-download","id":"tiny.en"}`); other fields in the object
/// are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Start recording if idle, stop (and transcribe) if recording.
    Toggle,
    /// Start recording.
    Start,
    /// Stop recording, transcribe and insert the text. Answers once that is
    /// done, which can take seconds: give it a longer client timeout.
    Stop,
    /// Stop recording and throw the audio away.
    Cancel,
    /// Report the app's state ([`Response::Status`]).
    Status,
    /// Unload the model now.
    Unload,
    /// Read `settings.toml` again.
    ReloadSettings,
    /// Load the model now, before the next dictation needs it. Answers once
    /// it is in memory (or failed to load), which can take seconds.
    Load,
    /// Report the counters behind `ezflow status --stats`
    /// ([`Response::Stats`]).
    Stats,
    /// Report every setting ([`Response::Settings`]).
    Settings,
    /// Check `values` (key → JSON form of the TOML value) against the
    /// current settings without changing anything: [`Response::Settings`]
    /// as they would be, or [`Response::FieldErrors`].
    SettingsCheck { values: Map<String, Value> },
    /// Check all `values`; if every one is accepted, write `settings.toml`
    /// and apply it. All or nothing.
    SettingsSet { values: Map<String, Value> },
    /// Write or remove the XDG autostart entry ([`Response::Settings`]).
    AutostartSet { enabled: bool },
    /// Report the catalog, the installed models and running downloads
    /// ([`Response::Models`]).
    Models,
    /// Start downloading the catalog model `id` in the background.
    ModelDownload { id: String },
    /// Start downloading a model that is not in the catalog from `url`
    /// (http or https) in the background, installed as `ggml-<name>.bin`
    /// once its SHA-256 is `sha256` (64 hex digits). Progress and the end
    /// come as the catalog downloads' events, with `id` = `name`.
    ModelDownloadUrl {
        name: String,
        url: String,
        sha256: String,
    },
    /// Cancel the running download of `id` (its partial file stays).
    ModelCancel { id: String },
    /// Delete the installed model `id` (not the active one).
    ModelRemove { id: String },
    /// Make the installed model `id` the `model` setting and load it.
    ModelActivate { id: String },
    /// Convert a faster-whisper (CTranslate2) folder in the background.
    ModelImport {
        path: String,
        #[serde(default)]
        quantize: Option<ImportQuantize>,
    },
    /// Report telemetry consent, the next batch and the sent log
    /// ([`Response::Telemetry`]).
    Telemetry,
    /// Turn telemetry on or off (off deletes what was queued).
    TelemetrySet { enabled: bool },
    /// Report recent dictations and memory samples ([`Response::History`]).
    StatsHistory,
    /// List the input devices ([`Response::Microphones`]).
    Microphones,
    /// Open `device` (`""`: the default input) and send `level` events for
    /// 15 s; asking again extends that.
    LevelMeter {
        #[serde(default)]
        device: String,
    },
    /// Close the level meter's input now.
    LevelMeterStop,
    /// Start the settings window, or bring the open one to the front.
    OpenSettings,
    /// Turn this connection into a stream of [`Event`] lines.
    Watch,
}

/// The weight format `model-import` may ask for besides the default (f16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportQuantize {
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl Request {
    /// Every command name, in the order the docs list them.
    pub const COMMANDS: &'static [&'static str] = &[
        "toggle",
        "start",
        "stop",
        "cancel",
        "status",
        "unload",
        "reload-settings",
        "load",
        "stats",
        "settings",
        "settings-check",
        "settings-set",
        "autostart-set",
        "models",
        "model-download",
        "model-download-url",
        "model-cancel",
        "model-remove",
        "model-activate",
        "model-import",
        "telemetry",
        "telemetry-set",
        "stats-history",
        "microphones",
        "level-meter",
        "level-meter-stop",
        "open-settings",
        "watch",
    ];

    /// The wire name (`"reload-settings"`), also the CLI's word for it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Toggle => "toggle",
            Request::Start => "start",
            Request::Stop => "stop",
            Request::Cancel => "cancel",
            Request::Status => "status",
            Request::Unload => "unload",
            Request::ReloadSettings => "reload-settings",
            Request::Load => "load",
            Request::Stats => "stats",
            Request::Settings => "settings",
            Request::SettingsCheck { .. } => "settings-check",
            Request::SettingsSet { .. } => "settings-set",
            Request::AutostartSet { .. } => "autostart-set",
            Request::Models => "models",
            Request::ModelDownload { .. } => "model-download",
            Request::ModelDownloadUrl { .. } => "model-download-url",
            Request::ModelCancel { .. } => "model-cancel",
            Request::ModelRemove { .. } => "model-remove",
            Request::ModelActivate { .. } => "model-activate",
            Request::ModelImport { .. } => "model-import",
            Request::Telemetry => "telemetry",
            Request::TelemetrySet { .. } => "telemetry-set",
            Request::StatsHistory => "stats-history",
            Request::Microphones => "microphones",
            Request::LevelMeter { .. } => "level-meter",
            Request::LevelMeterStop => "level-meter-stop",
            Request::OpenSettings => "open-settings",
            Request::Watch => "watch",
        }
    }

    /// The request with this wire name, if there is one that needs no
    /// arguments.
    pub fn from_name(name: &str) -> Option<Request> {
        parse_request(format!(r#"{{"cmd":{}}}"#, Value::String(name.to_owned())).as_bytes()).ok()
    }

    /// The JSON line for this request, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|_| {
            // Strings, booleans and JSON values always serialize; if that
            // ever failed, the name alone still reaches the server.
            format!(r#"{{"cmd":{}}}"#, Value::String(self.name().to_owned()))
        });
        line.push('\n');
        line
    }
}

/// The app's state as `status` reports it. Clients must tolerate fields they
/// do not know (newer servers add them) and missing ones (older servers):
/// every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    /// `idle`, `loading`, `recording`, `transcribing`, `inserting` or
    /// `error`; clients should show an unknown value as it is.
    pub state: String,
    /// The configured model (id or path).
    pub model: String,
    /// Whether the model is in memory now.
    pub model_loaded: bool,
    /// The server's process id.
    pub pid: u32,
    /// Whether the tray icon is up.
    pub tray: bool,
    /// The global hotkey, if one is registered.
    pub hotkey: Option<String>,
    /// The last error the app met, if any, for display.
    pub last_error: Option<String>,
    /// When the app unloads the model after its last use, as the settings
    /// file writes it: `never`, `immediately` or a delay such as `5m`.
    pub idle_unload: String,
}

/// The counters a user cares about, as `stats` reports them: measured by
/// the app itself (memory from its own `/proc/self/smaps_rollup`), so that
/// they can be checked against an outside measurement. Like
/// [`StatusReport`], every field has a default and unknown ones are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsReport {
    /// Proportional set size of the app now, in bytes (`None` where the
    /// platform does not report it).
    pub pss_bytes: Option<u64>,
    /// Resident set size of the app now, in bytes.
    pub rss_bytes: Option<u64>,
    /// Seconds since the app started.
    pub uptime_secs: u64,
    /// Whether the model is in memory now.
    pub model_loaded: bool,
    /// When the model in memory was loaded, in seconds since the Unix epoch.
    pub model_loaded_since: Option<u64>,
    /// How long the last successful model load took, in milliseconds.
    pub last_load_ms: Option<u64>,
    /// Dictations transcribed since local midnight (while this process ran).
    pub dictations_today: u32,
    /// How many dictations the medians below are taken over (the most
    /// recent ones, at most [`StatsReport::RECENT`]).
    pub recent_dictations: u32,
    /// Median time from the end of recording to the text being inserted, in
    /// milliseconds, over the recent dictations.
    pub median_latency_ms: Option<u64>,
    /// Median real-time factor (transcription time divided by audio length)
    /// over the recent dictations; below 1 is faster than real time.
    pub median_real_time_factor: Option<f64>,
}

impl StatsReport {
    /// How many recent dictations the medians cover at most.
    pub const RECENT: usize = 50;
}

/// The answer to one request.
///
/// On the wire (unknown fields are ignored when reading):
/// - `Done`: `{"ok":true,"state":"recording"}`
/// - `Status`: `{"ok":true,"status":{…StatusReport…}}`
/// - `Stats`: `{"ok":true,"stats":{…StatsReport…}}`
/// - `Settings`, `Models`, `Telemetry`, `History`, `Microphones`:
///   `{"ok":true,"settings":{…}}` and so on
/// - `Error`: `{"ok":false,"error":"one line saying why"}`
/// - `FieldErrors`: `{"ok":false,"error":"…","field_errors":{"key":"why"}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
pub enum Response {
    /// An action request was carried out (or there was nothing to do);
    /// `state` is the app's state after it, as in [`StatusReport::state`].
    Done { state: String },
    /// The answer to [`Request::Status`].
    Status(StatusReport),
    /// The answer to [`Request::Stats`].
    Stats(StatsReport),
    /// The settings (`settings`, `settings-check`, `settings-set`,
    /// `autostart-set`).
    Settings(SettingsReport),
    /// The models (`models` and the `model-…` requests).
    Models(ModelsReport),
    /// Telemetry (`telemetry`, `telemetry-set`).
    Telemetry(TelemetryReport),
    /// Recent dictations and memory (`stats-history`).
    History(HistoryReport),
    /// The input devices (`microphones`).
    Microphones(MicrophonesReport),
    /// The request was refused or failed; `error` is one line saying why.
    Error { error: String },
    /// Some setting values were refused: `error` is one line for all of
    /// them, `field_errors` one line per setting key.
    FieldErrors {
        error: String,
        field_errors: BTreeMap<String, String>,
    },
}

impl Response {
    /// A [`Response::Done`].
    pub fn done(state: impl Into<String>) -> Response {
        Response::Done {
            state: state.into(),
        }
    }

    /// A [`Response::Error`] whose message is made one line (line breaks
    /// become spaces) so it prints as one line in the CLI.
    pub fn error(message: impl std::fmt::Display) -> Response {
        Response::Error {
            error: one_line(&message.to_string()),
        }
    }

    /// A [`Response::FieldErrors`]: `field_errors` made one line each, and
    /// `error` saying nothing was saved, naming each refused key.
    pub fn field_errors(field_errors: BTreeMap<String, String>) -> Response {
        let field_errors: BTreeMap<String, String> = field_errors
            .into_iter()
            .map(|(key, why)| (key, one_line(&why)))
            .collect();
        let all: Vec<String> = field_errors
            .iter()
            .map(|(key, why)| format!("{key}: {why}"))
            .collect();
        Response::FieldErrors {
            error: format!("not saved: {}", all.join("; ")),
            field_errors,
        }
    }

    /// Whether this is a success (`"ok":true`).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Response::Error { .. } | Response::FieldErrors { .. })
    }

    /// The error text of a refusal, `None` for a success.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Response::Error { error } | Response::FieldErrors { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The JSON line for this response, newline included.
    pub fn to_line(&self) -> String {
        let mut line = match serde_json::to_string(self) {
            Ok(json) => json,
            // Serializing these plain strings and numbers cannot fail; if
            // it ever did, the client still gets a well-formed answer.
            Err(e) => format!(
                r#"{{"ok":false,"error":{}}}"#,
                serde_json::Value::String(format!("cannot encode the response: {e}"))
            ),
        };
        line.push('\n');
        line
    }
}

/// `text` on one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    let parts = text.split(['\n', '\r']).filter(|s| !s.is_empty());
    parts.collect::<Vec<_>>().join(" ")
}

/// The flat object [`Response`] is encoded as.
#[derive(Default, Serialize, Deserialize)]
struct WireResponse {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<StatusReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stats: Option<StatsReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settings: Option<SettingsReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    models: Option<ModelsReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    telemetry: Option<TelemetryReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    history: Option<HistoryReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    microphones: Option<MicrophonesReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field_errors: Option<BTreeMap<String, String>>,
}

impl From<Response> for WireResponse {
    fn from(r: Response) -> WireResponse {
        let mut w = WireResponse {
            ok: r.is_ok(),
            ..WireResponse::default()
        };
        match r {
            Response::Done { state } => w.state = Some(state),
            Response::Status(report) => w.status = Some(report),
            Response::Stats(report) => w.stats = Some(report),
            Response::Settings(report) => w.settings = Some(report),
            Response::Models(report) => w.models = Some(report),
            Response::Telemetry(report) => w.telemetry = Some(report),
            Response::History(report) => w.history = Some(report),
            Response::Microphones(report) => w.microphones = Some(report),
            Response::Error { error } => w.error = Some(error),
            Response::FieldErrors {
                error,
                field_errors,
            } => {
                w.error = Some(error);
                w.field_errors = Some(field_errors);
            }
        }
        w
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(w: WireResponse) -> Result<Response, String> {
        if !w.ok {
            let error = w
                .error
                .unwrap_or_else(|| "the server gave no reason".to_owned());
            return Ok(match w.field_errors {
                Some(field_errors) if !field_errors.is_empty() => Response::FieldErrors {
                    error,
                    field_errors,
                },
                _ => Response::Error { error },
            });
        }
        let answer = if let Some(report) = w.status {
            Response::Status(report)
        } else if let Some(report) = w.stats {
            Response::Stats(report)
        } else if let Some(report) = w.settings {
            Response::Settings(report)
        } else if let Some(report) = w.models {
            Response::Models(report)
        } else if let Some(report) = w.telemetry {
            Response::Telemetry(report)
        } else if let Some(report) = w.history {
            Response::History(report)
        } else if let Some(report) = w.microphones {
            Response::Microphones(report)
        } else if let Some(state) = w.state {
            Response::Done { state }
        } else {
            return Err(r#"an "ok":true response without "state", "status", "stats", "settings", "models", "telemetry", "history" or "microphones""#.to_owned());
        };
        Ok(answer)
    }
}

/// Parses one request line (without its newline). The error is the one-line
/// message sent back to the client.
pub(crate) fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|e| {
        format!(
            "request is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        )
    })?;
    if text.trim().is_empty() {
        return Err(
            r#"empty request line; send one JSON object per line, like {"cmd":"status"}"#
                .to_owned(),
        );
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("request is not JSON ({e})"))?;
    let Some(object) = value.as_object() else {
        return Err(r#"request is not a JSON object; send one like {"cmd":"status"}"#.to_owned());
    };
    let cmd = match object.get("cmd") {
        None => {
            return Err(r#"request has no "cmd" field; send one like {"cmd":"status"}"#.to_owned())
        }
        Some(serde_json::Value::String(cmd)) => cmd,
        Some(other) => return Err(format!(r#"the "cmd" field must be a string, not {other}"#)),
    };
    if !Request::COMMANDS.contains(&cmd.as_str()) {
        return Err(format!(
            "unknown command {}; known commands: {}",
            serde_json::Value::String(cmd.clone()),
            Request::COMMANDS.join(", ")
        ));
    }
    let cmd = cmd.clone();
    serde_json::from_value::<Request>(value)
        .map_err(|e| format!("bad arguments for {}: {e}", serde_json::Value::String(cmd)))
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A line ended by `\n` is in the buffer (without it, and without a
    /// trailing `\r`).
    Line,
    /// The stream ended after a last line that had no `\n`; it is in the
    /// buffer.
    LastLine,
    /// The stream ended before any byte of a new line.
    Eof,
    /// More than the limit came without a `\n`; the buffer holds the first
    /// bytes and the rest of the line was not read.
    TooLong,
}

/// Reads one line of at most `max` bytes (newline excluded) into `buf`.
/// Never buffers more than `max` bytes plus what the reader already holds.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    max: usize,
    buf: &mut Vec<u8>,
) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::LastLine
            });
        }
        if let Some(end) = available.iter().position(|&b| b == b'\n') {
            if buf.len() + end > max {
                return Ok(LineRead::TooLong);
            }
            buf.extend_from_slice(&available[..end]);
            reader.consume(end + 1);
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
        let n = available.len();
        if buf.len() + n > max {
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(available);
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request of every kind, arguments filled in.
    fn every_request() -> Vec<Request> {
        let values: Map<String, Value> =
            serde_json::from_str(r#"{"idle_unload":"5m","threads":0}"#).unwrap();
        vec![
            Request::Toggle,
            Request::Start,
            Request::Stop,
            Request::Cancel,
            Request::Status,
            Request::Unload,
            Request::ReloadSettings,
            Request::Load,
            Request::Stats,
            Request::Settings,
            Request::SettingsCheck {
                values: values.clone(),
            },
            Request::SettingsSet { values },
            Request::AutostartSet { enabled: true },
            Request::Models,
            Request::ModelDownload {
                id: "tiny.en".into(),
            },
            Request::ModelDownloadUrl {
                name: "my-model".into(),
                url: "https://models.example/ggml-my-model.bin".into(),
                sha256: "ab".repeat(32),
            },
            Request::ModelCancel {
                id: "tiny.en".into(),
            },
            Request::ModelRemove {
                id: "tiny.en".into(),
            },
            Request::ModelActivate {
                id: "tiny.en".into(),
            },
            Request::ModelImport {
                path: "/m".into(),
                quantize: Some(ImportQuantize::Q8_0),
            },
            Request::Telemetry,
            Request::TelemetrySet { enabled: false },
            Request::StatsHistory,
            Request::Microphones,
            Request::LevelMeter { device: "".into() },
            Request::LevelMeterStop,
            Request::OpenSettings,
            Request::Watch,
        ]
    }

    #[test]
    fn request_names_match_serde() {
        let all = every_request();
        let names: Vec<_> = all.iter().map(Request::name).collect();
        assert_eq!(
            names,
            Request::COMMANDS,
            "COMMANDS lists every request, in order"
        );
        for r in all {
            let line = r.to_line();
            let json = line.trim_end();
            assert!(
                json.starts_with(&format!(r#"{{"cmd":"{}""#, r.name())),
                "{json}"
            );
            assert_eq!(parse_request(json.as_bytes()), Ok(r.clone()));
            assert_eq!(serde_json::from_str::<Request>(json).unwrap(), r);
        }
        assert_eq!(
            Request::from_name("reload-settings"),
            Some(Request::ReloadSettings)
        );
        assert_eq!(Request::from_name("model-download"), None, "it needs an id");
        assert_eq!(Request::from_name("fly"), None);
    }

    #[test]
    fn arguments_are_checked_and_say_what_is_wrong() {
        let err = |line: &[u8]| parse_request(line).unwrap_err();
        let e = err(br#"{"cmd":"model-download"}"#);
        assert!(
            e.starts_with(r#"bad arguments for "model-download": "#),
            "{e}"
        );
        assert!(e.contains("id"), "{e}");
        let e = err(br#"{"cmd":"telemetry-set","enabled":"yes"}"#);
        assert!(
            e.starts_with(r#"bad arguments for "telemetry-set": "#),
            "{e}"
        );
        assert!(e.contains("boolean"), "{e}");
        let e = err(br#"{"cmd":"settings-set","values":[1]}"#);
        assert!(
            e.starts_with(r#"bad arguments for "settings-set": "#),
            "{e}"
        );
        let e = err(br#"{"cmd":"model-download-url","name":"m","url":"https://x/m.bin"}"#);
        assert!(
            e.starts_with(r#"bad arguments for "model-download-url": "#),
            "{e}"
        );
        assert!(e.contains("missing field `sha256`"), "{e}");
        let e = err(br#"{"cmd":"model-import","path":"/x","quantize":"q4"}"#);
        assert!(e.contains("q8_0"), "{e}");
        // Optional arguments, and unknown fields beside real ones.
        assert_eq!(
            parse_request(br#"{"cmd":"model-import","path":"/x","quantize":null,"x":1}"#),
            Ok(Request::ModelImport {
                path: "/x".into(),
                quantize: None
            })
        );
        assert_eq!(
            parse_request(br#"{"cmd":"level-meter"}"#),
            Ok(Request::LevelMeter { device: "".into() })
        );
    }

    #[test]
    fn extra_request_fields_are_ignored() {
        assert_eq!(
            parse_request(br#" {"cmd":"stop","id":7} "#),
            Ok(Request::Stop)
        );
    }

    #[test]
    fn bad_requests_say_why() {
        let err = |line: &[u8]| parse_request(line).unwrap_err();
        assert!(err(b"").contains("empty request line"));
        assert!(err(b"  \t").contains("empty request line"));
        assert!(err(b"hello").contains("not JSON"));
        assert!(err(b"[1]").contains("not a JSON object"));
        assert!(err(b"{}").contains(r#"no "cmd" field"#));
        assert!(err(br#"{"cmd":3}"#).contains("must be a string, not 3"));
        let e = err(br#"{"cmd":"fly"}"#);
        assert!(e.contains(r#"unknown command "fly""#), "{e}");
        assert!(e.contains("reload-settings"), "{e}");
        assert!(err(b"{\"cmd\":\"st\xffp\"}").contains("not valid UTF-8 (bad byte at offset 10)"));
    }

    #[test]
    fn responses_encode_flat() {
        assert_eq!(
            Response::done("recording").to_line(),
            "{\"ok\":true,\"state\":\"recording\"}\n"
        );
        assert_eq!(
            Response::error("no\nmodel\r\n").to_line(),
            "{\"ok\":false,\"error\":\"no model\"}\n"
        );
        let status = Response::Status(StatusReport {
            state: "idle".into(),
            pid: 7,
            ..Default::default()
        });
        let line = status.to_line();
        assert!(
            line.starts_with(r#"{"ok":true,"status":{"state":"idle","#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), status);
    }

    #[test]
    fn stats_round_trip() {
        let stats = Response::Stats(StatsReport {
            pss_bytes: Some(11_000_000),
            model_loaded: true,
            dictations_today: 3,
            median_real_time_factor: Some(0.125),
            ..Default::default()
        });
        let line = stats.to_line();
        assert!(
            line.starts_with(r#"{"ok":true,"stats":{"pss_bytes":11000000,"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), stats);
        // An older client's view: unknown fields ignored, missing ones default.
        let r: Response =
            serde_json::from_str(r#"{"ok":true,"stats":{"dictations_today":2,"new":1}}"#).unwrap();
        assert_eq!(
            r,
            Response::Stats(StatsReport {
                dictations_today: 2,
                ..Default::default()
            })
        );
    }

    #[test]
    fn url_downloads_in_models_are_optional_on_the_wire() {
        use crate::reports::UrlDownload;
        let models = Response::Models(ModelsReport {
            active: "my-model".into(),
            downloads: vec![UrlDownload {
                id: "my-model".into(),
                url: "https://models.example/ggml-my-model.bin".into(),
                done: 1024,
                total: 0,
                bytes_per_sec: 512,
            }],
            ..Default::default()
        });
        let line = models.to_line();
        assert!(
            line.contains(r#""downloads":[{"id":"my-model","url":"https://models.example/ggml-my-model.bin","done":1024,"total":0,"bytes_per_sec":512}]"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), models);
        // An older app's answer has no `downloads`: none run.
        let r: Response =
            serde_json::from_str(r#"{"ok":true,"models":{"active":"base.en","other":[]}}"#)
                .unwrap();
        let Response::Models(report) = r else {
            panic!("{r:?}")
        };
        assert!(report.downloads.is_empty());
    }

    #[test]
    fn responses_decode_tolerantly() {
        let r: Response = serde_json::from_str(
            r#"{"ok":true,"status":{"state":"recording","future":[1,2],"pid":9},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Response::Status(StatusReport {
                state: "recording".into(),
                pid: 9,
                ..Default::default()
            })
        );
        let r: Response = serde_json::from_str(r#"{"ok":false}"#).unwrap();
        assert_eq!(
            r,
            Response::Error {
                error: "the server gave no reason".into()
            }
        );
        assert!(serde_json::from_str::<Response>(r#"{"ok":true}"#).is_err());
        assert!(serde_json::from_str::<Response>(r#"{"state":"idle"}"#).is_err());
    }

    #[test]
    fn lines_are_bounded() {
        let mut buf = Vec::new();
        let mut input: &[u8] = b"ab\r\ncd\n\nlast";
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Line);
        assert_eq!(buf, b"ab");
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Line);
        assert_eq!(buf, b"cd");
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Line);
        assert_eq!(buf, b"");
        assert_eq!(
            read_line(&mut input, 8, &mut buf).unwrap(),
            LineRead::LastLine
        );
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Eof);

        let mut input: &[u8] = b"12345678\n";
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Line);
        let mut input: &[u8] = b"123456789\n";
        assert_eq!(
            read_line(&mut input, 8, &mut buf).unwrap(),
            LineRead::TooLong
        );
        // Arriving in small pieces changes nothing.
        let mut input = io::BufReader::with_capacity(3, &b"123456789\n"[..]);
        assert_eq!(
            read_line(&mut input, 8, &mut buf).unwrap(),
            LineRead::TooLong
        );
        let mut input = io::BufReader::with_capacity(3, &b"1234567\nx"[..]);
        assert_eq!(read_line(&mut input, 8, &mut buf).unwrap(), LineRead::Line);
        assert_eq!(buf, b"1234567");
    }
}
