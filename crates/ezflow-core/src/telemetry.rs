//! Opt-in anonymous usage telemetry, the client side: records events only
//! while the user has said yes, keeps them in a bounded queue on disk, and
//! delivers them in batches to the collector.
//!
//! Owns consent (the settings' `telemetry` key is the switch; turning it off
//! deletes the queue at once), the queue and the delivery. Must never delay
//! or fail the work it observes: [`Telemetry::record`] only appends to a
//! small file, and delivery happens after the work is done or on a
//! background thread that sleeps on a channel while the queue is empty.
//! The event format is [`ezflow_telemetry_schema`]; `docs/telemetry.md`
//! documents every field.

mod context;
mod delivery;
mod queue;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ezflow_telemetry_schema as schema;
use schema::{AudioBucket, Batch, EventKind, Hour, Surface};

pub use context::Context;
pub use delivery::{Delivery, SendOutcome, SendPolicy, Sender, EVENTS_PATH};
pub use queue::{Limits, QueueError, SendRecord};

use ezflow_config::{paths, settings::Settings};

/// Set to print each batch to stderr instead of sending it (the batch then
/// counts as delivered and is kept in the sent log, marked as printed).
pub const PRINT_ENV: &str = "EZFLOW_TELEMETRY_PRINT";

/// The endpoint this build reports to, fixed when it was compiled
/// (`EZFLOW_TELEMETRY_ENDPOINT=https://… cargo build`). A build without one
/// sends nothing unless the settings name an endpoint.
pub const BUILD_ENDPOINT: Option<&str> = option_env!("EZFLOW_TELEMETRY_ENDPOINT");

/// Where the endpoint in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    Settings,
    Build,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Paths(#[from] paths::PathsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What `ezflow telemetry status` shows.
#[derive(Debug, Clone)]
pub struct Status {
    pub enabled: bool,
    pub endpoint: Option<(String, EndpointSource)>,
    /// Events waiting, in the queue and in the next batch.
    pub queued: usize,
    pub oldest_queued: Option<Hour>,
    pub last_send: Option<SendRecord>,
    pub dir: PathBuf,
}

/// The telemetry client for one process: consent, queue and endpoint, as
/// the settings had them when it was opened.
#[derive(Debug, Clone)]
pub struct Telemetry {
    enabled: bool,
    endpoint: Option<(String, EndpointSource)>,
    queue: queue::Queue,
    context: Context,
}

impl Telemetry {
    /// Opens the client in the usual directory (`telemetry/` in the data
    /// directory) with consent and endpoint from `settings`. If consent is
    /// off, anything a previous run left queued is deleted here.
    pub fn open(settings: &Settings, context: Context) -> Result<Telemetry, TelemetryError> {
        let dir = paths::data_dir()?.join("telemetry");
        Telemetry::open_in(&dir, settings, context)
    }

    /// [`Telemetry::open`] with an explicit directory.
    pub fn open_in(
        dir: &Path,
        settings: &Settings,
        context: Context,
    ) -> Result<Telemetry, TelemetryError> {
        let endpoint = if !settings.telemetry_endpoint.is_empty() {
            Some((
                settings.telemetry_endpoint.clone(),
                EndpointSource::Settings,
            ))
        } else {
            BUILD_ENDPOINT
                .filter(|e| !e.is_empty())
                .map(|e| (e.to_owned(), EndpointSource::Build))
        };
        let telemetry = Telemetry {
            enabled: settings.telemetry,
            endpoint,
            queue: queue::Queue::new(dir, Limits::default()),
            context,
        };
        if !telemetry.enabled {
            telemetry.queue.clear()?;
        }
        Ok(telemetry)
    }

    /// Replaces the queue bounds (tests use small ones).
    pub fn with_limits(mut self, limits: Limits) -> Telemetry {
        self.queue = queue::Queue::new(self.queue.dir(), limits);
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|(e, _)| e.as_str())
    }

    pub fn dir(&self) -> &Path {
        self.queue.dir()
    }

    /// Queues one event if the user has consented; does nothing otherwise.
    /// Returns whether it was queued. Callers log an error and go on: a
    /// failure here must never fail their work.
    pub fn record(&self, event: EventKind) -> Result<bool, TelemetryError> {
        if !self.enabled {
            return Ok(false);
        }
        let event = self.context.event(Hour::now(), event);
        self.queue.push(event)?;
        tracing::debug!(dir = %self.queue.dir().display(), "telemetry event queued");
        Ok(true)
    }

    /// Records that this program started.
    pub fn record_launch(&self, surface: Surface) -> Result<bool, TelemetryError> {
        self.record(EventKind::AppLaunched { surface })
    }

    /// Records a finished transcription: the audio length as a bucket, the
    /// model as a catalog id (anything else is `custom`), and the real-time
    /// factor rounded to two decimals.
    pub fn record_transcription(
        &self,
        audio: Duration,
        model: &str,
        gpu: bool,
        took: Duration,
    ) -> Result<bool, TelemetryError> {
        let seconds = audio.as_secs_f64();
        if seconds <= 0.0 {
            return Ok(false);
        }
        let rtf = schema::round_real_time_factor(took.as_secs_f64() / seconds)
            .clamp(0.01, schema::MAX_REAL_TIME_FACTOR);
        self.record(EventKind::TranscriptionCompleted {
            audio: AudioBucket::of_seconds(seconds),
            model: catalog_model_id(model),
            gpu,
            real_time_factor: rtf,
        })
    }

    /// Records a verified download of a catalog model.
    pub fn record_download(&self, model: &str) -> Result<bool, TelemetryError> {
        self.record(EventKind::ModelDownloaded {
            model: catalog_model_id(model),
        })
    }

    /// Consent withdrawn: deletes every queued event and the next batch at
    /// once. The sent log (what already left) is kept for the user.
    pub fn forget_pending(&self) -> Result<(), TelemetryError> {
        Ok(self.queue.clear()?)
    }

    /// The exact batch that will be sent next, if any events are waiting.
    /// It is fixed here (with its batch id), so what the user previews is
    /// byte for byte what goes out.
    pub fn preview(&self) -> Result<Option<Batch>, TelemetryError> {
        if !self.enabled {
            return Ok(None);
        }
        Ok(self.queue.next_batch(schema::unix_now())?)
    }

    pub fn status(&self) -> Result<Status, TelemetryError> {
        let (queued, oldest_queued) = self.queue.pending()?;
        Ok(Status {
            enabled: self.enabled,
            endpoint: self.endpoint.clone(),
            queued,
            oldest_queued,
            last_send: self.queue.last_send()?,
            dir: self.queue.dir().to_path_buf(),
        })
    }

    /// The local copy of what was sent, oldest first.
    pub fn sent_log(&self) -> Result<Vec<SendRecord>, TelemetryError> {
        Ok(self.queue.sent_log()?)
    }

    /// Sends every waiting batch now, stopping at the first failure. Does
    /// nothing (and opens no connection) without consent or an endpoint.
    pub fn send_pending(&self, delivery: &Delivery) -> Result<SendOutcome, TelemetryError> {
        if !self.enabled {
            return Ok(SendOutcome::Disabled);
        }
        Ok(delivery.send_pending(&self.queue, self.endpoint())?)
    }
}

/// A catalog model id as sent, or `custom`: a model file of the user's own
/// could be named after anything, so its name never leaves the machine.
pub fn catalog_model_id(model: &str) -> String {
    if crate::catalog::find(model).is_some() {
        model.to_owned()
    } else {
        "custom".to_owned()
    }
}
