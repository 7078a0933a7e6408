//! Where the process's log goes and what it says about time: the
//! `tracing` subscriber (stderr, and for the app a size-bounded log file),
//! and [`SlowOperations`], which times every span and logs, at warn level,
//! any operation that took longer than the `slow_operation` setting, with
//! the time of each of its stages.
//!
//! An operation is a span with no parent (a dictation from key-up to text,
//! a model load, the start); its stages are the spans opened inside it, on
//! any thread. A span with the field `paced_by_user` (the recording, whose
//! length is the speaker's) is never an operation. Timing a span is two
//! `Instant` reads; nothing runs between spans, and nothing here runs on a
//! timer.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

/// The log file's name in the log directory; the previous one is kept as
/// `ezflow.log.1`.
pub const LOG_FILE_NAME: &str = "ezflow.log";
/// The log file is started afresh when it would grow past this; with the
/// one previous file kept, the log never takes more than twice this.
pub const LOG_FILE_MAX_BYTES: u64 = 2 * 1024 * 1024;

/// The slow-operation threshold in milliseconds; 0 means off. Set from the
/// settings by the app ([`set_slow_threshold`]); read by every span close.
static SLOW_THRESHOLD_MS: AtomicU64 = AtomicU64::new(0);

/// Sets the threshold over which an operation is logged as slow (`None`:
/// never).
pub fn set_slow_threshold(threshold: Option<Duration>) {
    let ms = threshold.map_or(0, |d| (d.as_millis() as u64).max(1));
    SLOW_THRESHOLD_MS.store(ms, Ordering::Relaxed);
}

fn slow_threshold() -> Option<Duration> {
    match SLOW_THRESHOLD_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// Sets up logging. `filter` is the stderr (and file) filter, in
/// `EnvFilter` syntax (`warn,ezflow=info`); with
/// `log_file`, the app's log also goes to that size-bounded file. Returns a
/// problem with the log file to report once logging works (the process
/// carries on without the file: a full or read-only disk must not stop
/// dictation).
pub fn init(filter: &str, log_file: Option<&Path>) -> Option<String> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours for a terminal only; a pipe gets plain text.
        .with_ansi(ansi)
        .with_target(false)
        .compact();
    let (file_layer, problem) = match log_file.map(RotatingLog::open) {
        Some(Ok(log)) => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(log)
                .with_ansi(false)
                .with_target(false)
                .compact();
            (Some(layer), None)
        }
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    // The slow-operation layer sees EZ Flow's own spans at every level
    // (the engine's stages are debug spans), whatever the log filter says.
    let own_spans = Targets::new()
        .with_target("ezflow", tracing::Level::DEBUG)
        .with_target("ezflow_core", tracing::Level::DEBUG)
        .with_target("ezflow_desktop", tracing::Level::DEBUG);
    tracing_subscriber::registry()
        .with(stderr.with_filter(EnvFilter::new(filter)))
        .with(file_layer.map(|layer| layer.with_filter(EnvFilter::new(filter))))
        .with(SlowOperations.with_filter(own_spans))
        .init();
    problem
}

/// The `tracing` layer behind the `slow_operation` setting.
pub struct SlowOperations;

/// Kept in each span's extensions while it is open.
struct SpanTiming {
    opened: Instant,
    paced_by_user: bool,
    /// Closed child spans: name, time, and their own breakdown.
    stages: Vec<Stage>,
}

struct Stage {
    name: &'static str,
    took: Duration,
    stages: Vec<Stage>,
}

impl<S> Layer<S> for SlowOperations
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanTiming {
                opened: Instant::now(),
                paced_by_user: attrs.fields().field("paced_by_user").is_some(),
                stages: Vec::new(),
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(timing) = span.extensions_mut().remove::<SpanTiming>() else {
            return;
        };
        let paced_by_user = timing.paced_by_user;
        let stage = Stage {
            name: span.metadata().name(),
            took: timing.opened.elapsed(),
            stages: timing.stages,
        };
        match span.parent() {
            Some(parent) => {
                if let Some(parent_timing) = parent.extensions_mut().get_mut::<SpanTiming>() {
                    parent_timing.stages.push(stage);
                }
            }
            None if paced_by_user => {}
            None => {
                if let Some(threshold) = slow_threshold() {
                    if stage.took > threshold {
                        tracing::warn!(
                            target: "ezflow::slow",
                            "slow {}: {} (over the slow_operation setting of {} ms)",
                            stage.name,
                            breakdown(&stage),
                            threshold.as_millis()
                        );
                    }
                }
            }
        }
    }
}

