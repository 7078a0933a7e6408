//! The loop's rules with fake parts: a fake tray, desktop (hotkey, text
//! inserter, clipboard, notifications), microphone, transcriber, telemetry
//! and settings file, each recording what the loop asked of it. They run in
//! milliseconds and need no display, bus, audio device or model.
//!
//! Fakes are enough here because the real parts and their wiring run in
//! the end-to-end tests (`crates/ezflow/tests/app.rs`: Xvfb, a private
//! D-Bus with panel and notification stand-ins, the ALSA file microphone
//! and the tiny.en model). These tests pin what the loop decides: state
//! transitions, what reaches the tray and the inserter, and that every
//! control request is answered exactly once. They assert no timings.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ezflow_config::settings::{HotkeyMode, Settings, SettingsError};
use ezflow_control::{
    DownloadEvent, Event, FinishedEvent, ImportQuantize, LevelEvent, ModelsReport, Request,
    Response, StatusReport, TelemetryReport,
};
use ezflow_core::audio::{clip_from_samples, Clip};
use ezflow_core::capture::{
    CaptureError, CaptureOptions, CapturedAudio, EndReason, InputFormat, Level, OnFailure, OnLevel,
};
use ezflow_core::engine::{DecodeOptions, Transcript};
use ezflow_core::lifecycle::{LifecycleEvent, UnloadPolicy};
use ezflow_desktop::hotkey::{HotkeyError, HotkeyEvent, HotkeyListener, Shortcut};
use ezflow_desktop::insert::{InsertError, InsertMethod, Insertion, TextInserter};
use ezflow_desktop::notify::NotifyError;
use ezflow_desktop::tray::{ModelOffer, Tray, TrayAction, TrayDownload, TrayState, TrayView};

use super::autostart::Autostart;
use super::desktop::{Desktop, Notices};
use super::event::AppEvent;
use super::event_loop::{App, Parts};
use super::insertion::NO_SPEECH;
use super::library::{ModelLibrary, UrlModel};
use super::meter::METER_SPAN;
use super::model::ModelLoad;
use super::publish::EventSink;
use super::replies::Reply;
use super::settings_change::SettingsFile;
use super::settings_window::{Opened, SettingsWindow};
use super::speech::{
    LiveMeter, LiveRecording, Microphone, OnRecordingEnd, OnTranscribed, Transcriber, Transcription,
};
use super::telemetry::UsageTelemetry;

const HOTKEY: &str = "Ctrl+Alt+Space";
const MODEL: &str = "tiny.en";

/// Everything the fakes saw, and how they are told to behave.
#[derive(Default)]
struct World {
    // The tray.
    shown: Vec<TrayView>,
    tray_shut_down: bool,
    // The desktop.
    hotkey_taken: bool,
    registered: Vec<String>,
    released: Vec<String>,
    inserter_broken: bool,
    inserters_made: usize,
    inserted: Vec<String>,
    clipboard: Vec<String>,
    notified: Vec<String>,
    closed: Vec<u32>,
    // The microphone.
    microphone_missing: bool,
    recordings: Vec<CaptureOptions>,
    on_end: Option<OnRecordingEnd>,
    stopped: usize,
    cancelled: usize,
    // The transcriber.
    model_load: Option<ModelLoad>,
    preloads: usize,
    unloads: usize,
    models: Vec<String>,
    policies: Vec<UnloadPolicy>,
    transcribing: Vec<OnTranscribed>,
    transcriptions: usize,
    // Telemetry and the settings file.
    telemetry_starts: usize,
    telemetry_dictations: Vec<String>,
    settings_file: Settings,
    saved: Vec<Settings>,
    save_fails: bool,
    // The watchers, autostart, the window and the library.
    published: Vec<Event>,
    autostart: bool,
    window_installed: bool,
    window_open: bool,
    windows_started: usize,
    settings_files_opened: usize,
    installed: Vec<String>,
    downloads: Vec<String>,
    url_downloads: Vec<UrlModel>,
    removed: Vec<String>,
    // The level meter.
    on_level: Option<OnLevel>,
    on_meter_failure: Option<OnFailure>,
    meters_opened: Vec<Option<String>>,
    meters_closed: usize,
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct FakeTray(Shared);

impl Tray for FakeTray {
    fn is_registered(&self) -> bool {
        true
    }

    fn show(&self, view: &TrayView) {
        lock(&self.0).shown.push(view.clone());
    }

    fn shutdown(self: Box<Self>) {
        lock(&self.0).tray_shut_down = true;
    }
}

struct FakeDesktop(Shared);

impl Desktop for FakeDesktop {
    fn register_hotkey(&self, shortcut: &Shortcut) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
        let mut world = lock(&self.0);
        if world.hotkey_taken {
            return Err(HotkeyError::Taken {
                shortcut: shortcut.clone(),
            });
        }
        world.registered.push(shortcut.to_string());
        Ok(Box::new(FakeHotkey {
            shortcut: shortcut.clone(),
            world: Arc::clone(&self.0),
        }))
    }

    fn text_inserter(&self) -> Result<Box<dyn TextInserter>, InsertError> {
        lock(&self.0).inserters_made += 1;
        Ok(Box::new(FakeInserter(Arc::clone(&self.0))))
    }

    fn copy_to_clipboard(&self, text: &str) -> Result<(), InsertError> {
        lock(&self.0).clipboard.push(text.to_owned());
        Ok(())
    }

    fn notifier(&self) -> Result<Box<dyn Notices>, NotifyError> {
        Ok(Box::new(FakeNotices(Arc::clone(&self.0))))
    }

    fn open_settings_file(&self) {
        lock(&self.0).settings_files_opened += 1;
    }
}

struct FakeHotkey {
    shortcut: Shortcut,
    world: Shared,
}

impl HotkeyListener for FakeHotkey {
    fn shortcut(&self) -> &Shortcut {
        &self.shortcut
    }

    fn stop(self: Box<Self>) {
        lock(&self.world).released.push(self.shortcut.to_string());
    }
}

struct FakeInserter(Shared);

impl TextInserter for FakeInserter {
    fn insert(&self, text: &str, method: InsertMethod) -> Result<Insertion, InsertError> {
        let mut world = lock(&self.0);
        if world.inserter_broken {
            return Err(InsertError::NoDisplay {
                reason: "the X server went away".to_owned(),
            });
        }
        world.inserted.push(text.to_owned());
        Ok(Insertion {
            method,
            clipboard_restored: true,
        })
    }
}

struct FakeNotices(Shared);

impl Notices for FakeNotices {
    fn notify(
        &self,
        _summary: &str,
        body: &str,
        replaces: Option<u32>,
    ) -> Result<u32, NotifyError> {
        let mut world = lock(&self.0);
        world.notified.push(body.to_owned());
        Ok(replaces.unwrap_or(world.notified.len() as u32))
    }

    fn close(&self, id: u32) {
        lock(&self.0).closed.push(id);
    }
}

struct FakeMicrophone(Shared);

struct FakeMeter(Shared);

impl LiveMeter for FakeMeter {
    fn device(&self) -> &str {
        "fake microphone"
    }
}

impl Drop for FakeMeter {
    fn drop(&mut self) {
        lock(&self.0).meters_closed += 1;
    }
}

impl Microphone for FakeMicrophone {
    fn devices(&self) -> Result<Vec<String>, CaptureError> {
        Ok(vec!["default".to_owned(), "fake microphone".to_owned()])
    }

    fn default_device(&self) -> Option<String> {
        Some("default".to_owned())
    }

