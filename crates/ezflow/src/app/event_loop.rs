//! The event loop: one thread that owns the app's state, blocks on one
//! channel and hands each event to the part it concerns, then shows the
//! result in the tray. Its only timer is the slow-load notice's one-shot
//! deadline (`model.rs`), armed only while a load runs.
//!
//! This file routes; the rules live in the parts (`dictation.rs`,
//! `model.rs`, `hotkey.rs`, `insertion.rs`, `view.rs`). It must not
//! touch the desktop, the microphone, the model or the settings file other
//! than through the traits it is given (`desktop.rs`, `speech.rs`,
//! `telemetry.rs`, `settings_change.rs`), so the unit tests can run it
//! with fakes.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ezflow_config::settings::Settings;
use ezflow_control::{Event, Request, Response, StateEvent};
use ezflow_core::capture::EndReason;
use ezflow_core::lifecycle::LifecycleEvent;
use ezflow_core::stats::MemoryHistory;
use ezflow_desktop::hotkey::HotkeyEvent;
use ezflow_desktop::tray::{Tray, TrayAction, TrayView};

use super::autostart::Autostart;
use super::desktop::Desktop;
use super::dictation::{hotkey_command, Command, Dictation, PhaseKind, Stopped};
use super::event::AppEvent;
use super::hotkey::Hotkey;
use super::insertion::TextOutput;
use super::library::ModelLibrary;
use super::model::{LoadEnded, Model};
use super::problem::LastError;
use super::publish::EventSink;
use super::replies::{PendingReplies, Reply};
use super::settings_change::{changes, SettingsFile};
use super::settings_window::{Opened, SettingsWindow};
use super::setup::ModelSetup;
use super::speech::{LiveMeter, Microphone, Transcriber, Transcription};
use super::telemetry::UsageTelemetry;
use super::view::{self, Facts, View};

/// The outside world, as the loop reaches it.
pub struct Parts {
    pub tray: Option<Box<dyn Tray>>,
    pub desktop: Box<dyn Desktop>,
    pub microphone: Box<dyn Microphone>,
    pub transcriber: Box<dyn Transcriber>,
    pub telemetry: Box<dyn UsageTelemetry>,
    pub settings_file: Box<dyn SettingsFile>,
    /// The control socket's watchers.
    pub publisher: Arc<dyn EventSink>,
    pub autostart: Box<dyn Autostart>,
    pub window: Box<dyn SettingsWindow>,
    pub library: Box<dyn ModelLibrary>,
}

/// What ended a turn of the loop.
enum Next {
    Event(AppEvent),
    Deadline,
    Quit,
}

/// The loop's state. The fields are the parts' (`settings_requests.rs`,
/// `model_requests.rs`, `setup.rs` and `meter.rs` add to the loop's
/// methods).
pub struct App {
    pub(super) settings: Settings,
    pub(super) dictation: Dictation,
    pub(super) output: TextOutput,
    pub(super) model: Model,
    pub(super) hotkey: Hotkey,
    pub(super) replies: PendingReplies,
    pub(super) last_error: LastError,
    /// When `main` began, for the uptime in `stats`.
    pub(super) started: Instant,
    pub(super) parts: Parts,
    /// The loop's own channel, for the level meter's failure.
    pub(super) events: Sender<AppEvent>,
    /// The last `state` event published.
    pub(super) published_state: Option<StateEvent>,
    pub(super) memory: MemoryHistory,
    pub(super) meter: Option<MeterState>,
    pub(super) meter_generation: u64,
    /// A dictation with no model installed: the offer, the download.
    pub(super) setup: ModelSetup,
    /// Whether the first run, and a dictation with no model, open the
    /// settings window (not in tests and CI: `EZFLOW_NO_FIRST_RUN=1`).
    pub first_run_window: bool,
    /// What the tray shows now, so that an unchanged view is not sent again.
    shown_tray: Option<TrayView>,
}

/// The running level meter.
pub struct MeterState {
    pub(super) input: Box<dyn LiveMeter>,
    /// The device as it was asked for (`""`: the default input).
    pub(super) device: String,
    /// When it stops by itself, unless asked again.
    pub(super) until: Instant,
    pub(super) generation: u64,
}

