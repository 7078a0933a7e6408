//! The model downloader: one file over HTTP(S) into a destination path,
//! resumable, verified, and installed atomically.
//!
//! Partial data lives in `<dest>.partial` next to the destination; a later
//! call resumes it with a `Range` request. The SHA-256 is computed over the
//! whole file (the existing partial is hashed first), and only a file of the
//! right size and hash is fsynced and renamed onto `dest`, so `dest` never
//! holds half a model. A wrong size or hash deletes the partial; a stall, a
//! cut connection or a cancel keeps it for the next call.
//!
//! This module must not print: it reports through the progress callback,
//! its errors and `tracing`. It knows nothing of the catalog or the model
//! store; callers pass the URL, the destination and what to expect.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::{debug, info, info_span, warn};

/// How long the server may send nothing before the download counts as
/// stalled, unless the request says otherwise.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take, unless the request says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Free space demanded beyond the bytes still to come, so a download never
/// fills the disk to the last block.
pub const FREE_SPACE_MARGIN: u64 = 32 * 1024 * 1024;

const CHUNK: usize = 128 * 1024;
/// Progress callbacks are rate-limited to this interval (plus the first and
/// the last), so a fast local download does not flood the caller.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The transfer rate is re-measured over windows at least this long and
/// smoothed, so the ETA does not jump with every chunk.
const RATE_WINDOW: Duration = Duration::from_millis(250);
const RATE_SMOOTHING: f64 = 0.3;

/// What to download, where to, and what it must turn out to be.
#[derive(Debug, Clone)]
pub struct DownloadRequest<'a> {
    pub url: String,
    /// The final path. The partial download is `<dest>.partial`.
    pub dest: PathBuf,
    /// The exact size in bytes, when known. Enables the free-space check
    /// before any network traffic, and a size mismatch fails the download.
    pub expected_size: Option<u64>,
    /// Lowercase hex SHA-256. `None` verifies the size only (and logs a
    /// warning).
    pub expected_sha256: Option<String>,
    /// No byte for this long means the server stalled.
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    /// Checked between chunks; when set, the download stops and keeps its
    /// partial for a later resume.
    pub cancel: Option<&'a AtomicBool>,
}

impl<'a> DownloadRequest<'a> {
    pub fn new(url: impl Into<String>, dest: impl Into<PathBuf>) -> Self {
        DownloadRequest {
            url: url.into(),
            dest: dest.into(),
            expected_size: None,
            expected_sha256: None,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            cancel: None,
        }
    }

    pub fn expected_size(mut self, bytes: u64) -> Self {
        self.expected_size = Some(bytes);
        self
    }

    pub fn expected_sha256(mut self, hex: impl Into<String>) -> Self {
        self.expected_sha256 = Some(hex.into().to_ascii_lowercase());
        self
    }

    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn cancel(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }
}

/// What a download is doing when it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressPhase {
    /// Hashing the bytes of an earlier partial download before resuming;
    /// `bytes_done` of `total` are hashed.
    CheckingPartial,
    /// Receiving bytes; `bytes_done` counts the whole file, resumed bytes
    /// included.
    Downloading,
}

/// One progress report. Within the `Downloading` phase `bytes_done` never
/// decreases, and the last report of a successful download has
/// `bytes_done == total`.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub phase: ProgressPhase,
    pub bytes_done: u64,
    pub total: Option<u64>,
    /// Bytes that were already on disk when this download started.
    pub resumed_from: u64,
    /// Smoothed transfer rate in bytes per second; `None` until measured.
    pub rate_bytes_per_sec: Option<f64>,
    /// Estimated time left; `None` while the rate or the total is unknown.
    pub eta: Option<Duration>,
}

/// A finished, verified, installed download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the installed file.
    pub sha256: String,
    /// Whether the hash was checked against an expected value (false when
    /// the request had none).
    pub checksum_verified: bool,
    /// Bytes reused from an earlier partial download.
    pub resumed_from: u64,
    pub elapsed: Duration,
}

