//! The model lifecycle: when the Whisper model is loaded and unloaded.
//!
//! This is the one place that decides it. The model is not loaded until a
//! transcription (or a [`ModelManager::preload`] at hotkey-down) asks for it;
//! concurrent first requests share one load (single-flight, waiting on a
//! condition variable, never sleep-polling); after the last use a one-shot
//! idle deadline is armed, and when it passes with nothing in flight the model
//! is dropped and freed heap is handed back to the OS. Every transition is
//! published as a [`LifecycleEvent`] to whoever subscribed (tray, log, tests).
//!
//! It does not know where clips come from or where text goes.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::engine::{DecodeOptions, EngineError, LoadedModel, Transcript};
use crate::memory;
use crate::model_file::ModelFileInfo;

/// A transition of the model's lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub enum LifecycleEvent {
    LoadStarted {
        model: PathBuf,
    },
    Loaded {
        model: PathBuf,
        took: Duration,
    },
    LoadFailed {
        model: PathBuf,
        error: String,
    },
    Unloaded {
        model: PathBuf,
        reason: UnloadReason,
    },
}

/// Why a model was unloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadReason {
    /// The idle deadline passed (or the policy is "immediately").
    Idle,
    /// Someone asked (tray menu, `ezflow unload`).
    Requested,
    /// Another model file was set ([`ModelManager::set_model`]).
    ModelChanged,
}

/// A transcription through the manager failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Loading the model failed; every request that waited on that load gets
    /// the same error.
    #[error("{0}")]
    Load(Arc<EngineError>),
    #[error(transparent)]
    Transcribe(EngineError),
}

/// Where the model stands now.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Unloaded,
    Loading,
    Loaded {
        since: Instant,
        load_time: Duration,
        description: ModelFileInfo,
    },
}

/// When the model is unloaded after its last use. The app maps its
/// `idle_unload` setting onto this; the lifecycle knows nothing of settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnloadPolicy {
    /// Keep the model loaded until the manager is dropped.
    Never,
    /// Unload as soon as each use ends.
    Immediately,
    /// Unload this long after the last use (a one-shot deadline, reset by
    /// every use).
    After(Duration),
}

/// A snapshot for status displays.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStatus {
    pub model: PathBuf,
    pub state: ModelState,
    pub unload_policy: UnloadPolicy,
    /// Loads since the manager was created (including failed ones).
    pub loads: u64,
}

type SharedModel = Arc<Mutex<LoadedModel>>;

enum Slot {
    Unloaded,
    Loading,
    Loaded {
        model: SharedModel,
        since: Instant,
        load_time: Duration,
        description: ModelFileInfo,
    },
}

struct State {
    model_path: PathBuf,
    unload_policy: UnloadPolicy,
    slot: Slot,
    /// Incremented when a load starts; waiters compare it to tell their own
    /// load's failure from a later one.
    load_generation: u64,
    last_failure: Option<(u64, Arc<EngineError>)>,
    /// Transcriptions (and preloads) holding the model right now.
    in_use: usize,
    /// Unload once the last user is done (requested while in use).
    unload_when_free: Option<UnloadReason>,
    /// The one pending timer: when an idle model should be unloaded.
    deadline: Option<Instant>,
    timer_started: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a load finishes (either way).
    load_finished: Condvar,
    /// Signalled when the idle deadline changes or the manager shuts down.
    deadline_changed: Condvar,
    subscribers: Mutex<Vec<Sender<LifecycleEvent>>>,
}