    fn meter(
        &self,
        device: Option<&str>,
        on_level: OnLevel,
        on_failure: OnFailure,
    ) -> Result<Box<dyn LiveMeter>, CaptureError> {
        let mut world = lock(&self.0);
        if world.microphone_missing {
            return Err(CaptureError::NoDevice {
                reason: "no capture devices".to_owned(),
            });
        }
        world.meters_opened.push(device.map(str::to_owned));
        world.on_level = Some(on_level);
        world.on_meter_failure = Some(on_failure);
        Ok(Box::new(FakeMeter(Arc::clone(&self.0))))
    }

    fn start(
        &self,
        options: &CaptureOptions,
        on_end: OnRecordingEnd,
    ) -> Result<Box<dyn LiveRecording>, CaptureError> {
        let mut world = lock(&self.0);
        if world.microphone_missing {
            return Err(CaptureError::NoDevice {
                reason: "no capture devices".to_owned(),
            });
        }
        world.recordings.push(options.clone());
        world.on_end = Some(on_end);
        Ok(Box::new(FakeRecording(Arc::clone(&self.0))))
    }
}

struct FakeRecording(Shared);

impl LiveRecording for FakeRecording {
    fn device(&self) -> &str {
        "fake microphone"
    }

    fn stop(self: Box<Self>) -> Result<CapturedAudio, CaptureError> {
        lock(&self.0).stopped += 1;
        Ok(CapturedAudio {
            clip: second_of_silence(),
            ended_by: EndReason::Stopped,
            device: "fake microphone".to_owned(),
            format: InputFormat {
                sample_rate: 16_000,
                channels: 1,
                sample_format: "f32".to_owned(),
            },
            resample: Duration::ZERO,
        })
    }

    fn cancel(self: Box<Self>) {
        lock(&self.0).cancelled += 1;
    }
}

fn second_of_silence() -> Clip {
    clip_from_samples(&[0.0; 16_000], 16_000, 1).expect("a valid clip")
}

struct FakeTranscriber(Shared);

impl Transcriber for FakeTranscriber {
    fn model_load(&self) -> ModelLoad {
        lock(&self.0).model_load.unwrap_or(ModelLoad::Unloaded)
    }

    fn preload(&self) {
        lock(&self.0).preloads += 1;
    }

    fn unload(&self) {
        lock(&self.0).unloads += 1;
    }

    fn set_model(&self, id_or_path: &str) -> Result<(), String> {
        lock(&self.0).models.push(id_or_path.to_owned());
        Ok(())
    }

    fn set_unload_policy(&self, policy: UnloadPolicy) {
        lock(&self.0).policies.push(policy);
    }

    fn transcribe(
        &self,
        _clip: Clip,
        _options: DecodeOptions,
        _dictation: tracing::Span,
        done: OnTranscribed,
    ) -> std::io::Result<()> {
        let mut world = lock(&self.0);
        world.transcriptions += 1;
        world.transcribing.push(done);
        Ok(())
    }
}

struct FakeTelemetry(Shared);

impl UsageTelemetry for FakeTelemetry {
    fn report(&self) -> TelemetryReport {
        TelemetryReport {
            enabled: lock(&self.0).settings_file.telemetry,
            ..TelemetryReport::default()
        }
    }

    fn start(&mut self, _settings: &Settings) {
        lock(&self.0).telemetry_starts += 1;
    }

    fn stop(&mut self) {}

    fn dictation(&self, _audio: Duration, model: &str, _took: Duration) {
        lock(&self.0).telemetry_dictations.push(model.to_owned());
    }
}

struct FakeSettingsFile(Shared);

impl SettingsFile for FakeSettingsFile {
    fn load(&self) -> Settings {
        lock(&self.0).settings_file.clone()
    }

    fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let mut world = lock(&self.0);
        if world.save_fails {
            return Err(SettingsError::Save {
                path: PathBuf::from("/config/settings.toml"),
                step: "write".to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::StorageFull),
            });
        }
        world.saved.push(settings.clone());
        world.settings_file = settings.clone();
        Ok(())
    }

    fn path(&self) -> String {
        "/config/settings.toml".to_owned()
    }
}

struct FakePublisher(Shared);

impl EventSink for FakePublisher {
    fn publish(&self, event: &Event) {
        lock(&self.0).published.push(event.clone());
    }
}

struct FakeAutostart(Shared);

impl Autostart for FakeAutostart {
    fn enabled(&self) -> bool {
        lock(&self.0).autostart
    }

    fn set(&self, enabled: bool) -> Result<(), String> {
        lock(&self.0).autostart = enabled;
        Ok(())
    }
}

struct FakeWindow(Shared);

impl SettingsWindow for FakeWindow {
    fn open(&self) -> Result<Opened, String> {
        let mut world = lock(&self.0);
        if !world.window_installed {
            return Err("the settings window (ezflow-settings) is not installed".to_owned());
        }
        if world.window_open {
            return Ok(Opened::AlreadyOpen);
        }
        world.window_open = true;
        world.windows_started += 1;
        Ok(Opened::Started)
    }
}

struct FakeLibrary(Shared);

impl ModelLibrary for FakeLibrary {
    fn report(&self, active: &str, loaded: bool, _english: bool) -> Result<ModelsReport, String> {
        let world = lock(&self.0);
        Ok(ModelsReport {
            active: active.to_owned(),
            active_installed: world.installed.iter().any(|m| m == active),
            loaded,
            recommended: "base.en".to_owned(),
            ..ModelsReport::default()
        })
    }

    fn download(&self, id: &str) -> Result<(), String> {
        lock(&self.0).downloads.push(id.to_owned());
        Ok(())
    }

    fn download_url(&self, model: &UrlModel) -> Result<(), String> {
        let mut world = lock(&self.0);
        if world.downloads.contains(&model.name) {
            return Err(format!("{} is already downloading", model.name));
        }
        world.downloads.push(model.name.clone());
        world.url_downloads.push(model.clone());
        Ok(())
    }

