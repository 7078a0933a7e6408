//! Starting the dictation app from the window's "Start EZ Flow" button.
//!
//! It owns finding the `ezflow` binary (beside this executable first, then
//! on `PATH`), starting it detached from the window (its own process group,
//! no inherited standard streams, so closing the window leaves it running),
//! and waiting, bounded, until it listens on its control socket.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The app's binary name.
const APP_BINARY: &str = "ezflow";
/// How long the app may take to listen after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Starting the app failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot find the `ezflow` program beside {} or on PATH", beside.display())]
    NotFound { beside: PathBuf },
    #[error("cannot start {}: {source}", path.display())]
    Spawn { path: PathBuf, source: io::Error },
    #[error("{} exited at once ({status}); run it in a terminal to see why", path.display())]
    Exited {
        path: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("{} started but did not listen within {START_TIMEOUT:?}", path.display())]
    NoAnswer { path: PathBuf },
}

/// The `ezflow` binary: beside `exe` if there is one, else the first on
/// `path_var`.
pub fn find_app(exe: Option<&Path>, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let beside = exe
        .and_then(Path::parent)
        .map(|dir| dir.join(APP_BINARY))
        .filter(|p| is_executable(p));
    beside.or_else(|| {
        std::env::split_paths(path_var?)
            .map(|dir| dir.join(APP_BINARY))
            .find(|p| is_executable(p))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Starts the app detached and returns once it answers on its socket.
pub fn start_app() -> Result<PathBuf, LaunchError> {
    let exe = std::env::current_exe().ok();
    let path = find_app(exe.as_deref(), std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        LaunchError::NotFound {
            beside: exe.clone().unwrap_or_default(),
        }
    })?;
    tracing::info!("starting {}", path.display());
    let mut child = Command::new(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a signal to the window's group (a terminal's
        // Ctrl+C) does not reach it.
        .process_group(0)
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            path: path.clone(),
            source,
        })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(LaunchError::Exited { path, status });
        }
        if crate::link::request(serde_json::json!({"cmd": "status"})).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(LaunchError::NoAnswer { path });
        }
        // The app signals readiness only by listening: a bounded wait
        // between attempts, for this one start.
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reap the app if it ends while the window is open; when the window
    // ends first the app is handed to init and keeps running.
    std::thread::Builder::new()
        .name("ezflow-child".into())
        .spawn(move || {
            let _ = child.wait();
        })
        .ok();
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn executable(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn beside_the_window_wins_over_path() {
        let here = tempfile::tempdir().unwrap();
        let on_path = tempfile::tempdir().unwrap();
        executable(&on_path.path().join(APP_BINARY));
        let exe = here.path().join("ezflow-settings");
        let path_var = std::env::join_paths([on_path.path()]).unwrap();
        assert_eq!(
            find_app(Some(&exe), Some(&path_var)),
            Some(on_path.path().join(APP_BINARY))
        );
        executable(&here.path().join(APP_BINARY));
        assert_eq!(
            find_app(Some(&exe), Some(&path_var)),
            Some(here.path().join(APP_BINARY))
        );
    }

    #[test]
    fn a_file_that_is_not_executable_is_not_the_app() {
        let here = tempfile::tempdir().unwrap();
        std::fs::write(here.path().join(APP_BINARY), "").unwrap();
        let exe = here.path().join("ezflow-settings");
        assert_eq!(find_app(Some(&exe), None), None);
    }
}