impl App {
    /// `events` is the sending side of the loop's channel, for the parts
    /// that answer later (the recording's end, the transcription).
    pub fn new(
        settings: Settings,
        parts: Parts,
        events: Sender<AppEvent>,
        notice_delay: Duration,
        started: Instant,
    ) -> Self {
        let mut app = App {
            model: Model::new(settings.model.clone(), notice_delay),
            settings,
            dictation: Dictation::new(events.clone()),
            events,
            published_state: None,
            memory: MemoryHistory::default(),
            meter: None,
            meter_generation: 0,
            output: TextOutput::default(),
            hotkey: Hotkey::default(),
            replies: PendingReplies::default(),
            last_error: LastError::default(),
            started,
            parts,
            setup: ModelSetup::default(),
            first_run_window: true,
            shown_tray: None,
        };
        app.check_model();
        app
    }

    /// Registers the hotkey from the settings.
    pub fn register_hotkey(&mut self) {
        self.hotkey
            .register(&self.settings.hotkey, &*self.parts.desktop);
    }

    pub fn start_telemetry(&mut self) {
        self.parts.telemetry.start(&self.settings);
    }

    /// Runs until Quit (a signal, or the tray's Quit), then lets go of the
    /// microphone, the hotkey, telemetry and the tray.
    pub fn run(&mut self, inbox: Receiver<AppEvent>) {
        loop {
            match self.next(&inbox) {
                Next::Event(event) => self.handle(event),
                Next::Deadline => self.deadline(Instant::now()),
                Next::Quit => break,
            }
        }
        tracing::info!("quitting");
        self.stop_meter(None);
        self.dictation.cancel();
        self.hotkey.release();
        self.parts.telemetry.stop();
        if let Some(tray) = self.parts.tray.take() {
            tray.shutdown();
        }
    }

    /// When the slow-load notice is due, if a load is running.
    pub fn notice_due_at(&self) -> Option<Instant> {
        self.model.notice_due_at()
    }

    /// The loop's next deadline: the slow-load notice while a load runs,
    /// the level meter's end while it runs; none when idle.
    pub fn next_deadline(&self) -> Option<Instant> {
        let meter = self.meter.as_ref().map(|m| m.until);
        match (self.notice_due_at(), meter) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A deadline passed: whichever is due acts.
    pub fn deadline(&mut self, now: Instant) {
        if self.notice_due_at().is_some_and(|at| at <= now) {
            self.notice_due();
        }
        if self.meter.as_ref().is_some_and(|m| m.until <= now) {
            tracing::info!("the level meter ran its time; closing the microphone");
            self.stop_meter(None);
        }
        self.show();
    }

    fn next(&self, inbox: &Receiver<AppEvent>) -> Next {
        let event = match self.next_deadline() {
            None => inbox.recv().ok(),
            Some(at) => match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => return Next::Deadline,
                Err(RecvTimeoutError::Disconnected) => None,
            },
        };
        match event {
            Some(AppEvent::Quit | AppEvent::Tray(TrayAction::Quit)) => Next::Quit,
            Some(event) => Next::Event(event),
            // Every sender gone: nothing can wake the loop again.
            None => Next::Quit,
        }
    }

    /// Handles one event and brings the tray up to date.
    pub fn handle(&mut self, event: AppEvent) {
        match event {
            AppEvent::Control(request, reply) => self.control(request, reply),
            AppEvent::Hotkey(HotkeyEvent::Lost { reason }) => {
                self.hotkey.lost(&self.settings.hotkey, &reason);
            }
            AppEvent::Hotkey(event) => {
                if let Some(command) = hotkey_command(self.settings.hotkey_mode, &event) {
                    self.dictate(command, None);
                }
            }
            AppEvent::Tray(action) => self.tray_action(action),
            AppEvent::RecordingEnded(reason) => {
                if let EndReason::DeviceLost(why) = &reason {
                    self.last_error.set(format!(
                        "the microphone stopped ({why}); transcribing what was recorded"
                    ));
                }
                self.dictate(Command::Stop, None);
            }
            AppEvent::Transcribed(transcription) => self.transcribed(transcription),
            AppEvent::Lifecycle(event) => {
                let sample = match &event {
                    LifecycleEvent::Loaded { .. } => Some("load"),
                    LifecycleEvent::Unloaded { .. } => Some("unload"),
                    _ => None,
                };
                if let Some(ended) = self.model.lifecycle(event, Instant::now()) {
                    self.load_ended(ended);
                }
                if let Some(why) = sample {
                    self.sample_memory(why);
                }
            }
            AppEvent::SettingsChanged => self.reload_settings(),
            AppEvent::Library(event) => self.library_event(event),
            AppEvent::MeterFailed { generation, why } => self.meter_failed(generation, why),
            AppEvent::Quit => {}
        }
        self.show();
    }

