//! The settings window end to end, as a user meets it: the real
//! `ezflow-settings` window (Tauri on WebKitGTK) driven through
//! `tauri-driver` and WebKitWebDriver under a private Xvfb, against the real
//! `ezflow` app in the same session (its control socket, its
//! `settings.toml`), with a loopback model mirror (`EZFLOW_MODEL_BASE_URL`),
//! the real tiny.en model and a microphone that is a real ALSA device
//! reading the JFK clip.
//!
//! What the window shows is read off the page; what it did is checked where
//! it lands: `settings.toml`, `ezflow status --json`, `ezflow telemetry
//! status`, the models directory, `/proc`.
//!
//! Screenshots of every page are written to `target/window-screenshots/`;
//! `EZFLOW_UPDATE_SCREENSHOTS=1` also copies them to `docs/screenshots/`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ezflow_testbed::http::LoopbackServer;
use ezflow_testbed::microphone::{self, Device, FileMicrophone, ALSA_CONFIG_ENV};
use ezflow_testbed::payload::{payload, sha256_hex};
use ezflow_testbed::process::{self, descendants, WatchedProcess};
use ezflow_testbed::session::DesktopSession;
use ezflow_testbed::window::{screenshot_window, workspace_root, Window, WindowDriver};
use ezflow_testbed::{assets, x11_apps};

/// Bound on the window and the app reacting (a debug WebKit page on a
/// loaded 2-core machine included).
const PATIENCE: Duration = Duration::from_secs(60);
/// The model added from a URL: the real tiny.en, under a name of its own.
const CUSTOM_ID: &str = "tiny-mine";
const CUSTOM_FILE: &str = "ggml-tiny-mine.bin";
/// The catalog model the mirror serves: the smallest one.
const MIRRORED: &str = "tiny.en-q5_1";
const MIRRORED_FILE: &str = "ggml-tiny.en-q5_1.bin";
const MIRRORED_SIZE: usize = 32_166_155;
/// Silence after the JFK clip in the microphone's file.
const MICROPHONE_PADDING: Duration = Duration::from_secs(30);
/// The window's title.
const TITLE: &str = "EZ Flow Settings";

fn settings_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ezflow-settings"))
}

