//! The always-on app end to end, as a user runs it: the real `ezflow`
//! binary under a private Xvfb and a private D-Bus session bus, a
//! StatusNotifierWatcher stand-in (the panel's side; no panel runs here), a
//! microphone that is a real ALSA device reading the JFK clip from a file,
//! the real tiny.en model, and a focused X window that turns key presses and
//! pastes into text like an editor.
//!
//! Hotkey down → recording (and the model load) → hotkey up → the words in
//! the window, with the clipboard as it was before.
//!
//! The session, the stand-ins, the microphone and the X applications are
//! `ezflow_testbed`'s (`session`, `panel`, `notifications`, `microphone`,
//! `x11_apps`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use ezflow_testbed::microphone::{self, Device, FileMicrophone, ALSA_CONFIG_ENV};
use ezflow_testbed::process::{self, WatchedProcess};
use ezflow_testbed::session::DesktopSession;
use ezflow_testbed::{assets, notifications, panel, x11_apps};
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::ConnectionExt as _;

/// Bound on waiting for the app to react (a model load and a transcription
/// on a loaded 2-core machine included).
const PATIENCE: Duration = Duration::from_secs(120);
/// Silence after the JFK clip in the microphone's file: past the recording
/// limit (12 s) of every test here.
const MICROPHONE_PADDING: Duration = Duration::from_secs(20);
/// How long the idle app is watched for CPU use (the story's own test);
/// `EZFLOW_IDLE_WATCH_SECS` sets another span (60 for the README's figure).
fn idle_watch() -> Duration {
    let secs = std::env::var("EZFLOW_IDLE_WATCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// A user's session (X, D-Bus, EZ Flow's own directories; the tray host is
/// each test's) with a microphone.
struct Desktop {
    session: DesktopSession,
}

impl Desktop {
    fn start() -> Desktop {
        let desktop = Desktop {
            session: DesktopSession::start(),
        };
        desktop.write_microphone(Device::Clip);
        desktop
    }

    fn path(&self, name: &str) -> PathBuf {
        self.session.home.join(name)
    }

    fn display(&self) -> &str {
        self.session.display()
    }

    /// Makes `device`, reading the JFK clip, the default capture device of
    /// the app (see `ezflow_testbed::microphone`): the app's real capture
    /// path, minus a sound card.
    fn write_microphone(&self, device: Device) {
        let clip = ezflow_core::audio::load_clip(&assets::jfk())
            .expect("decode jfk.wav")
            .into_samples();
        FileMicrophone::write(self.session.home.path(), device, &clip, MICROPHONE_PADDING);
    }

    fn write_settings(&self, extra: &str) {
        self.session.home.write_settings(&format!(
            "model = \"{}\"\nlanguage = \"en\"\nhotkey = \"Ctrl+Alt+Space\"\n\
             hotkey_mode = \"push-to-talk\"\ninsert_method = \"paste\"\n\
             max_recording = \"12s\"\n{extra}",
            assets::tiny_en().display()
        ));
    }

    fn ezflow(&self) -> Command {
        let mut command = self.session.command(env!("CARGO_BIN_EXE_ezflow"));
        command.env(ALSA_CONFIG_ENV, self.path(microphone::CONFIG_FILE));
        // No settings window pops up here (none of these tests has an
        // empty models directory, but a window would be in the way).
        command.env("EZFLOW_NO_FIRST_RUN", "1");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.ezflow().args(args).output().expect("ezflow runs")
    }

    /// Starts the app and waits for its startup line.
    fn start_app(&self) -> App {
        self.start_app_with(self.ezflow())
    }

    /// [`start_app`](Self::start_app) with a prepared command.
    fn start_app_with(&self, mut command: Command) -> App {
        let process = WatchedProcess::spawn(&mut command, Some("[ezflow]")).expect("start ezflow");
        let mut app = App { process };
        app.wait_for_line("startup complete in");
        app
    }
}

/// The running app; killed when dropped.
struct App {
    process: WatchedProcess,
}

impl App {
    /// Waits (bounded) for a log line containing `needle`; returns it.
    fn wait_for_line(&mut self, needle: &str) -> String {
        self.process
            .wait_for_line(needle, PATIENCE)
            .unwrap_or_else(|e| panic!("the app: {e:#}"))
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Holds the hotkey for one dictation of the file-fed microphone's clip
    /// (the JFK speech) and waits until its end is in `window`.
    ///
    /// The file-fed microphone is not paced in real time: it delivers the
    /// whole clip at once, so the recording ends at its 12 s limit (clip plus
    /// a second of silence) before the key is let go; the release then only
    /// ends push-to-talk.
    fn dictate_the_jfk_clip(&mut self, display: &str, window: &x11_apps::TextWindow) {
        hotkey(display, true);
        self.wait_for_line("ended_by=MaxDuration");
        self.wait_for_line("dictation transcribed");
        hotkey(display, false);
        window.wait_within("waiting for the dictated words", PATIENCE, |w| {
            w.text
                .to_lowercase()
                .contains("ask what you can do for your country")
        });
    }

    /// User + system CPU time of the process, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        process::cpu_ticks(self.pid()).expect("the app's CPU time")
    }

    fn terminate(mut self) -> ExitStatus {
        let status = self
            .process
            .terminate(PATIENCE)
            .expect("ezflow ends on SIGTERM");
        self.wait_for_line("quitting");
        status
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Presses or releases Ctrl+Alt+Space, the app's hotkey.
fn hotkey(display: &str, down: bool) {
    x11_apps::ctrl_alt_space(display, down);
}

fn file_mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn dictation_from_hotkey_to_text_in_the_focused_window() {
    let desktop = Desktop::start();
    let (_watcher_conn, registrations) = panel::start_watcher(&desktop.session.bus, true);
    desktop.write_settings("idle_unload = \"3s\"\n");

    let started = Instant::now();
    let mut app = desktop.start_app();
    let startup = started.elapsed();

    // The tray registered with the panel, with its menu.
    let registration = registrations
        .recv_timeout(PATIENCE)
        .expect("the tray registers with the StatusNotifierWatcher");
    let tray_ready = started.elapsed();
    eprintln!("exec to tray registered (seen by the watcher): {tray_ready:?}");
    // A smoke bound, not a benchmark: the target is well under 100 ms.
    assert!(
        tray_ready < Duration::from_secs(3),
        "tray took {tray_ready:?}"
    );
    let conn = panel::connect(&desktop.session.bus);
    let menu = panel::menu_layout(&conn, &registration.service).labels();
    for label in ["Start dictation", "Unload model now", "Quit"] {
        assert!(
            menu.iter().any(|l| l == label),
            "menu item {label:?} missing: {menu:?}"
        );
    }

    // Idle: the model is not loaded, the socket is private, memory is small
    // and nothing runs.
    let status = desktop.run(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.contains("state:        idle"), "{text}");
    assert!(text.contains("(not loaded)"), "{text}");
    assert!(text.contains("Ctrl+Alt+Space"), "{text}");
    assert!(text.contains("tray:         shown"), "{text}");
    let socket = desktop.path("run").join("ezflow").join("control.sock");
    assert_eq!(file_mode(&socket), 0o600, "the control socket is private");

    let memory =
        ezflow_core::memory::of_process(&app.pid().to_string()).expect("read the app's memory");
    eprintln!(
        "idle app: PSS {} KiB, RSS {} KiB; started (exec to startup line) in {startup:?}",
        memory.pss / 1024,
        memory.rss / 1024
    );
    assert!(
        memory.pss < 50 * 1024 * 1024,
        "idle PSS {} KiB is over 50 MiB",
        memory.pss / 1024
    );
    // Idle begins once start-up has settled: on a loaded machine (this
    // binary's other tests run beside it) the panel stand-in's reading of
    // the new tray item, which the app answers, can land a moment after
    // registration. The benchmark settles 10 s; 3 s is enough here.
    std::thread::sleep(Duration::from_secs(3));
    let ticks_before = app.cpu_ticks();
    std::thread::sleep(idle_watch());
    let idle_ticks = app.cpu_ticks() - ticks_before;
    eprintln!(
        "CPU ticks of the idle app over {:?}: {idle_ticks}",
        idle_watch()
    );
    assert_eq!(idle_ticks, 0, "the idle app used CPU");

    // A second start finds the first and leaves.
    let second = desktop.run(&[]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("already running"),
        "{}",
        stderr(&second)
    );

    // The user's clipboard, and the window they dictate into.
    let clipboard_owner = x11_apps::TestOwner::start(desktop.display(), "previous clipboard", true);
    let window = x11_apps::TextWindow::open(desktop.display());

    app.dictate_the_jfk_clip(desktop.display(), &window);
    let typed = window.text().to_lowercase();
    assert!(typed.starts_with("and so my fellow americans"), "{typed}");
    // The window has the text as soon as it fetched it; the app puts the
    // previous clipboard back right after, and says so.
    let inserted = app.wait_for_line("text inserted");
    assert!(inserted.contains("clipboard_restored=true"), "{inserted}");
    assert_eq!(
        x11_apps::read_clipboard(desktop.display()).as_deref(),
        Some("previous clipboard"),
        "the clipboard is restored after the paste"
    );
    drop(clipboard_owner);

    // The idle deadline (3 s here) unloads the model again.
    app.wait_for_line("model unloaded");
    let status = stdout(&desktop.run(&["status"]));
    assert!(status.contains("(not loaded)"), "{status}");

    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
    assert!(!socket.exists(), "the socket is removed on exit");
    let none = desktop.run(&["status"]);
    assert!(!none.status.success());
    assert!(stderr(&none).contains("not running"), "{}", stderr(&none));
}

/// Another application that holds Ctrl+Alt+Space (an X key grab) until
/// dropped.
fn grab_ctrl_alt_space(display: &str) -> x11rb::rust_connection::RustConnection {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let space = x11_apps::KeyboardMap::fetch(&conn).keycode(0x20);
    conn.grab_key(
        false,
        root,
        x11rb::protocol::xproto::ModMask::CONTROL | x11rb::protocol::xproto::ModMask::M1,
        space,
        x11rb::protocol::xproto::GrabMode::ASYNC,
        x11rb::protocol::xproto::GrabMode::ASYNC,
    )
    .expect("grab request")
    .check()
    .expect("the test's grab succeeds");
    conn
}

/// Waits (bounded) until the tray item's `Status` is `want`.
fn wait_tray_status(conn: &zbus::blocking::Connection, service: &str, want: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = panel::item_str(conn, service, "Status");
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tray Status stayed {status:?}, expected {want:?}"
        );
        // The item emits NewStatus; reading again after a short pause is
        // simpler than matching the signal and is bounded by PATIENCE.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn problems_show_in_the_tray_and_the_log() {
    let desktop = Desktop::start();
    let (_watcher_conn, registrations) = panel::start_watcher(&desktop.session.bus, true);
    let (_notification_server, notifications) = notifications::start_server(&desktop.session.bus);
    // Every dictation and load is "slow" at 10 ms: the warning with its
    // stages must appear.
    desktop.write_settings("idle_unload = \"never\"\nslow_operation = \"10ms\"\n");

    // Another application holds the hotkey before EZ Flow starts.
    let grabber = grab_ctrl_alt_space(desktop.display());
    let mut app = {
        let mut command = desktop.ezflow();
        // The test model loads in well under the 1 s after which a load is
        // announced; announce it at once instead.
        command.env("EZFLOW_SLOW_LOAD_NOTICE_MS", "1");
        desktop.start_app_with(command)
    };
    let registration = registrations
        .recv_timeout(PATIENCE)
        .expect("the tray registers");
    let conn = panel::connect(&desktop.session.bus);

    // The log and the tray say why there is no hotkey, and what to do.
    let line = app.wait_for_line("not available");
    assert!(
        line.contains("already taken by another application"),
        "{line}"
    );
    wait_tray_status(&conn, &registration.service, "NeedsAttention");
    let (_, _, title, description) = panel::item_tooltip(&conn, &registration.service);
    assert!(!title.is_empty());
    assert!(
        description.contains("already taken"),
        "the tooltip gives the reason: {description:?}"
    );
    let status = stdout(&desktop.run(&["status"]));
    assert!(status.contains("state:        error"), "{status}");
    assert!(status.contains("hotkey:       none registered"), "{status}");

    // The other application lets go; reload-settings registers the hotkey.
    drop(grabber);
    let reload = desktop.run(&["reload-settings"]);
    assert!(reload.status.success(), "{}", stderr(&reload));
    let status = stdout(&desktop.run(&["status"]));
    assert!(status.contains("hotkey:       Ctrl+Alt+Space"), "{status}");
    assert!(status.contains("state:        idle"), "{status}");
    wait_tray_status(&conn, &registration.service, "Active");

    // `ezflow load`: returns once the model is in memory; a load slower than
    // the (shortened) notice delay gets a notification, closed when done.
    let load = desktop.run(&["load"]);
    assert!(load.status.success(), "{}", stderr(&load));
    assert!(
        stdout(&load).contains("load: now idle"),
        "{}",
        stdout(&load)
    );
    {
        let record = notifications.lock().unwrap();
        let notice = record
            .notified
            .first()
            .unwrap_or_else(|| panic!("no notification during the load: {:?}", record.notified));
        assert_eq!(notice.app_name, "EZ Flow");
        assert!(notice.body.contains("Loading the"), "{notice:?}");
        assert_eq!(record.closed, vec![1], "the notice is closed once loaded");
    }
    app.wait_for_line("slow model_load");

    // The app's own figures agree with an outside measurement.
    let stats = desktop.run(&["status", "--stats", "--json"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let outside = ezflow_core::memory::of_process(&app.pid().to_string()).expect("memory");
    let json: serde_json::Value = serde_json::from_str(&stdout(&stats)).expect("JSON");
    let stats = &json["stats"];
    assert_eq!(json["status"]["model_loaded"], true, "{json}");
    assert_eq!(stats["model_loaded"], true, "{json}");
    assert!(stats["last_load_ms"].as_u64().is_some(), "{json}");
    assert!(stats["model_loaded_since"].as_u64().is_some(), "{json}");
    let inside = stats["pss_bytes"].as_u64().expect("pss_bytes");
    let diff = inside.abs_diff(outside.pss);
    assert!(
        diff < outside.pss / 10,
        "the app says PSS {inside}, /proc says {}",
        outside.pss
    );
    assert_eq!(stats["dictations_today"], 0, "{json}");

    // A dictation through the real capture path (toggle mode via the CLI):
    // counted, timed, and logged as slow with its stages.
    let window = x11_apps::TextWindow::open(desktop.display());
    let start = desktop.run(&["start"]);
    assert!(start.status.success(), "{}", stderr(&start));
    app.wait_for_line("ended_by=MaxDuration");
    let slow = app.wait_for_line("slow dictation");
    for stage in ["transcribe", "insert"] {
        assert!(slow.contains(&format!(" {stage} ")), "{stage} in {slow}");
    }
    window.wait_within("waiting for the dictated words", PATIENCE, |w| {
        w.text.to_lowercase().contains("fellow americans")
    });
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&desktop.run(&["status", "--stats", "--json"]))).unwrap();
    let stats = &json["stats"];
    assert_eq!(stats["dictations_today"], 1, "{json}");
    assert_eq!(stats["recent_dictations"], 1, "{json}");
    assert!(stats["median_latency_ms"].as_u64().is_some(), "{json}");
    let rtf = stats["median_real_time_factor"].as_f64().expect("rtf");
    assert!(rtf > 0.0 && rtf < 10.0, "{json}");

    // A model that cannot be loaded: the answer, the tray and the log say why.
    std::fs::write(desktop.path("broken.bin"), b"not a model").unwrap();
    desktop.write_settings("idle_unload = \"never\"\n");
    let settings = std::fs::read_to_string(desktop.path("config/settings.toml")).unwrap();
    let broken = settings.replacen(
        &format!("model = \"{}\"", assets::tiny_en().display()),
        &format!("model = \"{}\"", desktop.path("broken.bin").display()),
        1,
    );
    std::fs::write(desktop.path("config/settings.toml"), broken).unwrap();
    assert!(desktop.run(&["reload-settings"]).status.success());
    let load = desktop.run(&["load"]);
    assert!(!load.status.success());
    let why = stderr(&load);
    assert!(why.contains("could not be loaded"), "{why}");
    wait_tray_status(&conn, &registration.service, "NeedsAttention");

    // Everything above is in the log file too.
    let log = std::fs::read_to_string(desktop.path("data/state/logs/ezflow.log"))
        .expect("the app writes its log file in the state directory");
    for needle in [
        "startup complete in",
        "slow dictation",
        "could not be loaded",
    ] {
        assert!(
            log.contains(needle),
            "{needle:?} not in the log file:\n{log}"
        );
    }

    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
}

#[test]
fn a_microphone_that_fails_mid_recording() {
    let desktop = Desktop::start();
    let (_watcher_conn, registrations) = panel::start_watcher(&desktop.session.bus, true);
    desktop.write_settings("idle_unload = \"never\"\n");
    // The device fails after 4 s of audio (f32 stereo at 44.1 kHz): its
    // output pipe's reader goes away, as an unplugged USB microphone does.
    desktop.write_microphone(Device::BreakingAfter(Duration::from_secs(4)));
    let mut app = desktop.start_app();
    let registration = registrations.recv_timeout(PATIENCE).expect("tray");
    let conn = panel::connect(&desktop.session.bus);
    let window = x11_apps::TextWindow::open(desktop.display());

    let start = desktop.run(&["start"]);
    assert!(start.status.success(), "{}", stderr(&start));
    let line = app.wait_for_line("the microphone stopped");
    assert!(line.contains("transcribing what was recorded"), "{line}");
    // What was recorded before the failure is still transcribed and typed.
    window.wait_within("waiting for the words before the failure", PATIENCE, |w| {
        w.text.to_lowercase().contains("fellow americans")
    });
    wait_tray_status(&conn, &registration.service, "NeedsAttention");
    let (_, _, _, description) = panel::item_tooltip(&conn, &registration.service);
    assert!(
        description.contains("the microphone stopped"),
        "{description:?}"
    );

    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
}

/// Serves `ggml-tiny.en-q5_1.bin` as the catalog's size, slowly, a few
/// megabytes and then nothing until the server stops: a download that
/// makes progress and can then only be cancelled.
fn slow_model_mirror() -> ezflow_testbed::http::LoopbackServer {
    struct Slow {
        sent: usize,
        stop: ezflow_testbed::http::StopSignal,
    }
    impl std::io::Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            const CHUNK: usize = 64 * 1024;
            if self.sent >= 4 * 1024 * 1024 {
                while !self.stop.is_set() {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Err(std::io::ErrorKind::ConnectionAborted.into());
            }
            std::thread::sleep(Duration::from_millis(20));
            let n = buf.len().min(CHUNK);
            buf[..n].fill(0);
            self.sent += n;
            Ok(n)
        }
    }
    ezflow_testbed::http::LoopbackServer::start(|incoming| {
        let size = ezflow_core::catalog::find("tiny.en-q5_1")
            .expect("in the catalog")
            .size_bytes as usize;
        let stop = incoming.stop.clone();
        incoming.respond(tiny_http::Response::new(
            tiny_http::StatusCode(200),
            Vec::new(),
            Slow { sent: 0, stop },
            Some(size),
            None,
        ));
    })
}

/// The settings window's side of the control socket against the real app:
/// settings (checked by the file's rules, written atomically, a bad hotkey
/// leaving the file byte for byte), a download from a loopback mirror with
/// its progress and cancel, an import from the faster-whisper folder and
/// activating it, telemetry, the history after a dictation, and the state
/// events of a `watch`.
#[test]
fn the_settings_window_protocol_against_the_real_app() {
    use ezflow_control::{self as control, Event, Request, Response};
    let desktop = Desktop::start();
    let (_watcher_conn, _registrations) = panel::start_watcher(&desktop.session.bus, true);
    desktop.write_settings("idle_unload = \"never\"\n");
    let mirror = slow_model_mirror();
    let mut command = desktop.ezflow();
    command.env(ezflow_core::catalog::BASE_URL_ENV, mirror.base_url());
    let mut app = desktop.start_app_with(command);
    let socket = desktop.path("run").join("ezflow").join("control.sock");
    let ask = |request: Request| control::send(&socket, &request).expect("the app answers");
    let values = |json: &str| serde_json::from_str(json).expect("a JSON object");

    // Events come on a thread of their own.
    let mut watch = control::watch(&socket).expect("watch");
    assert_eq!(watch.state(), "idle");
    let (events_tx, events) = std::sync::mpsc::channel();
    let closer = watch.closer().expect("closer");
    let reader = std::thread::spawn(move || {
        for event in watch.by_ref() {
            if events_tx.send(event.expect("an event line")).is_err() {
                return;
            }
        }
    });
    let next_event = |want: &dyn Fn(&Event) -> bool, what: &str| -> Event {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            let event = events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no event within {PATIENCE:?}: {what}"));
            if want(&event) {
                return event;
            }
        }
    };
    next_event(
        &|e| matches!(e, Event::State(s) if s.state == "idle"),
        "the state right after watch",
    );

    // A setting: written to the file, applied, announced.
    let answer = ask(Request::SettingsSet {
        values: values(r#"{"idle_unload":"30s"}"#),
    });
    let Response::Settings(report) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(report.values["idle_unload"], "30s");
    assert_eq!(
        report.path,
        desktop.session.home.settings_file().display().to_string()
    );
    next_event(&|e| *e == Event::Settings, "settings changed");
    let file = std::fs::read_to_string(desktop.session.home.settings_file()).expect("file");
    assert!(file.contains("idle_unload = \"30s\""), "{file}");
    let shown = stdout(&desktop.run(&["settings"]));
    assert!(shown.contains("idle_unload = \"30s\""), "{shown}");

    // A hotkey that does not parse: a field error, the file untouched.
    let before = std::fs::read(desktop.session.home.settings_file()).expect("file");
    let answer = ask(Request::SettingsSet {
        values: values(r#"{"hotkey":"Ctrl+Foo","idle_unload":"1m"}"#),
    });
    let Response::FieldErrors { field_errors, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert!(field_errors["hotkey"].contains("Foo"), "{field_errors:?}");
    let after = std::fs::read(desktop.session.home.settings_file()).expect("file");
    assert_eq!(before, after, "the file is byte for byte as it was");
    let status = stdout(&desktop.run(&["status"]));
    assert!(status.contains("Ctrl+Alt+Space"), "{status}");

    // A download from the mirror: progress that grows, then a cancel that
    // keeps the partial file for a resume.
    let answer = ask(Request::ModelDownload {
        id: "tiny.en-q5_1".into(),
    });
    assert!(matches!(answer, Response::Models(_)), "{answer:?}");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next_event(
            &|e| matches!(e, Event::Download(_) | Event::DownloadFinished(_)),
            "download progress",
        ) {
            Event::Download(d) => seen.push(d.done),
            ended => panic!("the download ended before it was cancelled: {ended:?}"),
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && seen[2] > seen[0],
        "{seen:?}"
    );
    let answer = ask(Request::ModelCancel {
        id: "tiny.en-q5_1".into(),
    });
    assert!(answer.is_ok(), "{answer:?}");
    let Event::DownloadFinished(finished) = next_event(
        &|e| matches!(e, Event::DownloadFinished(_)),
        "the download's end",
    ) else {
        unreachable!()
    };
    assert!(
        finished
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cancelled")),
        "{finished:?}"
    );
    let Response::Models(models) = ask(Request::Models) else {
        panic!("models")
    };
    let entry = models
        .catalog
        .iter()
        .find(|m| m.id == "tiny.en-q5_1")
        .unwrap();
    assert!(!entry.installed && entry.download.is_none());
    assert!(entry.partial_bytes > 0, "the partial stays for a resume");
    assert!(!models.recommended.is_empty());

    // An import installs tiny.en; activating it loads it.
    let ct2 = ezflow_testbed::assets::asset("ct2-tiny.en");
    let answer = ask(Request::ModelImport {
        path: ct2.display().to_string(),
        quantize: None,
    });
    assert!(answer.is_ok(), "{answer:?}");
    let Event::ImportFinished(imported) = next_event(
        &|e| matches!(e, Event::ImportFinished(_)),
        "the import's end",
    ) else {
        unreachable!()
    };
    assert_eq!(imported.error, None);
    assert_eq!(imported.id, "tiny.en");
    let answer = ask(Request::ModelActivate {
        id: "tiny.en".into(),
    });
    let Response::Models(models) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(models.active, "tiny.en");
    assert!(models.active_installed);
    next_event(
        &|e| matches!(e, Event::State(s) if s.model == "tiny.en" && s.model_loaded),
        "the activated model loaded",
    );
    let file = std::fs::read_to_string(desktop.session.home.settings_file()).expect("file");
    assert!(file.contains("model = \"tiny.en\""), "{file}");

    // Telemetry: the command line agrees with the window.
    let answer = ask(Request::TelemetrySet { enabled: true });
    let Response::Telemetry(telemetry) = answer else {
        panic!("{answer:?}")
    };
    assert!(telemetry.enabled);
    assert!(telemetry.explanation.contains("anonymous"));
    next_event(&|e| *e == Event::Telemetry, "telemetry changed");
    let shown = stdout(&desktop.run(&["telemetry", "status"]));
    assert!(
        shown.to_lowercase().contains("enabled") || shown.contains("on"),
        "{shown}"
    );

    // A dictation, then its place in the history.
    let window = x11_apps::TextWindow::open(desktop.display());
    let start = ask(Request::Start);
    assert_eq!(start, Response::done("recording"));
    next_event(
        &|e| matches!(e, Event::State(s) if s.state == "recording"),
        "recording",
    );
    app.wait_for_line("dictation transcribed");
    next_event(
        &|e| matches!(e, Event::State(s) if s.state == "idle"),
        "idle again",
    );
    window.wait_within("the dictated words", PATIENCE, |w| {
        w.text.to_lowercase().contains("fellow americans")
    });
    let Response::History(history) = ask(Request::StatsHistory) else {
        panic!("history")
    };
    assert_eq!(history.dictations.len(), 1, "{history:?}");
    assert!(history.dictations[0].audio_ms > 10_000, "{history:?}");
    let why: Vec<_> = history.memory.iter().map(|m| m.why.as_str()).collect();
    for expected in ["start", "load", "dictation", "request"] {
        assert!(why.contains(&expected), "{why:?}");
    }

    closer.close();
    reader.join().expect("the watch reader");
    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
    drop(mirror);
}

/// A response body: `bytes`, then zeros up to `len` bytes; the first
/// `hold_after` bytes go out slowly, each read 2 ms after the one before
/// (so that the downloader reports progress), the rest at once as soon as
/// `release` is set (or the server stops).
struct Gated {
    bytes: std::sync::Arc<Vec<u8>>,
    len: usize,
    sent: usize,
    hold_after: usize,
    release: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: ezflow_testbed::http::StopSignal,
}

impl std::io::Read for Gated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering;
        if self.sent >= self.hold_after {
            while !self.release.load(Ordering::SeqCst) {
                if self.stop.is_set() {
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let limit = if self.sent < self.hold_after {
            std::thread::sleep(Duration::from_millis(2));
            self.hold_after
        } else {
            self.len
        };
        let n = buf.len().min(64 * 1024).min(limit - self.sent);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self.bytes.get(self.sent + i).copied().unwrap_or(0);
        }
        self.sent += n;
        Ok(n)
    }
}

/// Answers `incoming` with `bytes` padded with zeros to `len`, as one
/// response with its length, held after `hold_after` bytes until `release`.
fn respond_gated(
    incoming: ezflow_testbed::http::Incoming,
    bytes: &std::sync::Arc<Vec<u8>>,
    len: usize,
    hold_after: usize,
    release: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let body = Gated {
        bytes: std::sync::Arc::clone(bytes),
        len,
        sent: 0,
        hold_after: hold_after.min(len),
        release: std::sync::Arc::clone(release),
        stop: incoming.stop.clone(),
    };
    incoming.respond(tiny_http::Response::new(
        tiny_http::StatusCode(200),
        Vec::new(),
        body,
        Some(len),
        None,
    ));
}

/// Serves the file at `path` to every request, gated as [`Gated`] says: a
/// download the test can look at while it runs, then let finish.
fn gated_file_server(
    path: PathBuf,
    hold_after: usize,
    release: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> ezflow_testbed::http::LoopbackServer {
    let bytes = std::sync::Arc::new(std::fs::read(&path).expect("read the model file"));
    ezflow_testbed::http::LoopbackServer::start(move |incoming| {
        respond_gated(incoming, &bytes, bytes.len(), hold_after, &release);
    })
}

/// A model that is not in the catalog, added by its URL and SHA-256 (an
/// organisation's own fine-tuned model): the real tiny.en file from a
/// loopback server, its progress as `download` events and in `models`'
/// `downloads` while it runs, installed among the other models, activated
/// and loaded. A wrong SHA-256 ends with the mismatch named and nothing in
/// the store; bad arguments are refused beside their fields.
#[test]
fn a_model_from_a_url_against_the_real_app() {
    use ezflow_control::{self as control, Event, Request, Response};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let desktop = Desktop::start();
    let (_watcher_conn, _registrations) = panel::start_watcher(&desktop.session.bus, true);
    desktop.write_settings("idle_unload = \"never\"\n");
    let model_file = assets::tiny_en();
    let model_bytes = std::fs::read(&model_file).expect("read tiny.en");
    let sha256 = ezflow_testbed::payload::sha256_hex(&model_bytes);
    let release = Arc::new(AtomicBool::new(false));
    let server = gated_file_server(model_file, 2 * 1024 * 1024, Arc::clone(&release));
    let url = server.url("models/ggml-acme-tiny.bin");
    let app = desktop.start_app();
    let socket = desktop.path("run").join("ezflow").join("control.sock");
    let ask = |request: Request| control::send(&socket, &request).expect("the app answers");

    let mut watch = control::watch(&socket).expect("watch");
    let (events_tx, events) = std::sync::mpsc::channel();
    let closer = watch.closer().expect("closer");
    let reader = std::thread::spawn(move || {
        for event in watch.by_ref() {
            if events_tx.send(event.expect("an event line")).is_err() {
                return;
            }
        }
    });
    let next_event = |want: &dyn Fn(&Event) -> bool, what: &str| -> Event {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            let event = events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no event within {PATIENCE:?}: {what}"));
            if want(&event) {
                return event;
            }
        }
    };

    // Bad arguments: each refused beside its field, nothing started.
    let answer = ask(Request::ModelDownloadUrl {
        name: "tiny.en".into(),
        url: "ftp://models.example/ggml-tiny.en.bin".into(),
        sha256: "not-a-hash".into(),
    });
    let Response::FieldErrors { field_errors, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert!(
        field_errors["name"].contains("catalog model; use Download in the list"),
        "{field_errors:?}"
    );
    assert!(field_errors["url"].contains("https://"), "{field_errors:?}");
    assert!(
        field_errors["sha256"].contains("64 hex digits"),
        "{field_errors:?}"
    );
    assert!(server.seen().is_empty(), "nothing was fetched");

    // The real model with its real SHA-256 (given in capitals: the case of
    // the hex digits does not matter).
    let answer = ask(Request::ModelDownloadUrl {
        name: "acme-tiny".into(),
        url: url.clone(),
        sha256: sha256.to_ascii_uppercase(),
    });
    let Response::Models(models) = answer else {
        panic!("{answer:?}")
    };
    let dir = PathBuf::from(&models.dir);
    let Event::Download(first) = next_event(
        &|e| matches!(e, Event::Download(d) if d.id == "acme-tiny" && d.done > 0),
        "the download's progress",
    ) else {
        unreachable!()
    };
    // Held by the server half way: the running download is in `models`.
    let Response::Models(models) = ask(Request::Models) else {
        panic!("models")
    };
    let running = models
        .downloads
        .iter()
        .find(|d| d.id == "acme-tiny")
        .unwrap_or_else(|| panic!("the URL download is listed: {models:?}"));
    assert_eq!(running.url, url);
    assert!(running.done > 0, "{running:?}");
    assert!(models.other.iter().all(|m| m.id != "acme-tiny"));
    assert!(models.catalog.iter().all(|m| m.id != "acme-tiny"));
    release.store(true, Ordering::SeqCst);
    let mut done = vec![first.done];
    let finished = loop {
        match next_event(
            &|e| {
                matches!(e, Event::Download(d) if d.id == "acme-tiny")
                    || matches!(e, Event::DownloadFinished(f) if f.id == "acme-tiny")
            },
            "the download's end",
        ) {
            Event::Download(d) => done.push(d.done),
            Event::DownloadFinished(f) => break f,
            _ => unreachable!(),
        }
    };
    assert_eq!(finished.error, None, "{finished:?}");
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(
        done.last().copied(),
        Some(model_bytes.len() as u64),
        "{done:?}"
    );
    let Response::Models(models) = ask(Request::Models) else {
        panic!("models")
    };
    assert!(models.downloads.is_empty(), "{models:?}");
    let installed = models
        .other
        .iter()
        .find(|m| m.id == "acme-tiny")
        .unwrap_or_else(|| panic!("installed among the other models: {models:?}"));
    assert_eq!(installed.name, "ggml-acme-tiny.bin");
    assert_eq!(installed.size_bytes, model_bytes.len() as u64);
    assert_eq!(
        std::fs::read(dir.join("ggml-acme-tiny.bin")).expect("the installed file"),
        model_bytes
    );

    // Activated, it loads.
    let answer = ask(Request::ModelActivate {
        id: "acme-tiny".into(),
    });
    let Response::Models(models) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(models.active, "acme-tiny");
    next_event(
        &|e| matches!(e, Event::State(s) if s.model == "acme-tiny" && s.model_loaded),
        "the model from the URL loaded",
    );
    let Response::Status(status) = ask(Request::Status) else {
        panic!("status")
    };
    assert!(status.model_loaded, "{status:?}");
    assert_eq!(status.model, "acme-tiny");

    // Its name is taken now.
    let answer = ask(Request::ModelDownloadUrl {
        name: "acme-tiny".into(),
        url: url.clone(),
        sha256: sha256.clone(),
    });
    let Response::FieldErrors { field_errors, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert!(
        field_errors["name"].contains("already installed; remove it first"),
        "{field_errors:?}"
    );

    // The wrong SHA-256: the mismatch named, nothing in the store.
    let wrong = "0".repeat(64);
    let answer = ask(Request::ModelDownloadUrl {
        name: "acme-wrong".into(),
        url: url.clone(),
        sha256: wrong.clone(),
    });
    assert!(answer.is_ok(), "{answer:?}");
    let Event::DownloadFinished(finished) = next_event(
        &|e| matches!(e, Event::DownloadFinished(f) if f.id == "acme-wrong"),
        "the wrong download's end",
    ) else {
        unreachable!()
    };
    let error = finished.error.expect("a wrong SHA-256 is an error");
    assert!(
        error.contains("SHA-256") && error.contains(&wrong) && error.contains(&sha256),
        "{error}"
    );
    assert!(!dir.join("ggml-acme-wrong.bin").exists());
    assert!(!dir.join("ggml-acme-wrong.bin.partial").exists());
    let Response::Models(models) = ask(Request::Models) else {
        panic!("models")
    };
    assert!(models.other.iter().all(|m| m.id != "acme-wrong"));
    assert!(models.downloads.is_empty(), "{models:?}");

    closer.close();
    reader.join().expect("the watch reader");
    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
    drop(server);
}

/// Waits (bounded) until the tray's tooltip text passes `done`; returns it.
fn wait_tooltip(
    conn: &zbus::blocking::Connection,
    service: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, _, _, description) = panel::item_tooltip(conn, service);
        if done(&description) {
            return description;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the tooltip stayed {description:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) for a notification whose body passes `done`; returns it.
fn wait_notification(
    record: &std::sync::Mutex<notifications::Record>,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let bodies: Vec<String> = record
            .lock()
            .expect("the notification record")
            .notified
            .iter()
            .map(|n| n.body.clone())
            .collect();
        if let Some(body) = bodies.iter().find(|b| done(b)) {
            return body.clone();
        }
        assert!(Instant::now() < deadline, "{what}: shown were {bodies:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Clicks the tray menu's entry whose label starts with `prefix`.
fn click_menu(conn: &zbus::blocking::Connection, service: &str, prefix: &str) {
    let menu = panel::menu_layout(conn, service);
    let entry = menu
        .children
        .iter()
        .find(|c| c.label().starts_with(prefix))
        .unwrap_or_else(|| panic!("no menu entry {prefix:?}… in {:?}", menu.labels()));
    assert!(entry.enabled(), "{prefix:?} is greyed out");
    panel::click(conn, service, entry.id);
}

/// The names in the models directory (none when it does not exist).
fn models_dir_entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", dir.display()),
    }
}

/// The first dictation with no model installed, against a loopback model
/// mirror (`EZFLOW_MODEL_BASE_URL`, as a user behind a firewall sets it):
/// the tray says "No model — set up…" and offers the recommended catalog
/// model, the hotkey brings a notification instead of a recording, and the
/// tray's "Download …" goes to the mirror. The mirror first has no such
/// file (404), then serves a file of the catalog's size that is not the
/// one the catalog pins (the test model padded with zeros: what a broken
/// mirror or a corrupted transfer delivers), its progress in the tray
/// while it runs; each failure says why in the tray, a notification and
/// the log, and leaves the models directory empty and `settings.toml` byte
/// for byte as it was. The published catalog files cannot be had here
/// (Hugging Face is out of reach) and the pins are never relaxed, so the
/// download that succeeds is the test model added by its URL with its real
/// SHA-256 (an organisation's own model, `model-download-url`); with no
/// model in use it becomes the `model` setting, and the next hotkey
/// dictation types the JFK clip's words into the focused window.
#[test]
fn a_first_dictation_with_no_model_offers_one_and_works_after_its_download() {
    use ezflow_control::{self as control, Request, Response};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let desktop = Desktop::start();
    let (_watcher_conn, registrations) = panel::start_watcher(&desktop.session.bus, true);
    let (_notification_server, notifications) = notifications::start_server(&desktop.session.bus);
    // No `model` line: the default names a catalog model nobody installed.
    desktop.session.home.write_settings(
        "language = \"en\"\nhotkey = \"Ctrl+Alt+Space\"\nhotkey_mode = \"push-to-talk\"\n\
         insert_method = \"paste\"\nmax_recording = \"12s\"\nidle_unload = \"never\"\n",
    );
    let settings_before = std::fs::read(desktop.session.home.settings_file()).expect("settings");

    let model = Arc::new(std::fs::read(assets::tiny_en()).expect("read tiny.en"));
    let sha256 = ezflow_testbed::payload::sha256_hex(&model);
    let release = Arc::new(AtomicBool::new(false));
    let catalog_requests = Arc::new(AtomicUsize::new(0));
    let mirror = {
        let (model, release, catalog_requests) = (
            Arc::clone(&model),
            Arc::clone(&release),
            Arc::clone(&catalog_requests),
        );
        ezflow_testbed::http::LoopbackServer::start(move |incoming| {
            let path = incoming.seen.path.clone();
            if path == "/org/ggml-tiny.en.bin" {
                // The organisation's own copy: the real file, at once.
                let open = Arc::new(AtomicBool::new(true));
                return respond_gated(incoming, &model, model.len(), 0, &open);
            }
            let Some(entry) = ezflow_core::catalog::all()
                .iter()
                .find(|e| path == format!("/{}", e.file_name))
            else {
                return incoming.respond(tiny_http::Response::empty(tiny_http::StatusCode(404)));
            };
            if catalog_requests.fetch_add(1, Ordering::SeqCst) == 0 {
                incoming.respond(
                    tiny_http::Response::from_string("no such file").with_status_code(404),
                );
            } else {
                let size = entry.size_bytes as usize;
                respond_gated(incoming, &model, size, 4 * 1024 * 1024, &release);
            }
        })
    };
    let mut command = desktop.ezflow();
    command.env(ezflow_core::catalog::BASE_URL_ENV, mirror.base_url());
    let mut app = desktop.start_app_with(command);
    let registration = registrations
        .recv_timeout(PATIENCE)
        .expect("the tray registers");
    let service = registration.service.as_str();
    let conn = panel::connect(&desktop.session.bus);
    let socket = desktop.path("run").join("ezflow").join("control.sock");
    let ask = |request: Request| control::send(&socket, &request).expect("the app answers");

    // The tray and `status` say there is no model, and what is offered.
    let Response::Models(models) = ask(Request::Models) else {
        panic!("models")
    };
    let offered = models.recommended.clone();
    let dir = PathBuf::from(&models.dir);
    assert!(!models.active_installed, "{models:?}");
    let tooltip = wait_tooltip(&conn, service, "no model", |d| {
        d.starts_with("No model — set up…")
    });
    assert!(tooltip.contains("(not installed)"), "{tooltip:?}");
    let labels = panel::menu_layout(&conn, service).labels();
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with(&format!("Download {offered} ("))),
        "{labels:?}"
    );
    assert!(labels.iter().any(|l| l == "Set up EZ Flow…"), "{labels:?}");
    let status = stdout(&desktop.run(&["status"]));
    assert!(status.contains("state:        no-model"), "{status}");

    // The hotkey: no recording; a notification says what to do.
    hotkey(desktop.display(), true);
    app.wait_for_line("a dictation with no model installed");
    hotkey(desktop.display(), false);
    let notice = wait_notification(&notifications, "the no-model notice", |b| {
        b.starts_with("No speech model is installed yet")
    });
    assert!(
        notice.contains(&format!("Download {offered} (")),
        "{notice}"
    );
    let start = desktop.run(&["start"]);
    assert!(!start.status.success());
    assert!(
        stderr(&start).contains(&format!("ezflow models download {offered}")),
        "{}",
        stderr(&start)
    );

    // The offer, and the mirror has no such file.
    click_menu(&conn, service, "Download ");
    let line = app.wait_for_line("model download ended");
    assert!(line.contains("HTTP 404"), "{line}");
    let tooltip = wait_tooltip(&conn, service, "the 404 in the tray", |d| {
        d.contains("HTTP 404")
    });
    assert!(tooltip.starts_with("No model — set up…"), "{tooltip:?}");
    wait_notification(&notifications, "the 404 notice", |b| {
        b.contains("HTTP 404") && b.contains("Nothing was installed")
    });
    assert_eq!(models_dir_entries(&dir), Vec::<String>::new());
    assert_eq!(
        std::fs::read(desktop.session.home.settings_file()).expect("settings"),
        settings_before,
        "the settings are byte for byte as they were"
    );

    // Again: a file that is not the one the catalog pins, its progress in
    // the tray while it runs.
    click_menu(&conn, service, "Download ");
    let tooltip = wait_tooltip(&conn, service, "the download's progress", |d| {
        d.contains(&format!("Downloading {offered}: "))
    });
    assert!(tooltip.contains("% of "), "{tooltip:?}");
    let labels = panel::menu_layout(&conn, service).labels();
    assert!(
        labels.iter().any(|l| l == "Cancel the download"),
        "{labels:?}"
    );
    release.store(true, Ordering::SeqCst);
    let line = app.wait_for_line("model download ended");
    assert!(
        line.contains("is corrupt: expected SHA-256"),
        "the pin is checked: {line}"
    );
    wait_tooltip(&conn, service, "the mismatch in the tray", |d| {
        d.contains("expected SHA-256") && !d.contains("Downloading")
    });
    wait_notification(&notifications, "the mismatch notice", |b| {
        b.contains("expected SHA-256") && b.contains("Nothing was installed")
    });
    assert_eq!(
        models_dir_entries(&dir),
        Vec::<String>::new(),
        "no partial file"
    );
    assert_eq!(
        std::fs::read(desktop.session.home.settings_file()).expect("settings"),
        settings_before
    );
    assert_eq!(catalog_requests.load(Ordering::SeqCst), 2);

    // The organisation's own copy, by its URL and SHA-256: with no model in
    // use it becomes the model, and the tray is ready.
    let answer = ask(Request::ModelDownloadUrl {
        name: "org-tiny".into(),
        url: mirror.url("org/ggml-tiny.en.bin"),
        sha256: sha256.clone(),
    });
    assert!(matches!(answer, Response::Models(_)), "{answer:?}");
    app.wait_for_line("using the one just installed");
    wait_notification(&notifications, "the ready notice", |b| {
        b == "The org-tiny model is installed. To dictate, hold Ctrl+Alt+Space and speak."
    });
    let tooltip = wait_tooltip(&conn, service, "ready", |d| d.starts_with("Ready"));
    assert!(
        tooltip.contains("Model: org-tiny (not loaded)"),
        "{tooltip:?}"
    );
    let settings = std::fs::read_to_string(desktop.session.home.settings_file()).expect("settings");
    assert!(settings.contains("model = \"org-tiny\""), "{settings}");
    assert_eq!(
        models_dir_entries(&dir),
        vec!["ggml-org-tiny.bin".to_owned()]
    );

    // The next dictation: the words in the focused window.
    let window = x11_apps::TextWindow::open(desktop.display());
    app.dictate_the_jfk_clip(desktop.display(), &window);

    let exit = app.terminate();
    assert!(exit.success(), "ezflow exited with {exit}");
    drop(mirror);
}
