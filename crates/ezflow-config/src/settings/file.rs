//! Reading and writing `settings.toml`: loading never fails and never loses
//! what the user wrote (a broken file is moved aside, byte for byte, under a
//! UTC-stamped name), and saving is atomic.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::fields::{render_value, FIELDS};
use super::problem::{one_line, LoadReport, SettingsProblem};
use super::{Settings, SettingsError};
use crate::paths;
use crate::suggest::closest;
use ezflow_telemetry_schema::calendar;

/// A settings file is a few hundred bytes; anything past this is not one
/// (someone saved a binary or a log over it) and is moved aside unread.
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub(super) const HEADER: &str = "\
# EZ Flow settings.
#
# EZ Flow rewrites this file when settings change in the app; comments and keys
# it does not know are not kept. If this file cannot be read as TOML, it is
# moved aside (settings.toml.corrupt-...) and the defaults are used.
";

impl Settings {
    /// Loads the settings file at its usual place ([`paths::settings_file`]).
    /// Fails only if that place cannot be determined.
    pub fn load() -> Result<LoadReport, SettingsError> {
        Ok(Settings::load_from(&paths::settings_file()?))
    }

    /// Loads settings from `path`. Never fails: whatever is wrong is in the
    /// report's `problems`, and the settings hold every value that could be
    /// used, defaults for the rest. See the module docs for what happens to a
    /// broken file.
    pub fn load_from(path: &Path) -> LoadReport {
        let mut report = LoadReport {
            settings: Settings::default(),
            problems: Vec::new(),
            moved_aside: None,
        };
        match inspect(path) {
            Inspection::Missing => {
                tracing::debug!(path = %path.display(), "no settings file; using defaults");
            }
            Inspection::Unreadable(e) => {
                report.problems.push(SettingsProblem::Unreadable {
                    path: path.to_owned(),
                    reason: one_line(&e.to_string()),
                });
            }
            Inspection::Corrupt(c) => match move_aside(path) {
                Ok(moved_to) => {
                    tracing::warn!(
                        path = %path.display(),
                        moved_to = %moved_to.display(),
                        reason = %c.reason,
                        "settings file is not valid TOML; moved it aside"
                    );
                    report.moved_aside = Some(moved_to.clone());
                    report.problems.push(SettingsProblem::MovedAside {
                        path: path.to_owned(),
                        moved_to,
                        reason: c.reason,
                        line: c.line,
                        column: c.column,
                    });
                }
                Err(e) => report.problems.push(SettingsProblem::CorruptNotMoved {
                    path: path.to_owned(),
                    reason: c.reason,
                    line: c.line,
                    column: c.column,
                    move_error: one_line(&e.to_string()),
                }),
            },
            Inspection::Table(table) => {
                report.settings = Settings::from_table(path, &table, &mut report.problems);
            }
        }
        for problem in &report.problems {
            tracing::debug!(%problem, "settings problem");
        }
        report
    }

    /// Judges each key of a parsed file on its own.
    fn from_table(
        path: &Path,
        table: &toml::Table,
        problems: &mut Vec<SettingsProblem>,
    ) -> Settings {
        let defaults = Settings::default();
        let mut settings = Settings::default();
        for (key, value) in table {
            let Some(field) = FIELDS.iter().find(|f| f.key == key) else {
                problems.push(SettingsProblem::UnknownKey {
                    path: path.to_owned(),
                    key: key.clone(),
                    suggestion: closest(key, FIELDS.iter().map(|f| f.key)),
                });
                continue;
            };
            if let Err(reason) = (field.apply)(&mut settings, value) {
                problems.push(SettingsProblem::InvalidValue {
                    path: path.to_owned(),
                    key: field.key,
                    value: render_value(value),
                    reason: one_line(&reason),
                    accepted: field.accepts,
                    default: (field.write)(&defaults).to_string(),
                });
            }
        }
        settings
    }

