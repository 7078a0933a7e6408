//! The control socket's client side: one request, one response, within a
//! deadline (the CLI's `ezflow toggle|status|…`, the settings window's
//! requests), and [`watch`]: a connection that carries the app's events,
//! read as a blocking iterator.
//!
//! It never creates files or directories and never retries: a server that
//! is not there is [`ControlError::NotRunning`], reported at once.

use std::io::{self, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::debug;

use super::events::Event;
use super::protocol::{read_line, LineRead, Request, Response, MAX_LINE_BYTES};
use super::sys::{self, AddrError};
use super::ControlError;

/// The time [`send`] allows for connecting, sending and the answer. Actions
/// answer in milliseconds; `stop` waits for the transcription, so callers
/// that send it should use [`send_with_timeout`] with more.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A timeout longer than this is treated as this (a year), which keeps the
/// deadline arithmetic and the socket timeouts in range.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Sends `request` to the server at `path` and returns its response, within
/// [`DEFAULT_TIMEOUT`]. A refusal by the server (`"ok":false`) is an
/// `Ok(Response::Error {..})`; `Err` means no valid answer came.
pub fn send(path: &Path, request: &Request) -> Result<Response, ControlError> {
    send_with_timeout(path, request, DEFAULT_TIMEOUT)
}

/// [`send`] with a deadline of `timeout` for the whole exchange: connecting,
/// writing the request and reading the response line.
pub fn send_with_timeout(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ControlError> {
    let timeout = timeout.min(LONGEST_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let fail = |e: io::Error| io_error(path, timeout, e);
    debug!(path = %path.display(), cmd = request.name(), ?timeout, "sending a control request");

    let stream = sys::connect(path, timeout).map_err(|e| connect_error(path, timeout, e))?;
    let line = request.to_line();
    let written = write_all_before(&stream, line.as_bytes(), deadline);

    // Read even if writing failed: a server that refuses us (another user,
    // too many connections) answers with an error line and closes before
    // reading, and that line is the useful part.
    let mut reader = BufReader::new(DeadlineReader {
        stream: &stream,
        deadline,
    });
    let mut buf = Vec::new();
    let read = read_line(&mut reader, MAX_LINE_BYTES, &mut buf);
    match (read, written) {
        (Ok(LineRead::Line | LineRead::LastLine), _) => serde_json::from_slice::<Response>(&buf)
            .map_err(|e| ControlError::MalformedResponse {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        (Ok(LineRead::TooLong), _) => Err(ControlError::MalformedResponse {
            path: path.to_owned(),
            reason: format!("the response line is longer than {MAX_LINE_BYTES} bytes"),
        }),
        // Nothing came back: the write error, if any, says why.
        (Ok(LineRead::Eof) | Err(_), Err(e)) => Err(fail(e)),
        (Ok(LineRead::Eof), Ok(())) => Err(ControlError::Closed {
            path: path.to_owned(),
        }),
        (Err(e), Ok(())) => Err(fail(e)),
    }
}

fn connect_error(path: &Path, timeout: Duration, e: AddrError) -> ControlError {
    let e = match e {
        AddrError::TooLong => {
            return ControlError::PathTooLong {
                path: path.to_owned(),
            }
        }
        AddrError::Io(e) => e,
    };
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTDIR) => ControlError::NotRunning {
            path: path.to_owned(),
        },
        Some(libc::EACCES | libc::EPERM) => ControlError::PermissionDenied {
            path: path.to_owned(),
        },
        Some(code)
            if code == libc::EAGAIN
                || code == libc::EWOULDBLOCK
                || code == libc::ETIMEDOUT
                || code == libc::EINPROGRESS =>
        {
            ControlError::Timeout {
                path: path.to_owned(),
                after: timeout,
            }
        }
        _ => ControlError::Io {
            path: path.to_owned(),
            source: e,
        },
    }
}

fn io_error(path: &Path, timeout: Duration, e: io::Error) -> ControlError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ControlError::Timeout {
            path: path.to_owned(),
            after: timeout,
        },
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ControlError::Closed {
            path: path.to_owned(),
        },
        _ => ControlError::Io {
            path: path.to_owned(),
            source: e,
        },
    }
}

fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

fn write_all_before(mut stream: &UnixStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    stream.set_write_timeout(Some(time_left(deadline)?))?;
    stream.write_all(bytes)
}

/// Reads from the stream with each read bounded by what is left until the
/// deadline, so a server that trickles bytes cannot stretch it.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream
            .set_read_timeout(Some(time_left(self.deadline)?))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// Sends `watch` to the server at `path` and returns the event stream. The
/// answer must come within [`DEFAULT_TIMEOUT`]; after that, reading waits
/// for events as long as it takes (the app sends none while nothing
/// happens). A refusal by the app is [`ControlError::Refused`].
pub fn watch(path: &Path) -> Result<Watch, ControlError> {
    let timeout = DEFAULT_TIMEOUT;
    let deadline = Instant::now() + timeout;
    let fail = |e: io::Error| io_error(path, timeout, e);
    let stream = sys::connect(path, timeout).map_err(|e| connect_error(path, timeout, e))?;
    let written = write_all_before(&stream, Request::Watch.to_line().as_bytes(), deadline);
    stream
        .set_read_timeout(Some(time_left(deadline).map_err(fail)?))
        .map_err(fail)?;
    let closer = stream.try_clone().map_err(fail)?;
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let read = read_line(&mut reader, MAX_LINE_BYTES, &mut buf);
    let answer = match (read, written) {
        (Ok(LineRead::Line | LineRead::LastLine), _) => serde_json::from_slice::<Response>(&buf)
            .map_err(|e| ControlError::MalformedResponse {
                path: path.to_owned(),
                reason: e.to_string(),
            })?,
        (Ok(LineRead::TooLong), _) => {
            return Err(ControlError::MalformedResponse {
                path: path.to_owned(),
                reason: format!("the response line is longer than {MAX_LINE_BYTES} bytes"),
            })
        }
        (Ok(LineRead::Eof) | Err(_), Err(e)) => return Err(fail(e)),
        (Ok(LineRead::Eof), Ok(())) => {
            return Err(ControlError::Closed {
                path: path.to_owned(),
            })
        }
        (Err(e), Ok(())) => return Err(fail(e)),
    };
    let state = match answer {
        Response::Done { state } => state,
        refused if !refused.is_ok() => {
            return Err(ControlError::Refused {
                path: path.to_owned(),
                error: refused.error_text().unwrap_or_default().to_owned(),
            })
        }
        other => {
            return Err(ControlError::MalformedResponse {
                path: path.to_owned(),
                reason: format!("expected a state to start watching, got {other:?}"),
            })
        }
    };
    reader.get_ref().set_read_timeout(None).map_err(fail)?;
    debug!(path = %path.display(), %state, "watching the app's events");
    Ok(Watch {
        path: path.to_owned(),
        reader,
        closer,
        state,
        ended: false,
        line: Vec::new(),
    })
}

/// The app's events, one per [`Iterator::next`], which blocks until one
/// comes. Ends (`None`) when the app closes the connection (it quit, or
/// this client fell behind) or [`WatchCloser::close`] is called. A line
/// that is not an event is an `Err` item, and the stream goes on.
pub struct Watch {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    closer: UnixStream,
    state: String,
    ended: bool,
    line: Vec<u8>,
}

impl Watch {
    /// The app's state when the watch began (a `state` event follows too).
    pub fn state(&self) -> &str {
        &self.state
    }

    /// A handle that ends this watch from another thread.
    pub fn closer(&self) -> io::Result<WatchCloser> {
        Ok(WatchCloser(self.closer.try_clone()?))
    }
}

impl Iterator for Watch {
    type Item = Result<Event, ControlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match read_line(&mut self.reader, MAX_LINE_BYTES, &mut self.line) {
            Ok(LineRead::Line | LineRead::LastLine) => {
                Some(serde_json::from_slice::<Event>(&self.line).map_err(|e| {
                    ControlError::MalformedResponse {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    }
                }))
            }
            Ok(LineRead::Eof) => {
                self.ended = true;
                None
            }
            Ok(LineRead::TooLong) => {
                self.ended = true;
                Some(Err(ControlError::MalformedResponse {
                    path: self.path.clone(),
                    reason: format!("an event line is longer than {MAX_LINE_BYTES} bytes"),
                }))
            }
            Err(e) => {
                self.ended = true;
                match e.kind() {
                    // Closed from our side, or reset by the app: the end.
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => None,
                    _ => Some(Err(ControlError::Io {
                        path: self.path.clone(),
                        source: e,
                    })),
                }
            }
        }
    }
}

/// Ends a [`Watch`] from another thread: its `next` returns `None`.
pub struct WatchCloser(UnixStream);

impl WatchCloser {
    pub fn close(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}
