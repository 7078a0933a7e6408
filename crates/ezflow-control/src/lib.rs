//! The control socket: how the command line (`ezflow toggle|start|stop|…`)
//! and the settings window talk to the always-on `ezflow` process.
//!
//! It owns the socket's place ([`socket_path`]), the wire protocol (JSON
//! lines, [`Request`] and [`Response`], in `control/protocol.rs`; the data
//! answers in `control/reports.rs`; the [`Event`]s of a `watch` in
//! `control/events.rs`), the server ([`ControlServer`], `control/server.rs`:
//! single instance, permissions, peer check, one thread per connection, the
//! watchers and their [`EventPublisher`]) and the client ([`send`],
//! [`watch`], `control/client.rs`). The few system calls std does not offer live in
//! `control/sys.rs`.
//!
//! It does not decide what a request *does*: the app hands
//! [`ControlServer::serve`] a handler that maps each [`Request`] to a
//! [`Response`]. The protocol, for people writing clients, is described in
//! `docs/control-socket.md`.
//!
//! Security model: the socket lives in a directory of mode 0700 inside
//! `$XDG_RUNTIME_DIR` (itself private to the user), the socket file is 0600
//! from before anyone can connect, and every accepted peer's uid (from
//! `SO_PEERCRED`) must equal the server's effective uid. Any of the three
//! alone keeps other users out; together they survive a misconfigured
//! directory.
//!
//! Unix only (Linux first; the peer check uses `getpeereid` elsewhere).

mod client;
mod events;
mod protocol;
mod reports;
mod server;
mod sys;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{send, send_with_timeout, watch, Watch, WatchCloser, DEFAULT_TIMEOUT};
pub use events::{
    DownloadEvent, Event, FinishedEvent, ImportEvent, ImportFinishedEvent, LevelEvent,
    LevelFinishedEvent, StateEvent,
};
pub use protocol::{ImportQuantize, Request, Response, StatsReport, StatusReport, MAX_LINE_BYTES};
pub use reports::{
    CatalogModel, DictationPoint, DownloadProgress, HistoryReport, MemoryPoint, MicrophoneDevice,
    MicrophonesReport, ModelsReport, OtherModel, SentBatch, SettingField, SettingsReport,
    TelemetryReport, UrlDownload,
};
pub use server::{
    peer_allowed, ControlServer, EventPublisher, ServerHandle, MAX_CONNECTIONS, WATCH_QUEUE,
};

/// Overrides the directory that holds the control socket (tests, several
/// instances side by side). The socket is `$EZFLOW_RUNTIME_DIR/control.sock`.
pub const RUNTIME_DIR_ENV: &str = "EZFLOW_RUNTIME_DIR";
/// The file name of the socket inside its directory.
pub const SOCKET_FILE_NAME: &str = "control.sock";

/// Something went wrong placing, serving or reaching the control socket.
///
/// Every message is one line and names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "XDG_RUNTIME_DIR is not set, so there is no private place for EZ Flow's control socket; \
         run EZ Flow in a login session that sets it, or set {RUNTIME_DIR_ENV}"
    )]
    NoRuntimeDir,
    #[error(
        "XDG_RUNTIME_DIR is not an absolute path ({}), so it is ignored; \
         fix it or set {RUNTIME_DIR_ENV}",
        value.display()
    )]
    RelativeRuntimeDir { value: PathBuf },
    #[error("cannot create the control socket's directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot take the single-instance lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error(
        "EZ Flow is already running (another instance owns {}); use `ezflow status`",
        path.display()
    )]
    AlreadyRunning { path: PathBuf },
    #[error("{} exists and is not a socket; not replacing it", path.display())]
    NotASocket { path: PathBuf },
    #[error(
        "the control socket path {} is too long for a Unix socket (at most {} bytes)",
        path.display(),
        sys::MAX_SOCKET_PATH_BYTES
    )]
    PathTooLong { path: PathBuf },
    #[error("cannot listen on {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
    #[error("cannot start the control server's thread: {source}")]
    Spawn { source: io::Error },
    #[error(
        "EZ Flow is not running (no one listens on {}); start it with `ezflow`",
        path.display()
    )]
    NotRunning { path: PathBuf },
    #[error(
        "permission denied connecting to {} (is it another user's EZ Flow?)",
        path.display()
    )]
    PermissionDenied { path: PathBuf },
    #[error("EZ Flow did not answer on {} within {after:?}", path.display())]
    Timeout { path: PathBuf, after: Duration },
    #[error("EZ Flow closed the connection on {} without answering", path.display())]
    Closed { path: PathBuf },
    #[error("EZ Flow sent a malformed response on {}: {reason}", path.display())]
    MalformedResponse { path: PathBuf, reason: String },
    #[error("EZ Flow on {} refused: {error}", path.display())]
    Refused { path: PathBuf, error: String },
    #[error("talking to EZ Flow on {} failed: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Where the control socket is: `$EZFLOW_RUNTIME_DIR/control.sock` if that
