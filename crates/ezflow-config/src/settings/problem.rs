//! What loading found wrong with the settings file: one [`SettingsProblem`]
//! per thing, each a single line that names the file (and the key) and says
//! what to do.

use std::fmt;
use std::path::{Path, PathBuf};

use super::fields::known_keys;
use super::Settings;

/// What [`Settings::load_from`] found: the settings to use, and everything
/// the user should be told about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub settings: Settings,
    /// One entry per thing that was wrong; empty for a good or missing file.
    pub problems: Vec<SettingsProblem>,
    /// Where an unreadable file was moved to, if it was.
    pub moved_aside: Option<PathBuf>,
}

/// One thing wrong with the settings file. `Display` is a single line that
/// names the file (and the key) and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsProblem {
    /// The file exists but could not be read (permissions, a directory...).
    /// It was left as it is and the defaults are in use.
    Unreadable { path: PathBuf, reason: String },
    /// The file was not TOML; it was moved to `moved_to` and the defaults are
    /// in use.
    MovedAside {
        path: PathBuf,
        moved_to: PathBuf,
        reason: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// The file was not TOML and moving it aside failed; it was left as it is
    /// and the defaults are in use.
    CorruptNotMoved {
        path: PathBuf,
        reason: String,
        line: Option<usize>,
        column: Option<usize>,
        move_error: String,
    },
    /// A key this version does not know; it was ignored.
    UnknownKey {
        path: PathBuf,
        key: String,
        suggestion: Option<&'static str>,
    },
    /// A known key with a value that is not accepted; the key's default is in
    /// use instead.
    InvalidValue {
        path: PathBuf,
        key: &'static str,
        /// The value as written in the file (TOML syntax, shortened if long).
        value: String,
        reason: String,
        accepted: &'static str,
        /// The default now in use, as it would be written in the file.
        default: String,
    },
}

impl SettingsProblem {
    /// The settings file the problem is about.
    pub fn path(&self) -> &Path {
        match self {
            SettingsProblem::Unreadable { path, .. }
            | SettingsProblem::MovedAside { path, .. }
            | SettingsProblem::CorruptNotMoved { path, .. }
            | SettingsProblem::UnknownKey { path, .. }
            | SettingsProblem::InvalidValue { path, .. } => path,
        }
    }

    /// The key the problem is about, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsProblem::UnknownKey { key, .. } => Some(key),
            SettingsProblem::InvalidValue { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn fmt_position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsProblem::Unreadable { path, reason } => write!(
                f,
                "cannot read settings file {} ({reason}); using the default settings. \
                 Make sure it is a file you can read.",
                path.display()
            ),
            SettingsProblem::MovedAside {
                path,
                moved_to,
                reason,
                line,
                column,
            } => write!(
                f,
                "settings file {} is not valid TOML ({reason}{}); it was moved to {} and the \
                 default settings are in use. Fix that file and move it back, or delete it.",
                path.display(),
                fmt_position(*line, *column),
                moved_to.display()
            ),
            SettingsProblem::CorruptNotMoved {
                path,
                reason,
                line,
                column,
                move_error,
            } => write!(
                f,
                "settings file {} is not valid TOML ({reason}{}) and could not be moved aside \
                 ({move_error}); the default settings are in use and the file was left as it \
                 is. Fix it or move it away.",
                path.display(),
                fmt_position(*line, *column)
            ),
            SettingsProblem::UnknownKey {
                path,
                key,
                suggestion,
            } => {
                write!(
                    f,
                    "settings file {}: unknown key {key:?} ignored; ",
                    path.display()
                )?;
                match suggestion {
                    Some(s) => write!(f, "did you mean {s:?}?"),
                    None => write!(f, "known keys are: {}.", known_keys().join(", ")),
                }
            }
            SettingsProblem::InvalidValue {
                path,
                key,
                value,
                reason,
                accepted,
                default,
            } => write!(
                f,
                "settings file {}: `{key} = {value}` ignored ({reason}); using the default \
                 {default}. Accepted: {accepted}.",
                path.display()
            ),
        }
    }
}

/// Collapses a message onto one line so problems stay one line each.
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