    fn cancel(&self, id: &str) -> Result<(), String> {
        let mut world = lock(&self.0);
        let before = world.downloads.len();
        world.downloads.retain(|d| d != id);
        if world.downloads.len() == before {
            return Err(format!("{id} is not downloading"));
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<(), String> {
        let mut world = lock(&self.0);
        world.installed.retain(|m| m != id);
        world.removed.push(id.to_owned());
        Ok(())
    }

    fn import(&self, _path: &str, _quantize: Option<ImportQuantize>) -> Result<(), String> {
        Ok(())
    }

    fn is_installed(&self, id: &str) -> bool {
        lock(&self.0).installed.iter().any(|m| m == id)
    }

    fn is_empty(&self) -> bool {
        lock(&self.0).installed.is_empty()
    }

    fn recommended(&self, _english: bool) -> String {
        "base.en".to_owned()
    }
}

fn settings(mode: HotkeyMode) -> Settings {
    Settings {
        model: MODEL.to_owned(),
        hotkey: HOTKEY.to_owned(),
        hotkey_mode: mode,
        ..Settings::default()
    }
}

/// The app as `wiring.rs` starts it, with fakes for parts.
struct Harness {
    app: App,
    inbox: Receiver<AppEvent>,
    world: Shared,
}

impl Harness {
    fn start(settings: Settings) -> Harness {
        Harness::start_in(World::default(), settings)
    }

    fn start_in(world: World, settings: Settings) -> Harness {
        Harness::build(
            World {
                settings_file: settings.clone(),
                window_installed: true,
                installed: vec![MODEL.to_owned()],
                ..world
            },
            settings,
        )
    }

    /// The app started with nothing in the models directory.
    fn start_with_no_model(settings: Settings) -> Harness {
        Harness::build(
            World {
                settings_file: settings.clone(),
                window_installed: true,
                ..World::default()
            },
            settings,
        )
    }

    fn build(world: World, settings: Settings) -> Harness {
        let world = Arc::new(Mutex::new(world));
        let (events, inbox) = mpsc::channel();
        let parts = Parts {
            tray: Some(Box::new(FakeTray(Arc::clone(&world)))),
            desktop: Box::new(FakeDesktop(Arc::clone(&world))),
            microphone: Box::new(FakeMicrophone(Arc::clone(&world))),
            transcriber: Box::new(FakeTranscriber(Arc::clone(&world))),
            telemetry: Box::new(FakeTelemetry(Arc::clone(&world))),
            settings_file: Box::new(FakeSettingsFile(Arc::clone(&world))),
            publisher: Arc::new(FakePublisher(Arc::clone(&world))),
            autostart: Box::new(FakeAutostart(Arc::clone(&world))),
            window: Box::new(FakeWindow(Arc::clone(&world))),
            library: Box::new(FakeLibrary(Arc::clone(&world))),
        };
        let mut app = App::new(
            settings,
            parts,
            events,
            Duration::from_secs(1),
            Instant::now(),
        );
        app.register_hotkey();
        app.start_telemetry();
        app.show();
        Harness { app, inbox, world }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Handles `event`, then what the fakes sent back because of it.
    fn handle(&mut self, event: AppEvent) {
        self.app.handle(event);
        self.settle();
    }

    /// Delivers the events the parts sent (a recording's end, a finished
    /// transcription), as the loop would.
    fn settle(&mut self) {
        while let Ok(event) = self.inbox.try_recv() {
            self.app.handle(event);
        }
    }

    fn press(&mut self) {
        self.handle(AppEvent::Hotkey(HotkeyEvent::Pressed));
    }

    fn release(&mut self) {
        self.handle(AppEvent::Hotkey(HotkeyEvent::Released));
    }

    /// Sends a control request; its answers arrive on the receiver.
    fn ask(&mut self, request: Request) -> Receiver<Response> {
        let (reply, answers) = mpsc::channel();
        self.handle(AppEvent::Control(request, Reply::new(reply)));
        answers
    }

    fn status(&mut self) -> StatusReport {
        match self.ask(Request::Status).try_recv() {
            Ok(Response::Status(status)) => status,
            other => panic!("status answered {other:?}"),
        }
    }

    fn state(&mut self) -> String {
        self.status().state
    }

    fn tray(&self) -> TrayView {
        self.world()
            .shown
            .last()
            .cloned()
            .expect("the tray was shown")
    }

    fn set_model_load(&mut self, load: ModelLoad) {
        self.world().model_load = Some(load);
    }

    /// The model library reports progress or an end.
    fn library(&mut self, event: Event) {
        self.handle(AppEvent::Library(event));
    }

    /// The model manager reports a transition.
    fn lifecycle(&mut self, event: LifecycleEvent) {
        self.handle(AppEvent::Lifecycle(event));
    }

    /// The transcription in flight comes back with `text`.
    fn transcribed(&mut self, text: &str) {
        let done = self
            .world()
            .transcribing
            .pop()
            .expect("a transcription runs");
        done(Transcription {
            result: Ok(Transcript {
                text: text.to_owned(),
                ..Transcript::default()
            }),
            took: Duration::from_millis(10),
        });
        self.settle();
    }

    /// The microphone ends the recording by itself.
    fn recording_ends(&mut self, reason: EndReason) {
        let on_end = self.world().on_end.take().expect("a recording is open");
        on_end(reason);
        self.settle();
    }
}

fn loaded() -> ModelLoad {
    ModelLoad::Loaded {
        since: Instant::now(),
        load_time: Duration::from_millis(30),
    }
}

fn model_file() -> PathBuf {
    PathBuf::from("/models/ggml-tiny.en.bin")
}

/// Every answer the asker got, once the app let go of its reply.
fn answers(receiver: &Receiver<Response>) -> Vec<Response> {
    let mut got = Vec::new();
    loop {
        match receiver.try_recv() {
            Ok(response) => got.push(response),
            Err(TryRecvError::Empty) => panic!("still waiting for an answer after {got:?}"),
            Err(TryRecvError::Disconnected) => return got,
        }
    }
}

fn waiting(receiver: &Receiver<Response>) -> bool {
    matches!(receiver.try_recv(), Err(TryRecvError::Empty))
}

#[test]
fn startup_registers_the_hotkey_and_shows_the_idle_tray() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    assert_eq!(h.world().registered, vec![HOTKEY]);
    assert_eq!(h.world().telemetry_starts, 1);
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::Idle);
    assert_eq!(tray.model, MODEL);
    assert!(!tray.model_loaded);
    let status = h.status();
    assert_eq!(status.state, "idle");
    assert_eq!(
        status.hotkey.as_deref(),
        Some("Ctrl+Alt+Space (push-to-talk)")
    );
    assert!(status.tray);
}

#[test]
fn hotkey_pressed_while_the_model_loads_records_and_the_text_follows_the_load() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));

    h.press();
    assert_eq!(h.world().recordings.len(), 1, "the microphone opened");
    assert_eq!(h.world().preloads, 1, "the load overlaps the speech");
    h.set_model_load(ModelLoad::Loading);
    h.lifecycle(LifecycleEvent::LoadStarted {
        model: model_file(),
    });
    assert!(
        h.app.notice_due_at().is_some(),
        "the slow-load notice is armed"
    );
    assert_eq!(
        h.tray().state,
        TrayState::Recording,
        "recording wins over loading"
    );
    assert_eq!(h.state(), "recording");

    h.app.notice_due();
    assert_eq!(
        h.world().notified,
        vec!["Loading the tiny.en model… your words will follow."]
    );
    assert!(h.app.notice_due_at().is_none(), "the notice is one-shot");

    h.release();
    assert_eq!(h.world().stopped, 1);
    assert_eq!(h.world().transcriptions, 1);
    assert_eq!(h.state(), "transcribing");
    assert_eq!(
        h.tray().state,
        TrayState::Loading,
        "the transcription waits for the model"
    );

    h.set_model_load(loaded());
    h.lifecycle(LifecycleEvent::Loaded {
        model: model_file(),
        took: Duration::from_millis(30),
    });
    assert_eq!(
        h.world().closed,
        vec![1],
        "the notice is closed once loaded"
    );
    assert_eq!(h.tray().state, TrayState::Transcribing);
    assert!(h.tray().model_loaded);

    h.transcribed(" ask not what your country can do for you ");
    assert_eq!(
        h.world().inserted,
        vec!["ask not what your country can do for you"]
    );
    assert_eq!(h.world().telemetry_dictations, vec![MODEL]);
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::Idle);
    assert!(tray.has_last_transcript);
    assert_eq!(h.state(), "idle");
}

#[test]
fn the_notice_stays_away_when_the_load_ended_before_it_was_due() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.press();
    h.set_model_load(ModelLoad::Loading);
    h.lifecycle(LifecycleEvent::LoadStarted {
        model: model_file(),
    });
    // Loaded in the manager, its event not yet through the channel.
    h.set_model_load(loaded());
    h.app.notice_due();
    assert!(h.world().notified.is_empty());
    assert!(h.app.notice_due_at().is_none());
}

