//! The telemetry queue on disk: events waiting to be sent, the next batch
//! (fixed with its batch id, so a retry sends the very same batch), the
//! record of the last attempt, and a bounded copy of what was sent.
//!
//! Every change holds an exclusive lock on the directory (the tray app and
//! a command-line run may write at once) and replaces its file atomically,
//! so a crash or a full disk never leaves a half-written queue. Bounds on
//! count, bytes and age are enforced on every write; the oldest events go
//! first. A line that cannot be read is dropped, never a reason to stop.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ezflow_telemetry_schema::{self as schema, Batch, Event, Hour};
use serde::{Deserialize, Serialize};

use ezflow_config::atomic_file;

const QUEUE_FILE: &str = "queue.jsonl";
const NEXT_BATCH_FILE: &str = "next-batch.json";
const LAST_SEND_FILE: &str = "last-send.json";
const SENT_LOG_FILE: &str = "sent.jsonl";
const LOCK_FILE: &str = ".lock";

/// How much the queue may hold. Defaults: 1000 events, 256 KiB, 14 days —
/// a week or more offline at a heavy day's use loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
    /// Batches kept in the local copy of what was sent.
    pub sent_log_batches: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 1000,
            max_bytes: 256 * 1024,
            max_age: Duration::from_secs(14 * 24 * 3600),
            sent_log_batches: 100,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("telemetry queue {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

/// One delivery attempt, as kept for the user: when, where, what happened,
/// and for a delivered batch, the batch itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRecord {
    /// Unix seconds (local record only; never sent).
    pub at: i64,
    pub endpoint: String,
    /// True when the collector accepted the batch (or it was printed).
    pub delivered: bool,
    /// One line: "delivered 12 events", "dropped: 422 …", "will retry: …".
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
}

#[derive(Debug, Clone)]
pub(crate) struct Queue {
    dir: PathBuf,
    limits: Limits,
}