/// `"2100 ms: resample 3 ms, transcribe 2000 ms (encode 1500 ms, decode
/// 480 ms), insert 60 ms"`: each stage once, repeated ones summed with a
/// count, in the order they first ran.
fn breakdown(stage: &Stage) -> String {
    let mut out = format!("{} ms", stage.took.as_millis());
    let merged = merge(stage.stages.iter());
    if !merged.is_empty() {
        out.push_str(": ");
        write_stages(&mut out, &merged);
    }
    out
}

struct Merged<'a> {
    name: &'static str,
    took: Duration,
    count: usize,
    stages: Vec<&'a Stage>,
}

fn merge<'a>(stages: impl Iterator<Item = &'a Stage>) -> Vec<Merged<'a>> {
    let mut merged: Vec<Merged<'a>> = Vec::new();
    for stage in stages {
        match merged.iter_mut().find(|m| m.name == stage.name) {
            Some(m) => {
                m.took += stage.took;
                m.count += 1;
                m.stages.push(stage);
            }
            None => merged.push(Merged {
                name: stage.name,
                took: stage.took,
                count: 1,
                stages: vec![stage],
            }),
        }
    }
    merged
}

fn write_stages(out: &mut String, merged: &[Merged<'_>]) {
    for (i, m) in merged.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} {} ms", m.name, m.took.as_millis());
        if m.count > 1 {
            let _ = write!(out, " ({}×)", m.count);
        }
        let inner = merge(m.stages.iter().flat_map(|s| s.stages.iter()));
        if !inner.is_empty() {
            out.push_str(" [");
            write_stages(out, &inner);
            out.push(']');
        }
    }
}

/// The app's log file: appended to, and when it would pass
/// [`LOG_FILE_MAX_BYTES`] it becomes `ezflow.log.1` (replacing the older
/// one) and a new file starts. Write errors (a full disk) drop that line
/// and are retried with the next one; they never reach the app.
pub struct RotatingLog {
    inner: Mutex<LogState>,
}

struct LogState {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max: u64,
}

impl RotatingLog {
    /// Opens (or creates) the log file at `path`, creating its directory.
    pub fn open(path: &Path) -> Result<RotatingLog, String> {
        Self::open_with_limit(path, LOG_FILE_MAX_BYTES)
    }