/// Owns the model's lifecycle. Create one per process and share it (`Arc`).
pub struct ModelManager {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment, so the data is
    // consistent even after a panic elsewhere: carry on rather than cascade.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ModelManager {
    /// A manager for the model file at `model_path`. Loads nothing.
    pub fn new(model_path: PathBuf, unload_policy: UnloadPolicy) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    model_path,
                    unload_policy,
                    slot: Slot::Unloaded,
                    load_generation: 0,
                    last_failure: None,
                    in_use: 0,
                    unload_when_free: None,
                    deadline: None,
                    timer_started: false,
                    shutdown: false,
                }),
                load_finished: Condvar::new(),
                deadline_changed: Condvar::new(),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Lifecycle events from now on. Dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<LifecycleEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Transcribes a 16 kHz mono clip, loading the model first if needed.
    ///
    /// Only this clip's own use holds the model's lock; status queries,
    /// preloads and unload requests never wait for a transcription.
    pub fn transcribe(
        &self,
        samples: &[f32],
        options: &DecodeOptions,
    ) -> Result<Transcript, LifecycleError> {
        let lease = self.shared.acquire()?;
        let result = lock(lease.model()).transcribe(samples, options);
        drop(lease);
        result.map_err(LifecycleError::Transcribe)
    }

    /// Starts loading the model in the background (at hotkey-down, so the
    /// load overlaps speech). Returns at once; a load already under way or
    /// done is not repeated.
    pub fn preload(&self) {
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("ezflow-preload".into())
            .spawn(move || {
                // The outcome is published as an event; nobody waits here.
                let _ = shared.acquire();
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start the preload thread: {e}");
        }
    }

    /// Unloads the model now, or as soon as the transcription in flight ends.
    pub fn unload(&self) {
        self.shared.unload_or_defer(UnloadReason::Requested);
    }

    /// Switches to another model file. A loaded model of the old file is
    /// unloaded (after the transcription in flight, if any).
    pub fn set_model(&self, model_path: PathBuf) {
        {
            let mut st = lock(&self.shared.state);
            if st.model_path == model_path {
                return;
            }
            st.model_path = model_path;
        }
        self.shared.unload_or_defer(UnloadReason::ModelChanged);
    }

    /// Changes the idle-unload policy; an idle loaded model is re-timed from
    /// now.
    pub fn set_unload_policy(&self, unload_policy: UnloadPolicy) {
        let mut st = lock(&self.shared.state);
        st.unload_policy = unload_policy;
        if st.in_use == 0 && matches!(st.slot, Slot::Loaded { .. }) {
            if unload_policy == UnloadPolicy::Immediately {
                let taken = take_loaded(&mut st);
                drop(st);
                self.shared.finish_unload(taken, UnloadReason::Idle);
            } else {
                self.shared.arm_deadline(&mut st);
            }
        }
    }

    /// Where the model stands.
    pub fn status(&self) -> ModelStatus {
        let st = lock(&self.shared.state);
        ModelStatus {
            model: st.model_path.clone(),
            state: match &st.slot {
                Slot::Unloaded => ModelState::Unloaded,
                Slot::Loading => ModelState::Loading,
                Slot::Loaded {
                    since,
                    load_time,
                    description,
                    ..
                } => ModelState::Loaded {
                    since: *since,
                    load_time: *load_time,
                    description: description.clone(),
                },
            },
            unload_policy: st.unload_policy,
            loads: st.load_generation,
        }
    }

    /// True while a model is in memory.
    pub fn is_loaded(&self) -> bool {
        matches!(lock(&self.shared.state).slot, Slot::Loaded { .. })
    }
}

impl Drop for ModelManager {
    fn drop(&mut self) {
        // Ends the idle timer thread; a model still loaded is freed when the
        // last internal reference (a preload in flight) goes.
        let mut st = lock(&self.shared.state);
        st.shutdown = true;
        self.shared.deadline_changed.notify_all();
    }
}

/// Takes the loaded model out of the slot, leaving it unloaded.
fn take_loaded(st: &mut State) -> Option<(SharedModel, ModelFileInfo)> {
    st.deadline = None;
    match std::mem::replace(&mut st.slot, Slot::Unloaded) {
        Slot::Loaded {
            model, description, ..
        } => Some((model, description)),
        other => {
            st.slot = other;
            None
        }
    }
}

impl Shared {
    /// The model for one use, loading it if needed. Exactly one caller loads;
    /// the others wait for its result.
    fn acquire(self: &Arc<Self>) -> Result<Lease, LifecycleError> {
        let mut st = lock(&self.state);
        loop {
            match &st.slot {
                Slot::Loaded { model, .. } => {
                    let model = Arc::clone(model);
                    st.in_use += 1;
                    st.deadline = None;
                    return Ok(Lease {
                        shared: Arc::clone(self),
                        model: Some(model),
                    });
                }
                Slot::Loading => {
                    let generation = st.load_generation;
                    st = self
                        .load_finished
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                    if let (Slot::Unloaded, Some((failed, error))) = (&st.slot, &st.last_failure) {
                        if *failed == generation {
                            return Err(LifecycleError::Load(Arc::clone(error)));
                        }
                    }
                }
                Slot::Unloaded => {
                    st.slot = Slot::Loading;
                    st.load_generation += 1;
                    let generation = st.load_generation;
                    let path = st.model_path.clone();
                    drop(st);
                    let result = self.load(&path);
                    st = lock(&self.state);
                    self.load_finished.notify_all();
                    // The event goes out once the state says what it says,
                    // so that a subscriber that asks `status` on hearing it
                    // sees the load's end.
                    match result {
                        Ok((model, load_time)) => {
                            let description = model.info().clone();
                            st.slot = Slot::Loaded {
                                model: Arc::new(Mutex::new(model)),
                                since: Instant::now(),
                                load_time,
                                description,
                            };
                            self.emit(LifecycleEvent::Loaded {
                                model: path,
                                took: load_time,
                            });
                            // Loop round and take the model like any caller.
                        }
                        Err(error) => {
                            let error = Arc::new(error);
                            st.slot = Slot::Unloaded;
                            st.last_failure = Some((generation, Arc::clone(&error)));
                            self.emit(LifecycleEvent::LoadFailed {
                                model: path,
                                error: error.to_string(),
                            });
                            return Err(LifecycleError::Load(error));
                        }
                    }
                }
            }
        }
    }