impl Queue {
    pub(crate) fn new(dir: &Path, limits: Limits) -> Queue {
        Queue {
            dir: dir.to_path_buf(),
            limits,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn err(&self, name: &str, action: &'static str) -> impl FnOnce(io::Error) -> QueueError {
        let path = self.path(name);
        move |source| QueueError::Io {
            path,
            action,
            source,
        }
    }

    /// Takes the directory lock, creating the directory on first use.
    fn lock(&self) -> Result<DirLock, QueueError> {
        fs::create_dir_all(&self.dir).map_err(self.err("", "create the directory"))?;
        DirLock::acquire(&self.path(LOCK_FILE)).map_err(self.err(LOCK_FILE, "lock"))
    }

    /// Appends an event, then enforces the bounds.
    pub(crate) fn push(&self, event: Event) -> Result<(), QueueError> {
        let _lock = self.lock()?;
        let mut events = self.read_events()?;
        events.push(event);
        self.write_events(self.bounded(events, schema::unix_now()))
    }

    /// Events waiting (next batch included) and the oldest one's hour.
    pub(crate) fn pending(&self) -> Result<(usize, Option<Hour>), QueueError> {
        if !self.dir.exists() {
            return Ok((0, None));
        }
        let _lock = self.lock()?;
        let mut events = self.read_events()?;
        if let Some(batch) = self.read_next_batch()? {
            events.extend(batch.events);
        }
        Ok((events.len(), events.iter().map(|e| e.hour).min()))
    }

    /// The batch to send next: the fixed one if there is one, otherwise a
    /// new one from the oldest queued events (which leave the queue).
    pub(crate) fn next_batch(&self, now: i64) -> Result<Option<Batch>, QueueError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        let _lock = self.lock()?;
        if let Some(batch) = self.read_next_batch()? {
            return Ok(Some(batch));
        }
        let events = self.bounded(self.read_events()?, now);
        // An event the collector would refuse (a clock that jumped, say)
        // would get the whole batch dropped; leave it out instead.
        let (valid, invalid): (Vec<Event>, Vec<Event>) =
            events.into_iter().partition(|e| e.validate(now).is_ok());
        if !invalid.is_empty() {
            tracing::debug!(
                count = invalid.len(),
                "dropping telemetry events the collector would refuse"
            );
        }
        if valid.is_empty() {
            self.write_events(Vec::new())?;
            return Ok(None);
        }
        let split = valid.len().min(schema::MAX_EVENTS_PER_BATCH);
        let mut events = valid;
        let rest = events.split_off(split);
        let batch = Batch {
            schema: schema::SCHEMA_VERSION,
            batch_id: new_batch_id()
                .map_err(self.err(NEXT_BATCH_FILE, "draw a random batch id"))?,
            events,
        };
        // The batch is written before the events leave the queue: a crash
        // between the two can send an event twice, never lose it.
        let json = serde_json::to_vec_pretty(&batch).unwrap_or_default();
        atomic_file::write(&self.path(NEXT_BATCH_FILE), &json)
            .map_err(self.err(NEXT_BATCH_FILE, "write"))?;
        self.write_events(rest)?;
        Ok(Some(batch))
    }

    /// The collector took the batch (or refused it for good): it leaves
    /// the queue. A delivered batch is added to the sent log.
    pub(crate) fn finish_batch(
        &self,
        batch_id: &str,
        record: SendRecord,
    ) -> Result<(), QueueError> {
        let _lock = self.lock()?;
        if self
            .read_next_batch()?
            .is_some_and(|b| b.batch_id == batch_id)
        {
            fs::remove_file(self.path(NEXT_BATCH_FILE))
                .or_else(ignore_missing)
                .map_err(self.err(NEXT_BATCH_FILE, "remove"))?;
        }
        if record.delivered {
            let mut log = self.read_sent_log()?;
            log.push(record.clone());
            let skip = log.len().saturating_sub(self.limits.sent_log_batches);
            let text = jsonl(&log[skip..]);
            atomic_file::write(&self.path(SENT_LOG_FILE), text.as_bytes())
                .map_err(self.err(SENT_LOG_FILE, "write"))?;
        }
        self.write_last_send(&SendRecord {
            batch: None,
            ..record
        })
    }

    /// Notes an attempt that will be retried; the batch stays.
    pub(crate) fn note_attempt(&self, record: &SendRecord) -> Result<(), QueueError> {
        let _lock = self.lock()?;
        self.write_last_send(record)
    }

    pub(crate) fn last_send(&self) -> Result<Option<SendRecord>, QueueError> {
        read_optional(&self.path(LAST_SEND_FILE))
            .map_err(self.err(LAST_SEND_FILE, "read"))
            .map(|text| text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub(crate) fn sent_log(&self) -> Result<Vec<SendRecord>, QueueError> {
        self.read_sent_log()
    }

    /// Deletes the queue and the next batch (consent withdrawn).
    pub(crate) fn clear(&self) -> Result<(), QueueError> {
        if !self.dir.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        for name in [QUEUE_FILE, NEXT_BATCH_FILE] {
            fs::remove_file(self.path(name))
                .or_else(ignore_missing)
                .map_err(self.err(name, "delete"))?;
        }
        Ok(())
    }

    fn write_last_send(&self, record: &SendRecord) -> Result<(), QueueError> {
        let json = serde_json::to_vec_pretty(record).unwrap_or_default();
        atomic_file::write(&self.path(LAST_SEND_FILE), &json)
            .map_err(self.err(LAST_SEND_FILE, "write"))
    }

    /// Drops what is too old, then the oldest until count and size fit.
    fn bounded(&self, mut events: Vec<Event>, now: i64) -> Vec<Event> {
        let cutoff = now - self.limits.max_age.as_secs() as i64;
        events.retain(|e| e.hour.unix() >= cutoff);
        let mut sizes: Vec<usize> = events.iter().map(line_len).collect();
        let mut total: usize = sizes.iter().sum();
        let mut drop = events.len().saturating_sub(self.limits.max_events);
        total -= sizes[..drop].iter().sum::<usize>();
        while drop < events.len() && total > self.limits.max_bytes {
            total -= sizes[drop];
            drop += 1;
        }
        if drop > 0 {
            tracing::debug!(
                dropped = drop,
                "telemetry queue full; oldest events dropped"
            );
        }
        sizes.clear();
        events.split_off(drop)
    }

    fn read_events(&self) -> Result<Vec<Event>, QueueError> {
        let Some(text) =
            read_optional(&self.path(QUEUE_FILE)).map_err(self.err(QUEUE_FILE, "read"))?
        else {
            return Ok(Vec::new());
        };
        Ok(parse_lines(&text, QUEUE_FILE))
    }

    fn write_events(&self, events: Vec<Event>) -> Result<(), QueueError> {
        if events.is_empty() {
            return fs::remove_file(self.path(QUEUE_FILE))
                .or_else(ignore_missing)
                .map_err(self.err(QUEUE_FILE, "delete"));
        }
        atomic_file::write(&self.path(QUEUE_FILE), jsonl(&events).as_bytes())
            .map_err(self.err(QUEUE_FILE, "write"))
    }

    fn read_next_batch(&self) -> Result<Option<Batch>, QueueError> {
        let text = read_optional(&self.path(NEXT_BATCH_FILE))
            .map_err(self.err(NEXT_BATCH_FILE, "read"))?;
        Ok(text.and_then(|t| match serde_json::from_str(&t) {
            Ok(batch) => Some(batch),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable telemetry batch dropped");
                None
            }
        }))
    }

    fn read_sent_log(&self) -> Result<Vec<SendRecord>, QueueError> {
        let text =
            read_optional(&self.path(SENT_LOG_FILE)).map_err(self.err(SENT_LOG_FILE, "read"))?;
        Ok(text
            .map(|t| parse_lines(&t, SENT_LOG_FILE))
            .unwrap_or_default())
    }
}

fn line_len(event: &Event) -> usize {
    serde_json::to_string(event)
        .map(|s| s.len() + 1)
        .unwrap_or(0)
}

fn jsonl<T: Serialize>(items: &[T]) -> String {
    let mut out = String::new();
    for item in items {
        if let Ok(line) = serde_json::to_string(item) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn parse_lines<T: for<'de> Deserialize<'de>>(text: &str, file: &str) -> Vec<T> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(item) => Some(item),
            Err(e) => {
                tracing::warn!(file, error = %e, "unreadable telemetry line dropped");
                None
            }
        })
        .collect()
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // Garbage bytes: treat like unreadable lines, never a hard stop.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// 128 random bits from the OS, as 32 hex digits.
fn new_batch_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An exclusive `flock` on the queue directory's lock file, released when
/// dropped (closing the file releases it, even if the process dies).
struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    fn acquire(path: &Path) -> io::Result<DirLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // Blocks only while another process rewrites a file of a few
            // hundred KB at most.
            // SAFETY: the descriptor is valid for the life of `file`.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(DirLock(file))
    }
}