/// variable is set, else `$XDG_RUNTIME_DIR/ezflow/control.sock`.
///
/// Without `XDG_RUNTIME_DIR` this is an error rather than a fallback to
/// `/tmp`: a shared directory would let another user squat the name. This
/// only computes the path; [`ControlServer::bind`] creates the directory
/// (mode 0700), clients never create anything.
pub fn socket_path() -> Result<PathBuf, ControlError> {
    socket_path_from(
        std::env::var_os(RUNTIME_DIR_ENV),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

/// [`socket_path`] given the two variables' values.
fn socket_path_from(
    ezflow_runtime_dir: Option<OsString>,
    xdg_runtime_dir: Option<OsString>,
) -> Result<PathBuf, ControlError> {
    if let Some(dir) = ezflow_runtime_dir.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join(SOCKET_FILE_NAME));
    }
    let xdg = xdg_runtime_dir
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(ControlError::NoRuntimeDir)?;
    // The XDG base directory spec: relative paths are invalid and are to be
    // ignored.
    if !xdg.is_absolute() {
        return Err(ControlError::RelativeRuntimeDir { value: xdg });
    }
    Ok(xdg.join("ezflow").join(SOCKET_FILE_NAME))
}

/// The single-instance lock file beside a socket: `control.sock` →
/// `control.lock`. Whoever holds an exclusive `flock` on it runs the server.
pub fn lock_path(socket: &Path) -> PathBuf {
    if socket.extension().is_some_and(|e| e == "lock") {
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    } else {
        socket.with_extension("lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ezflow_runtime_dir_wins() {
        let p = socket_path_from(Some("/x/y".into()), Some("/run/user/1000".into())).unwrap();
        assert_eq!(p, Path::new("/x/y/control.sock"));
    }

    #[test]
    fn xdg_runtime_dir_gets_an_ezflow_folder() {
        let p = socket_path_from(None, Some("/run/user/1000".into())).unwrap();
        assert_eq!(p, Path::new("/run/user/1000/ezflow/control.sock"));
        let p = socket_path_from(Some("".into()), Some("/run/user/1000".into())).unwrap();
        assert_eq!(p, Path::new("/run/user/1000/ezflow/control.sock"));
    }

    #[test]
    fn no_runtime_dir_is_an_error_not_tmp() {
        let e = socket_path_from(None, None).unwrap_err();
        assert!(matches!(e, ControlError::NoRuntimeDir), "{e}");
        assert!(e.to_string().contains("XDG_RUNTIME_DIR is not set"), "{e}");
        assert!(e.to_string().contains(RUNTIME_DIR_ENV), "{e}");
        let e = socket_path_from(None, Some("".into())).unwrap_err();
        assert!(matches!(e, ControlError::NoRuntimeDir), "{e}");
    }

    #[test]
    fn relative_xdg_runtime_dir_is_refused() {
        let e = socket_path_from(None, Some("run/user".into())).unwrap_err();
        assert!(matches!(e, ControlError::RelativeRuntimeDir { .. }), "{e}");
        assert!(e.to_string().contains("run/user"), "{e}");
    }

    #[test]
    fn lock_file_sits_beside_the_socket() {
        assert_eq!(
            lock_path(Path::new("/r/ezflow/control.sock")),
            Path::new("/r/ezflow/control.lock")
        );
        assert_eq!(lock_path(Path::new("/r/sock")), Path::new("/r/sock.lock"));
        assert_eq!(
            lock_path(Path::new("/r/x.lock")),
            Path::new("/r/x.lock.lock")
        );
    }
}
