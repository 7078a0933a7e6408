//! Delivery of queued telemetry batches: one HTTP POST per batch, what each
//! answer means (2xx delivered, 4xx refused for good and dropped, 429, 5xx
//! and network errors retried later with the same batch id), and a
//! background [`Sender`] for the long-running app.
//!
//! The sender sleeps on a channel while nothing is queued; the only timer it
//! ever arms is a one-shot deadline while events wait (gathering a batch, or
//! backing off after a failure). A command-line run instead calls
//! [`Delivery::send_pending`] once, after its own work is done.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ezflow_telemetry_schema::{self as schema, Batch};

use super::queue::{Queue, QueueError, SendRecord};
use super::{Telemetry, PRINT_ENV};

/// The collector's path for batches, under the configured endpoint.
pub const EVENTS_PATH: &str = "/v1/events";

/// What one call to send everything waiting achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Consent is off: nothing was looked at or sent.
    Disabled,
    /// Events wait, but no endpoint is configured: nothing was sent.
    NoEndpoint { queued: usize },
    /// The queue is empty now. `dropped` batches were refused by the
    /// collector (4xx) and discarded.
    Done {
        batches: usize,
        events: usize,
        dropped: usize,
    },
    /// Some batches went, then one failed in a way worth retrying; it stays
    /// queued with its batch id.
    RetryLater {
        batches: usize,
        events: usize,
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// How batches leave the machine: over HTTP with a timeout, or printed to
/// stderr when [`PRINT_ENV`] is set.
#[derive(Debug, Clone)]
pub struct Delivery {
    agent: ureq::Agent,
    print: bool,
}

impl Delivery {
    /// HTTP delivery with `timeout` for the whole request; printing instead
    /// if [`PRINT_ENV`] is set to anything but empty or `0`.
    pub fn new(timeout: Duration) -> Delivery {
        let print = std::env::var(PRINT_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        Delivery {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(timeout.min(Duration::from_secs(5)))
                .timeout(timeout)
                .redirects(0)
                .build(),
            print,
        }
    }

    /// Sends batch after batch until the queue is empty or a send fails.
    pub(crate) fn send_pending(
        &self,
        queue: &Queue,
        endpoint: Option<&str>,
    ) -> Result<SendOutcome, QueueError> {
        let (mut batches, mut events, mut dropped) = (0, 0, 0);
        if endpoint.is_none() && !self.print {
            let (queued, _) = queue.pending()?;
            return Ok(if queued == 0 {
                SendOutcome::Done {
                    batches,
                    events,
                    dropped,
                }
            } else {
                SendOutcome::NoEndpoint { queued }
            });
        }
        let endpoint = endpoint.unwrap_or("(printed)");
        while let Some(batch) = queue.next_batch(schema::unix_now())? {
            let count = batch.events.len();
            let record = |delivered: bool, outcome: String, batch: Option<Batch>| SendRecord {
                at: schema::unix_now(),
                endpoint: endpoint.to_owned(),
                delivered,
                outcome,
                batch,
            };
            match self.post(endpoint, &batch) {
                Answer::Delivered(how) => {
                    queue.finish_batch(
                        &batch.batch_id,
                        record(true, format!("{how} {count} events"), Some(batch.clone())),
                    )?;
                    batches += 1;
                    events += count;
                }
                Answer::Refused(reason) => {
                    tracing::warn!(%reason, "collector refused a telemetry batch; dropped it");
                    queue.finish_batch(
                        &batch.batch_id,
                        record(false, format!("dropped {count} events: {reason}"), None),
                    )?;
                    dropped += 1;
                }
                Answer::Retry {
                    reason,
                    retry_after,
                } => {
                    tracing::debug!(%reason, "telemetry batch not delivered; will retry");
                    queue.note_attempt(&record(false, format!("will retry: {reason}"), None))?;
                    return Ok(SendOutcome::RetryLater {
                        batches,
                        events,
                        reason,
                        retry_after,
                    });
                }
            }
        }
        Ok(SendOutcome::Done {
            batches,
            events,
            dropped,
        })
    }

    fn post(&self, endpoint: &str, batch: &Batch) -> Answer {
        let Ok(body) = serde_json::to_string(batch) else {
            return Answer::Refused("the batch could not be written as JSON".to_owned());
        };
        if self.print {
            eprintln!("{PRINT_ENV}: batch that would be sent to {endpoint}:\n{body}");
            return Answer::Delivered("printed");
        }
        let url = format!("{}{EVENTS_PATH}", endpoint.trim_end_matches('/'));
        match self
            .agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body)
        {
            Ok(_) => Answer::Delivered("delivered"),
            Err(ureq::Error::Status(code, response)) => {
                let retry_after = response
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let reason = format!("{code} {}", error_text(response));
                if code == 408 || code == 429 || code >= 500 {
                    Answer::Retry {
                        reason,
                        retry_after,
                    }
                } else {
                    Answer::Refused(reason)
                }
            }
            Err(ureq::Error::Transport(t)) => Answer::Retry {
                reason: t.to_string(),
                retry_after: None,
            },
        }
    }
}

enum Answer {
    Delivered(&'static str),
    Refused(String),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// The collector's one-line reason (`{"error": …}`), or the status text.
fn error_text(response: ureq::Response) -> String {
    let status = response.status_text().to_owned();
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(
        &mut std::io::Read::take(response.into_reader(), 4096),
        &mut body,
    );
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or(status)
}

/// When the background sender sends.
#[derive(Debug, Clone, Copy)]
pub struct SendPolicy {
    /// After the first event of a quiet period, wait this long so that the
    /// events of a session travel in one batch.
    pub gather: Duration,
    /// First wait after a failed send; doubles on each failure.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for SendPolicy {
    fn default() -> Self {
        SendPolicy {
            gather: Duration::from_secs(10 * 60),
            first_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(6 * 3600),
        }
    }
}

enum Wake {
    Recorded,
    Stop,
}

/// The long-running app's delivery thread. [`Sender::recorded`] after each
/// recorded event; the thread gathers, sends, and backs off on failure.
pub struct Sender {
    wake: mpsc::Sender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    /// Starts the thread. Anything already queued is sent after one
    /// gathering period.
    pub fn spawn(telemetry: Telemetry, delivery: Delivery, policy: SendPolicy) -> Sender {
        let (wake, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || run_sender(telemetry, delivery, policy, rx))
            .ok();
        Sender { wake, thread }
    }

    /// Tells the thread an event was queued.
    pub fn recorded(&self) {
        let _ = self.wake.send(Wake::Recorded);
    }

    /// Stops the thread; queued events stay for the next start.
    pub fn stop(mut self) {
        let _ = self.wake.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_sender(
    telemetry: Telemetry,
    delivery: Delivery,
    policy: SendPolicy,
    rx: mpsc::Receiver<Wake>,
) {
    let has_pending = |t: &Telemetry| t.status().map(|s| s.queued > 0).unwrap_or(false);
    let mut deadline = has_pending(&telemetry).then(|| Instant::now() + policy.gather);
    let mut backoff = policy.first_backoff;
    loop {
        let wake = match deadline {
            // Nothing waits: block until an event is recorded.
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match wake {
            Ok(Wake::Recorded) => {
                deadline.get_or_insert_with(|| Instant::now() + policy.gather);
            }
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => match telemetry.send_pending(&delivery) {
                Ok(SendOutcome::RetryLater { retry_after, .. }) => {
                    let wait = retry_after.unwrap_or(backoff).max(backoff);
                    deadline = Some(Instant::now() + wait);
                    backoff = (backoff * 2).min(policy.max_backoff);
                }
                Ok(_) => {
                    deadline = None;
                    backoff = policy.first_backoff;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telemetry queue unusable; not sending");
                    deadline = None;
                }
            },
        }
    }
}