    /// The slow-load notice's deadline passed.
    pub fn notice_due(&mut self) {
        self.model
            .notice_due(self.parts.transcriber.model_load(), &*self.parts.desktop);
    }

    fn control(&mut self, request: Request, reply: Reply) {
        let response = match request {
            Request::Toggle => return self.dictate(Command::Toggle, Some(reply)),
            Request::Start => return self.dictate(Command::Start, Some(reply)),
            Request::Stop => return self.dictate(Command::Stop, Some(reply)),
            Request::Cancel => {
                self.dictation.cancel();
                self.done()
            }
            Request::Status => Response::Status(self.view().status),
            Request::Stats => Response::Stats(view::stats_report(
                ezflow_core::memory::of_process("self"),
                self.parts.transcriber.model_load(),
                self.model.last_load(),
                self.dictation.stats(),
                self.started.elapsed(),
                SystemTime::now(),
            )),
            Request::Unload => {
                self.parts.transcriber.unload();
                self.done()
            }
            Request::ReloadSettings => {
                self.reload_settings();
                self.done()
            }
            Request::Load => {
                if self.parts.transcriber.model_load().is_loaded() {
                    self.done()
                } else {
                    self.replies.after_load(reply);
                    self.parts.transcriber.preload();
                    return;
                }
            }
            Request::Settings => Response::Settings(self.settings_report()),
            Request::SettingsCheck { values } => self.settings_check(&values),
            Request::SettingsSet { values } => self.settings_set(&values),
            Request::AutostartSet { enabled } => self.autostart_set(enabled),
            Request::Models => self.models_report(),
            Request::ModelDownload { id } => self.model_download(&id),
            Request::ModelDownloadUrl { name, url, sha256 } => {
                self.model_download_url(&name, &url, &sha256)
            }
            Request::ModelCancel { id } => self.model_cancel(&id),
            Request::ModelRemove { id } => self.model_remove(&id),
            Request::ModelActivate { id } => self.model_activate(&id),
            Request::ModelImport { path, quantize } => self.model_import(&path, quantize),
            Request::Telemetry => Response::Telemetry(self.parts.telemetry.report()),
            Request::TelemetrySet { enabled } => self.telemetry_set(enabled),
            Request::StatsHistory => {
                self.sample_memory("request");
                Response::History(self.history())
            }
            Request::Microphones => self.microphones(),
            Request::LevelMeter { device } => self.level_meter(device),
            Request::LevelMeterStop => {
                self.stop_meter(None);
                self.done()
            }
            Request::OpenSettings => match self.open_settings() {
                Ok(()) => self.done(),
                Err(e) => Response::error(e),
            },
            Request::Watch => {
                // The server registered the watcher before asking; after
                // the answer, its first event is the state as it is now.
                reply.send(self.done());
                self.published_state = None;
                return;
            }
        };
        reply.send(response);
    }

    /// Starts the settings window, or asks the open one to come to the
    /// front (the `focus` event). The one path for `open-settings`, the
    /// tray and the first run.
    pub fn open_settings(&mut self) -> Result<(), String> {
        match self.parts.window.open()? {
            Opened::Started => {}
            Opened::AlreadyOpen => self.parts.publisher.publish(&Event::Focus),
        }
        Ok(())
    }

