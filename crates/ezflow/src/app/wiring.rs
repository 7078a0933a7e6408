//! The wiring: starts the app's parts in order and hands the real ones to
//! the event loop.
//!
//! ```text
//! block SIGINT/SIGTERM ─▶ bind control socket (single instance) ─▶ tray
//!   ─▶ settings ─▶ model manager ─▶ serve socket ─▶ hotkey ─▶ telemetry
//!   ─▶ settings watch ─▶ "startup complete in N ms" ─▶ event loop
//! ```
//!
//! The order is the user's: the socket first, so a second start never
//! flashes a second icon; the tray next, so the icon is up within
//! milliseconds. Below `run` are the real implementations of the loop's
//! traits (`desktop.rs`, `speech.rs`, `telemetry.rs`,
//! `settings_change.rs`), thin adapters over `ezflow_desktop`,
//! `ezflow_core` and `ezflow_config`.
//!
//! It must not hold a rule of the loop: what an event does is decided in
//! the parts, so that the unit tests cover it.

use std::io;
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ezflow_config::settings::{Settings, SettingsError};
use ezflow_control::{self as control, ControlServer, Request, Response};
use ezflow_core::audio::Clip;
use ezflow_core::capture::{
    self, CaptureError, CaptureOptions, CapturedAudio, LevelMeter, OnFailure, OnLevel, Recording,
};
use ezflow_core::engine::DecodeOptions;
use ezflow_core::lifecycle::{ModelManager, UnloadPolicy};
use ezflow_core::models::ModelStore;
use ezflow_core::telemetry::schema::Surface;
use ezflow_core::telemetry::{Delivery, SendPolicy, Sender as TelemetrySender, Telemetry};
use ezflow_desktop::hotkey::{self, HotkeyError, HotkeyListener, Shortcut};
use ezflow_desktop::insert::{self, DisplayEnv, InsertError, TextInserter};
use ezflow_desktop::notify::{Notifier, NotifyError};
use ezflow_desktop::tray::{self, TrayState, TrayView};

use super::autostart::{Autostart, XdgAutostart};
use super::desktop::{Desktop, Notices};
use super::downloads::{LibraryEvents, StoreLibrary};
use super::event::AppEvent;
use super::event_loop::{App, Parts};
use super::model::{self, ModelLoad};
use super::publish::EventSink;
use super::replies::Reply;
use super::settings_change::SettingsFile;
use super::settings_window::WindowLauncher;
use super::speech::{
    LiveMeter, LiveRecording, Microphone, OnRecordingEnd, OnTranscribed, Transcriber, Transcription,
};
use super::telemetry::UsageTelemetry;
use super::{settings_watch, signals};
use crate::engine_options;

/// The RemoteDesktop portal's restore token, in the state directory.
const PORTAL_TOKEN_FILE: &str = "remote-desktop-portal.token";
/// Set to `1` to keep the first run (and a dictation with no model) from
/// opening the settings window (tests and CI, where a window would be in
/// the way).
pub const NO_FIRST_RUN_ENV: &str = "EZFLOW_NO_FIRST_RUN";

