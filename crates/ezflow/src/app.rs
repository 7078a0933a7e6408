//! The always-on dictation app (`ezflow` with no arguments): starts the
//! tray, the control socket, the hotkey and the settings watch, then runs
//! one event loop that owns the dictation state — idle, recording,
//! transcribing — and reacts to hotkey, tray, socket, microphone and model
//! events.
//!
//! Idle is idle: the main thread blocks on one channel; every source (hotkey,
//! tray, socket, settings watch, signals, model lifecycle) is a thread that
//! blocks on its own descriptor and sends an event. The only timers are
//! one-shot deadlines: the model's idle unload (in the core) and the
//! "loading takes long" notification, armed only while a load runs.

mod settings_watch;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use ezflow_core::capture::{CaptureOptions, CapturedAudio, EndReason, Recording};
use ezflow_core::control::{self, ControlServer, Request, Response, StatsReport, StatusReport};
use ezflow_core::engine::{DecodeOptions, EncoderWindow, Transcript};
use ezflow_core::lifecycle::{LifecycleError, LifecycleEvent, ModelManager, ModelState};
use ezflow_core::models::ModelStore;
use ezflow_core::settings::{self, HotkeyMode, Settings};
use ezflow_core::stats::{DictationSample, DictationStats};
use ezflow_core::telemetry::schema::Surface;
use ezflow_core::telemetry::{Delivery, SendPolicy, Sender as TelemetrySender, Telemetry};
use ezflow_desktop::hotkey::{self, HotkeyEvent, HotkeyListener, Shortcut};
use ezflow_desktop::insert::{self, DisplayEnv, InsertMethod, TextInserter};
use ezflow_desktop::notify::Notifier;
use ezflow_desktop::tray::{self, Tray, TrayAction, TrayState, TrayView};

/// The RemoteDesktop portal's restore token, in the state directory.
const PORTAL_TOKEN_FILE: &str = "remote-desktop-portal.token";

/// A load that takes longer than this gets a desktop notification.
const SLOW_LOAD_NOTICE: Duration = Duration::from_secs(1);
/// Sets another delay for that notification, in milliseconds: the
/// end-to-end test uses it, as the test model loads faster than a second.
const SLOW_LOAD_NOTICE_ENV: &str = "EZFLOW_SLOW_LOAD_NOTICE_MS";

fn slow_load_notice() -> Duration {
    std::env::var(SLOW_LOAD_NOTICE_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(SLOW_LOAD_NOTICE, Duration::from_millis)
}

/// Everything that can wake the app.
enum AppEvent {
    Control(Request, Sender<Response>),
    Hotkey(HotkeyEvent),
    Tray(TrayAction),
    /// The microphone stopped by itself (max length, device lost).
    RecordingEnded(EndReason),
    /// A transcription finished on the worker thread.
    Transcribed(Result<Transcript, LifecycleError>, Duration, Duration),
    Lifecycle(LifecycleEvent),
    SettingsChanged,
    Quit,
}

enum Phase {
    Idle,
    Recording(Recording),
    /// Transcribing (and then inserting) on the worker thread; replies to
    /// send when it is done.
    Transcribing(Vec<Sender<Response>>),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Recording(_) => "recording",
            Phase::Transcribing(_) => "transcribing",
        }
    }
}

struct App {
    events: Sender<AppEvent>,
    settings: Settings,
    model_id: String,
    manager: Arc<ModelManager>,
    phase: Phase,
    tray: Option<Box<dyn Tray>>,
    hotkey: Option<Box<dyn HotkeyListener>>,
    hotkey_problem: Option<String>,
    notifier: Option<Notifier>,
    loading_notice: Option<u32>,
    /// When to tell the user a load is slow (one-shot, only while loading).
    slow_load_at: Option<Instant>,
    loading: bool,
    last_transcript: Option<String>,
    last_error: Option<String>,
    telemetry: Option<Telemetry>,
    telemetry_sender: Option<TelemetrySender>,
    /// When `main` began, for the uptime in `stats`.
    started: Instant,
    stats: DictationStats,
    /// When a load gets the "taking long" notification.
    slow_load_notice: Duration,
    /// How long the last successful load took (kept after an unload).
    last_load: Option<Duration>,
    /// Puts text into the focused window; kept between dictations.
    inserter: Option<Box<dyn TextInserter>>,
    /// `load` requests waiting for the model.
    pending_loads: Vec<Sender<Response>>,
    /// The dictation being recorded: its `capture` span (open while the
    /// microphone is).
    capture_span: Option<tracing::Span>,
    /// The dictation being transcribed: its span (from key-up to text, the
    /// operation the slow-operation log times) and when recording ended.
    dictation: Option<(tracing::Span, Instant)>,
}