/// Why a download failed. Each message names the URL, host or file and
/// says what happens next.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("invalid download URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("model file not found at {url} (HTTP 404)")]
    NotFound { url: String },

    #[error("the server answered HTTP {status} {status_text} for {url}")]
    HttpStatus {
        url: String,
        status: u16,
        status_text: String,
    },

    #[error("cannot resolve host '{host}' ({reason}); check the network connection and DNS")]
    Dns { host: String, reason: String },

    #[error(
        "cannot connect to {host} ({reason}); check the network connection or try again later"
    )]
    Connect { host: String, reason: String },

    #[error("the secure connection (TLS) to {host} failed ({reason})")]
    Tls { host: String, reason: String },

    #[error("the server at {host} answered something unexpected for {url}: {reason}")]
    BadResponse {
        host: String,
        url: String,
        reason: String,
    },

    #[error(
        "the download from {host} stalled: no data for {} s after {}; {}",
        .stall_timeout.as_secs_f32(), human_bytes(*.bytes_done), what_next(*.bytes_done, .partial)
    )]
    Stalled {
        host: String,
        stall_timeout: Duration,
        bytes_done: u64,
        partial: PathBuf,
    },

    #[error(
        "the connection to {host} was cut after {} of {} ({reason}); {}",
        human_bytes(*.bytes_done), .total.map(human_bytes).unwrap_or_else(|| "an unknown size".into()), what_next(*.bytes_done, .partial)
    )]
    Interrupted {
        host: String,
        bytes_done: u64,
        total: Option<u64>,
        reason: String,
        partial: PathBuf,
    },

    #[error(
        "download cancelled after {}; the partial download {} is kept for a later resume",
        human_bytes(*.bytes_done), .partial.display()
    )]
    Cancelled { bytes_done: u64, partial: PathBuf },

    #[error(
        "not enough free space in {}: the download needs {} more (including a {} safety margin) but only {} is available",
        .dir.display(), human_bytes(*.needed), human_bytes(FREE_SPACE_MARGIN), human_bytes(*.available)
    )]
    InsufficientSpace {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },

    #[error(
        "the file from {url} has the wrong size: expected {expected} bytes, got {actual} bytes; nothing was installed and the partial download was deleted"
    )]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },

    #[error(
        "the file from {url} is corrupt: expected SHA-256 {expected}, got {actual}; nothing was installed and the partial download was deleted, run the same command again to retry"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The end of a "stalled" or "cut" message: what the user can do now.
fn what_next(bytes_done: u64, partial: &Path) -> String {
    if bytes_done == 0 {
        "run the same command again to retry".to_string()
    } else {
        format!(
            "the partial download {} is kept, run the same command again to resume",
            partial.display()
        )
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DownloadError {
    let path = path.to_path_buf();
    move |source| DownloadError::Io {
        action,
        path,
        source,
    }
}

/// Where the partial download for `dest` lives: `<dest>.partial`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_os_string();
    name.push(".partial");
    PathBuf::from(name)
}

/// Bytes in binary units for people: `812 B`, `31.4 MiB`, `1.51 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else if value >= 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Bytes free to an unprivileged user on the filesystem holding `dir`.
#[cfg(unix)]
pub fn available_space(dir: &Path) -> io::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let c_path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to
    // writable memory the size of a `statvfs`.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    Ok(free)
}

/// Without statvfs the check cannot be made; report "plenty" rather than
/// refusing every download.
#[cfg(not(unix))]
pub fn available_space(_dir: &Path) -> io::Result<u64> {
    Ok(u64::MAX)
}