/// Runs the app until Quit. `started` is when `main` began.
pub fn run(started: Instant, launcher: bool) -> anyhow::Result<ExitCode> {
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
        Err(control::ControlError::AlreadyRunning { .. }) if launcher => {
            // A second click on the launcher of a running desktop app brings
            // up its window.
            return Ok(match control::send(&socket, &Request::OpenSettings) {
                Ok(Response::Error { error }) => {
                    eprintln!("ezflow: EZ Flow is already running; {error}");
                    ExitCode::FAILURE
                }
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!(
                        "ezflow: EZ Flow is already running (control socket {}) but does not \
                         answer: {e}",
                        socket.display()
                    );
                    ExitCode::FAILURE
                }
            });
        }
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
        offer: None,
        download: None,
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
    let settings = SettingsOnDisk.load();
    drop(settings_span);
    let settings_done = started.elapsed();

    let manager = Arc::new(ModelManager::new(
        model::model_path(&settings.model)?,
        engine_options::unload_policy(settings.idle_unload),
    ));
    forward_lifecycle(&manager, events.clone())?;

    let publisher: Arc<dyn EventSink> = Arc::new(server.publisher());
    let handler_events = events.clone();
    let server = server
        .serve(move |request: Request| {
            let (reply, answer) = mpsc::channel();
            if handler_events
                .send(AppEvent::Control(request, Reply::new(reply)))
                .is_err()
            {
                return Response::error("EZ Flow is shutting down");
            }
            answer
                .recv()
                .unwrap_or_else(|_| Response::error("EZ Flow is shutting down"))
        })
        .context("cannot serve the control socket")?;

    let parts = Parts {
        tray,
        desktop: Box::new(DesktopSession {
            events: events.clone(),
        }),
        microphone: Box::new(SystemMicrophone),
        transcriber: Box::new(ManagedModel(manager)),
        telemetry: Box::new(QueuedTelemetry::default()),
        settings_file: Box::new(SettingsOnDisk),
        publisher: Arc::clone(&publisher),
        autostart: match XdgAutostart::for_this_user() {
            Some(autostart) => Box::new(autostart),
            None => Box::new(NoAutostart),
        },
        window: Box::new(WindowLauncher::default()),
        library: Box::new(StoreLibrary::new(
            ModelStore::open_default().context("cannot find the models directory")?,
            Arc::new(LibraryEvents {
                watchers: publisher,
                app: events.clone(),
            }),
        )),
    };
    let mut app = App::new(
        settings,
        parts,
        events.clone(),
        model::slow_load_notice(),
        started,
    );
    let hotkey_span = tracing::info_span!("hotkey").entered();
    app.register_hotkey();
    drop(hotkey_span);
    let hotkey_done = started.elapsed();
    app.start_telemetry();
    app.keep_autostart_in_step();
    let settings_file = ezflow_config::paths::settings_file()?;
    if let Err(e) = settings_watch::spawn(&settings_file, events) {
        tracing::warn!("settings changes will not be picked up until restart: {e}");
    }
    app.show();
    app.sample_memory("start");
    if std::env::var(NO_FIRST_RUN_ENV).is_ok_and(|v| v.trim() == "1") {
        tracing::debug!("{NO_FIRST_RUN_ENV}=1: no settings window at the first run");
        app.first_run_window = false;
    }
    app.first_run();
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

/// This session's desktop, through `ezflow_desktop`.
struct DesktopSession {
    events: Sender<AppEvent>,
}

impl Desktop for DesktopSession {
    fn register_hotkey(&self, shortcut: &Shortcut) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
        let events = self.events.clone();
        hotkey::listen(
            shortcut,
            Box::new(move |event| {
                let _ = events.send(AppEvent::Hotkey(event));
            }),
        )
    }

    /// On Wayland the inserter holds the desktop portal's session, which
    /// the user consents to once (remembered across restarts by a token in
    /// the state directory).
    fn text_inserter(&self) -> Result<Box<dyn TextInserter>, InsertError> {
        let token = ezflow_config::paths::state_dir()
            .ok()
            .map(|dir| dir.join(PORTAL_TOKEN_FILE));
        insert::text_inserter_with(&DisplayEnv::from_process(), token.as_deref())
    }

    fn copy_to_clipboard(&self, text: &str) -> Result<(), InsertError> {
        insert::clipboard().and_then(|c| c.set_text(text))
    }

    fn notifier(&self) -> Result<Box<dyn Notices>, NotifyError> {
        Ok(Box::new(Notifier::connect()?))
    }

    /// In the user's editor (until the settings window exists), creating it
    /// with every key first so there is something to edit.
    fn open_settings_file(&self) {
        let Ok(path) = ezflow_config::paths::settings_file() else {
            return;
        };
        if !path.exists() {
            if let Err(e) = Settings::default().save_to(&path) {
                tracing::warn!("could not create {}: {e}", path.display());
                return;
            }
        }
        let mut xdg_open = std::process::Command::new("xdg-open");
        xdg_open.arg(&path);
        // The editor it starts lives on after this call: let it be ended.
        super::signals::with_default_signal_mask(&mut xdg_open);
        if let Err(e) = xdg_open.spawn() {
            tracing::warn!("could not open {} (xdg-open: {e})", path.display());
        }
    }
}

/// Where no autostart directory can be found (no `HOME`): always off, and
/// turning it on says why not.
struct NoAutostart;

impl Autostart for NoAutostart {
    fn enabled(&self) -> bool {
        false
    }

    fn set(&self, enabled: bool) -> Result<(), String> {
        if !enabled {
            return Ok(());
        }
        Err("there is no autostart directory: neither XDG_CONFIG_HOME nor HOME is set".to_owned())
    }
}

/// The system's microphone, through `ezflow_core::capture`.
struct SystemMicrophone;

impl LiveMeter for LevelMeter {
    fn device(&self) -> &str {
        LevelMeter::device(self)
    }
}

impl Microphone for SystemMicrophone {
    fn devices(&self) -> Result<Vec<String>, CaptureError> {
        capture::input_devices()
    }