    /// The file's text: a comment header, then every key with its comment.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::from(HEADER);
        for field in FIELDS {
            out.push_str("\n# ");
            out.push_str(field.comment);
            out.push('\n');
            out.push_str(field.key);
            out.push_str(" = ");
            out.push_str(&(field.write)(self).to_string());
            out.push('\n');
        }
        out
    }

    /// Saves to the usual place ([`paths::settings_file`]).
    pub fn save(&self) -> Result<(), SettingsError> {
        self.save_to(&paths::settings_file()?)
    }

    /// Writes every key to `path` atomically: a temporary file in the same
    /// directory, fsync, rename over `path`, fsync of the directory. Creates
    /// the directory if needed. A symlinked `path` is followed, so a settings
    /// file kept in a dotfiles repository stays there; the existing file's
    /// permissions are kept.
    ///
    /// Only the settings are written: comments and unknown keys in the old
    /// file are not preserved. An existing file that is not valid TOML (the
    /// user's half-finished edit, say) is moved aside first, never replaced;
    /// one that cannot be read is left alone and the save fails.
    pub fn save_to(&self, path: &Path) -> Result<(), SettingsError> {
        let target = resolve_symlinks(path);
        let save_err = |step: String, source: io::Error| SettingsError::Save {
            path: path.to_owned(),
            step,
            source,
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = target.file_name().ok_or_else(|| {
            save_err(
                "it does not name a file".to_owned(),
                io::Error::from(io::ErrorKind::InvalidInput),
            )
        })?;
        fs::create_dir_all(&dir).map_err(|e| {
            save_err(
                format!("could not create the directory {}", dir.display()),
                e,
            )
        })?;

        let old_permissions = match inspect(&target) {
            Inspection::Missing => None,
            Inspection::Table(_) => fs::metadata(&target).ok().map(|m| m.permissions()),
            Inspection::Unreadable(e) => {
                return Err(save_err(
                    "the existing file cannot be read, so it was not replaced".to_owned(),
                    e,
                ))
            }
            Inspection::Corrupt(c) => match move_aside(&target) {
                Ok(moved_to) => {
                    tracing::warn!(
                        path = %target.display(),
                        moved_to = %moved_to.display(),
                        reason = %c.reason,
                        "settings file about to be replaced is not valid TOML; moved it aside"
                    );
                    None
                }
                Err(e) => {
                    return Err(SettingsError::CorruptInTheWay {
                        path: target,
                        reason: c.reason,
                        move_error: one_line(&e.to_string()),
                    })
                }
            },
        };

        let (tmp_path, mut tmp) =
            crate::atomic_file::create_temp_file(&dir, &file_name.to_string_lossy()).map_err(
                |e| {
                    save_err(
                        format!("could not create a temporary file in {}", dir.display()),
                        e,
                    )
                },
            )?;
        let written = (|| {
            if let Some(p) = old_permissions {
                tmp.set_permissions(p)?;
            }
            tmp.write_all(self.to_toml_string().as_bytes())?;
            tmp.sync_all()?;
            drop(tmp);
            fs::rename(&tmp_path, &target)
        })();
        if let Err(e) = written {
            // The temporary file is ours and holds nothing the user wrote.
            let _ = fs::remove_file(&tmp_path);
            return Err(save_err(
                format!("could not write {}", tmp_path.display()),
                e,
            ));
        }
        crate::atomic_file::sync_dir(&dir);
        tracing::debug!(path = %target.display(), "settings saved");
        Ok(())
    }
}

/// Follows symlinks (even dangling ones) to the file that should be replaced.
fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut p = path.to_owned();
    // Bounded like the kernel's own limit, so a symlink loop cannot hang us.
    for _ in 0..40 {
        let is_link = fs::symlink_metadata(&p)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            return p;
        }
        match fs::read_link(&p) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = p.parent().map(|d| d.join(&t)).unwrap_or(t),
            Err(_) => return p,
        }
    }
    path.to_owned()
}

struct Corruption {
    reason: String,
    line: Option<usize>,
    column: Option<usize>,
}

enum Inspection {
    Missing,
    Unreadable(io::Error),
    Corrupt(Corruption),
    Table(toml::Table),
}

fn inspect(path: &Path) -> Inspection {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Inspection::Missing,
        Err(e) => return Inspection::Unreadable(e),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        return Inspection::Unreadable(e);
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Inspection::Corrupt(Corruption {
            reason: "larger than 1 MiB, far too big for a settings file".to_owned(),
            line: None,
            column: None,
        });
    }
    // Some editors (Notepad) start UTF-8 files with a byte-order mark.
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let valid = &body[..e.valid_up_to()];
            // The prefix is valid UTF-8 by construction; lossy keeps this panic-free.
            let (line, column) = line_col(&String::from_utf8_lossy(valid), valid.len());
            return Inspection::Corrupt(Corruption {
                reason: "not UTF-8 text".to_owned(),
                line: Some(line),
                column: Some(column),
            });
        }
    };
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => Inspection::Table(t),
        Err(e) => {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            Inspection::Corrupt(Corruption {
                reason: one_line(e.message()),
                line,
                column,
            })
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Renames `path` to `<name>.corrupt-YYYYMMDD-HHMMSS[-N]` beside it without
/// ever replacing an existing file.
fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy()
        .into_owned();
    let stamp = utc_stamp(SystemTime::now());
    for n in 1..=1000u32 {
        let candidate_name = if n == 1 {
            format!("{name}.corrupt-{stamp}")
        } else {
            format!("{name}.corrupt-{stamp}-{n}")
        };
        let candidate = path.with_file_name(candidate_name);
        // A hard link fails if the name is taken, so unlike rename it can
        // never clobber an earlier moved-aside file, even in a race.
        match fs::hard_link(path, &candidate) {
            Ok(()) => {
                if let Err(e) = fs::remove_file(path) {
                    let _ = fs::remove_file(&candidate);
                    return Err(e);
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            Err(_) => {
                // File systems without hard links (FAT, some network mounts):
                // check, then rename. Only a concurrent writer could race this.
                if fs::symlink_metadata(&candidate).is_ok() {
                    continue;
                }
                fs::rename(path, &candidate)?;
                return Ok(candidate);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many moved-aside settings files with the same timestamp",
    ))
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = calendar::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    #[test]
    fn utc_stamp_matches_known_dates() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(utc_stamp(at(0)), "19700101-000000");
        assert_eq!(utc_stamp(at(951_782_400 + 3661)), "20000229-010101");
        assert_eq!(utc_stamp(at(1_709_251_199)), "20240229-235959");
        assert_eq!(utc_stamp(at(4_102_444_800)), "21000101-000000");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a = 1\nbé = ?", 11), (2, 5));
        assert_eq!(line_col("abc", 0), (1, 1));
        // Past the end and inside a character are clamped, not a panic.
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