/// Runs the app until Quit. `started` is when `main` began.
pub fn run(started: Instant) -> anyhow::Result<ExitCode> {
    // Signals go to a thread of their own; block them before any other
    // thread exists so none of them receives SIGTERM instead.
    let signal_mask = signals::block_quit_signals()?;

    // One instance: claiming the socket takes well under a millisecond, and
    // doing it first means a second start never flashes a second icon.
    let startup = tracing::info_span!("startup").entered();
    let socket = control::socket_path()?;
    let control_span = tracing::info_span!("control_socket").entered();
    let server = match ControlServer::bind(&socket) {
        Ok(server) => server,
        Err(control::ControlError::AlreadyRunning { .. }) => {
            eprintln!(
                "ezflow: EZ Flow is already running (control socket {}); use `ezflow toggle`, \
                 `ezflow status` or its tray icon",
                socket.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).context("cannot open the control socket"),
    };
    drop(control_span);
    let socket_done = started.elapsed();

    let (events, inbox) = mpsc::channel();
    let tray_events = events.clone();
    let first_view = TrayView {
        state: TrayState::Idle,
        model: String::new(),
        model_loaded: false,
        detail: None,
        telemetry_enabled: false,
        has_last_transcript: false,
        recording: false,
    };
    let tray_span = tracing::info_span!("tray").entered();
    let tray = match tray::start_tray(
        first_view,
        Box::new(move |action| {
            let _ = tray_events.send(AppEvent::Tray(action));
        }),
    ) {
        Ok(tray) => Some(tray),
        Err(e) => {
            tracing::warn!(
                "no tray icon ({e}); EZ Flow keeps running: use the hotkey or `ezflow toggle`"
            );
            None
        }
    };
    drop(tray_span);
    let tray_done = started.elapsed();

    signals::spawn_quit_listener(signal_mask, events.clone())?;
    let settings_span = tracing::info_span!("settings").entered();
    let settings = load_settings();
    crate::logging::set_slow_threshold(settings.slow_operation);
    drop(settings_span);
    let settings_done = started.elapsed();

    let store = ModelStore::open_default()?;
    let model_path = store
        .resolve(&settings.model)
        .unwrap_or_else(|_| store.path_for(&settings.model));
    let manager = Arc::new(ModelManager::new(model_path, settings.idle_unload));
    forward_lifecycle(&manager, events.clone())?;

    let handler_events = events.clone();
    let server = server
        .serve(move |request: Request| {
            let (reply, answer) = mpsc::channel();
            if handler_events
                .send(AppEvent::Control(request, reply))
                .is_err()
            {
                return Response::error("EZ Flow is shutting down");
            }
            answer
                .recv()
                .unwrap_or_else(|_| Response::error("EZ Flow is shutting down"))
        })
        .context("cannot serve the control socket")?;

    let mut app = App {
        events: events.clone(),
        model_id: settings.model.clone(),
        settings,
        manager,
        phase: Phase::Idle,
        tray,
        hotkey: None,
        hotkey_problem: None,
        notifier: None,
        loading_notice: None,
        slow_load_at: None,
        loading: false,
        last_transcript: None,
        last_error: None,
        telemetry: None,
        telemetry_sender: None,
        started,
        stats: DictationStats::new(StatsReport::RECENT),
        slow_load_notice: slow_load_notice(),
        last_load: None,
        pending_loads: Vec::new(),
        inserter: None,
        capture_span: None,
        dictation: None,
    };
    let hotkey_span = tracing::info_span!("hotkey").entered();
    app.start_hotkey();
    drop(hotkey_span);
    let hotkey_done = started.elapsed();
    app.start_telemetry();
    if let Err(e) = settings_watch::spawn(&settings_file()?, events.clone()) {
        tracing::warn!("settings changes will not be picked up until restart: {e}");
    }
    app.show();
    tracing::info!(
        "startup complete in {} ms (control socket {} ms, tray {} ms, settings {} ms, hotkey {} ms)",
        started.elapsed().as_millis(),
        socket_done.as_millis(),
        tray_done.as_millis(),
        settings_done.as_millis(),
        hotkey_done.as_millis()
    );
    drop(startup);

    app.run(inbox);
    server.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn settings_file() -> anyhow::Result<PathBuf> {
    Ok(ezflow_core::paths::settings_file()?)
}

fn load_settings() -> Settings {
    match Settings::load() {
        Ok(report) => {
            for problem in &report.problems {
                tracing::warn!("{problem}");
            }
            report.settings
        }
        Err(e) => {
            tracing::warn!("{e}; using the default settings");
            Settings::default()
        }
    }
}

fn forward_lifecycle(manager: &ModelManager, events: Sender<AppEvent>) -> anyhow::Result<()> {
    let lifecycle = manager.subscribe();
    thread::Builder::new()
        .name("lifecycle-events".into())
        .spawn(move || {
            for event in lifecycle {
                if events.send(AppEvent::Lifecycle(event)).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the lifecycle thread")?;
    Ok(())
}

impl App {
    fn run(&mut self, inbox: Receiver<AppEvent>) {
        loop {
            let event = match self.slow_load_at {
                None => match inbox.recv() {
                    Ok(event) => event,
                    Err(_) => return,
                },
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(event) => event,
                        Err(RecvTimeoutError::Timeout) => {
                            self.slow_load_at = None;
                            self.notify_slow_load();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            match event {
                AppEvent::Quit => break,
                AppEvent::Tray(TrayAction::Quit) => break,
                event => self.handle(event),
            }
        }
        tracing::info!("quitting");
        if let Phase::Recording(recording) = std::mem::replace(&mut self.phase, Phase::Idle) {
            recording.cancel();
        }
        if let Some(hotkey) = self.hotkey.take() {
            hotkey.stop();
        }
        if let Some(sender) = self.telemetry_sender.take() {
            sender.stop();
        }
        if let Some(tray) = self.tray.take() {
            tray.shutdown();
        }
    }

    fn handle(&mut self, event: AppEvent) {
        match event {
            AppEvent::Control(request, reply) => self.control(request, reply),
            AppEvent::Hotkey(HotkeyEvent::Pressed) => match self.settings.hotkey_mode {
                HotkeyMode::PushToTalk => self.start_recording(),
                HotkeyMode::Toggle => self.toggle(None),
            },
            AppEvent::Hotkey(HotkeyEvent::Released) => {
                if self.settings.hotkey_mode == HotkeyMode::PushToTalk {
                    self.stop_recording(None);
                }
            }
            AppEvent::Hotkey(HotkeyEvent::Lost { reason }) => {
                self.hotkey = None;
                self.hotkey_problem = Some(format!(
                    "the hotkey {} stopped working: {reason}; run `ezflow reload-settings` \
                     or restart EZ Flow to register it again",
                    self.settings.hotkey
                ));
                tracing::warn!("{}", self.hotkey_problem.as_deref().unwrap_or_default());
            }
            AppEvent::Tray(action) => self.tray_action(action),
            AppEvent::RecordingEnded(reason) => {
                if let EndReason::DeviceLost(why) = &reason {
                    self.set_error(format!(
                        "the microphone stopped ({why}); transcribing what was recorded"
                    ));
                }
                self.stop_recording(None);
            }
            AppEvent::Transcribed(result, audio, took) => self.finish(result, audio, took),
            AppEvent::Lifecycle(event) => self.lifecycle(event),
            AppEvent::SettingsChanged => self.reload_settings(),
            AppEvent::Quit => {}
        }
        self.show();
    }

    fn control(&mut self, request: Request, reply: Sender<Response>) {
        let response = match request {
            Request::Toggle => {
                self.toggle(Some(reply));
                return;
            }
            Request::Start => {
                self.start_recording();
                self.done_or_error()
            }
            Request::Stop => {
                self.stop_recording(Some(reply));
                return;
            }
            Request::Cancel => {
                if let Phase::Recording(recording) = std::mem::replace(&mut self.phase, Phase::Idle)
                {
                    recording.cancel();
                    self.capture_span = None;
                }
                Response::done(self.phase.name())
            }
            Request::Status => Response::Status(self.status()),
            Request::Unload => {
                self.manager.unload();
                Response::done(self.phase.name())
            }
            Request::ReloadSettings => {
                self.reload_settings();
                Response::done(self.phase.name())
            }
            Request::Load => {
                if self.manager.is_loaded() {
                    Response::done(self.phase.name())
                } else {
                    self.pending_loads.push(reply);
                    self.manager.preload();
                    return;
                }
            }
            Request::Stats => Response::Stats(self.stats_report()),
        };
        let _ = reply.send(response);
    }

    fn done_or_error(&self) -> Response {
        match (&self.phase, &self.last_error) {
            (Phase::Idle, Some(error)) => Response::error(error),
            _ => Response::done(self.phase.name()),
        }
    }

    fn status(&self) -> StatusReport {
        StatusReport {
            state: self.state_name().to_owned(),
            model: self.model_id.clone(),
            model_loaded: self.manager.is_loaded(),
            pid: std::process::id(),
            tray: self.tray.as_ref().is_some_and(|t| t.is_registered()),
            hotkey: self
                .hotkey
                .as_ref()
                .map(|h| format!("{} ({})", h.shortcut(), self.settings.hotkey_mode.as_str())),
            last_error: self.last_error.clone(),
        }
    }

    fn stats_report(&self) -> StatsReport {
        let memory = ezflow_core::memory::of_process("self");
        let now = SystemTime::now();
        let (loaded_since, last_load) = match self.manager.status().state {
            ModelState::Loaded {
                since, load_time, ..
            } => {
                let wall = now.checked_sub(since.elapsed()).unwrap_or(now);
                let secs = wall
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .ok();
                (secs, Some(load_time))
            }
            _ => (None, None),
        };
        let summary = self.stats.summary(now);
        StatsReport {
            pss_bytes: memory.as_ref().map(|m| m.pss),
            rss_bytes: memory.as_ref().map(|m| m.rss),
            uptime_secs: self.started.elapsed().as_secs(),
            model_loaded: loaded_since.is_some(),
            model_loaded_since: loaded_since,
            last_load_ms: last_load.or(self.last_load).map(|d| d.as_millis() as u64),
            dictations_today: summary.dictations_today,
            recent_dictations: summary.recent as u32,
            median_latency_ms: summary.median_latency.map(|d| d.as_millis() as u64),
            median_real_time_factor: summary.median_real_time_factor,
        }
    }

    fn state_name(&self) -> &'static str {
        match (&self.phase, self.loading) {
            (Phase::Idle, true) => "loading",
            (Phase::Idle, false) if self.has_problem() => "error",
            (phase, _) => phase.name(),
        }
    }

    fn toggle(&mut self, reply: Option<Sender<Response>>) {
        match self.phase {
            Phase::Idle => {
                self.start_recording();
                if let Some(reply) = reply {
                    let _ = reply.send(self.done_or_error());
                }
            }
            Phase::Recording(_) => self.stop_recording(reply),
            Phase::Transcribing(_) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Response::done("transcribing"));
                }
            }
        }
    }

    fn start_recording(&mut self) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        self.last_error = None;
        let options = CaptureOptions {
            device: Some(self.settings.microphone.clone()).filter(|m| !m.is_empty()),
            max_duration: self.settings.max_recording,
        };
        let events = self.events.clone();
        match Recording::start(&options, move |reason| {
            let _ = events.send(AppEvent::RecordingEnded(reason));
        }) {
            Ok(recording) => {
                tracing::info!(device = recording.device(), "recording");
                // The speaker sets this stage's length, so the slow-operation
                // log leaves it out (logging.rs).
                self.capture_span = Some(tracing::info_span!(
                    "capture",
                    paced_by_user = true,
                    device = recording.device()
                ));
                self.phase = Phase::Recording(recording);
                // The load overlaps the speech: it starts now, not at
                // key-up (and not at all when there is nothing to record).
                self.manager.preload();
            }
            Err(e) => self.set_error(e.to_string()),
        }
    }

    fn stop_recording(&mut self, reply: Option<Sender<Response>>) {
        let Phase::Recording(recording) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            if let Some(reply) = reply {
                let _ = reply.send(Response::done(self.phase.name()));
            }
            return;
        };
        self.capture_span = None;
        let stopped_at = Instant::now();
        let dictation = tracing::info_span!("dictation");
        let captured = match dictation.in_scope(|| recording.stop()) {
            Ok(captured) => captured,
            Err(e) => {
                self.set_error(e.to_string());
                if let Some(reply) = reply {
                    let _ = reply.send(Response::error(e));
                }
                return;
            }
        };
        self.phase = Phase::Transcribing(reply.into_iter().collect());
        self.dictation = Some((dictation.clone(), stopped_at));
        self.spawn_transcription(captured, dictation);
    }

    fn spawn_transcription(&mut self, captured: CapturedAudio, dictation: tracing::Span) {
        let manager = Arc::clone(&self.manager);
        let events = self.events.clone();
        let options = DecodeOptions {
            language: self.settings.language,
            threads: self.settings.threads.resolve(),
            window: EncoderWindow::Fitted,
        };
        let audio = captured.clip.duration();
        let spawned = thread::Builder::new()
            .name("transcription".into())
            .spawn(move || {
                let _in_dictation = dictation.enter();
                let started = Instant::now();
                let result = tracing::info_span!("transcribe")
                    .in_scope(|| manager.transcribe(captured.clip.samples(), &options));
                let _ = events.send(AppEvent::Transcribed(result, audio, started.elapsed()));
            });
        if let Err(e) = spawned {
            self.phase = Phase::Idle;
            self.dictation = None;
            self.set_error(format!("cannot start transcribing: {e}"));
        }
    }

    fn finish(
        &mut self,
        result: Result<Transcript, LifecycleError>,
        audio: Duration,
        took: Duration,
    ) {
        let replies = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Transcribing(replies) => replies,
            other => {
                self.phase = other;
                Vec::new()
            }
        };
        let dictation = self.dictation.take();
        let response = match result {
            Ok(transcript) => {
                if let Some(t) = &self.telemetry {
                    crate::telemetry::log_failure(t.record_transcription(
                        audio,
                        &self.model_id,
                        false,
                        took,
                    ));
                    if let Some(sender) = &self.telemetry_sender {
                        sender.recorded();
                    }
                }
                let text = transcript.text.trim().to_owned();
                tracing::info!(
                    audio_ms = audio.as_millis() as u64,
                    took_ms = took.as_millis() as u64,
                    chars = text.len(),
                    "dictation transcribed"
                );
                match dictation {
                    None => self.insert(&text),
                    Some((span, stopped_at)) => {
                        span.in_scope(|| self.insert(&text));
                        let sample = DictationSample {
                            audio,
                            latency: stopped_at.elapsed(),
                            transcription: took,
                        };
                        tracing::info!(
                            latency_ms = sample.latency.as_millis() as u64,
                            real_time_factor = sample.real_time_factor().unwrap_or_default(),
                            "dictation done"
                        );
                        self.stats.record(sample, SystemTime::now());
                        // Closing the span ends the operation the slow log times.
                        drop(span);
                    }
                }
                match &self.last_error {
                    Some(error) => Response::error(error),
                    None => Response::done("idle"),
                }
            }
            Err(e) => {
                self.set_error(e.to_string());
                Response::error(e)
            }
        };
        for reply in replies {
            let _ = reply.send(response.clone());
        }
    }

    /// Puts the transcript into the focused window. An empty transcript
    /// inserts nothing; a failed insertion leaves the text on the clipboard.
    fn insert(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let _span = tracing::info_span!("insert", chars = text.len()).entered();
        self.last_transcript = Some(text.to_owned());
        let method = match self.settings.insert_method {
            settings::InsertMethod::Paste => InsertMethod::Paste,
            settings::InsertMethod::Type => InsertMethod::Type,
        };
        let inserted = self
            .text_inserter()
            .and_then(|inserter| inserter.insert(text, method));
        if inserted.is_err() {
            // A broken X connection or a portal session the desktop ended:
            // the next dictation starts afresh.
            self.inserter = None;
        }
        if let Ok(done) = &inserted {
            tracing::info!(
                method = ?done.method,
                clipboard_restored = done.clipboard_restored,
                "text inserted"
            );
        }
        if let Err(e) = inserted {
            let kept = insert::clipboard()
                .and_then(|c| c.set_text(text))
                .map(|()| " The text is on the clipboard.")
                .unwrap_or("");
            self.set_error(format!("could not insert the text: {e}.{kept}"));
        }
    }

    /// The text inserter, made at the first dictation and kept: on Wayland
    /// it holds the desktop portal's session, which the user consents to
    /// once (remembered across restarts by a token in the state directory).
    fn text_inserter(&mut self) -> Result<&dyn TextInserter, insert::InsertError> {
        let inserter = match self.inserter.take() {
            Some(inserter) => inserter,
            None => {
                let token = ezflow_core::paths::state_dir()
                    .ok()
                    .map(|dir| dir.join(PORTAL_TOKEN_FILE));
                insert::text_inserter_with(&DisplayEnv::from_process(), token.as_deref())?
            }
        };
        Ok(&**self.inserter.insert(inserter))
    }

    fn set_error(&mut self, message: String) {
        tracing::warn!("{message}");
        self.last_error = Some(message);
    }

    fn tray_action(&mut self, action: TrayAction) {
        match action {
            TrayAction::ToggleDictation => self.toggle(None),
            TrayAction::UnloadModel => self.manager.unload(),
            TrayAction::OpenSettings => open_settings_file(),
            TrayAction::CopyLastTranscript => {
                if let Some(text) = &self.last_transcript {
                    if let Err(e) = insert::clipboard().and_then(|c| c.set_text(text)) {
                        self.set_error(format!("could not copy the last transcript: {e}"));
                    }
                }
            }
            TrayAction::SetTelemetry(enabled) => {
                let mut new = self.settings.clone();
                new.telemetry = enabled;
                if let Err(e) = new.save() {
                    self.set_error(format!("could not save the settings: {e}"));
                } else {
                    // The settings watch will also see the save; applying it
                    // now keeps the menu honest at once.
                    self.apply_settings(new);
                }
            }
            TrayAction::Quit => {}
        }
    }

    fn lifecycle(&mut self, event: LifecycleEvent) {
        match event {
            LifecycleEvent::LoadStarted { .. } => {
                self.loading = true;
                self.slow_load_at = Some(Instant::now() + self.slow_load_notice);
            }
            LifecycleEvent::Loaded { took, .. } => {
                tracing::info!("model loaded in {} ms", took.as_millis());
                self.last_load = Some(took);
                self.end_loading();
                for reply in self.pending_loads.drain(..) {
                    let _ = reply.send(Response::done(self.phase.name()));
                }
            }
            LifecycleEvent::LoadFailed { error, .. } => {
                self.end_loading();
                let message = format!("the model could not be loaded: {error}");
                for reply in self.pending_loads.drain(..) {
                    let _ = reply.send(Response::error(&message));
                }
                self.set_error(message);
            }
            LifecycleEvent::Unloaded { reason, .. } => {
                tracing::info!(?reason, "model unloaded");
            }
        }
    }

    fn end_loading(&mut self) {
        self.loading = false;
        self.slow_load_at = None;
        if let (Some(id), Some(notifier)) = (self.loading_notice.take(), &self.notifier) {
            notifier.close(id);
        }
    }

    fn notify_slow_load(&mut self) {
        if !self.loading {
            return;
        }
        if self.notifier.is_none() {
            match Notifier::connect() {
                Ok(n) => self.notifier = Some(n),
                Err(e) => {
                    tracing::info!("no desktop notifications: {e}");
                    return;
                }
            }
        }
        if let Some(notifier) = &self.notifier {
            match notifier.notify(
                "EZ Flow",
                &format!(
                    "Loading the {} model… your words will follow.",
                    self.model_id
                ),
                self.loading_notice,
            ) {
                Ok(id) => self.loading_notice = Some(id),
                Err(e) => tracing::info!("could not show a notification: {e}"),
            }
        }
    }

    /// Applies the settings file again. A hotkey that could not be
    /// registered (taken by another application, or lost) is tried again
    /// even when its setting is unchanged.
    fn reload_settings(&mut self) {
        let new = load_settings();
        crate::logging::set_slow_threshold(new.slow_operation);
        let retry_hotkey = self.hotkey.is_none() && new.hotkey == self.settings.hotkey;
        self.apply_settings(new);
        if retry_hotkey {
            self.start_hotkey();
        }
    }

    fn apply_settings(&mut self, new: Settings) {
        if new == self.settings {
            return;
        }
        tracing::info!("settings changed");
        let old = std::mem::replace(&mut self.settings, new);
        if old.model != self.settings.model {
            if let Ok(store) = ModelStore::open_default() {
                let path = store
                    .resolve(&self.settings.model)
                    .unwrap_or_else(|_| store.path_for(&self.settings.model));
                self.manager.set_model(path);
                self.model_id = self.settings.model.clone();
            }
        }
        if old.idle_unload != self.settings.idle_unload {
            self.manager.set_idle_unload(self.settings.idle_unload);
        }
        if old.hotkey != self.settings.hotkey {
            if let Some(hotkey) = self.hotkey.take() {
                hotkey.stop();
            }
            self.start_hotkey();
        }
        if old.telemetry != self.settings.telemetry
            || old.telemetry_endpoint != self.settings.telemetry_endpoint
        {
            if let Some(sender) = self.telemetry_sender.take() {
                sender.stop();
            }
            self.start_telemetry();
        }
    }

    fn start_hotkey(&mut self) {
        self.hotkey_problem = None;
        let shortcut: Shortcut = match self.settings.hotkey.parse() {
            Ok(s) => s,
            Err(e) => {
                self.hotkey_problem = Some(format!("hotkey {:?}: {e}", self.settings.hotkey));
                tracing::warn!("{}", self.hotkey_problem.as_deref().unwrap_or_default());
                return;
            }
        };
        let events = self.events.clone();
        match hotkey::listen(
            &shortcut,
            Box::new(move |event| {
                let _ = events.send(AppEvent::Hotkey(event));
            }),
        ) {
            Ok(listener) => self.hotkey = Some(listener),
            Err(e) => {
                self.hotkey_problem = Some(format!("hotkey {shortcut} not available: {e}"));
                tracing::warn!("{}", self.hotkey_problem.as_deref().unwrap_or_default());
            }
        }
    }

    fn start_telemetry(&mut self) {
        self.telemetry = crate::telemetry::open(&self.settings);
        let Some(t) = &self.telemetry else { return };
        if !t.is_enabled() {
            return;
        }
        crate::telemetry::log_failure(t.record_launch(Surface::App));
        let sender = TelemetrySender::spawn(
            t.clone(),
            Delivery::new(Duration::from_secs(30)),
            SendPolicy::default(),
        );
        sender.recorded();
        self.telemetry_sender = Some(sender);
    }

    /// Whether the tray should show the error state: the last dictation
    /// failed, or the hotkey does not work.
    fn has_problem(&self) -> bool {
        self.last_error.is_some() || self.hotkey_problem.is_some()
    }

    /// Brings the tray up to date with the state.
    fn show(&self) {
        let Some(tray) = &self.tray else { return };
        let state = match (&self.phase, self.loading) {
            (Phase::Recording(_), _) => TrayState::Recording,
            (Phase::Transcribing(_), true) => TrayState::Loading,
            (Phase::Transcribing(_), false) => TrayState::Transcribing,
            (Phase::Idle, true) => TrayState::Loading,
            (Phase::Idle, false) if self.has_problem() => TrayState::Error,
            (Phase::Idle, false) => TrayState::Idle,
        };
        tray.show(&TrayView {
            state,
            model: self.model_id.clone(),
            model_loaded: self.manager.is_loaded(),
            detail: self.last_error.clone().or(self.hotkey_problem.clone()),
            telemetry_enabled: self.settings.telemetry,
            has_last_transcript: self.last_transcript.is_some(),
            recording: matches!(self.phase, Phase::Recording(_)),
        });
    }
}

/// Opens the settings file in the user's editor (until the settings window
/// exists), creating it with every key first so there is something to edit.
fn open_settings_file() {
    let Ok(path) = ezflow_core::paths::settings_file() else {
        return;
    };
    if !path.exists() {
        if let Err(e) = Settings::default().save_to(&path) {
            tracing::warn!("could not create {}: {e}", path.display());
            return;
        }
    }
    if let Err(e) = std::process::Command::new("xdg-open").arg(&path).spawn() {
        tracing::warn!("could not open {} (xdg-open: {e})", path.display());
    }
}