/// The app binary, built beside this crate's by `cargo test --workspace`.
fn ezflow_binary() -> PathBuf {
    let path = settings_binary().with_file_name("ezflow");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p ezflow`; `cargo test --workspace` does)",
        path.display()
    );
    path
}

/// A user's session with EZ Flow running in it and a driver for windows.
struct Rig {
    // Field order is drop order: the window's driver, then the app, then
    // the mirror, then the session they ran in.
    driver: WindowDriver,
    _app: WatchedProcess,
    mirror: LoopbackServer,
    /// The SHA-256 of the real model the mirror serves as [`CUSTOM_FILE`].
    custom_sha256: String,
    session: DesktopSession,
}

impl Rig {
    /// Starts the app with the real tiny.en model (installed under its
    /// catalog name) and `extra` settings lines.
    fn start(extra: &str) -> Rig {
        let session = DesktopSession::start();
        let models = session.home.models_dir();
        std::fs::create_dir_all(&models).expect("models dir");
        std::fs::copy(assets::tiny_en(), models.join("ggml-tiny.en.bin")).expect("install tiny.en");
        session.home.write_settings(&format!(
            "model = \"tiny.en\"\nlanguage = \"en\"\nhotkey = \"Ctrl+Alt+Space\"\n{extra}"
        ));
        let model = Arc::new(std::fs::read(assets::tiny_en()).expect("the test model"));
        let custom_sha256 = sha256_hex(&model);
        let mirror = throttled_mirror(model);
        let clip = assets::pcm16_mono_wav(&assets::jfk());
        FileMicrophone::write(session.home.path(), Device::Clip, &clip, MICROPHONE_PADDING);
        let mut command = session.command(ezflow_binary());
        command
            .env("EZFLOW_MODEL_BASE_URL", mirror.base_url())
            .env(ALSA_CONFIG_ENV, session.home.join(microphone::CONFIG_FILE));
        let mut app = WatchedProcess::spawn(&mut command, Some("[ezflow]")).expect("start ezflow");
        app.wait_for_line("startup complete in", PATIENCE)
            .expect("the app starts");
        let driver = WindowDriver::start(&session, &[]);
        Rig {
            driver,
            _app: app,
            mirror,
            custom_sha256,
            session,
        }
    }

    /// Opens the settings window (tauri-driver launches the binary in this
    /// session) and waits for its first page.
    fn open(&self) -> Window {
        let window = self
            .driver
            .open(&settings_binary(), &[])
            .expect("open the settings window");
        window
            .find("[data-current-page=\"general\"]", PATIENCE)
            .expect("the General page shows first");
        window
    }

    fn ezflow(&self, args: &[&str]) -> Output {
        let mut command = self.session.command(ezflow_binary());
        command
            .args(args)
            .env("EZFLOW_MODEL_BASE_URL", self.mirror.base_url())
            .env(
                ALSA_CONFIG_ENV,
                self.session.home.join(microphone::CONFIG_FILE),
            );
        process::output_within(&mut command, PATIENCE).expect("ezflow runs")
    }

    fn status(&self) -> serde_json::Value {
        let out = self.ezflow(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
        json["status"].clone()
    }

    fn settings_text(&self) -> String {
        std::fs::read_to_string(self.session.home.settings_file()).unwrap_or_default()
    }
}

/// A mirror that serves, at about 10 MB/s so that progress can be
/// watched:
/// - `custom/ggml-tiny-mine.bin`: the real tiny.en model (`model`);
/// - the catalog file of [`MIRRORED`]: bytes of the catalog's size that
///   are not the real model's (that file cannot be fetched here), so the
///   catalog's SHA-256 pin refuses them at the end.
fn throttled_mirror(model: Arc<Vec<u8>>) -> LoopbackServer {
    let fake = Arc::new(payload(MIRRORED_SIZE, 12));
    LoopbackServer::start(move |incoming| {
        let body = if incoming
            .seen
            .path
            .ends_with(&format!("custom/{CUSTOM_FILE}"))
        {
            Arc::clone(&model)
        } else if incoming.seen.path.ends_with(MIRRORED_FILE) {
            Arc::clone(&fake)
        } else {
            incoming.respond(tiny_http::Response::from_data(Vec::new()).with_status_code(404));
            return;
        };
        let len = body.len();
        let reader = Throttled { body, at: 0 };
        incoming.respond(tiny_http::Response::new(
            200.into(),
            vec![],
            reader,
            Some(len),
            None,
        ));
    })
}

struct Throttled {
    body: Arc<Vec<u8>>,
    at: usize,
}

impl Read for Throttled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = (self.at + buf.len().min(256 * 1024)).min(self.body.len());
        let n = end - self.at;
        // About 10 MB/s: 100 ns a byte.
        std::thread::sleep(Duration::from_nanos(n as u64 * 100));
        buf[..n].copy_from_slice(&self.body[self.at..end]);
        self.at = end;
        Ok(n)
    }
}

/// [`eventually`], with `describe` saying what was seen when it fails.
fn eventually_or(what: &str, mut check: impl FnMut() -> bool, describe: impl Fn() -> String) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {PATIENCE:?}; seen: {}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until `check` holds, retrying every 100 ms.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn go_to(window: &Window, page: &str) {
    let button = window
        .find(&format!("[data-page=\"{page}\"]"), PATIENCE)
        .expect("the sidebar button");
    window.click(&button).expect("click the sidebar");
    window
        .find(&format!("[data-current-page=\"{page}\"]"), PATIENCE)
        .unwrap_or_else(|e| panic!("the {page} page shows: {e}"));
}

/// Picks `value` in the select `data-key=key` the way a user does (the
/// change event fires as on a click).
fn choose(window: &Window, key: &str, value: &str) {
    let select = window
        .find(&format!("select[data-key=\"{key}\"]"), PATIENCE)
        .expect("the select");
    window
        .execute(
            "const [el, value] = arguments; el.value = value; \
             el.dispatchEvent(new Event('change', {bubbles: true})); return el.value;",
            &[element_arg(&select), serde_json::json!(value)],
        )
        .expect("choose an option");
}

fn element_arg(element: &ezflow_testbed::window::Element) -> serde_json::Value {
    element.to_json()
}

/// A picture of the window as the X server shows it. Waits a moment for
/// the page to finish drawing what the test just read off it.
fn screenshot(rig: &Rig, name: &str) {
    save_screenshot(rig.session.display(), name, Duration::from_millis(700));
}

/// Saves the window on `display`, after `settle`, as
/// `target/window-screenshots/NAME.png`, and also in `docs/screenshots/`
/// when `EZFLOW_UPDATE_SCREENSHOTS` is set.
fn save_screenshot(display: &str, name: &str, settle: Duration) {
    std::thread::sleep(settle);
    let path = workspace_root()
        .join("target/window-screenshots")
        .join(format!("{name}.png"));
    screenshot_window(display, TITLE, &path).expect("screenshot");
    if std::env::var_os("EZFLOW_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).expect("docs/screenshots");
        std::fs::copy(&path, docs.join(format!("{name}.png"))).expect("copy the screenshot");
    }
}

fn window_processes(rig: &Rig) -> Vec<process::ProcessEntry> {
    process::all_processes()
        .into_iter()
        .filter(|p| p.name.starts_with("ezflow-setting"))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{}/environ", p.pid))
                .map(|env| env.contains(rig.session.display()))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn changing_the_idle_timeout_reaches_the_file_and_the_app() {
    let rig = Rig::start("idle_unload = \"5m\"\n");
    let window = rig.open();
    assert_eq!(window.title().expect("title"), TITLE);
    choose(&window, "idle_unload", "10m");
    eventually("settings.toml says 10m", || {
        rig.settings_text().contains("idle_unload = \"10m\"")
    });
    let settings = rig.ezflow(&["settings"]);
    let shown = String::from_utf8_lossy(&settings.stdout).into_owned();
    assert!(shown.contains("10m"), "`ezflow settings` agrees: {shown}");
    let status = rig.status();
    assert_eq!(status["idle_unload"], "10m", "the app applied it: {status}");
    screenshot(&rig, "general");
    window.close().expect("close");
}

#[test]
fn a_bad_hotkey_is_refused_inline_and_the_file_is_untouched() {
    let rig = Rig::start("");
    let window = rig.open();
    let before = std::fs::read(rig.session.home.settings_file()).expect("settings.toml");
    let field = window
        .find("[data-key=\"hotkey\"]", PATIENCE)
        .expect("the hotkey field");
    window.click(&field).expect("start capturing");
    // Shift+Q: one modifier and a letter is refused by the app's parser as
    // a shortcut that would swallow typing.
    window
        .type_into(&field, "\u{E008}q\u{E000}")
        .expect("press Shift+Q");
    let error = window
        .find("[data-error-for=\"hotkey\"]:not([hidden])", PATIENCE)
        .expect("an inline error under the hotkey");
    let text = window.text(&error).expect("error text");
    assert!(!text.trim().is_empty(), "the error says why");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read(rig.session.home.settings_file()).expect("settings.toml"),
        before,
        "the file is byte for byte what it was"
    );
    let status = rig.status();
    assert_eq!(
        status["hotkey"], "Ctrl+Alt+Space (push-to-talk)",
        "the old hotkey stays: {status}"
    );
    window.close().expect("close");
}

/// The value of the progress bar of download `id` now, if it shows.
fn progress_of(window: &Window, id: &str) -> Option<f64> {
    window
        .execute(
            "const bar = document.querySelector(`progress[data-download=\"${arguments[0]}\"]`); \
             return bar ? bar.value : null;",
            &[serde_json::json!(id)],
        )
        .ok()?
        .as_f64()
}

