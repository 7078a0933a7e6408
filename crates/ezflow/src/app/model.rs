//! The model as the loop sees it: which model the settings name and where
//! its file is (resolved here only), how long the last load took, and the
//! one-shot "loading takes long" notification. Whether the model is loaded
//! or loading is never kept here: it is read from the manager each time
//! ([`ModelLoad`], through `Transcriber::model_load`), so the loop cannot
//! disagree with it; lifecycle events only time the notice and end waits.
//!
//! It must not start or stop loads (the dictation and the control requests
//! do, through the transcriber) nor answer requests (`replies.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ezflow_core::lifecycle::{LifecycleEvent, ModelState};
use ezflow_core::models::{ModelStore, ModelsError};

use super::desktop::{Desktop, Notification};

/// A load that takes longer than this gets a desktop notification.
const SLOW_LOAD_NOTICE: Duration = Duration::from_secs(1);
/// Sets another delay for that notification, in milliseconds: the
/// end-to-end test uses it, as the test model loads faster than a second.
const SLOW_LOAD_NOTICE_ENV: &str = "EZFLOW_SLOW_LOAD_NOTICE_MS";

/// The slow-load notice's delay: [`SLOW_LOAD_NOTICE`] unless the
/// environment sets another.
pub fn slow_load_notice() -> Duration {
    std::env::var(SLOW_LOAD_NOTICE_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(SLOW_LOAD_NOTICE, Duration::from_millis)
}

/// The model file for the `model` setting (an id from the store, or a
/// path): the installed file if there is one, otherwise where the store
/// would put it (so a later download is found, and a load says what is
/// missing).
pub fn model_path(id_or_path: &str) -> Result<PathBuf, ModelsError> {
    let store = ModelStore::open_default()?;
    Ok(store
        .resolve(id_or_path)
        .unwrap_or_else(|_| store.path_for(id_or_path)))
}

/// Where the model stands, as the manager says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelLoad {
    Unloaded,
    Loading,
    Loaded { since: Instant, load_time: Duration },
}

impl ModelLoad {
    pub fn is_loaded(self) -> bool {
        matches!(self, ModelLoad::Loaded { .. })
    }

    pub fn is_loading(self) -> bool {
        self == ModelLoad::Loading
    }
}

impl From<&ModelState> for ModelLoad {
    fn from(state: &ModelState) -> Self {
        match state {
            ModelState::Unloaded => ModelLoad::Unloaded,
            ModelState::Loading => ModelLoad::Loading,
            ModelState::Loaded {
                since, load_time, ..
            } => ModelLoad::Loaded {
                since: *since,
                load_time: *load_time,
            },
        }
    }
}

/// How a load ended, for the requests that waited for it.
#[derive(Debug, PartialEq, Eq)]
pub enum LoadEnded {
    Loaded,
    Failed(String),
}

pub struct Model {
    /// The model the settings name (id or path), as the tray and `status`
    /// show it.
    pub id: String,
    /// How long the last successful load took; kept after an unload, when
    /// the manager no longer knows.
    last_load: Option<Duration>,
    notice: LoadNotice,
}

impl Model {
    pub fn new(id: String, notice_delay: Duration) -> Self {
        Model {
            id,
            last_load: None,
            notice: LoadNotice {
                delay: notice_delay,
                due: None,
                notification: Notification::default(),
            },
        }
    }

    pub fn last_load(&self) -> Option<Duration> {
        self.last_load
    }

    /// When the slow-load notice is due; the loop's only timer.
    pub fn notice_due_at(&self) -> Option<Instant> {
        self.notice.due
    }

    /// Follows a lifecycle event; says how a load ended when it did.
    pub fn lifecycle(&mut self, event: LifecycleEvent, now: Instant) -> Option<LoadEnded> {
        match event {
            LifecycleEvent::LoadStarted { .. } => {
                self.notice.due = Some(now + self.notice.delay);
                None
            }
            LifecycleEvent::Loaded { took, .. } => {
                tracing::info!("model loaded in {} ms", took.as_millis());
                self.last_load = Some(took);
                self.notice.end();
                Some(LoadEnded::Loaded)
            }
            LifecycleEvent::LoadFailed { error, .. } => {
                self.notice.end();
                Some(LoadEnded::Failed(format!(
                    "the model could not be loaded: {error}"
                )))
            }
            LifecycleEvent::Unloaded { reason, .. } => {
                tracing::info!(?reason, "model unloaded");
                None
            }
        }
    }

    /// The notice's time has come: shows it if the model is still loading.
    pub fn notice_due(&mut self, load: ModelLoad, desktop: &dyn Desktop) {
        self.notice.due = None;
        if load.is_loading() {
            self.notice.show(&self.id, desktop);
        }
    }
}

/// The "loading takes long" notification: armed when a load starts, shown
/// once if it is still loading when due, closed when the load ends.
struct LoadNotice {
    delay: Duration,
    due: Option<Instant>,
    notification: Notification,
}

impl LoadNotice {
    fn show(&mut self, model: &str, desktop: &dyn Desktop) {
        self.notification.show(
            &format!("Loading the {model} model… your words will follow."),
            desktop,
        );
    }

    fn end(&mut self) {
        self.due = None;
        self.notification.close();
    }
}