    /// [`open`](Self::open) with another size limit (for tests).
    pub fn open_with_limit(path: &Path, max: u64) -> Result<RotatingLog, String> {
        let say = |e: io::Error| {
            format!(
                "cannot write the log file {} ({e}); logging to stderr only",
                path.display()
            )
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(say)?;
        }
        let file = open_append(path).map_err(say)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingLog {
            inner: Mutex::new(LogState {
                path: path.to_owned(),
                file: Some(file),
                size,
                max,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panic while writing a log line leaves nothing half-updated that
        // matters: carry on with the state as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl LogState {
    fn write_line(&mut self, buf: &[u8]) {
        if self.size > 0 && self.size + buf.len() as u64 > self.max {
            self.rotate();
        }
        if self.file.is_none() {
            // After a failed rotation or open: try again now, the disk may
            // have space again.
            self.file = open_append(&self.path).ok();
            self.size = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(0, |m| m.len());
        }
        if let Some(file) = &mut self.file {
            if file.write_all(buf).is_ok() {
                self.size += buf.len() as u64;
            }
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        // Renaming replaces the older file in one step; if it fails the
        // current file is truncated instead, so the bound still holds.
        if fs::rename(&self.path, &old).is_err() {
            let _ = File::create(&self.path);
        }
        self.size = 0;
    }
}

/// One log line per `write` call from the fmt layer.
pub struct LogLine<'a>(MutexGuard<'a, LogState>);

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingLog {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join(LOG_FILE_NAME);
        let log = RotatingLog::open_with_limit(&path, 1000).unwrap();
        let line = [b'x'; 99];
        for i in 0..55u8 {
            let mut l = line.to_vec();
            l[0] = b'a' + (i % 26);
            l.push(b'\n');
            tracing_subscriber::fmt::MakeWriter::make_writer(&log)
                .write_all(&l)
                .unwrap();
        }
        let current = fs::metadata(&path).unwrap().len();
        let previous = fs::metadata(dir.path().join("logs/ezflow.log.1"))
            .unwrap()
            .len();
        assert!(current <= 1000 && previous <= 1000, "{current} {previous}");
        // 55 lines of 100 bytes, 10 per file: the current file holds the
        // last 5 whole lines, the previous the 10 before them.
        assert_eq!(current, 500);
        assert_eq!(previous, 1000);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with('y'),
            "line 51 (i = 50) starts the file: {text:.3}"
        );
        // Permissions: the log may hold transcript lengths and device names.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn an_unwritable_log_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, b"").unwrap();
        let err = RotatingLog::open(&blocker.join(LOG_FILE_NAME))
            .err()
            .unwrap();
        assert!(err.contains("cannot write the log file"), "{err}");
        assert!(err.contains("stderr only"), "{err}");
    }

    /// A writer that keeps what the fmt layer writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn slow_operations_are_logged_with_their_stages() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_filter(EnvFilter::new("warn")),
            )
            .with(SlowOperations);
        let dispatch = tracing::Dispatch::new(subscriber);
        let worker_dispatch = dispatch.clone();
        set_slow_threshold(Some(Duration::from_millis(40)));
        tracing::dispatcher::with_default(&dispatch, || {
            // Over the threshold, with stages (one on another thread, as
            // the transcription is).
            let dictation = tracing::info_span!("dictation");
            let worker = dictation.clone();
            std::thread::spawn(move || {
                let _subscriber = tracing::dispatcher::set_default(&worker_dispatch);
                let _in = worker.enter();
                tracing::debug_span!("transcribe").in_scope(|| {
                    tracing::debug_span!("encode")
                        .in_scope(|| std::thread::sleep(Duration::from_millis(50)));
                });
            })
            .join()
            .unwrap();
            dictation.in_scope(|| tracing::info_span!("insert").in_scope(|| {}));
            drop(dictation);
            // Under the threshold: nothing.
            tracing::info_span!("model_load").in_scope(|| {});
            // Paced by the speaker: never an operation.
            tracing::info_span!("capture", paced_by_user = true)
                .in_scope(|| std::thread::sleep(Duration::from_millis(50)));
        });
        set_slow_threshold(None);
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "{log}");
        let line = lines[0];
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("slow dictation: "), "{line}");
        assert!(line.contains(": transcribe "), "{line}");
        assert!(line.contains(" [encode "), "{line}");
        assert!(line.contains("], insert "), "{line}");
        assert!(line.contains("slow_operation setting of 40 ms"), "{line}");
    }

    #[test]
    fn breakdown_merges_repeated_stages() {
        let ms = Duration::from_millis;
        let stage = Stage {
            name: "dictation",
            took: ms(2100),
            stages: vec![
                Stage {
                    name: "resample",
                    took: ms(3),
                    stages: vec![],
                },
                Stage {
                    name: "transcribe",
                    took: ms(2000),
                    stages: vec![
                        Stage {
                            name: "decode_pass",
                            took: ms(700),
                            stages: vec![],
                        },
                        Stage {
                            name: "decode_pass",
                            took: ms(1200),
                            stages: vec![],
                        },
                    ],
                },
                Stage {
                    name: "insert",
                    took: ms(60),
                    stages: vec![],
                },
            ],
        };
        assert_eq!(
            breakdown(&stage),
            "2100 ms: resample 3 ms, transcribe 2000 ms [decode_pass 1900 ms (2×)], insert 60 ms"
        );
    }
}