    /// The first run: nothing in the models directory and the `model`
    /// setting names nothing that exists, so dictation cannot work yet;
    /// the settings window (which shows its setup when `models` says
    /// nothing is installed) opens by itself.
    pub fn first_run(&mut self) {
        if !self.parts.library.is_empty() || self.parts.library.is_installed(&self.settings.model) {
            return;
        }
        if !self.first_run_window {
            return;
        }
        tracing::info!("no model is installed yet; opening the settings window to set one up");
        if let Err(e) = self.open_settings() {
            tracing::warn!("{e}");
        }
    }

    /// Records the app's memory now, because of `why`.
    pub fn sample_memory(&mut self, why: &'static str) {
        let pss = ezflow_core::memory::of_process("self").map(|m| m.pss);
        self.memory.record(ezflow_core::stats::MemorySample {
            at: ezflow_core::stats::unix_secs(SystemTime::now()),
            pss_bytes: pss,
            why,
        });
    }

    /// A start, stop or toggle from the hotkey, the tray or the socket.
    /// `reply`, if any, is answered when the action is done: at once for a
    /// start, when the text is in for a stop that ended a recording.
    fn dictate(&mut self, command: Command, reply: Option<Reply>) {
        let command = match command {
            Command::Toggle => match self.dictation.toggled() {
                Some(command) => command,
                None => return answer(reply, self.done()),
            },
            command => command,
        };
        match command {
            Command::Start => {
                if self.dictation.phase() == PhaseKind::Idle && !self.model_installed_now() {
                    // Nothing to transcribe with: the microphone stays
                    // closed, and the user is told what to do.
                    return answer(reply, self.no_model());
                }
                if self.meter.is_some() && self.dictation.phase() == PhaseKind::Idle {
                    self.stop_meter(Some("a dictation started".to_owned()));
                }
                self.dictation.start(
                    &self.settings,
                    &*self.parts.microphone,
                    &*self.parts.transcriber,
                    &mut self.last_error,
                );
                answer(reply, self.done_or_error());
            }
            _ => {
                let stopped = self.dictation.stop(
                    &self.settings,
                    &*self.parts.transcriber,
                    &mut self.last_error,
                );
                match stopped {
                    Stopped::Transcribing => {
                        if let Some(reply) = reply {
                            self.replies.after_dictation(reply);
                        }
                    }
                    Stopped::NotRecording => answer(reply, self.done()),
                    Stopped::Failed(error) => answer(reply, Response::error(error)),
                }
            }
        }
    }

    fn transcribed(&mut self, transcription: Transcription) {
        let Self {
            settings,
            dictation,
            output,
            model,
            last_error,
            parts,
            ..
        } = self;
        let finished = dictation.finish(transcription, &model.id, &*parts.telemetry, |text| {
            output.insert(text, settings.insert_method, &*parts.desktop, last_error)
        });
        let response = match finished {
            None => return,
            Some(result) => {
                self.sample_memory("dictation");
                result
            }
        };
        let Self {
            last_error,
            replies,
            ..
        } = self;
        let response = match response {
            Ok(()) => last_error.or_done(PhaseKind::Idle.name()),
            Err(error) => {
                last_error.set(error.clone());
                Response::error(error)
            }
        };
        replies.dictation_done(&response);
    }

    fn load_ended(&mut self, ended: LoadEnded) {
        match ended {
            LoadEnded::Loaded => {
                let done = self.done();
                self.replies.load_done(&done);
            }
            LoadEnded::Failed(message) => {
                self.replies.load_done(&Response::error(&message));
                self.last_error.set(message);
            }
        }
    }

    fn tray_action(&mut self, action: TrayAction) {
        match action {
            TrayAction::ToggleDictation => self.dictate(Command::Toggle, None),
            TrayAction::UnloadModel => self.parts.transcriber.unload(),
            TrayAction::OpenSettings => {
                if let Err(e) = self.open_settings() {
                    // Without the window, the file in the user's editor.
                    tracing::warn!("{e}");
                    self.parts.desktop.open_settings_file();
                }
            }
            TrayAction::CopyLastTranscript => self
                .output
                .copy_last_transcript(&*self.parts.desktop, &mut self.last_error),
            TrayAction::DownloadModel => self.download_offered(),
            TrayAction::CancelDownload => self.cancel_shown_download(),
            TrayAction::SetTelemetry(enabled) => {
                let new = Settings {
                    telemetry: enabled,
                    ..self.settings.clone()
                };
                match self.parts.settings_file.save(&new) {
                    Err(e) => self
                        .last_error
                        .set(format!("could not save the settings: {e}")),
                    // The settings watch will also see the save; applying it
                    // now keeps the menu honest at once.
                    Ok(()) => self.apply_settings(new),
                }
            }
            TrayAction::Quit => {}
        }
    }