#[test]
fn a_stop_while_transcribing_leaves_the_transcription_alone() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.set_model_load(loaded());
    h.press();
    let stop = h.ask(Request::Stop);
    assert!(waiting(&stop), "stop answers once the text is in");
    assert_eq!(h.state(), "transcribing");

    // Key-up after `ezflow stop`, and more stops: nothing more to stop.
    h.release();
    let again = h.ask(Request::Stop);
    assert_eq!(answers(&again), vec![Response::done("transcribing")]);
    let toggle = h.ask(Request::Toggle);
    assert_eq!(answers(&toggle), vec![Response::done("transcribing")]);
    assert_eq!(h.state(), "transcribing");
    assert_eq!(h.world().stopped, 1);
    assert_eq!(h.world().transcriptions, 1);
    assert!(waiting(&stop));

    h.transcribed("one clip, one text");
    assert_eq!(answers(&stop), vec![Response::done("idle")]);
    assert_eq!(h.world().inserted, vec!["one clip, one text"]);
    assert_eq!(h.state(), "idle");
}

#[test]
fn a_microphone_lost_mid_recording_transcribes_what_was_recorded() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.set_model_load(loaded());
    h.press();
    h.recording_ends(EndReason::DeviceLost("the device was unplugged".to_owned()));
    assert_eq!(h.world().stopped, 1, "what was recorded is kept");
    assert_eq!(h.state(), "transcribing");

    // The user lets go of the key only now: nothing is recording.
    h.release();
    h.transcribed("and so my fellow americans");
    assert_eq!(h.world().inserted, vec!["and so my fellow americans"]);
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::Error);
    let detail = tray.detail.expect("the tooltip says why");
    assert!(
        detail.contains("the microphone stopped (the device was unplugged)")
            && detail.contains("transcribing what was recorded"),
        "{detail}"
    );
    assert_eq!(h.state(), "error");

    // The next recording starts afresh.
    h.press();
    assert_eq!(h.tray().state, TrayState::Recording);
    assert_eq!(h.tray().detail, None);
}

#[test]
fn a_recording_at_its_maximum_length_ends_by_itself_and_key_up_then_does_nothing() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.press();
    h.recording_ends(EndReason::MaxDuration);
    assert_eq!(h.state(), "transcribing");
    h.transcribed("twelve seconds");
    h.release();
    assert_eq!(h.world().recordings.len(), 1);
    assert_eq!(h.world().transcriptions, 1);
    assert_eq!(h.state(), "idle");
    assert_eq!(h.tray().detail, None, "a full recording is no problem");
}

#[test]
fn settings_changed_mid_dictation_apply_from_the_next_press() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.press();
    assert_eq!(h.state(), "recording");

    // The user edits the file while speaking: toggle mode, another model,
    // another hotkey.
    h.world().settings_file = Settings {
        hotkey_mode: HotkeyMode::Toggle,
        model: "base.en".to_owned(),
        hotkey: "Ctrl+Alt+D".to_owned(),
        ..settings(HotkeyMode::Toggle)
    };
    h.handle(AppEvent::SettingsChanged);
    assert_eq!(h.state(), "recording", "the recording goes on");
    assert_eq!(h.world().models, vec!["base.en"]);
    assert_eq!(h.world().released, vec![HOTKEY]);
    assert_eq!(h.world().registered, vec![HOTKEY, "Ctrl+Alt+D"]);
    assert_eq!(h.tray().model, "base.en");
    assert_eq!(h.tray().state, TrayState::Recording);

    // Toggle mode now: the key-up no longer stops, the next press does.
    h.release();
    assert_eq!(h.state(), "recording");
    h.press();
    assert_eq!(h.state(), "transcribing");
    h.transcribed("with the new model");
    assert_eq!(h.world().telemetry_dictations, vec!["base.en"]);
    assert_eq!(h.status().hotkey.as_deref(), Some("Ctrl+Alt+D (toggle)"));
}

#[test]
fn the_same_settings_saved_again_change_nothing() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.handle(AppEvent::SettingsChanged);
    assert!(h.world().models.is_empty());
    assert!(h.world().policies.is_empty());
    assert_eq!(h.world().registered, vec![HOTKEY]);
    assert_eq!(h.world().telemetry_starts, 1);
}

#[test]
fn control_start_stop_and_toggle_are_answered_exactly_once() {
    let mut h = Harness::start(settings(HotkeyMode::Toggle));

    let toggle_on = h.ask(Request::Toggle);
    assert_eq!(answers(&toggle_on), vec![Response::done("recording")]);
    let start_again = h.ask(Request::Start);
    assert_eq!(answers(&start_again), vec![Response::done("recording")]);
    let toggle_off = h.ask(Request::Toggle);
    assert!(waiting(&toggle_off));
    h.transcribed("first");
    assert_eq!(answers(&toggle_off), vec![Response::done("idle")]);

    let start = h.ask(Request::Start);
    assert_eq!(answers(&start), vec![Response::done("recording")]);
    let stop = h.ask(Request::Stop);
    assert!(waiting(&stop));
    h.transcribed("second");
    assert_eq!(answers(&stop), vec![Response::done("idle")]);

    let idle_stop = h.ask(Request::Stop);
    assert_eq!(answers(&idle_stop), vec![Response::done("idle")]);
    assert_eq!(h.world().inserted, vec!["first", "second"]);
}

#[test]
fn a_failed_transcription_answers_the_stop_with_its_reason() {
    let mut h = Harness::start(settings(HotkeyMode::Toggle));
    h.press();
    let stop = h.ask(Request::Stop);
    let done = h.world().transcribing.pop().expect("a transcription runs");
    done(Transcription {
        result: Err(ezflow_core::lifecycle::LifecycleError::Transcribe(
            ezflow_core::engine::EngineError::EnglishOnlyModel {
                path: model_file(),
                language: "de".to_owned(),
            },
        )),
        took: Duration::ZERO,
    });
    h.settle();
    let answers = answers(&stop);
    assert_eq!(answers.len(), 1);
    assert!(matches!(&answers[0], Response::Error { .. }), "{answers:?}");
    assert!(h.world().inserted.is_empty());
    assert_eq!(h.tray().state, TrayState::Error);
}

#[test]
fn a_start_without_a_microphone_answers_with_the_reason() {
    let world = World {
        microphone_missing: true,
        ..World::default()
    };
    let mut h = Harness::start_in(world, settings(HotkeyMode::Toggle));
    let start = h.ask(Request::Start);
    let answers = answers(&start);
    assert!(
        matches!(&answers[..], [Response::Error { error }] if error.contains("no microphone")),
        "{answers:?}"
    );
    assert_eq!(h.world().preloads, 0, "no load without a recording");
    assert_eq!(h.tray().state, TrayState::Error);
}

#[test]
fn cancel_throws_the_recording_away() {
    let mut h = Harness::start(settings(HotkeyMode::Toggle));
    h.press();
    let cancel = h.ask(Request::Cancel);
    assert_eq!(answers(&cancel), vec![Response::done("idle")]);
    assert_eq!(h.world().cancelled, 1);
    assert_eq!(h.world().stopped, 0);
    assert_eq!(h.world().transcriptions, 0);
    assert_eq!(h.tray().state, TrayState::Idle);
    assert!(!h.tray().recording);

    // Once transcribing, the clip is gone from the microphone: cancel has
    // nothing to throw away, and the waiting stop still gets its answer.
    h.press();
    let stop = h.ask(Request::Stop);
    let late = h.ask(Request::Cancel);
    assert_eq!(answers(&late), vec![Response::done("transcribing")]);
    h.transcribed("kept");
    assert_eq!(answers(&stop), vec![Response::done("idle")]);
    assert_eq!(h.world().inserted, vec!["kept"]);
}

