//! The settings window, `ezflow-settings`: a separate program the app
//! starts on demand (`open-settings`, the tray's "Settings…", the first
//! run) and never links. [`SettingsWindow`] is what the loop needs;
//! [`WindowLauncher`] the real one.
//!
//! It owns finding the binary (beside the running `ezflow`, else on
//! `PATH`), starting it, and knowing whether the one it started still runs:
//! a thread blocks in `wait()` on the child and reaps it, so no zombie is
//! left and nothing polls. Bringing an open window to the front is the
//! loop's `focus` event, which the window itself acts on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The settings window's program name.
pub const BINARY: &str = "ezflow-settings";

/// What opening the window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new window was started.
    Started,
    /// The one started earlier still runs (the loop asks it to come to
    /// the front).
    AlreadyOpen,
}

pub trait SettingsWindow {
    /// Starts the window unless the one this app started still runs. `Err`
    /// is one line saying what is missing and how to get it.
    fn open(&self) -> Result<Opened, String>;
}

/// Starts the real `ezflow-settings`.
#[derive(Default)]
pub struct WindowLauncher {
    /// Set while a window this app started runs; cleared by its reaper.
    running: Arc<AtomicBool>,
}

impl SettingsWindow for WindowLauncher {
    fn open(&self) -> Result<Opened, String> {
        if self.running.load(Ordering::SeqCst) {
            return Ok(Opened::AlreadyOpen);
        }
        let binary = find_binary().ok_or_else(not_installed)?;
        let mut command = Command::new(&binary);
        command.stdin(Stdio::null());
        super::signals::with_default_signal_mask(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        tracing::info!(pid = child.id(), binary = %binary.display(), "settings window started");
        self.running.store(true, Ordering::SeqCst);
        let running = Arc::clone(&self.running);
        let reaper = std::thread::Builder::new()
            .name("settings-window".into())
            .spawn(move || {
                match child.wait() {
                    Ok(status) => tracing::info!(%status, "settings window closed"),
                    Err(e) => tracing::warn!("cannot wait for the settings window: {e}"),
                }
                running.store(false, Ordering::SeqCst);
            });
        if let Err(e) = reaper {
            // Without its reaper the child is still a working window; it is
            // just not known to be open, so a later request starts another.
            tracing::warn!("cannot watch the settings window: {e}");
            self.running.store(false, Ordering::SeqCst);
        }
        Ok(Opened::Started)
    }
}

/// `ezflow-settings` beside the `ezflow` binary (the public one, not a
/// faster CPU build it handed over to), else on `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    let beside = crate::launcher::public_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BINARY)));
    if let Some(path) = beside.filter(|p| is_executable(p)) {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(BINARY))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The error when the window's program is nowhere to be found.
pub fn not_installed() -> String {
    format!(
        "the settings window ({BINARY}) is not installed: put it beside ezflow or on PATH \
         (from the source tree: `cargo build --release -p ezflow-settings`, then copy \
         target/release/{BINARY} next to ezflow); meanwhile `ezflow settings` shows the \
         settings file"
    )
}

/// Starts the window on its own, detached from this process (the command
/// line, when no app runs): it gets its own session, so closing the
/// terminal does not close it, and nothing waits for it.
pub fn spawn_detached() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let binary = find_binary().ok_or_else(not_installed)?;
    let mut command = Command::new(&binary);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    // Reaped by init once this short-lived command exits.
    drop(child);
    Ok(())
}