/// Waits until the progress bar of `id` shows progress, then until it
/// moves on: the bar is live, not drawn once.
fn watch_the_bar_move(window: &Window, id: &str) {
    let first = window
        .wait_until("the bar shows progress", PATIENCE, |w| {
            Ok(progress_of(w, id).filter(|v| *v > 0.0))
        })
        .expect("progress shows");
    window
        .wait_until("the bar moves on", PATIENCE, |w| {
            Ok(progress_of(w, id).filter(|v| *v > first))
        })
        .expect("progress moves");
}

#[test]
fn a_model_from_a_url_downloads_with_progress_and_can_be_made_active() {
    let rig = Rig::start("");
    let window = rig.open();
    go_to(&window, "models");
    let fill = |field: &str, text: &str| {
        let input = window
            .find(&format!("[data-add=\"{field}\"]"), PATIENCE)
            .expect("the add-a-model form");
        window.type_into(&input, text).expect("type");
    };
    fill("name", CUSTOM_ID);
    fill("url", &rig.mirror.url(&format!("custom/{CUSTOM_FILE}")));
    fill("sha256", &rig.custom_sha256);
    window
        .click_on("[data-action=\"download-url\"]", PATIENCE)
        .expect("Add and download");
    watch_the_bar_move(&window, CUSTOM_ID);
    screenshot(&rig, "models-downloading");
    let store = rig.session.home.models_dir().join(CUSTOM_FILE);
    eventually("the model is installed", || store.exists());
    assert_eq!(
        std::fs::metadata(&store).expect("installed").len(),
        std::fs::metadata(assets::tiny_en()).expect("asset").len(),
        "the whole file, checked against its SHA-256"
    );
    window
        .click_on(
            &format!("[data-action=\"activate\"][data-model=\"{CUSTOM_ID}\"]"),
            PATIENCE,
        )
        .expect("Make active for the new model");
    eventually("settings.toml names it", || {
        rig.settings_text()
            .contains(&format!("model = \"{CUSTOM_ID}\""))
    });
    eventually("the app loads it", || {
        let s = rig.status();
        s["model"] == CUSTOM_ID && s["model_loaded"] == true
    });
    screenshot(&rig, "models");
    window.close().expect("close");
}