#[test]
fn load_answers_once_the_model_is_in_memory_or_with_why_not() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    let load = h.ask(Request::Load);
    assert!(waiting(&load));
    assert_eq!(h.world().preloads, 1);
    h.set_model_load(ModelLoad::Loading);
    h.lifecycle(LifecycleEvent::LoadStarted {
        model: model_file(),
    });
    assert_eq!(h.tray().state, TrayState::Loading);
    assert_eq!(h.state(), "loading");
    h.set_model_load(loaded());
    h.lifecycle(LifecycleEvent::Loaded {
        model: model_file(),
        took: Duration::from_millis(30),
    });
    assert_eq!(answers(&load), vec![Response::done("idle")]);
    let loaded_already = h.ask(Request::Load);
    assert_eq!(answers(&loaded_already), vec![Response::done("idle")]);

    let unload = h.ask(Request::Unload);
    assert_eq!(answers(&unload), vec![Response::done("idle")]);
    assert_eq!(h.world().unloads, 1);
    h.set_model_load(ModelLoad::Unloaded);

    let broken = h.ask(Request::Load);
    h.lifecycle(LifecycleEvent::LoadFailed {
        model: model_file(),
        error: "not a model file".to_owned(),
    });
    let answers = answers(&broken);
    assert!(
        matches!(&answers[..], [Response::Error { error }] if error.contains("could not be loaded")),
        "{answers:?}"
    );
    assert_eq!(h.tray().state, TrayState::Error);
}

#[test]
fn a_taken_hotkey_is_an_error_until_reload_settings_registers_it() {
    let world = World {
        hotkey_taken: true,
        ..World::default()
    };
    let mut h = Harness::start_in(world, settings(HotkeyMode::PushToTalk));
    let status = h.status();
    assert_eq!(status.state, "error");
    assert_eq!(status.hotkey, None);
    let detail = h.tray().detail.expect("the tooltip says why");
    assert!(detail.contains("already taken"), "{detail}");

    h.world().hotkey_taken = false;
    let reload = h.ask(Request::ReloadSettings);
    assert_eq!(answers(&reload), vec![Response::done("idle")]);
    assert_eq!(h.world().registered, vec![HOTKEY]);
    assert_eq!(h.state(), "idle");
    assert_eq!(h.tray().state, TrayState::Idle);
}

#[test]
fn a_lost_hotkey_says_how_to_get_it_back() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.handle(AppEvent::Hotkey(HotkeyEvent::Lost {
        reason: "the portal session closed".to_owned(),
    }));
    let detail = h.tray().detail.expect("the tooltip says why");
    assert!(
        detail.contains("the portal session closed") && detail.contains("reload-settings"),
        "{detail}"
    );
    assert_eq!(h.status().hotkey, None);
    h.handle(AppEvent::SettingsChanged);
    assert_eq!(h.world().registered, vec![HOTKEY, HOTKEY], "tried again");
}

#[test]
fn a_failed_insertion_leaves_the_text_on_the_clipboard_and_the_next_one_starts_afresh() {
    let mut h = Harness::start(settings(HotkeyMode::Toggle));
    h.press();
    h.press();
    h.transcribed("first");
    assert_eq!(h.world().inserters_made, 1);

    h.world().inserter_broken = true;
    h.press();
    let stop = h.ask(Request::Stop);
    h.transcribed("second");
    assert_eq!(h.world().clipboard, vec!["second"]);
    let answers = answers(&stop);
    assert!(
        matches!(&answers[..], [Response::Error { error }] if error.contains("on the clipboard")),
        "{answers:?}"
    );

    h.world().inserter_broken = false;
    h.press();
    h.press();
    h.transcribed("third");
    assert_eq!(
        h.world().inserters_made,
        2,
        "a new inserter after the failure"
    );
    assert_eq!(h.world().inserted, vec!["first", "third"]);
}

#[test]
fn tray_actions_toggle_copy_unload_and_save_the_telemetry_choice() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.handle(AppEvent::Tray(TrayAction::ToggleDictation));
    assert!(h.tray().recording);
    h.handle(AppEvent::Tray(TrayAction::ToggleDictation));
    h.transcribed("copied later");
    h.handle(AppEvent::Tray(TrayAction::CopyLastTranscript));
    assert_eq!(h.world().clipboard, vec!["copied later"]);
    h.handle(AppEvent::Tray(TrayAction::UnloadModel));
    assert_eq!(h.world().unloads, 1);

    h.handle(AppEvent::Tray(TrayAction::SetTelemetry(true)));
    assert_eq!(h.world().saved.len(), 1);
    assert!(h.world().saved[0].telemetry);
    assert_eq!(
        h.world().telemetry_starts,
        2,
        "restarted for the new choice"
    );
    assert!(h.tray().telemetry_enabled, "the menu shows it at once");
}

#[test]
fn an_empty_transcript_inserts_nothing_and_says_no_speech_was_heard() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.press();
    h.release();
    h.transcribed("   ");
    assert!(h.world().inserted.is_empty());
    assert!(!h.tray().has_last_transcript);
    assert_eq!(h.state(), "idle");
    assert_eq!(h.world().notified, vec![NO_SPEECH.to_owned()]);
    // A dictation that heard words says nothing more.
    h.press();
    h.release();
    h.transcribed("Hello.");
    assert_eq!(h.world().inserted, vec!["Hello.".to_owned()]);
    assert_eq!(h.world().notified.len(), 1);
}

#[test]
fn quitting_cancels_the_recording_and_releases_the_hotkey_and_the_tray() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.press();
    let (events, inbox) = mpsc::channel();
    events.send(AppEvent::Quit).expect("the inbox is open");
    h.app.run(inbox);
    assert_eq!(h.world().cancelled, 1);
    assert_eq!(h.world().released, vec![HOTKEY]);
    assert!(h.world().tray_shut_down);
}

// ---------------------------------------------------------------------------
// The settings window's requests.

fn values(json: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(json).expect("JSON object")
}

impl Harness {
    /// The one answer to `request`.
    fn answer(&mut self, request: Request) -> Response {
        let mut got = answers(&self.ask(request));
        assert_eq!(got.len(), 1, "{got:?}");
        got.remove(0)
    }

    fn published(&self) -> Vec<Event> {
        self.world().published.clone()
    }

    fn forget_published(&mut self) {
        self.world().published.clear();
    }
}

#[test]
fn settings_set_saves_applies_as_a_reload_and_tells_the_watchers() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    let answer = h.answer(Request::SettingsSet {
        values: values(r#"{"idle_unload":"30s","hotkey_mode":"toggle"}"#),
    });
    let Response::Settings(report) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.values["idle_unload"], "30s");
    assert_eq!(report.values["hotkey_mode"], "toggle");
    assert_eq!(report.path, "/config/settings.toml");
    assert!(report.fields.iter().any(|f| f.key == "idle_unload"));
    let saved = h.world().saved.clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].idle_unload.to_string(), "30s");
    assert_eq!(
        h.world().policies,
        vec![UnloadPolicy::After(Duration::from_secs(30))],
        "applied like a reload"
    );
    assert_eq!(h.published(), vec![Event::Settings]);
    // Toggle mode applies from the next press.
    h.press();
    h.press();
    assert_eq!(h.state(), "transcribing");
}