    /// Applies the settings file again. A hotkey that could not be
    /// registered (taken by another application, or lost) is tried again
    /// even when its setting is unchanged.
    pub(super) fn reload_settings(&mut self) {
        let new = self.parts.settings_file.load();
        let retry_hotkey = !self.hotkey.is_registered() && new.hotkey == self.settings.hotkey;
        self.apply_settings(new);
        if retry_hotkey {
            self.register_hotkey();
        }
        self.keep_autostart_in_step();
    }

    fn apply_settings(&mut self, new: Settings) {
        if new == self.settings {
            return;
        }
        tracing::info!("settings changed");
        let changed = changes(&self.settings, &new);
        self.settings = new;
        self.parts.publisher.publish(&Event::Settings);
        if changed.model {
            match self.parts.transcriber.set_model(&self.settings.model) {
                Ok(()) => self.model.id = self.settings.model.clone(),
                Err(e) => tracing::warn!("the model stays {}: {e}", self.model.id),
            }
            self.check_model();
        }
        if changed.unload_policy {
            self.parts
                .transcriber
                .set_unload_policy(crate::engine_options::unload_policy(
                    self.settings.idle_unload,
                ));
        }
        // A hotkey the settings window registered before saving is in
        // place already.
        if changed.hotkey && !self.hotkey.is(&self.settings.hotkey) {
            self.register_hotkey();
        }
        if changed.telemetry {
            self.parts.telemetry.stop();
            self.parts.telemetry.start(&self.settings);
            self.parts.publisher.publish(&Event::Telemetry);
        }
        if changed.model {
            self.parts.publisher.publish(&Event::Models);
        }
    }

    /// `done` with the dictation's phase.
    pub(super) fn done(&self) -> Response {
        Response::done(self.dictation.phase().name())
    }

    /// After a start: idle means it failed, and the last error says why.
    fn done_or_error(&self) -> Response {
        match self.dictation.phase() {
            PhaseKind::Idle => self.last_error.or_done(PhaseKind::Idle.name()),
            _ => self.done(),
        }
    }

    fn view(&self) -> View {
        view::view(&Facts {
            phase: self.dictation.phase(),
            model: &self.model.id,
            model_load: self.parts.transcriber.model_load(),
            last_error: self.last_error.get(),
            hotkey: self.hotkey.shortcut(),
            hotkey_problem: self.hotkey.problem(),
            hotkey_mode: self.settings.hotkey_mode,
            idle_unload: self.settings.idle_unload,
            telemetry_enabled: self.settings.telemetry,
            has_last_transcript: self.output.has_last_transcript(),
            tray_registered: self.parts.tray.as_ref().is_some_and(|t| t.is_registered()),
            offer: self.setup.offer(),
            download: self.setup.download(),
        })
    }

    /// Brings the tray up to date with the state, and tells the watchers
    /// when the state changed.
    pub fn show(&mut self) {
        let view = self.view();
        if let Some(tray) = &self.parts.tray {
            // A download's progress wakes the loop ten times a second; the
            // tray changes only with its whole percents.
            if self.shown_tray.as_ref() != Some(&view.tray) {
                tray.show(&view.tray);
                self.shown_tray = Some(view.tray.clone());
            }
        }
        let state = StateEvent {
            state: view.status.state,
            model: view.status.model,
            model_loaded: view.status.model_loaded,
        };
        if self.published_state.as_ref() != Some(&state) {
            self.parts.publisher.publish(&Event::State(state.clone()));
            self.published_state = Some(state);
        }
    }
}

fn answer(reply: Option<Reply>, response: Response) {
    if let Some(reply) = reply {
        reply.send(response);
    }
}
