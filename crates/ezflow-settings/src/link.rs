//! The window's line to the running app: raw JSON requests over the control
//! socket (`docs/control-socket.md`, `docs/settings-protocol-draft.md`).
//!
//! It owns connecting to `ezflow_control::socket_path()`, sending one request
//! object and reading its one answer line, and opening a `watch` connection
//! whose lines are events. It knows nothing of what the requests mean: the
//! frontend builds them and reads the answers. This is the only module that
//! touches the socket, so it can switch to `ezflow-control`'s own client for
//! requests with arguments once that exists.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// How long one request may take, connecting, sending and answering
/// together. Every request of the window answers at once (downloads and
/// imports run in the background), so this only guards against a hung app.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// At most this many bytes in one line, either way (the protocol's limit).
const MAX_LINE_BYTES: usize = ezflow_control::MAX_LINE_BYTES;

/// Reaching the app failed. The messages are one line, fit for the window.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Place(#[from] ezflow_control::ControlError),
    #[error("EZ Flow is not running (no one listens on {})", path.display())]
    NotRunning { path: PathBuf },
    #[error("permission denied connecting to {} (is it another user's EZ Flow?)", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("EZ Flow did not answer on {} within {after:?}", path.display())]
    Timeout { path: PathBuf, after: Duration },
    #[error("EZ Flow closed the connection on {} without answering", path.display())]
    Closed { path: PathBuf },
    #[error("EZ Flow sent a line that is not JSON on {}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("the request is too long ({len} bytes; at most {MAX_LINE_BYTES})")]
    TooLong { len: usize },
    #[error("the request must be a JSON object with a \"cmd\" string")]
    NotARequest,
    #[error("talking to EZ Flow on {} failed: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl LinkError {
    /// Whether this means no app is there to talk to (the window then offers
    /// to start it).
    pub fn is_not_running(&self) -> bool {
        matches!(self, LinkError::NotRunning { .. } | LinkError::Place(_))
    }
}

/// Where the app listens.
pub fn socket_path() -> Result<PathBuf, LinkError> {
    Ok(ezflow_control::socket_path()?)
}

/// Connects to the app's control socket.
fn connect(path: &Path) -> Result<UnixStream, LinkError> {
    UnixStream::connect(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => LinkError::NotRunning {
            path: path.to_owned(),
        },
        io::ErrorKind::PermissionDenied => LinkError::PermissionDenied {
            path: path.to_owned(),
        },
        _ => LinkError::Io {
            path: path.to_owned(),
            source,
        },
    })
}

/// Checks that `request` is an object with a string `cmd` and serializes it
/// as one line (with its newline).
fn request_line(request: &Value) -> Result<Vec<u8>, LinkError> {
    if !request.get("cmd").is_some_and(Value::is_string) {
        return Err(LinkError::NotARequest);
    }
    let mut line = serde_json::to_vec(request).map_err(|_| LinkError::NotARequest)?;
    if line.len() > MAX_LINE_BYTES {
        return Err(LinkError::TooLong { len: line.len() });
    }
    line.push(b'\n');
    Ok(line)
}

/// Reads one line of at most [`MAX_LINE_BYTES`] and parses it as JSON.
/// `Ok(None)` at a clean end of stream.
fn read_value(reader: &mut BufReader<UnixStream>, path: &Path) -> Result<Option<Value>, LinkError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|source| match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => LinkError::Timeout {
                path: path.to_owned(),
                after: REQUEST_TIMEOUT,
            },
            _ => LinkError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && line.len() > MAX_LINE_BYTES {
        return Err(LinkError::Malformed {
            path: path.to_owned(),
            reason: format!("a line longer than {MAX_LINE_BYTES} bytes"),
        });
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| LinkError::Malformed {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Sends one request object and returns the app's answer object as it is
/// (`{"ok":false,…}` answers included: they are the app's to explain).
pub fn request(request: &Value) -> Result<Value, LinkError> {
    let path = socket_path()?;
    let line = request_line(request)?;
    let stream = connect(&path)?;
    let io_err = |source| LinkError::Io {
        path: path.clone(),
        source,
    };
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io_err)?;
    stream
        .set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io_err)?;
    (&stream).write_all(&line).map_err(io_err)?;
    let mut reader = BufReader::new(stream);
    read_value(&mut reader, &path)?.ok_or(LinkError::Closed { path })
}

/// An open `watch` connection: the app's events, one JSON object each.
pub struct Watch {
    reader: BufReader<UnixStream>,
    path: PathBuf,
    /// The state the app answered `watch` with.
    pub state: Value,
}

impl Watch {
    /// Opens a connection and turns it into an event stream.
    pub fn open() -> Result<Watch, LinkError> {
        let path = socket_path()?;
        let stream = connect(&path)?;
        let io_err = |source| LinkError::Io {
            path: path.clone(),
            source,
        };
        // The answer to `watch` comes at once; events may not for hours.
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .map_err(io_err)?;
        (&stream)
            .write_all(b"{\"cmd\":\"watch\"}\n")
            .map_err(io_err)?;
        let mut reader = BufReader::new(stream);
        let answer =
            read_value(&mut reader, &path)?.ok_or(LinkError::Closed { path: path.clone() })?;
        if answer.get("ok") != Some(&Value::Bool(true)) {
            let why = answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the app refused to send events")
                .to_owned();
            return Err(LinkError::Malformed { path, reason: why });
        }
        reader.get_ref().set_read_timeout(None).map_err(io_err)?;
        let state = answer.get("state").cloned().unwrap_or(Value::Null);
        Ok(Watch {
            reader,
            path,
            state,
        })
    }

    /// Blocks for the next event. `Ok(None)` when the app closed the stream.
    pub fn next_event(&mut self) -> Result<Option<Value>, LinkError> {
        read_value(&mut self.reader, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_must_name_its_command() {
        assert!(matches!(
            request_line(&json!({})),
            Err(LinkError::NotARequest)
        ));
        assert!(matches!(
            request_line(&json!([1])),
            Err(LinkError::NotARequest)
        ));
        assert!(matches!(
            request_line(&json!({"cmd": 3})),
            Err(LinkError::NotARequest)
        ));
        let line = request_line(&json!({"cmd": "settings"})).unwrap();
        assert_eq!(line, b"{\"cmd\":\"settings\"}\n");
    }

    #[test]
    fn an_overlong_request_is_refused_before_sending() {
        let big = "x".repeat(MAX_LINE_BYTES);
        let e =
            request_line(&json!({"cmd": "settings-set", "values": {"language": big}})).unwrap_err();
        assert!(matches!(e, LinkError::TooLong { .. }), "{e}");
    }
}