#[test]
fn settings_check_and_a_refused_set_change_nothing() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    let answer = h.answer(Request::SettingsCheck {
        values: values(r#"{"threads":4}"#),
    });
    let Response::Settings(report) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.values["threads"], 4);
    let answer = h.answer(Request::SettingsSet {
        values: values(r#"{"idle_unload":"30s","threads":65,"hotkey":"Ctrl+Foo"}"#),
    });
    let Response::FieldErrors { field_errors, .. } = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        field_errors.keys().collect::<Vec<_>>(),
        vec!["hotkey", "threads"]
    );
    assert!(
        field_errors["hotkey"].starts_with("\"Ctrl+Foo\": "),
        "{field_errors:?}"
    );
    assert!(h.world().saved.is_empty(), "all or nothing");
    assert!(h.world().policies.is_empty());
    assert!(h.published().is_empty());
    assert_eq!(h.world().registered, vec![HOTKEY], "nothing was registered");
}

#[test]
fn a_hotkey_taken_by_another_program_is_a_field_error_and_the_old_one_stays() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.world().hotkey_taken = true;
    let answer = h.answer(Request::SettingsSet {
        values: values(r#"{"hotkey":"Super+H","idle_unload":"30s"}"#),
    });
    let Response::FieldErrors { field_errors, .. } = answer else {
        panic!("{answer:?}")
    };
    assert!(
        field_errors["hotkey"].contains("already taken"),
        "{field_errors:?}"
    );
    assert!(h.world().saved.is_empty(), "the file is unchanged");
    assert!(h.world().released.is_empty(), "the old hotkey is kept");
    assert_eq!(
        h.status().hotkey.as_deref(),
        Some("Ctrl+Alt+Space (push-to-talk)")
    );

    // Free again: registered before the save, not twice.
    h.world().hotkey_taken = false;
    let answer = h.answer(Request::SettingsSet {
        values: values(r#"{"hotkey":"Super+H"}"#),
    });
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(h.world().registered, vec![HOTKEY, "Super+H"]);
    assert_eq!(h.world().released, vec![HOTKEY]);
    assert_eq!(h.status().hotkey.as_deref(), Some("Super+H (push-to-talk)"));
}

#[test]
fn a_failed_save_is_an_error_and_the_old_hotkey_comes_back() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.world().save_fails = true;
    let answer = h.answer(Request::SettingsSet {
        values: values(r#"{"hotkey":"Super+H"}"#),
    });
    let error = answer.error_text().expect("an error").to_owned();
    assert!(
        error.starts_with("the settings were not saved: "),
        "{error}"
    );
    assert_eq!(
        h.status().hotkey.as_deref(),
        Some("Ctrl+Alt+Space (push-to-talk)")
    );
}

#[test]
fn watchers_get_every_state_change_and_the_state_right_after_watch() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    let watch = h.ask(Request::Watch);
    assert_eq!(answers(&watch), vec![Response::done("idle")]);
    let states = |h: &Harness| -> Vec<String> {
        h.published()
            .into_iter()
            .filter_map(|e| match e {
                Event::State(s) => Some(s.state),
                _ => None,
            })
            .collect()
    };
    assert_eq!(states(&h), vec!["idle"]);
    h.set_model_load(loaded());
    h.press();
    h.release();
    h.transcribed("hello");
    assert_eq!(
        states(&h),
        vec!["idle", "recording", "transcribing", "idle"]
    );
    // Nothing changed, nothing said.
    h.handle(AppEvent::Tray(TrayAction::UnloadModel));
    assert_eq!(states(&h).len(), 4);
}

#[test]
fn open_settings_starts_the_window_once_then_brings_it_to_the_front() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    assert_eq!(h.answer(Request::OpenSettings), Response::done("idle"));
    assert_eq!(h.world().windows_started, 1);
    h.forget_published();
    assert_eq!(h.answer(Request::OpenSettings), Response::done("idle"));
    h.handle(AppEvent::Tray(TrayAction::OpenSettings));
    assert_eq!(h.world().windows_started, 1);
    assert_eq!(h.published(), vec![Event::Focus, Event::Focus]);
    assert_eq!(h.world().settings_files_opened, 0);
}

#[test]
fn without_the_window_open_settings_says_so_and_the_tray_opens_the_file() {
    let world = World {
        window_installed: false,
        ..World::default()
    };
    let mut h = Harness::start_in(world, settings(HotkeyMode::PushToTalk));
    h.world().window_installed = false;
    let answer = h.answer(Request::OpenSettings);
    assert!(
        answer.error_text().unwrap().contains("not installed"),
        "{answer:?}"
    );
    h.handle(AppEvent::Tray(TrayAction::OpenSettings));
    assert_eq!(h.world().settings_files_opened, 1);
}

#[test]
fn the_first_run_opens_the_window_only_when_no_model_is_installed() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.app.first_run();
    assert_eq!(h.world().windows_started, 0);
    h.world().installed.clear();
    h.app.first_run();
    assert_eq!(h.world().windows_started, 1);

    // EZFLOW_NO_FIRST_RUN=1: no window, at the start or at a dictation.
    let mut h = Harness::start_with_no_model(settings(HotkeyMode::PushToTalk));
    h.app.first_run_window = false;
    h.app.first_run();
    h.press();
    assert_eq!(h.world().windows_started, 0);
    assert_eq!(h.world().notified.len(), 1, "the notification all the same");
}

const BASE_EN_BYTES: u64 = 147_964_211;

fn progress(id: &str, done: u64, total: u64) -> Event {
    Event::Download(DownloadEvent {
        id: id.into(),
        done,
        total,
        bytes_per_sec: 1_000_000,
    })
}

fn finished(id: &str, error: Option<&str>) -> Event {
    Event::DownloadFinished(FinishedEvent {
        id: id.into(),
        error: error.map(str::to_owned),
    })
}

#[test]
fn with_no_model_the_tray_offers_one_and_a_dictation_says_what_to_do() {
    let mut h = Harness::start_with_no_model(settings(HotkeyMode::PushToTalk));
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::NoModel);
    assert_eq!(
        tray.offer,
        Some(ModelOffer {
            model: "base.en".into(),
            size_bytes: BASE_EN_BYTES,
        })
    );
    assert!(tray
        .tooltip_description()
        .starts_with("No model — set up…\nModel: tiny.en (not installed)"));
    assert_eq!(h.state(), "no-model");

    // The hotkey: no recording, no load; a notification, the setup.
    h.press();
    assert!(
        h.world().recordings.is_empty(),
        "the microphone stays closed"
    );
    assert_eq!(h.world().preloads, 0);
    let notified = h.world().notified.clone();
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert!(
        notified[0].starts_with("No speech model is installed yet")
            && notified[0].contains("Download base.en (148 MB) from the EZ Flow tray menu"),
        "{notified:?}"
    );
    assert_eq!(
        h.world().windows_started,
        1,
        "the window opens on its setup"
    );
    h.release();
    assert_eq!(h.tray().state, TrayState::NoModel);
    assert!(h.world().transcribing.is_empty());

    // `ezflow start` is told why; the open window comes to the front.
    h.forget_published();
    let answer = h.answer(Request::Start);
    let why = answer.error_text().expect("an error");
    assert!(
        why.starts_with("no speech model is installed")
            && why.contains("`ezflow models download base.en`")
            && !why.contains("  "),
        "{why}"
    );
    assert!(h.published().contains(&Event::Focus));
    assert_eq!(h.world().windows_started, 1);
    assert_eq!(
        h.world().notified.len(),
        2,
        "the same notification, replaced"
    );
    assert_eq!(h.world().closed, Vec::<u32>::new());
}