fn check_free_space(dir: &Path, remaining: u64) -> Result<(), DownloadError> {
    let needed = remaining.saturating_add(FREE_SPACE_MARGIN);
    let available = available_space(dir).map_err(io_err("check the free space in", dir))?;
    debug!(dir = %dir.display(), needed, available, "free space check");
    if available < needed {
        return Err(DownloadError::InsufficientSpace {
            dir: dir.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

/// The `host[:port]` part of a URL, for error messages.
fn host_of(url: &str) -> Result<String, DownloadError> {
    let invalid = |reason: &str| DownloadError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("it has no scheme such as https://"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid("only http:// and https:// are supported"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("it has no host"));
    }
    Ok(host.to_string())
}

/// Where the bytes of this attempt go and what they hash to so far.
struct PartialFile {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
}

impl PartialFile {
    fn create_empty(path: &Path) -> Result<Self, DownloadError> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(io_err("create", path))?;
        Ok(PartialFile {
            path: path.to_path_buf(),
            file,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// Opens an existing partial for appending, hashing what it already holds.
    fn resume(
        path: &Path,
        len: u64,
        cancel: Option<&AtomicBool>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Self, DownloadError> {
        let mut hasher = Sha256::new();
        let mut reader = File::open(path).map_err(io_err("open", path))?;
        let mut buf = vec![0u8; 1024 * 1024];
        let mut hashed = 0u64;
        let mut last_report = Instant::now();
        loop {
            if is_cancelled(cancel) {
                return Err(DownloadError::Cancelled {
                    bytes_done: len,
                    partial: path.to_path_buf(),
                });
            }
            let n = reader.read(&mut buf).map_err(io_err("read", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            hashed += n as u64;
            if last_report.elapsed() >= PROGRESS_INTERVAL {
                last_report = Instant::now();
                progress(&Progress {
                    phase: ProgressPhase::CheckingPartial,
                    bytes_done: hashed,
                    total: Some(len),
                    resumed_from: 0,
                    rate_bytes_per_sec: None,
                    eta: None,
                });
            }
        }
        if hashed != len {
            // Someone else is writing the same partial; do not mix streams.
            return Err(DownloadError::Io {
                action: "resume",
                path: path.to_path_buf(),
                source: io::Error::other("the partial download changed while it was being read"),
            });
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err("open", path))?;
        Ok(PartialFile {
            path: path.to_path_buf(),
            file,
            hasher,
            len,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        self.file
            .write_all(bytes)
            .map_err(io_err("write to", &self.path))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }
}

fn is_cancelled(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|c| c.load(Ordering::Relaxed))
}

fn remove_partial(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => debug!(partial = %path.display(), "partial download deleted"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(partial = %path.display(), error = %e, "cannot delete the partial download")
        }
    }
}

/// Turns byte counts over time into smoothed rate/ETA progress reports.
struct ProgressMeter {
    resumed_from: u64,
    total: Option<u64>,
    rate: Option<f64>,
    window_start: Instant,
    window_bytes: u64,
    last_report: Option<Instant>,
}

impl ProgressMeter {
    fn new(resumed_from: u64, total: Option<u64>) -> Self {
        ProgressMeter {
            resumed_from,
            total,
            rate: None,
            window_start: Instant::now(),
            window_bytes: resumed_from,
            last_report: None,
        }
    }

    fn update(&mut self, done: u64, force: bool, progress: &mut dyn FnMut(&Progress)) {
        let now = Instant::now();
        let window = now.duration_since(self.window_start);
        if window >= RATE_WINDOW {
            let instant = done.saturating_sub(self.window_bytes) as f64 / window.as_secs_f64();
            self.rate = Some(match self.rate {
                Some(r) => RATE_SMOOTHING * instant + (1.0 - RATE_SMOOTHING) * r,
                None => instant,
            });
            self.window_start = now;
            self.window_bytes = done;
        }
        let due = self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL);
        if !(force || due) {
            return;
        }
        self.last_report = Some(now);
        let eta = match (self.rate, self.total) {
            (Some(rate), Some(total)) if rate > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(done) as f64 / rate,
            )),
            _ => None,
        };
        progress(&Progress {
            phase: ProgressPhase::Downloading,
            bytes_done: done,
            total: self.total,
            resumed_from: self.resumed_from,
            rate_bytes_per_sec: self.rate,
            eta,
        });
    }
}

/// `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`), or the
/// `bytes */TOTAL` form of a 416.
struct ContentRange {
    start: Option<u64>,
    total: Option<u64>,
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let start = match range.trim() {
        "*" => None,
        r => Some(r.split_once('-')?.0.trim().parse().ok()?),
    };
    Some(ContentRange { start, total })
}

/// Downloads `request.url` to `request.dest`, resuming an earlier partial,
/// verifying size and hash, and installing atomically. See the module docs
/// for what happens to the partial on each kind of failure.
pub fn download(
    request: &DownloadRequest<'_>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DownloadOutcome, DownloadError> {
    let started = Instant::now();
    let host = host_of(&request.url)?;
    let span = info_span!("model_download", url = %request.url, dest = %request.dest.display());
    let _entered = span.enter();

    let dest = &request.dest;
    let partial_path = partial_path(dest);
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io_err("create the directory", &dir))?;
    if request.expected_sha256.is_none() {
        warn!("no SHA-256 known for this file; only its size will be verified");
    }

    let agent = ureq::AgentBuilder::new()
        .timeout_connect(request.connect_timeout)
        .timeout_read(request.stall_timeout)
        .build();

    // One restart from zero is allowed when the server's answer shows the
    // partial cannot be continued (a range it cannot satisfy, or one that
    // starts elsewhere); a second such answer is an error.
    let mut restarted = false;
    loop {
        let mut offset = match fs::metadata(&partial_path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err("inspect", &partial_path)(e)),
        };
        if let Some(expected) = request.expected_size {
            if offset > expected {
                info!(
                    offset,
                    expected, "partial download is larger than the file; starting over"
                );
                remove_partial(&partial_path);
                offset = 0;
            }
            check_free_space(&dir, expected - offset)?;
            if offset > 0 && offset == expected {
                info!("the partial download is already complete; verifying it");
                let partial = PartialFile::resume(&partial_path, offset, request.cancel, progress)?;
                return finish(request, partial, offset, started);
            }
        }

        let mut call = agent
            .get(&request.url)
            // Byte ranges and hashes are over the file itself, never over a
            // compressed transfer of it.
            .set("Accept-Encoding", "identity")
            .set("User-Agent", concat!("ezflow/", env!("CARGO_PKG_VERSION")));
        if offset > 0 {
            info!(offset, "asking the server to resume the partial download");
            call = call.set("Range", &format!("bytes={offset}-"));
        }
        let response = match call.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(416, r)) if offset > 0 => {
                let total = r
                    .header("Content-Range")
                    .and_then(parse_content_range)
                    .and_then(|c| c.total);
                if total == Some(offset) {
                    info!("the server says the partial download is already complete");
                    let partial =
                        PartialFile::resume(&partial_path, offset, request.cancel, progress)?;
                    return finish(request, partial, offset, started);
                }
                if restarted {
                    return Err(bad_response(
                        &host,
                        request,
                        "it refused the byte range of a fresh restart (HTTP 416)",
                    ));
                }
                info!(
                    offset,
                    ?total,
                    "the server cannot continue the partial download (HTTP 416); starting over"
                );
                remove_partial(&partial_path);
                restarted = true;
                continue;
            }
            Err(ureq::Error::Status(404, _)) => {
                return Err(DownloadError::NotFound {
                    url: request.url.clone(),
                });
            }
            Err(ureq::Error::Status(status, r)) => {
                return Err(DownloadError::HttpStatus {
                    url: request.url.clone(),
                    status,
                    status_text: r.status_text().to_string(),
                });
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(transport_error(&host, request, &partial_path, offset, &t));
            }
        };

        let status = response.status();
        let content_length: Option<u64> = response
            .header("Content-Length")
            .and_then(|v| v.trim().parse().ok());
        let total = match status {
            206 if offset > 0 => {
                let range = response
                    .header("Content-Range")
                    .and_then(parse_content_range);
                match range {
                    Some(ContentRange {
                        start: Some(start),
                        total,
                    }) if start == offset => total.or(content_length.map(|l| offset + l)),
                    _ if !restarted => {
                        info!(offset, content_range = ?response.header("Content-Range"),
                            "the server sent a different byte range; starting over");
                        remove_partial(&partial_path);
                        restarted = true;
                        continue;
                    }
                    _ => {
                        return Err(bad_response(
                            &host,
                            request,
                            "its Content-Range does not match the requested range",
                        ))
                    }
                }
            }
            200 => {
                if offset > 0 {
                    info!(
                        offset,
                        "the server ignored the Range request; starting over from zero"
                    );
                    offset = 0;
                }
                content_length
            }
            other => {
                return Err(bad_response(
                    &host,
                    request,
                    &format!(
                        "HTTP {other} {} where 200 or 206 was expected",
                        response.status_text()
                    ),
                ));
            }
        };

        if let (Some(expected), Some(actual)) = (request.expected_size, total) {
            if expected != actual {
                remove_partial(&partial_path);
                return Err(DownloadError::SizeMismatch {
                    url: request.url.clone(),
                    expected,
                    actual,
                });
            }
        }
        if request.expected_size.is_none() {
            if let Some(total) = total {
                check_free_space(&dir, total.saturating_sub(offset))?;
            }
        }
        let total = request.expected_size.or(total);

        // Hashing the partial waits for the server's answer: a server that is
        // down, or one that restarts from zero, makes that work useless.
        let mut partial = if offset > 0 {
            PartialFile::resume(&partial_path, offset, request.cancel, progress)?
        } else {
            PartialFile::create_empty(&partial_path)?
        };
        info!(status, offset, ?total, "receiving");

        let mut body = response.into_reader();
        let mut meter = ProgressMeter::new(offset, total);
        meter.update(partial.len, true, progress);
        let mut buf = vec![0u8; CHUNK];
        loop {
            if is_cancelled(request.cancel) {
                info!(bytes_done = partial.len, "download cancelled");
                return Err(DownloadError::Cancelled {
                    bytes_done: partial.len,
                    partial: partial_path,
                });
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body_error(&host, request, &partial, total, e)),
            };
            partial.append(&buf[..n])?;
            if let Some(expected) = total.filter(|t| partial.len > *t) {
                // More bytes than announced: the file cannot be the right one.
                let actual = partial.len;
                drop(partial);
                remove_partial(&partial_path);
                return Err(DownloadError::SizeMismatch {
                    url: request.url.clone(),
                    expected,
                    actual,
                });
            }
            meter.update(partial.len, false, progress);
        }
        meter.update(partial.len, true, progress);
        return finish(request, partial, offset, started);
    }
}

fn bad_response(host: &str, request: &DownloadRequest<'_>, reason: &str) -> DownloadError {
    DownloadError::BadResponse {
        host: host.to_string(),
        url: request.url.clone(),
        reason: reason.to_string(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Maps an error while reading the body: a read timeout is a stall, anything
/// else a cut connection. Either way the partial stays for a resume.
fn body_error(
    host: &str,
    request: &DownloadRequest<'_>,
    partial: &PartialFile,
    total: Option<u64>,
    e: io::Error,
) -> DownloadError {
    if let Err(sync) = partial.file.sync_data() {
        warn!(error = %sync, "cannot flush the partial download");
    }
    if is_timeout(&e) {
        warn!(bytes_done = partial.len, "the server stalled");
        DownloadError::Stalled {
            host: host.to_string(),
            stall_timeout: request.stall_timeout,
            bytes_done: partial.len,
            partial: partial.path.clone(),
        }
    } else {
        warn!(bytes_done = partial.len, error = %e, "the connection was cut");
        DownloadError::Interrupted {
            host: host.to_string(),
            bytes_done: partial.len,
            total,
            reason: e.to_string(),
            partial: partial.path.clone(),
        }
    }
}

/// Maps a failure before the response arrived (DNS, connect, TLS, a stall
/// before the headers) to an error naming the host.
fn transport_error(
    host: &str,
    request: &DownloadRequest<'_>,
    partial_path: &Path,
    offset: u64,
    t: &ureq::Transport,
) -> DownloadError {
    use std::error::Error as _;

    let source = t.source();
    let io_source = source.and_then(|s| s.downcast_ref::<io::Error>());
    let mut reason = t.message().unwrap_or_default().to_string();
    if let Some(s) = source {
        if !reason.is_empty() {
            reason.push_str(": ");
        }
        reason.push_str(&s.to_string());
    }
    if reason.is_empty() {
        reason = t.kind().to_string();
    }
    let lowered = reason.to_ascii_lowercase();
    let looks_like_tls = request.url.to_ascii_lowercase().starts_with("https://")
        && ["tls", "certificate", "handshake", "rustls"]
            .iter()
            .any(|w| lowered.contains(w));
    let host = host.to_string();
    warn!(kind = ?t.kind(), %reason, "request failed");
    match t.kind() {
        ureq::ErrorKind::Dns => DownloadError::Dns { host, reason },
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => DownloadError::InvalidUrl {
            url: request.url.clone(),
            reason,
        },
        ureq::ErrorKind::BadStatus
        | ureq::ErrorKind::BadHeader
        | ureq::ErrorKind::TooManyRedirects => DownloadError::BadResponse {
            host,
            url: request.url.clone(),
            reason,
        },
        _ if io_source.is_some_and(is_timeout) && t.kind() == ureq::ErrorKind::Io => {
            DownloadError::Stalled {
                host,
                stall_timeout: request.stall_timeout,
                bytes_done: offset,
                partial: partial_path.to_path_buf(),
            }
        }
        _ if looks_like_tls => DownloadError::Tls { host, reason },
        _ => DownloadError::Connect { host, reason },
    }
}

/// Verifies size and hash of the complete partial, then fsyncs it and
/// renames it onto the destination. A mismatch deletes the partial.
fn finish(
    request: &DownloadRequest<'_>,
    partial: PartialFile,
    resumed_from: u64,
    started: Instant,
) -> Result<DownloadOutcome, DownloadError> {
    let PartialFile {
        path: partial_path,
        file,
        hasher,
        len,
    } = partial;
    if let Some(expected) = request.expected_size {
        if len != expected {
            drop(file);
            remove_partial(&partial_path);
            return Err(DownloadError::SizeMismatch {
                url: request.url.clone(),
                expected,
                actual: len,
            });
        }
    }
    let actual = hex(&hasher.finalize());
    let checksum_verified = match &request.expected_sha256 {
        Some(expected) if !expected.eq_ignore_ascii_case(&actual) => {
            drop(file);
            remove_partial(&partial_path);
            warn!(%expected, %actual, "checksum mismatch");
            return Err(DownloadError::ChecksumMismatch {
                url: request.url.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        Some(_) => true,
        None => false,
    };
    file.sync_all().map_err(io_err("flush", &partial_path))?;
    drop(file);
    fs::rename(&partial_path, &request.dest).map_err(io_err("install", &request.dest))?;
    if let Some(dir) = request.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        ezflow_config::atomic_file::sync_dir(dir);
    }
    let elapsed = started.elapsed();
    info!(
        bytes = len,
        sha256 = %actual,
        checksum_verified,
        resumed_from,
        elapsed_ms = elapsed.as_millis() as u64,
        "download installed"
    );
    Ok(DownloadOutcome {
        path: request.dest.clone(),
        size_bytes: len,
        sha256: actual,
        checksum_verified,
        resumed_from,
        elapsed,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(147_964_211), "141 MiB");
        assert_eq!(human_bytes(1_624_555_275), "1.51 GiB");
        assert_eq!(human_bytes(1_000_000_000_000_000), "909 TiB");
    }

    #[test]
    fn content_range_forms() {
        let c = parse_content_range("bytes 100-199/1000").expect("valid");
        assert_eq!((c.start, c.total), (Some(100), Some(1000)));
        let c = parse_content_range("bytes 5-9/*").expect("valid");
        assert_eq!((c.start, c.total), (Some(5), None));
        let c = parse_content_range("bytes */1000").expect("valid");
        assert_eq!((c.start, c.total), (None, Some(1000)));
        assert!(parse_content_range("items 1-2/3").is_none());
        assert!(parse_content_range("bytes x-2/3").is_none());
    }

    #[test]
    fn hosts_and_partial_paths() {
        assert_eq!(
            host_of("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/x").ok(),
            Some("huggingface.co".to_string())
        );
        assert_eq!(
            host_of("http://user@127.0.0.1:8080/a?b").ok(),
            Some("127.0.0.1:8080".to_string())
        );
        assert!(matches!(
            host_of("ftp://example.org/x"),
            Err(DownloadError::InvalidUrl { .. })
        ));
        assert!(matches!(
            host_of("no-scheme"),
            Err(DownloadError::InvalidUrl { .. })
        ));
        assert_eq!(
            partial_path(Path::new("/m/ggml-base.en.bin")),
            PathBuf::from("/m/ggml-base.en.bin.partial")
        );
    }
}
