//! A user's desktop session for the app under measurement, and the app in
//! it: a private Xvfb, a private D-Bus session bus with a stand-in
//! StatusNotifierWatcher (the panel's side of the tray), and EZ Flow's own
//! directories and settings file in a temporary home, so that nothing of the
//! machine's own desktop or settings reaches the figures. The session, the
//! watcher and following the app's log are the tests' harness
//! (`ezflow_testbed`); this module only adds what measuring the real binary
//! needs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use ezflow_config::settings::{IdleUnload, Settings, Threads};
use ezflow_testbed::microphone::ALSA_CONFIG_ENV;
use ezflow_testbed::process::{self, WatchedProcess};
use ezflow_testbed::session::DesktopSession;
use ezflow_testbed::{dictation, panel};

/// Bound on the app's reactions that need no model (startup, quitting).
pub const QUICK: Duration = Duration::from_secs(30);
/// Bound on a model load or unload asked of the app.
pub const SLOW: Duration = Duration::from_secs(300);

/// X, D-Bus with a tray host, and a home for EZ Flow. Everything in it is
/// stopped and removed when it drops.
pub struct Desktop {
    ezflow: PathBuf,
    /// The ALSA configuration of the file microphone, once there is one.
    microphone: Option<PathBuf>,
    // Field order is drop order: the watcher's connection before its bus.
    _watcher: zbus::blocking::Connection,
    registrations: mpsc::Receiver<panel::Registration>,
    session: DesktopSession,
}

/// One start of the app, as measured.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// From just before `exec` to the watcher receiving the tray's
    /// `RegisterStatusNotifierItem` call.
    pub to_tray: Duration,
    /// The app's own figure from its "startup complete in N ms" log line.
    pub own_ms: Option<f64>,
}

impl Desktop {
    /// Starts Xvfb, dbus-daemon and the watcher, and makes the home.
    pub fn start(ezflow: &Path) -> anyhow::Result<Desktop> {
        let session = DesktopSession::start();
        let (watcher, registrations) = panel::start_watcher(&session.bus, true);
        Ok(Desktop {
            ezflow: ezflow.to_path_buf(),
            microphone: None,
            _watcher: watcher,
            registrations,
            session,
        })
    }

    /// Writes the settings the app starts with: `model`, English, `threads`,
    /// and no idle unload (the harness unloads when it means to).
    pub fn write_settings(&self, model: &Path, threads: usize) -> anyhow::Result<()> {
        let home = &self.session.home;
        std::fs::create_dir_all(home.config_dir()).context("creating the config directory")?;
        let settings = Settings {
            model: model.display().to_string(),
            language: "en".parse()?,
            threads: Threads::new(u32::try_from(threads)?)?,
            idle_unload: IdleUnload::Never,
            ..Settings::default()
        };
        settings
            .save_to(&home.settings_file())
            .context("writing settings.toml")
    }

    /// Writes `text` as the settings file the app starts with.
    pub fn write_settings_text(&self, text: &str) {
        self.session.home.write_settings(text);
    }

    /// Gives the app a microphone: the tests' ALSA capture device reading
    /// `clip` (16 kHz mono), then silence past a dictation's recording limit
    /// (`ezflow_testbed::dictation`).
    pub fn use_microphone(&mut self, clip: &[f32]) {
        let microphone = dictation::microphone(self.session.home.path(), clip);
        self.microphone = Some(microphone.config);
    }

    /// The session's X display, e.g. `:3`.
    pub fn display(&self) -> &str {
        self.session.display()
    }

    /// The `ezflow` command in this session's environment.
    pub fn ezflow(&self) -> Command {
        let mut command = self.session.command(&self.ezflow);
        if let Some(config) = &self.microphone {
            command.env(ALSA_CONFIG_ENV, config);
        }
        command
    }

    /// Runs one `ezflow` command to its end, killing it if it takes longer
    /// than `patience`.
    pub fn run(&self, args: &[&str], patience: Duration) -> anyhow::Result<Output> {
        process::output_within(self.ezflow().args(args), patience)
            .with_context(|| format!("ezflow {}", args.join(" ")))
    }

    /// Starts the app and waits until its tray is registered with the
    /// watcher and it has logged that startup is complete.
    pub fn start_app(&self) -> anyhow::Result<(App, Startup)> {
        // Registrations left over from an earlier start are not this one's.
        while self.registrations.try_recv().is_ok() {}
        let started = Instant::now();
        let process = WatchedProcess::spawn(&mut self.ezflow(), None)
            .with_context(|| format!("starting {}", self.ezflow.display()))?;
        let mut app = App { process };
        let to_tray = self.wait_for_registration(app.pid(), started)?;
        let line = app.wait_for_line("startup complete in", QUICK)?;
        let own_ms = logged_ms(&line, "startup complete in");
        Ok((app, Startup { to_tray, own_ms }))
    }

    /// Waits (bounded) for the tray of process `pid` to register; ksni
    /// registers the name `org.kde.StatusNotifierItem-PID-N`.
    fn wait_for_registration(&self, pid: u32, started: Instant) -> anyhow::Result<Duration> {
        let mark = format!("-{pid}-");
        let deadline = started + QUICK;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.registrations.recv_timeout(left) {
                Ok(registration) if registration.service.contains(&mark) => {
                    return Ok(started.elapsed())
                }
                Ok(_) => continue,
                Err(_) => bail!("the tray of ezflow (pid {pid}) did not register within {QUICK:?}"),
            }
        }
    }

    /// `ezflow status --stats --json`: the app's own figures, or why there
    /// are none.
    pub fn stats(&self) -> Result<serde_json::Value, String> {
        let output = self
            .run(&["status", "--stats", "--json"], QUICK)
            .map_err(|e| format!("{e:#}"))?;
        if !output.status.success() {
            return Err(first_line(&output.stderr));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| format!("not one JSON object: {e}"))
    }
}

/// The first line of a command's error output, for a table cell.
pub fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim().to_owned()
}

/// The running app. Killed when dropped, if it still runs.
pub struct App {
    process: WatchedProcess,
}

impl App {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The app's process and log, for the tests' harness.
    pub fn process(&mut self) -> &mut WatchedProcess {
        &mut self.process
    }

    /// Waits (bounded) for a log line containing `needle` that was not
    /// waited for before; returns it.
    pub fn wait_for_line(&mut self, needle: &str, patience: Duration) -> anyhow::Result<String> {
        self.process
            .wait_for_line(needle, patience)
            .context("ezflow's log")
    }

    /// Forgets the log lines seen so far, so later waits see only new ones.
    pub fn forget_log(&mut self) {
        self.process.forget_log();
    }

    /// Waits for the app's "model unloaded" line after an unload request.
    pub fn wait_unloaded(&mut self) -> anyhow::Result<()> {
        self.wait_for_line("model unloaded", SLOW).map(drop)
    }

    /// SIGTERM, then waits (bounded) for the process to end.
    pub fn terminate(mut self) -> anyhow::Result<ExitStatus> {
        self.process.terminate(QUICK).context("stopping ezflow")
    }
}

/// The number after `prefix` in one of the app's log lines
/// (`"startup complete in 6 ms …"` → 6.0).
pub fn logged_ms(line: &str, prefix: &str) -> Option<f64> {
    line.split(prefix)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