#[test]
fn the_offered_download_shows_its_progress_says_why_it_failed_and_then_makes_dictation_work() {
    let mut h = Harness::start_with_no_model(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    h.handle(AppEvent::Tray(TrayAction::DownloadModel));
    assert_eq!(h.world().downloads, vec!["base.en"]);
    assert!(
        h.published().contains(&Event::Models),
        "the window hears of it"
    );

    // Progress in whole percents; the same percent is not sent again.
    h.library(progress("base.en", BASE_EN_BYTES / 10 + 1, BASE_EN_BYTES));
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::NoModel);
    assert_eq!(
        tray.download,
        Some(TrayDownload {
            model: "base.en".into(),
            percent: Some(10),
            total_bytes: BASE_EN_BYTES,
        })
    );
    let shown = h.world().shown.len();
    h.library(progress(
        "base.en",
        BASE_EN_BYTES / 10 + 1000,
        BASE_EN_BYTES,
    ));
    assert_eq!(
        h.world().shown.len(),
        shown,
        "an unchanged tray is not redrawn"
    );

    // It fails: the tray, the status and a notification say why; the
    // setting is untouched.
    let why = "downloading model 'base.en' failed: the server at 127.0.0.1:9 answered                something unexpected for http://127.0.0.1:9/ggml-base.en.bin: HTTP 404";
    h.world().downloads.clear();
    h.library(finished("base.en", Some(why)));
    h.library(Event::Models);
    let tray = h.tray();
    assert_eq!(tray.state, TrayState::NoModel);
    assert_eq!(tray.download, None);
    assert_eq!(tray.detail.as_deref(), Some(why));
    assert!(
        tray.menu().iter().any(|e| matches!(
            e,
            ezflow_desktop::tray::MenuEntry::Item {
                action: TrayAction::DownloadModel,
                ..
            }
        )),
        "offered again"
    );
    assert_eq!(h.status().last_error.as_deref(), Some(why));
    let notice = h.world().notified.last().cloned().expect("a notification");
    assert!(
        notice.starts_with(why) && notice.contains("Nothing was installed"),
        "{notice}"
    );
    assert!(h.world().saved.is_empty(), "the model setting is untouched");

    // Again, and this time it arrives: it becomes the model, the tray is
    // ready, and the next dictation records and loads it.
    h.handle(AppEvent::Tray(TrayAction::DownloadModel));
    h.library(progress("base.en", BASE_EN_BYTES, BASE_EN_BYTES));
    h.world().installed.push("base.en".into());
    h.library(finished("base.en", None));
    h.library(Event::Models);
    assert_eq!(
        h.world().saved.last().map(|s| s.model.clone()),
        Some("base.en".into())
    );
    let status = h.status();
    assert_eq!(status.model, "base.en");
    assert_eq!(status.state, "idle");
    assert_eq!(status.last_error, None, "the failure before is over");
    let tray = h.tray();
    assert_eq!(
        (tray.state, tray.offer, tray.download),
        (TrayState::Idle, None, None)
    );
    let notice = h.world().notified.last().cloned().expect("a notification");
    assert_eq!(
        notice,
        "The base.en model is installed. To dictate, hold Ctrl+Alt+Space and speak."
    );
    assert_eq!(h.world().preloads, 0, "loaded at the dictation, as always");
    h.press();
    assert_eq!(h.world().recordings.len(), 1);
    assert_eq!(h.world().preloads, 1);
    h.release();
    h.transcribed("hello");
    assert_eq!(h.world().inserted, vec!["hello"]);
}

#[test]
fn a_cancelled_download_is_no_failure_and_a_model_copied_in_counts() {
    let mut h = Harness::start_with_no_model(settings(HotkeyMode::Toggle));
    h.handle(AppEvent::Tray(TrayAction::DownloadModel));
    h.library(progress("base.en", 1_000_000, BASE_EN_BYTES));
    h.handle(AppEvent::Tray(TrayAction::CancelDownload));
    assert!(h.world().downloads.is_empty(), "the library was asked");
    h.library(finished(
        "base.en",
        Some("downloading model 'base.en' failed: download cancelled after 1.0 MB"),
    ));
    assert_eq!(h.status().last_error, None);
    assert!(h.world().notified.is_empty());
    assert_eq!(h.tray().download, None);

    // The window's cancel is as quiet.
    h.handle(AppEvent::Tray(TrayAction::DownloadModel));
    assert!(h
        .answer(Request::ModelCancel {
            id: "base.en".into()
        })
        .is_ok());
    h.library(finished("base.en", Some("cancelled")));
    assert!(h.world().notified.is_empty());

    // A model file put there by hand: the next press finds it.
    h.world().installed.push(MODEL.into());
    h.press();
    assert_eq!(h.world().recordings.len(), 1);
    assert_ne!(h.tray().state, TrayState::NoModel);
}

#[test]
fn a_model_arriving_while_another_is_in_use_changes_nothing() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    assert_eq!(h.tray().offer, None);
    h.world().installed.push("small.en".into());
    h.library(finished("small.en", None));
    h.library(Event::ImportFinished(ezflow_control::ImportFinishedEvent {
        id: "tiny.en-q8_0".into(),
        path: "/ct2".into(),
        error: None,
    }));
    assert!(h.world().saved.is_empty());
    assert_eq!(h.status().model, MODEL);
    assert!(h.world().notified.is_empty());
    // A failure still says why.
    h.library(finished(
        "small.en",
        Some("downloading model 'small.en' failed: disk full"),
    ));
    assert_eq!(h.tray().state, TrayState::Error);
    assert_eq!(h.world().notified.len(), 1);
}

#[test]
fn an_import_while_no_model_is_in_use_becomes_the_model() {
    let mut h = Harness::start_with_no_model(settings(HotkeyMode::PushToTalk));
    h.world().installed.push("tiny.en-q8_0".into());
    h.library(Event::ImportFinished(ezflow_control::ImportFinishedEvent {
        id: "tiny.en-q8_0".into(),
        path: "/ct2".into(),
        error: None,
    }));
    assert_eq!(h.status().model, "tiny.en-q8_0");
    assert_eq!(h.tray().state, TrayState::Idle);
}

#[test]
fn model_requests_check_before_they_change_anything() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    let answer = h.answer(Request::ModelActivate {
        id: "small.en".into(),
    });
    assert!(
        answer.error_text().unwrap().contains("not installed"),
        "{answer:?}"
    );
    let answer = h.answer(Request::ModelRemove { id: MODEL.into() });
    assert!(
        answer.error_text().unwrap().contains("in use"),
        "{answer:?}"
    );
    assert!(h.world().removed.is_empty());
    assert!(h.world().saved.is_empty());

    h.forget_published();
    let answer = h.answer(Request::ModelDownload {
        id: "base.en".into(),
    });
    assert!(matches!(answer, Response::Models(_)), "{answer:?}");
    assert_eq!(h.world().downloads, vec!["base.en"]);
    assert_eq!(h.published(), vec![Event::Models]);
    assert!(h
        .answer(Request::ModelCancel {
            id: "base.en".into()
        })
        .is_ok());
    assert!(!h
        .answer(Request::ModelCancel {
            id: "base.en".into()
        })
        .is_ok());
}

