//! The installed Debian package, as a user runs it: `/usr/bin/ezflow` (or
//! `EZFLOW_INSTALLED_EXE`) under a private Xvfb and D-Bus session, the tray
//! registered with a StatusNotifierWatcher stand-in, a dictation from the
//! hotkey into a focused window with the real tiny.en model and the ALSA
//! file microphone, and the launcher entry's second start opening the
//! installed settings window.
//!
//! These tests need the package installed, so `cargo test` skips them
//! (`#[ignore]`); `scripts/test-package.sh` installs the package and runs
//! them with `--ignored`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ezflow_testbed::microphone::{self, Device, FileMicrophone, ALSA_CONFIG_ENV};
use ezflow_testbed::process::WatchedProcess;
use ezflow_testbed::session::DesktopSession;
use ezflow_testbed::{assets, panel, x11_apps};

const PATIENCE: Duration = Duration::from_secs(120);
/// The settings window's title (`crates/ezflow-settings/tauri.conf.json`).
const WINDOW_TITLE: &str = "EZ Flow Settings";

fn installed_exe() -> PathBuf {
    std::env::var_os("EZFLOW_INSTALLED_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/ezflow"))
}

fn ezflow(session: &DesktopSession) -> Command {
    let mut command = session.command(installed_exe());
    command.env(ALSA_CONFIG_ENV, session.home.join(microphone::CONFIG_FILE));
    command
}

/// Presses or releases Ctrl+Alt+Space, the app's hotkey.
fn hotkey(display: &str, down: bool) {
    x11_apps::ctrl_alt_space(display, down);
}

#[test]
#[ignore = "needs the installed package; scripts/test-package.sh runs it"]
fn installed_app_registers_its_tray_and_dictates() {
    let exe = installed_exe();
    assert!(exe.is_file(), "{} is not installed", exe.display());
    let session = DesktopSession::start();
    let (_watcher, registrations) = panel::start_watcher(&session.bus, true);
    let clip = ezflow_core::audio::load_clip(&assets::jfk())
        .expect("decode jfk.wav")
        .into_samples();
    FileMicrophone::write(
        session.home.path(),
        Device::Clip,
        &clip,
        Duration::from_secs(20),
    );
    session.home.write_settings(&format!(
        "model = \"{}\"\nlanguage = \"en\"\nhotkey = \"Ctrl+Alt+Space\"\n\
         hotkey_mode = \"push-to-talk\"\ninsert_method = \"paste\"\nmax_recording = \"12s\"\n",
        assets::tiny_en().display()
    ));

    let started = Instant::now();
    let mut command = ezflow(&session);
    let mut app = WatchedProcess::spawn(&mut command, Some("[installed ezflow]"))
        .expect("start the installed ezflow");
    app.wait_for_line("startup complete in", PATIENCE)
        .expect("the installed app starts");
    registrations
        .recv_timeout(PATIENCE)
        .expect("the installed app's tray registers with the StatusNotifierWatcher");
    eprintln!(
        "installed app: exec to tray registered in {:?}",
        started.elapsed()
    );

    // It runs the CPU build test-package.sh expects on this machine.
    if let Ok(level) = std::env::var("EZFLOW_EXPECTED_CPU_BUILD") {
        let version = ezflow(&session)
            .arg("--version")
            .output()
            .expect("ezflow --version");
        let text = String::from_utf8_lossy(&version.stdout);
        assert!(text.contains(&format!("CPU build {level})")), "{text}");
    }

    let window = x11_apps::TextWindow::open(session.display());
    hotkey(session.display(), true);
    app.wait_for_line("dictation transcribed", PATIENCE)
        .expect("the dictation is transcribed");
    hotkey(session.display(), false);
    window.wait_within("waiting for the dictated words", PATIENCE, |w| {
        w.text
            .to_lowercase()
            .contains("ask what you can do for your country")
    });
    // test-package.sh passes the time just before `dpkg -i`: the figure
    // from installing to a working dictation (printed, not asserted).
    if let Some(installed_at) = std::env::var("EZFLOW_INSTALL_STARTED_AT")
        .ok()
        .and_then(|secs| secs.parse::<f64>().ok())
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs_f64();
        eprintln!(
            "from `dpkg -i` to the first dictation's text in the window: {:.1} s",
            now - installed_at
        );
    }

    // The applications menu's launcher (`Exec=ezflow --launcher`) on a
    // running app brings up the installed settings window.
    let second = ezflow(&session)
        .arg("--launcher")
        .output()
        .expect("run ezflow --launcher");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let deadline = Instant::now() + PATIENCE;
    while x11_apps::windows_titled(session.display(), WINDOW_TITLE).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the settings window did not appear"
        );
        // No X event reaches an outside client when another client maps a
        // top-level window without a window manager; look again shortly.
        std::thread::sleep(Duration::from_millis(200));
    }
    x11_apps::close_titled(session.display(), WINDOW_TITLE, 3, Duration::from_secs(10))
        .expect("the settings window closes");

    let status = app.terminate(PATIENCE).expect("ezflow ends on SIGTERM");
    assert!(status.success(), "ezflow exited with {status}");
}