#[test]
fn a_catalog_download_that_fails_its_check_installs_nothing() {
    let rig = Rig::start("");
    let window = rig.open();
    go_to(&window, "models");
    window
        .click_on(
            &format!("[data-action=\"download\"][data-model=\"{MIRRORED}\"]"),
            PATIENCE,
        )
        .expect("a Download button for the mirrored model");
    watch_the_bar_move(&window, MIRRORED);
    // These bytes are not the real model (that file cannot be fetched
    // here): the catalog's SHA-256 pin refuses them, the row says so, and
    // nothing is installed.
    let text = window
        .text_of(
            &format!("[data-error-for=\"{MIRRORED}\"]:not([hidden])"),
            PATIENCE,
        )
        .expect("the refusal shows in the row");
    assert!(
        text.contains("SHA-256"),
        "the refusal names the check: {text}"
    );
    assert!(!rig.session.home.models_dir().join(MIRRORED_FILE).exists());
    window.close().expect("close");
}

/// The consent of `ezflow telemetry status` ("on" or "off").
fn telemetry_line(rig: &Rig) -> String {
    let out = rig.ezflow(&["telemetry", "status"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("telemetry:"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_telemetry_switch_is_what_the_app_reports() {
    let rig = Rig::start("");
    let window = rig.open();
    go_to(&window, "privacy");
    let switch = window
        .find("[data-key=\"telemetry\"]", PATIENCE)
        .expect("the switch");
    assert_eq!(
        window.property(&switch, "checked").expect("checked"),
        serde_json::json!(false),
        "off by default"
    );
    screenshot(&rig, "privacy");
    window
        .click_on("[data-key=\"telemetry\"]", PATIENCE)
        .expect("turn it on");
    eventually("`ezflow telemetry status` says on", || {
        telemetry_line(&rig) == "on"
    });
    assert!(rig.settings_text().contains("telemetry = true"));
    window
        .click_on("[data-key=\"telemetry\"]", PATIENCE)
        .expect("turn it off");
    eventually("`ezflow telemetry status` says off", || {
        telemetry_line(&rig) == "off"
    });
    assert!(rig.settings_text().contains("telemetry = false"));
    window.close().expect("close");
}

#[test]
fn the_performance_page_draws_recent_dictations_and_memory() {
    let rig = Rig::start("max_recording = \"12s\"\n");
    // Two real dictations (the microphone is an ALSA device reading the
    // JFK clip) so that the charts have something to draw.
    for _ in 0..2 {
        let out = rig.ezflow(&["start"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(4));
        let out = rig.ezflow(&["stop"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let window = rig.open();
    go_to(&window, "performance");
    // Each dictation that heard speech is one bar (under load the second
    // one may hear only the clip's silence; the app counts what it kept).
    let kept: usize = {
        let out = rig.ezflow(&["status", "--stats", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
        json["stats"]["recent_dictations"].as_u64().unwrap_or(0) as usize
    };
    assert!(kept >= 1, "at least one dictation was transcribed");
    let bars = window
        .wait_until("the latency chart has a bar per dictation", PATIENCE, |w| {
            let bars = w.find_all("[data-chart=\"latency\"] svg rect.bar")?;
            Ok((bars.len() >= kept).then_some(bars.len()))
        })
        .unwrap_or_else(|e| {
            let shown = window
                .execute("return document.querySelector('main').innerText;", &[])
                .unwrap_or_default();
            panic!("{e}; the page shows: {shown}")
        });
    assert_eq!(bars, kept, "one bar per dictation");
    for chart in ["rtf", "memory"] {
        window
            .find(&format!("[data-chart=\"{chart}\"] svg path.line"), PATIENCE)
            .unwrap_or_else(|e| panic!("the {chart} chart draws a line: {e}"));
    }
    let today = window
        .find("[data-stat=\"today\"] .stat-value", PATIENCE)
        .expect("dictations today");
    assert_eq!(window.text(&today).expect("text"), kept.to_string());
    screenshot(&rig, "performance");
    window
        .execute(
            "document.querySelector('[data-chart=\"rtf\"]').scrollIntoView(); return null;",
            &[],
        )
        .expect("scroll to the charts");
    screenshot(&rig, "performance-charts");
    window.close().expect("close");
}

#[test]
fn closing_the_window_ends_its_process() {
    let rig = Rig::start("");
    let window = rig.open();
    eventually("the window's process runs", || {
        !window_processes(&rig).is_empty()
    });
    // The window's process and everything it started (WebKit's web and
    // network processes), seen while it is open.
    let mut pids: Vec<u32> = Vec::new();
    for p in window_processes(&rig) {
        pids.push(p.pid);
        pids.extend(descendants(p.pid).iter().map(|d| d.pid));
    }
    assert!(
        pids.len() >= 2,
        "the window runs WebKit processes under it: {pids:?}"
    );
    // Closing its only window (WebDriver's "close window", which WebKit
    // handles as the window closing) ends the process.
    window.close().expect("close the window");
    eventually_or(
        "every one of the window's processes is gone",
        || {
            pids.iter()
                .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        },
        || {
            format!(
                "{:?}",
                pids.iter()
                    .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
                    .collect::<Vec<_>>()
            )
        },
    );
}

#[test]
fn with_no_model_the_app_opens_the_window_on_its_setup() {
    let session = DesktopSession::start();
    let mut command = session.command(ezflow_binary());
    // The first run is what this test is about.
    command.env_remove(ezflow_testbed::home::NO_FIRST_RUN_ENV);
    let mut app = WatchedProcess::spawn(&mut command, Some("[ezflow]")).expect("start ezflow");
    app.wait_for_line("startup complete in", PATIENCE)
        .expect("the app starts");
    eventually("the settings window appears", || {
        !x11_apps::windows_titled(session.display(), TITLE).is_empty()
    });
    app.wait_for_line("first paint in", PATIENCE)
        .expect("the window paints");
    let window_pids: Vec<u32> = descendants(app.pid())
        .into_iter()
        .filter(|p| p.name.starts_with("ezflow-setting"))
        .map(|p| p.pid)
        .collect();
    assert_eq!(window_pids.len(), 1, "one window, started by the app");
    save_screenshot(session.display(), "first-run", Duration::from_millis(1500));
    // Asking again focuses the open window instead of starting another.
    let out = process::output_within(
        session.command(ezflow_binary()).args(["settings", "open"]),
        PATIENCE,
    )
    .expect("ezflow settings open");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(2));
    let now: Vec<u32> = descendants(app.pid())
        .into_iter()
        .filter(|p| p.name.starts_with("ezflow-setting"))
        .map(|p| p.pid)
        .collect();
    assert_eq!(now, window_pids, "still the one window");
    // The window must end the way any program does: its signals are not
    // blocked (the app blocks SIGINT and SIGTERM in its own threads to
    // wait for them), and the close button closes it.
    for pid in &window_pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        assert!(
            status.contains("SigBlk:\t0000000000000000"),
            "the window started by the app blocks no signal: {}",
            status
                .lines()
                .find(|l| l.starts_with("SigBlk"))
                .unwrap_or("")
        );
    }
    let sent = x11_apps::close_titled(session.display(), TITLE, 3, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    if sent > 1 {
        eprintln!("the window closed after {sent} close messages (see x11_apps::close_titled)");
    }
    eventually("the window's process is gone", || {
        window_pids
            .iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    });
    drop(app);
}

#[test]
fn without_the_app_the_window_says_so_and_starts_it() {
    let session = DesktopSession::start();
    let driver = WindowDriver::start(&session, &[]);
    let window = driver
        .open(&settings_binary(), &[])
        .expect("open the settings window");
    window
        .find("[data-current-page=\"not-running\"]", PATIENCE)
        .expect("the window says EZ Flow is not running");
    save_screenshot(session.display(), "not-running", Duration::from_millis(700));
    window
        .click_on("[data-action=\"start-app\"]", PATIENCE)
        .expect("Start EZ Flow");
    // The window starts the app beside it, detached, and connects.
    // With no model installed, the connected window shows its setup.
    window
        .find("[data-current-page=\"setup\"]", PATIENCE)
        .unwrap_or_else(|e| {
            let shown = window
                .execute("return document.querySelector('main').innerText;", &[])
                .unwrap_or_default();
            panic!("{e}; the page shows: {shown}")
        });
    let home = session.home.path().display().to_string();
    let apps: Vec<u32> = process::all_processes()
        .into_iter()
        .filter(|p| p.name == "ezflow")
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .map(|env| String::from_utf8_lossy(&env).contains(&home))
                .unwrap_or(false)
        })
        .map(|p| p.pid)
        .collect();
    assert_eq!(apps.len(), 1, "one app started, in this session: {apps:?}");
    let status = process::output_within(
        session.command(ezflow_binary()).args(["status", "--json"]),
        PATIENCE,
    )
    .expect("ezflow status");
    assert!(status.status.success(), "the started app answers");
    window.close().expect("close");
    // It is the user's app now: it outlives the window. End it here.
    // SAFETY: kill(2) with a pid this test just read from /proc.
    unsafe { libc::kill(apps[0] as libc::pid_t, libc::SIGTERM) };
    eventually("the started app ends on SIGTERM", || {
        !Path::new(&format!("/proc/{}", apps[0])).exists()
    });
}
