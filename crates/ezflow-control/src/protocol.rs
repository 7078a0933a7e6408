//! The control socket's wire format: JSON lines. Each request is one JSON
//! object on one line (`{"cmd":"status"}`), answered by exactly one response
//! line (`{"ok":true,…}` or `{"ok":false,"error":"…"}`).
//!
//! It owns the types and their encoding, and reading one bounded line off a
//! stream; it does no I/O of its own beyond that and knows nothing of what a
//! request does.

use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};

/// The longest line either side accepts, without its newline. A request is a
/// few dozen bytes and a status response a few hundred; the cap keeps a
/// confused or hostile peer from making the other side buffer without end.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What a client asks of the app. On the wire: `{"cmd":"<kebab-case name>"}`;
/// other fields in the object are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl Request {
    /// Every request, in the order the docs list them.
    pub const ALL: [Request; 9] = [
        Request::Toggle,
        Request::Start,
        Request::Stop,
        Request::Cancel,
        Request::Status,
        Request::Unload,
        Request::ReloadSettings,
        Request::Load,
        Request::Stats,
    ];

    /// The wire name (`"reload-settings"`), also the CLI's word for it.
    pub fn name(self) -> &'static str {
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
        }
    }

    /// The request with this wire name, if there is one.
    pub fn from_name(name: &str) -> Option<Request> {
        Request::ALL.into_iter().find(|r| r.name() == name)
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
/// - `Error`: `{"ok":false,"error":"one line saying why"}`
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
    /// The request was refused or failed; `error` is one line saying why.
    Error { error: String },
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
        let text = message.to_string();
        let one_line = text.split(['\n', '\r']).filter(|s| !s.is_empty());
        Response::Error {
            error: one_line.collect::<Vec<_>>().join(" "),
        }
    }

    /// Whether this is a success (`"ok":true`).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Response::Error { .. })
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

/// The flat object [`Response`] is encoded as.
#[derive(Serialize, Deserialize)]
struct WireResponse {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<StatusReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stats: Option<StatsReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Response> for WireResponse {
    fn from(r: Response) -> WireResponse {
        let mut w = WireResponse {
            ok: r.is_ok(),
            state: None,
            status: None,
            stats: None,
            error: None,
        };
        match r {
            Response::Done { state } => w.state = Some(state),
            Response::Status(report) => w.status = Some(report),
            Response::Stats(report) => w.stats = Some(report),
            Response::Error { error } => w.error = Some(error),
        }
        w
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(w: WireResponse) -> Result<Response, String> {
        match w {
            WireResponse {
                ok: false, error, ..
            } => Ok(Response::Error {
                error: error.unwrap_or_else(|| "the server gave no reason".to_owned()),
            }),
            WireResponse {
                status: Some(report),
                ..
            } => Ok(Response::Status(report)),
            WireResponse {
                stats: Some(report),
                ..
            } => Ok(Response::Stats(report)),
            WireResponse {
                state: Some(state), ..
            } => Ok(Response::Done { state }),
            _ => Err(r#"an "ok":true response without "state", "status" or "stats""#.to_owned()),
        }
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
    Request::from_name(cmd).ok_or_else(|| {
        let known: Vec<_> = Request::ALL.iter().map(|r| r.name()).collect();
        format!(
            "unknown command {}; known commands: {}",
            serde_json::Value::String(cmd.clone()),
            known.join(", ")
        )
    })
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

    #[test]
    fn request_names_match_serde() {
        for r in Request::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!(r#"{{"cmd":"{}"}}"#, r.name()));
            assert_eq!(parse_request(json.as_bytes()), Ok(r));
            assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
            assert_eq!(Request::from_name(r.name()), Some(r));
        }
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
