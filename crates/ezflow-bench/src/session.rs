//! A user's desktop session for the app under measurement, and the app in
//! it: a private Xvfb, a private D-Bus session bus with a stand-in
//! StatusNotifierWatcher (the panel's side of the tray), and EZ Flow's own
//! directories and settings file in a temporary home, so that nothing of the
//! machine's own desktop or settings reaches the figures. The X, D-Bus and
//! watcher parts are the desktop tests' support code (`support/*.rs`); this
//! module only adds what starting the real binary needs.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use ezflow_core::settings::{IdleUnload, Settings, Threads};

use crate::{dbus, panel, xvfb};

/// Bound on the app's reactions that need no model (startup, quitting).
pub const QUICK: Duration = Duration::from_secs(30);
/// Bound on a model load or unload asked of the app.
pub const SLOW: Duration = Duration::from_secs(300);

/// X, D-Bus with a tray host, and a home for EZ Flow. Everything in it is
/// stopped and removed when it drops.
pub struct Desktop {
    ezflow: PathBuf,
    // Field order is drop order: the watcher's connection before its bus.
    _watcher: zbus::blocking::Connection,
    registrations: mpsc::Receiver<panel::Registration>,
    bus: dbus::DbusSession,
    xvfb: xvfb::Xvfb,
    home: tempfile::TempDir,
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
        let home = tempfile::Builder::new()
            .prefix("ezflow-bench-")
            .tempdir()
            .context("creating a temporary home")?;
        let run = home.path().join("run");
        std::fs::create_dir_all(&run).context("creating the runtime directory")?;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))
            .context("making the runtime directory private")?;
        let xvfb = xvfb::Xvfb::start();
        let bus = dbus::DbusSession::start();
        let (watcher, registrations) = panel::start_watcher(&bus, true);
        Ok(Desktop {
            ezflow: ezflow.to_path_buf(),
            _watcher: watcher,
            registrations,
            bus,
            xvfb,
            home,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Writes the settings the app starts with: `model`, English, `threads`,
    /// and no idle unload (the harness unloads when it means to).
    pub fn write_settings(&self, model: &Path, threads: usize) -> anyhow::Result<()> {
        let config = self.path("config");
        std::fs::create_dir_all(&config).context("creating the config directory")?;
        let settings = Settings {
            model: model.display().to_string(),
            language: "en".parse()?,
            threads: Threads::new(u32::try_from(threads)?)?,
            idle_unload: IdleUnload::Never,
            ..Settings::default()
        };
        settings
            .save_to(&config.join("settings.toml"))
            .context("writing settings.toml")
    }

    /// The `ezflow` command in this session's environment.
    pub fn ezflow(&self) -> Command {
        let mut command = Command::new(&self.ezflow);
        command
            .env("DISPLAY", &self.xvfb.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("HOME", self.home.path())
            .env("EZFLOW_CONFIG_DIR", self.path("config"))
            .env("EZFLOW_DATA_DIR", self.path("data"))
            .env("EZFLOW_MODELS_DIR", self.path("models"))
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("EZFLOW_RUNTIME_DIR")
            .env_remove("EZFLOW_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs one `ezflow` command to its end, killing it if it takes longer
    /// than `patience`.
    pub fn run(&self, args: &[&str], patience: Duration) -> anyhow::Result<Output> {
        let what = format!("ezflow {}", args.join(" "));
        let child = self
            .ezflow()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {what}"))?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(patience) {
            Ok(output) => output.with_context(|| format!("waiting for {what}")),
            Err(_) => {
                // SAFETY: kill(2) on our own child, not yet reaped (its
                // waiting thread is still blocked in wait).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                bail!("{what} did not finish within {patience:?}; killed")
            }
        }
    }

    /// Starts the app and waits until its tray is registered with the
    /// watcher and it has logged that startup is complete.
    pub fn start_app(&self) -> anyhow::Result<(App, Startup)> {
        // Registrations left over from an earlier start are not this one's.
        while self.registrations.try_recv().is_ok() {}
        let started = Instant::now();
        let mut child = self
            .ezflow()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.ezflow.display()))?;
        let pid = child.id();
        let to_tray = self.wait_for_registration(pid, started);
        let stderr = child.stderr.take();
        let mut app = App {
            child: Some(child),
            lines: forward_lines(stderr),
            seen: Vec::new(),
        };
        let to_tray = to_tray?;
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

/// Sends each line of the app's log to a channel, from a thread that ends
/// with the pipe.
fn forward_lines(stderr: Option<std::process::ChildStderr>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stderr) = stderr {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    rx
}

/// The running app. Killed when dropped, if it still runs.
pub struct App {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl App {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits (bounded) for a log line containing `needle` that was not
    /// waited for before; returns it.
    pub fn wait_for_line(&mut self, needle: &str, patience: Duration) -> anyhow::Result<String> {
        if let Some(i) = self.seen.iter().position(|l| l.contains(needle)) {
            return Ok(self.seen.remove(i));
        }
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(line) => self.seen.push(line),
                Err(_) => bail!(
                    "ezflow did not log {needle:?} within {patience:?}; its log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Forgets the log lines seen so far, so later waits see only new ones.
    pub fn forget_log(&mut self) {
        self.seen.clear();
        while let Ok(line) = self.lines.try_recv() {
            drop(line);
        }
    }

    /// Waits for the app's "model unloaded" line after an unload request.
    pub fn wait_unloaded(&mut self) -> anyhow::Result<()> {
        self.wait_for_line("model unloaded", SLOW).map(drop)
    }

    /// SIGTERM, then waits (bounded) for the process to end.
    pub fn terminate(mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the app was already gone");
        };
        let pid = child.id();
        // SAFETY: kill(2) on our own child, which has not been reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(QUICK) {
            Ok(status) => status.context("waiting for ezflow to quit"),
            Err(_) => {
                // SAFETY: as above; the waiting thread still holds the child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                bail!("ezflow (pid {pid}) did not quit within {QUICK:?} of SIGTERM; killed")
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
