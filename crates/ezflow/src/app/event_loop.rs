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
use std::time::{Duration, Instant, SystemTime};

use ezflow_config::settings::Settings;
use ezflow_control::{Request, Response};
use ezflow_core::capture::EndReason;
use ezflow_desktop::hotkey::HotkeyEvent;
use ezflow_desktop::tray::{Tray, TrayAction};

use super::desktop::Desktop;
use super::dictation::{hotkey_command, Command, Dictation, PhaseKind, Stopped};
use super::event::AppEvent;
use super::hotkey::Hotkey;
use super::insertion::TextOutput;
use super::model::{LoadEnded, Model};
use super::problem::LastError;
use super::replies::{PendingReplies, Reply};
use super::settings_change::{changes, SettingsFile};
use super::speech::{Microphone, Transcriber, Transcription};
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
}

/// What ended a turn of the loop.
enum Next {
    Event(AppEvent),
    NoticeDue,
    Quit,
}

pub struct App {
    settings: Settings,
    dictation: Dictation,
    output: TextOutput,
    model: Model,
    hotkey: Hotkey,
    replies: PendingReplies,
    last_error: LastError,
    /// When `main` began, for the uptime in `stats`.
    started: Instant,
    parts: Parts,
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
        App {
            model: Model::new(settings.model.clone(), notice_delay),
            settings,
            dictation: Dictation::new(events),
            output: TextOutput::default(),
            hotkey: Hotkey::default(),
            replies: PendingReplies::default(),
            last_error: LastError::default(),
            started,
            parts,
        }
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
                Next::NoticeDue => self.notice_due(),
                Next::Quit => break,
            }
        }
        tracing::info!("quitting");
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

    fn next(&self, inbox: &Receiver<AppEvent>) -> Next {
        let event = match self.notice_due_at() {
            None => inbox.recv().ok(),
            Some(at) => match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => return Next::NoticeDue,
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
                if let Some(ended) = self.model.lifecycle(event, Instant::now()) {
                    self.load_ended(ended);
                }
            }
            AppEvent::SettingsChanged => self.reload_settings(),
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
        };
        reply.send(response);
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
            Some(Ok(())) => last_error.or_done(PhaseKind::Idle.name()),
            Some(Err(error)) => {
                last_error.set(error.clone());
                Response::error(error)
            }
        };
        self.replies.dictation_done(&response);
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
            TrayAction::OpenSettings => self.parts.desktop.open_settings_file(),
            TrayAction::CopyLastTranscript => self
                .output
                .copy_last_transcript(&*self.parts.desktop, &mut self.last_error),
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
    fn reload_settings(&mut self) {
        let new = self.parts.settings_file.load();
        let retry_hotkey = !self.hotkey.is_registered() && new.hotkey == self.settings.hotkey;
        self.apply_settings(new);
        if retry_hotkey {
            self.register_hotkey();
        }
    }

    fn apply_settings(&mut self, new: Settings) {
        if new == self.settings {
            return;
        }
        tracing::info!("settings changed");
        let changed = changes(&self.settings, &new);
        self.settings = new;
        if changed.model {
            match self.parts.transcriber.set_model(&self.settings.model) {
                Ok(()) => self.model.id = self.settings.model.clone(),
                Err(e) => tracing::warn!("the model stays {}: {e}", self.model.id),
            }
        }
        if changed.unload_policy {
            self.parts
                .transcriber
                .set_unload_policy(crate::engine_options::unload_policy(
                    self.settings.idle_unload,
                ));
        }
        if changed.hotkey {
            self.register_hotkey();
        }
        if changed.telemetry {
            self.parts.telemetry.stop();
            self.parts.telemetry.start(&self.settings);
        }
    }

    /// `done` with the dictation's phase.
    fn done(&self) -> Response {
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
            telemetry_enabled: self.settings.telemetry,
            has_last_transcript: self.output.has_last_transcript(),
            tray_registered: self.parts.tray.as_ref().is_some_and(|t| t.is_registered()),
        })
    }

    /// Brings the tray up to date with the state.
    pub fn show(&self) {
        if let Some(tray) = &self.parts.tray {
            tray.show(&self.view().tray);
        }
    }
}

fn answer(reply: Option<Reply>, response: Response) {
    if let Some(reply) = reply {
        reply.send(response);
    }
}
