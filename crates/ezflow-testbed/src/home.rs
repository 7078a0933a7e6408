//! An isolated home for the `ezflow` binary: EZ Flow's config, data and
//! models directories and a private runtime directory, all in one temporary
//! directory, and the command that points the binary at them. The
//! directories are passed through the `paths` module's environment
//! overrides (and the control socket's through `XDG_RUNTIME_DIR`); the
//! caller's own EZ Flow variables are removed, so nothing of the machine's
//! settings, models, logs or running app reaches a test or a measurement.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ezflow_config::paths::{CONFIG_DIR_ENV, DATA_DIR_ENV, LOG_DIR_ENV, MODELS_DIR_ENV};
use ezflow_control::RUNTIME_DIR_ENV;

/// The binary's log filter (`crates/ezflow/src/main.rs`), which a
/// developer's shell may have set.
pub const LOG_FILTER_ENV: &str = "EZFLOW_LOG";

/// Set to `1`, the app does not open the settings window when it starts
/// with no model installed (`crates/ezflow/src/app`).
pub const NO_FIRST_RUN_ENV: &str = "EZFLOW_NO_FIRST_RUN";

/// A temporary home, removed when dropped.
pub struct IsolatedHome {
    dir: tempfile::TempDir,
}

impl IsolatedHome {
    /// Makes the home and its private runtime directory; the other
    /// directories are left for the binary to create.
    pub fn new() -> IsolatedHome {
        let dir = tempfile::Builder::new()
            .prefix("ezflow-home-")
            .tempdir()
            .expect("a temporary home");
        let home = IsolatedHome { dir };
        let run = home.runtime_dir();
        std::fs::create_dir_all(&run).expect("create the runtime directory");
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))
            .expect("make the runtime directory private");
        home
    }

    /// The home itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the home.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `HOME/config`, where `settings.toml` lives.
    pub fn config_dir(&self) -> PathBuf {
        self.join("config")
    }

    /// `HOME/data` (the state directory, with the log file, is inside it).
    pub fn data_dir(&self) -> PathBuf {
        self.join("data")
    }

    /// `HOME/models`, the installed-model store.
    pub fn models_dir(&self) -> PathBuf {
        self.join("models")
    }

    /// `HOME/run`, the `XDG_RUNTIME_DIR` (mode 0700) the control socket is in.
    pub fn runtime_dir(&self) -> PathBuf {
        self.join("run")
    }

    /// `HOME/config/settings.toml`.
    pub fn settings_file(&self) -> PathBuf {
        self.config_dir().join("settings.toml")
    }

    /// Writes `text` as the settings file.
    pub fn write_settings(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("create the config directory");
        std::fs::write(self.settings_file(), text).expect("write settings.toml");
    }

    /// `program` (an `ezflow` binary) with every EZ Flow directory in this
    /// home, the first-run window off ([`NO_FIRST_RUN_ENV`]) and stdin from
    /// `/dev/null`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("HOME", self.path())
            .env(CONFIG_DIR_ENV, self.config_dir())
            .env(DATA_DIR_ENV, self.data_dir())
            .env(MODELS_DIR_ENV, self.models_dir())
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            // The app keeps the user's autostart entry in step with its
            // setting: never the developer's own ~/.config/autostart.
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env_remove(LOG_DIR_ENV)
            .env_remove(RUNTIME_DIR_ENV)
            .env_remove(LOG_FILTER_ENV)
            // An app started with no model opens the settings window's
            // first-run setup; a test that wants that removes this.
            .env(NO_FIRST_RUN_ENV, "1")
            .stdin(Stdio::null());
        command
    }
}

impl Default for IsolatedHome {
    fn default() -> Self {
        IsolatedHome::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_points_every_directory_into_the_home() {
        let home = IsolatedHome::new();
        let command = home.command("ezflow");
        let env: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        let value = |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .unwrap_or_else(|| panic!("{name} is not set or removed"))
                .1
                .clone()
        };
        for (name, dir) in [
            (CONFIG_DIR_ENV, home.config_dir()),
            (DATA_DIR_ENV, home.data_dir()),
            (MODELS_DIR_ENV, home.models_dir()),
            ("XDG_RUNTIME_DIR", home.runtime_dir()),
        ] {
            assert_eq!(value(name), Some(dir.display().to_string()), "{name}");
        }
        for removed in [LOG_DIR_ENV, RUNTIME_DIR_ENV, LOG_FILTER_ENV] {
            assert_eq!(value(removed), None, "{removed}");
        }
        let mode = std::fs::metadata(home.runtime_dir())
            .expect("the runtime directory exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