#[test]
fn a_model_from_a_url_is_refused_field_by_field_and_nothing_starts() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.world().installed.push("acme".into());
    h.forget_published();
    let ask = |h: &mut Harness, name: &str, url: &str, sha256: &str| {
        h.answer(Request::ModelDownloadUrl {
            name: name.into(),
            url: url.into(),
            sha256: sha256.into(),
        })
    };
    let sha = "ab".repeat(32);
    let url = "https://models.example/ggml-acme.bin";
    for (name, url, sha256, field, says) in [
        (
            MODEL,
            url,
            sha.as_str(),
            "name",
            "is a catalog model; use Download in the list",
        ),
        (
            "acme",
            url,
            &sha,
            "name",
            "already installed; remove it first",
        ),
        ("../x", url, &sha, "name", "not a valid name"),
        ("", url, &sha, "name", "give the model a name"),
        (
            "new",
            "ftp://models.example/m.bin",
            &sha,
            "url",
            "https:// or http://",
        ),
        (
            "new",
            "models.example/m.bin",
            &sha,
            "url",
            "https:// or http://",
        ),
        ("new", url, "abc", "sha256", "64 hex digits"),
        ("new", url, "", "sha256", "64 hex digits"),
    ] {
        let answer = ask(&mut h, name, url, sha256);
        let Response::FieldErrors {
            error,
            field_errors,
        } = &answer
        else {
            panic!("{name} {url} {sha256}: {answer:?}")
        };
        assert_eq!(field_errors.len(), 1, "{field_errors:?}");
        assert!(field_errors[field].contains(says), "{field_errors:?}");
        assert!(error.starts_with("download not started: "), "{error}");
    }
    let answer = ask(&mut h, "MODEL/", "x", "");
    let Response::FieldErrors { field_errors, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        field_errors.keys().collect::<Vec<_>>(),
        ["name", "sha256", "url"],
        "all three at once"
    );
    assert!(h.world().downloads.is_empty(), "nothing started");
    assert!(h.published().is_empty(), "nothing changed");
}

#[test]
fn a_model_from_a_url_downloads_like_a_catalog_one_and_cancels_by_its_name() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    let sha = "AB".repeat(32);
    let request = Request::ModelDownloadUrl {
        name: " acme-medical ".into(),
        url: "https://models.example/ggml-acme.bin".into(),
        sha256: sha.clone(),
    };
    let answer = h.answer(request.clone());
    assert!(matches!(answer, Response::Models(_)), "{answer:?}");
    assert_eq!(
        h.world().url_downloads,
        vec![UrlModel {
            name: "acme-medical".into(),
            url: "https://models.example/ggml-acme.bin".into(),
            sha256: sha.to_ascii_lowercase(),
        }]
    );
    assert_eq!(h.published(), vec![Event::Models]);
    // The library's own refusal (already downloading) is a plain error.
    let again = h.answer(request);
    assert!(
        again.error_text().unwrap().contains("already downloading"),
        "{again:?}"
    );
    assert!(h
        .answer(Request::ModelCancel {
            id: "acme-medical".into()
        })
        .is_ok());
    assert!(h.world().downloads.is_empty());
}

#[test]
fn model_activate_writes_the_setting_and_starts_the_load() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.world().installed.push("base.en".into());
    h.forget_published();
    let answer = h.answer(Request::ModelActivate {
        id: "base.en".into(),
    });
    let Response::Models(report) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.active, "base.en");
    assert_eq!(
        h.world().saved.last().map(|s| s.model.clone()),
        Some("base.en".into())
    );
    assert_eq!(h.world().models, vec!["base.en"]);
    assert_eq!(h.world().preloads, 1);
    assert_eq!(h.status().model, "base.en");
    let published = h.published();
    assert!(published.contains(&Event::Settings), "{published:?}");
    assert!(published.contains(&Event::Models), "{published:?}");
    // The old model can go now.
    assert!(h.answer(Request::ModelRemove { id: MODEL.into() }).is_ok());
}

#[test]
fn telemetry_set_goes_through_the_settings_file() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.forget_published();
    let answer = h.answer(Request::TelemetrySet { enabled: true });
    let Response::Telemetry(report) = answer else {
        panic!("{answer:?}")
    };
    assert!(report.enabled);
    assert!(h.world().saved.last().unwrap().telemetry);
    assert_eq!(h.world().telemetry_starts, 2, "restarted with consent");
    assert_eq!(h.published(), vec![Event::Settings, Event::Telemetry]);
}

#[test]
fn autostart_set_answers_with_the_settings() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    let answer = h.answer(Request::AutostartSet { enabled: true });
    let Response::Settings(report) = answer else {
        panic!("{answer:?}")
    };
    assert!(report.start_at_login);
}

#[test]
fn the_level_meter_runs_until_its_deadline_and_is_refused_while_recording() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    assert!(h.app.next_deadline().is_none(), "idle has no deadline");
    let asked = Instant::now();
    assert_eq!(
        h.answer(Request::LevelMeter { device: "".into() }),
        Response::done("idle")
    );
    assert_eq!(h.world().meters_opened, vec![None]);
    let due = h.app.next_deadline().expect("the meter's deadline");
    assert!(due >= asked + METER_SPAN);

    // Levels go straight to the watchers.
    h.forget_published();
    let mut on_level = h.world().on_level.take().expect("a meter runs");
    on_level(Level {
        rms: 0.25,
        peak: 0.5,
    });
    assert_eq!(
        h.published(),
        vec![Event::Level(LevelEvent {
            device: String::new(),
            rms: 0.25,
            peak: 0.5
        })]
    );

    // Asked again: the same device stays open, the deadline moves.
    h.answer(Request::LevelMeter { device: "".into() });
    assert_eq!(h.world().meters_opened.len(), 1);
    let later = h.app.next_deadline().unwrap();
    assert!(later >= due);

    h.app.deadline(later);
    assert_eq!(h.world().meters_closed, 1);
    assert!(h.app.next_deadline().is_none());
    assert!(h
        .published()
        .iter()
        .any(|e| matches!(e, Event::LevelFinished(f) if f.error.is_none())));

    // A dictation closes a running meter; a meter is refused while one records.
    h.answer(Request::LevelMeter {
        device: "fake microphone".into(),
    });
    h.press();
    assert_eq!(h.world().meters_closed, 2);
    let answer = h.answer(Request::LevelMeter { device: "".into() });
    assert!(answer.error_text().unwrap().contains("busy"), "{answer:?}");
}

#[test]
fn a_failing_meter_device_says_why() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.answer(Request::LevelMeter { device: "".into() });
    h.forget_published();
    let fail = h.world().on_meter_failure.take().unwrap();
    fail("device unplugged".to_owned());
    h.settle();
    assert_eq!(h.world().meters_closed, 1);
    let finished = h.published();
    let Some(Event::LevelFinished(f)) = finished.first() else {
        panic!("{finished:?}")
    };
    assert!(
        f.error.as_deref().unwrap().contains("device unplugged"),
        "{f:?}"
    );

    h.world().microphone_missing = true;
    let answer = h.answer(Request::LevelMeter { device: "".into() });
    assert!(
        answer.error_text().unwrap().contains("no microphone"),
        "{answer:?}"
    );
}

#[test]
fn stats_history_has_the_dictation_and_memory_taken_on_events() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    h.set_model_load(loaded());
    h.press();
    h.release();
    h.transcribed("hello");
    let answer = h.answer(Request::StatsHistory);
    let Response::History(history) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(history.dictations.len(), 1);
    assert_eq!(history.dictations[0].audio_ms, 1000);
    let why: Vec<_> = history.memory.iter().map(|m| m.why.as_str()).collect();
    assert_eq!(why, vec!["dictation", "request"]);
}

#[test]
fn microphones_lists_the_devices_and_the_default() {
    let mut h = Harness::start(settings(HotkeyMode::PushToTalk));
    let answer = h.answer(Request::Microphones);
    let Response::Microphones(report) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.devices.len(), 2);
    assert!(report.devices[0].is_default);
    assert_eq!(report.selected, "");
}