    fn load(&self, path: &Path) -> Result<(LoadedModel, Duration), EngineError> {
        self.emit(LifecycleEvent::LoadStarted {
            model: path.to_path_buf(),
        });
        tracing::info!(model = %path.display(), "loading model");
        let started = Instant::now();
        match LoadedModel::load(path) {
            Ok(model) => {
                let took = started.elapsed();
                tracing::info!(model = %path.display(), ms = took.as_millis() as u64, "model loaded");
                Ok((model, took))
            }
            Err(error) => {
                tracing::warn!(model = %path.display(), "model load failed: {error}");
                Err(error)
            }
        }
    }

    /// Called when a use ends (its model reference already dropped).
    fn release(self: &Arc<Self>) {
        let mut st = lock(&self.state);
        st.in_use = st.in_use.saturating_sub(1);
        if st.in_use > 0 {
            return;
        }
        let reason = match st.unload_when_free.take() {
            Some(reason) => reason,
            None if st.unload_policy == UnloadPolicy::Immediately => UnloadReason::Idle,
            None => {
                self.arm_deadline(&mut st);
                return;
            }
        };
        let taken = take_loaded(&mut st);
        drop(st);
        self.finish_unload(taken, reason);
    }

    /// Unloads now if nobody is using the model, else once the last user is
    /// done.
    fn unload_or_defer(self: &Arc<Self>, reason: UnloadReason) {
        let mut st = lock(&self.state);
        match st.slot {
            Slot::Unloaded => {}
            Slot::Loaded { .. } if st.in_use == 0 => {
                let taken = take_loaded(&mut st);
                drop(st);
                self.finish_unload(taken, reason);
            }
            // In use, or still loading: the load's own caller holds a use.
            _ => st.unload_when_free = Some(reason),
        }
    }

    /// Sets the idle deadline for the current policy, counted from now.
    fn arm_deadline(self: &Arc<Self>, st: &mut State) {
        st.deadline = match st.unload_policy {
            UnloadPolicy::After(after) => Some(Instant::now() + after),
            UnloadPolicy::Never | UnloadPolicy::Immediately => None,
        };
        if st.deadline.is_some() && !st.timer_started {
            st.timer_started = true;
            self.start_idle_timer();
        }
        self.deadline_changed.notify_all();
    }

    /// Frees a model taken out of the slot. Runs without the lock held: the
    /// free of hundreds of MB must not block status queries.
    fn finish_unload(&self, taken: Option<(SharedModel, ModelFileInfo)>, reason: UnloadReason) {
        let Some((model, description)) = taken else {
            return;
        };
        drop(model);
        memory::release_freed_memory();
        tracing::info!(model = %description.path.display(), ?reason, "model unloaded");
        self.emit(LifecycleEvent::Unloaded {
            model: description.path,
            reason,
        });
    }

    /// The idle timer: one thread that sleeps on a condition variable until
    /// the deadline, or indefinitely while there is none. No periodic
    /// wake-ups.
    fn start_idle_timer(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ezflow-idle-unload".into())
            .spawn(move || shared.run_idle_timer());
        if let Err(e) = spawned {
            tracing::warn!("could not start the idle-unload timer; the model stays loaded: {e}");
        }
    }

    fn run_idle_timer(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.shutdown {
                return;
            }
            let Some(deadline) = st.deadline else {
                st = self
                    .deadline_changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let now = Instant::now();
            if now < deadline {
                st = self
                    .deadline_changed
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            st.deadline = None;
            if st.in_use == 0 {
                let taken = take_loaded(&mut st);
                drop(st);
                self.finish_unload(taken, UnloadReason::Idle);
                st = lock(&self.state);
            }
        }
    }

    fn emit(&self, event: LifecycleEvent) {
        lock(&self.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }
}

/// One use of the loaded model; ending it re-arms the idle deadline.
struct Lease {
    shared: Arc<Shared>,
    /// `Some` until drop; dropped before `release` so an unload there frees
    /// the model's memory for real.
    model: Option<SharedModel>,
}

impl Lease {
    fn model(&self) -> &Mutex<LoadedModel> {
        match &self.model {
            Some(model) => model,
            None => unreachable!("a lease holds its model until dropped"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.model.take());
        self.shared.release();
    }
}