    fn default_device(&self) -> Option<String> {
        capture::default_input_device()
    }

    fn meter(
        &self,
        device: Option<&str>,
        on_level: OnLevel,
        on_failure: OnFailure,
    ) -> Result<Box<dyn LiveMeter>, CaptureError> {
        Ok(Box::new(LevelMeter::start(device, on_level, on_failure)?))
    }

    fn start(
        &self,
        options: &CaptureOptions,
        on_end: OnRecordingEnd,
    ) -> Result<Box<dyn LiveRecording>, CaptureError> {
        Ok(Box::new(Recording::start(options, on_end)?))
    }
}

impl LiveRecording for Recording {
    fn device(&self) -> &str {
        Recording::device(self)
    }

    fn stop(self: Box<Self>) -> Result<CapturedAudio, CaptureError> {
        Recording::stop(*self)
    }

    fn cancel(self: Box<Self>) {
        Recording::cancel(*self);
    }
}

/// The model manager, shared with the transcription workers.
struct ManagedModel(Arc<ModelManager>);

impl Transcriber for ManagedModel {
    fn model_load(&self) -> ModelLoad {
        ModelLoad::from(&self.0.status().state)
    }

    fn preload(&self) {
        self.0.preload();
    }

    fn unload(&self) {
        self.0.unload();
    }

    fn set_model(&self, id_or_path: &str) -> Result<(), String> {
        let path = model::model_path(id_or_path).map_err(|e| e.to_string())?;
        self.0.set_model(path);
        Ok(())
    }

    fn set_unload_policy(&self, policy: UnloadPolicy) {
        self.0.set_unload_policy(policy);
    }

    fn transcribe(
        &self,
        clip: Clip,
        options: DecodeOptions,
        dictation: tracing::Span,
        done: OnTranscribed,
    ) -> io::Result<()> {
        let manager = Arc::clone(&self.0);
        thread::Builder::new()
            .name("transcription".into())
            .spawn(move || {
                let _in_dictation = dictation.enter();
                let started = Instant::now();
                let result = tracing::info_span!("transcribe")
                    .in_scope(|| manager.transcribe(clip.samples(), &options));
                done(Transcription {
                    result,
                    took: started.elapsed(),
                });
            })
            .map(drop)
    }
}

/// The telemetry queue and, when enabled, its background sender.
#[derive(Default)]
struct QueuedTelemetry {
    telemetry: Option<Telemetry>,
    sender: Option<TelemetrySender>,
}

impl UsageTelemetry for QueuedTelemetry {
    fn report(&self) -> ezflow_control::TelemetryReport {
        let Some(t) = &self.telemetry else {
            return ezflow_control::TelemetryReport {
                explanation: super::telemetry::EXPLANATION.to_owned(),
                ..Default::default()
            };
        };
        let next_batch = match t.preview() {
            Ok(batch) => batch.and_then(|b| serde_json::to_value(b).ok()),
            Err(e) => {
                tracing::warn!("cannot read the telemetry queue: {e}");
                None
            }
        };
        let sent = t
            .sent_log()
            .unwrap_or_default()
            .into_iter()
            .map(|record| ezflow_control::SentBatch {
                sent_at: super::telemetry::rfc3339(record.at),
                outcome: record.outcome,
                batch: record.batch.and_then(|b| serde_json::to_value(b).ok()),
            })
            .collect();
        ezflow_control::TelemetryReport {
            enabled: t.is_enabled(),
            endpoint: t.endpoint().map(str::to_owned),
            explanation: super::telemetry::EXPLANATION.to_owned(),
            next_batch,
            sent,
        }
    }

    fn start(&mut self, settings: &Settings) {
        self.telemetry = crate::telemetry::open(settings);
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
        self.sender = Some(sender);
    }

    fn stop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.stop();
        }
    }

    fn dictation(&self, audio: Duration, model: &str, took: Duration) {
        let Some(t) = &self.telemetry else { return };
        crate::telemetry::log_failure(t.record_transcription(audio, model, false, took));
        if let Some(sender) = &self.sender {
            sender.recorded();
        }
    }
}

/// The settings file in the configuration directory.
struct SettingsOnDisk;

impl SettingsFile for SettingsOnDisk {
    /// Also hands the `slow_operation` setting to the logging layer, which
    /// reads it process-wide at every span's close.
    fn load(&self) -> Settings {
        let settings = match Settings::load() {
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
        };
        crate::logging::set_slow_threshold(settings.slow_operation);
        settings
    }

    fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        settings.save()
    }

    fn path(&self) -> String {
        ezflow_config::paths::settings_file()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}
