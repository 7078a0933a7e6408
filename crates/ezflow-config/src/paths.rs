//! Where EZ Flow keeps its files: the platform config and data directories,
//! each overridable by an environment variable (for tests, portable installs
//! and users who want their models on another disk).
//!
//! This module only computes paths; it never creates or deletes anything.

use std::path::PathBuf;

use directories::ProjectDirs;

/// Overrides the directory that holds installed models.
pub const MODELS_DIR_ENV: &str = "EZFLOW_MODELS_DIR";
/// Overrides the directory that holds `settings.toml`.
pub const CONFIG_DIR_ENV: &str = "EZFLOW_CONFIG_DIR";
/// Overrides the directory for the app's log file.
pub const LOG_DIR_ENV: &str = "EZFLOW_LOG_DIR";
/// Overrides the data directory (models live in `models/` under it unless
/// [`MODELS_DIR_ENV`] is set too).
pub const DATA_DIR_ENV: &str = "EZFLOW_DATA_DIR";

/// A path could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "cannot find a home directory for EZ Flow's files; set {DATA_DIR_ENV} and {CONFIG_DIR_ENV}"
    )]
    NoHome,
}

fn project_dirs() -> Result<ProjectDirs, PathsError> {
    ProjectDirs::from("app", "EZ Flow", "ezflow").ok_or(PathsError::NoHome)
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The directory for EZ Flow's data (models, and later the telemetry queue).
pub fn data_dir() -> Result<PathBuf, PathsError> {
    match env_path(DATA_DIR_ENV) {
        Some(p) => Ok(p),
        None => Ok(project_dirs()?.data_dir().to_path_buf()),
    }
}

/// The directory that holds installed model files.
pub fn models_dir() -> Result<PathBuf, PathsError> {
    match env_path(MODELS_DIR_ENV) {
        Some(p) => Ok(p),
        None => Ok(data_dir()?.join("models")),
    }
}

/// The directory that holds `settings.toml`.
pub fn config_dir() -> Result<PathBuf, PathsError> {
    match env_path(CONFIG_DIR_ENV) {
        Some(p) => Ok(p),
        None => Ok(project_dirs()?.config_dir().to_path_buf()),
    }
}

/// The directory for state the user does not edit and may lose without
/// harm: the log file, the desktop portal's permission token. On Linux
/// `$XDG_STATE_HOME/ezflow` (`~/.local/state/ezflow`); elsewhere `state/`
/// in the data directory.
pub fn state_dir() -> Result<PathBuf, PathsError> {
    if let Some(data) = env_path(DATA_DIR_ENV) {
        return Ok(data.join("state"));
    }
    let dirs = project_dirs()?;
    Ok(match dirs.state_dir() {
        Some(dir) => dir.to_path_buf(),
        None => dirs.data_dir().join("state"),
    })
}

/// The directory for the app's rotating log file: [`LOG_DIR_ENV`], or
/// `logs/` in [`state_dir`].
pub fn log_dir() -> Result<PathBuf, PathsError> {
    match env_path(LOG_DIR_ENV) {
        Some(p) => Ok(p),
        None => Ok(state_dir()?.join("logs")),
    }
}

/// The settings file.
pub fn settings_file() -> Result<PathBuf, PathsError> {
    Ok(config_dir()?.join("settings.toml"))
}
