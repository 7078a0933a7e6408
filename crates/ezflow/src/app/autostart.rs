//! Starting EZ Flow at login: the user's XDG autostart entry,
//! `$XDG_CONFIG_HOME/autostart/ezflow.desktop` (`~/.config/autostart/…`),
//! kept in step with the `autostart` setting. [`Autostart`] is what the
//! loop needs; [`XdgAutostart`] the real one, which `ezflow autostart`
//! (`autostart_cli.rs`) uses too.
//!
//! It owns the entry's text and recognising our own entry (its
//! `X-EZFlow-Autostart` key): a file of the same name that EZ Flow did not
//! write is never replaced or removed, and does not count as "on". The
//! entry's `Exec` is the public `ezflow` (`crate::launcher::public_exe`:
//! `/usr/bin/ezflow` in a package, even while a faster CPU build beside it
//! runs), so an entry naming a path that is gone, or text an older version
//! wrote, is "stale" and is written again; an entry naming another
//! installed `ezflow` (the package's, while a build from source runs) is
//! left to that one.
//!
//! It does not decide *when* to bring the entry in step (the loop does, at
//! start and after every settings change) and never touches the settings.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The key that marks an entry as written by EZ Flow.
const MARK: &str = "X-EZFlow-Autostart=true";
/// The entry's file name in the autostart directory.
pub const ENTRY_FILE: &str = "ezflow.desktop";

/// What the loop needs: whether EZ Flow starts at login, and bringing the
/// entry in step with the setting.
pub trait Autostart {
    /// Whether EZ Flow's own entry is in place (current or stale).
    fn enabled(&self) -> bool;
    /// Brings the entry in step with `enabled`; does nothing when it is
    /// already. On: writes the entry when it is missing or stale. Off:
    /// removes ours. A file EZ Flow did not write is left as it is (turning
    /// on then fails, saying so). `Err` is one line saying why not.
    fn set(&self, enabled: bool) -> Result<(), String>;
}

/// What the entry's path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// No file.
    Missing,
    /// Ours, exactly as this binary writes it.
    Current,
    /// Ours, but not as this binary writes it; `exec` is its `Exec` value.
    Stale { exec: Option<String> },
    /// A file EZ Flow did not write.
    Foreign,
}

/// The entry in the XDG autostart directory, starting `exe`.
pub struct XdgAutostart {
    pub entry: PathBuf,
    pub exe: PathBuf,
}

impl XdgAutostart {
    /// The user's autostart directory (`$XDG_CONFIG_HOME/autostart` when
    /// that is an absolute path, else `$HOME/.config/autostart`) and the
    /// public `ezflow` binary; `None` when neither variable gives a
    /// directory or the binary's path is unknown.
    pub fn for_this_user() -> Option<XdgAutostart> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|home| home.join(".config"))
            })?;
        let exe = crate::launcher::public_exe().ok()?;
        Some(XdgAutostart {
            entry: config.join("autostart").join(ENTRY_FILE),
            exe,
        })
    }

    /// What is at the entry's path now.
    pub fn state(&self) -> Result<Entry, String> {
        let text = match fs::read(&self.entry) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entry::Missing),
            Err(e) => return Err(format!("cannot read {}: {e}", self.entry.display())),
        };
        let Ok(text) = String::from_utf8(text) else {
            // Not a desktop entry at all (they are UTF-8), so not ours.
            return Ok(Entry::Foreign);
        };
        if !is_ours(&text) {
            return Ok(Entry::Foreign);
        }
        if desktop_entry(&self.exe).is_ok_and(|wanted| wanted == text) {
            return Ok(Entry::Current);
        }
        Ok(Entry::Stale {
            exec: exec_value(&text).map(str::to_owned),
        })
    }

    /// Whether an entry's `Exec` names an installed program other than
    /// this one (a plain path to an executable file that exists).
    fn names_another_install(&self, exec: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let path = Path::new(exec);
        path.is_absolute()
            && path != self.exe
            && fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }

    fn write(&self) -> Result<(), String> {
        let text = desktop_entry(&self.exe)?;
        let dir = self.entry.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        ezflow_config::atomic_file::write(&self.entry, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.entry.display()))
    }
}

impl Autostart for XdgAutostart {
    fn enabled(&self) -> bool {
        matches!(self.state(), Ok(Entry::Current | Entry::Stale { .. }))
    }

    fn set(&self, enabled: bool) -> Result<(), String> {
        let shown = self.entry.display();
        match (self.state()?, enabled) {
            (Entry::Current, true) | (Entry::Missing, false) => Ok(()),
            (Entry::Foreign, false) => {
                tracing::debug!(entry = %shown, "not EZ Flow's autostart entry; left as it is");
                Ok(())
            }
            (Entry::Foreign, true) => Err(foreign(&self.entry)),
            (Entry::Missing, true) => {
                self.write()?;
                tracing::info!(entry = %shown, "EZ Flow starts at login");
                Ok(())
            }
            (Entry::Stale { exec: Some(other) }, true) if self.names_another_install(&other) => {
                // Another EZ Flow (the package's, while a build from source
                // runs) already starts at login: it stays the one.
                tracing::info!(
                    entry = %shown,
                    exec = %other,
                    "another EZ Flow starts at login; its entry is left as it is"
                );
                Ok(())
            }
            (Entry::Stale { exec }, true) => {
                self.write()?;
                tracing::info!(
                    entry = %shown,
                    was = exec.as_deref().unwrap_or("nothing"),
                    now = %self.exe.display(),
                    "the autostart entry was out of date; written again"
                );
                Ok(())
            }
            (Entry::Current | Entry::Stale { .. }, false) => {
                fs::remove_file(&self.entry).map_err(|e| format!("cannot remove {shown}: {e}"))?;
                tracing::info!(entry = %shown, "EZ Flow no longer starts at login");
                Ok(())
            }
        }
    }
}

/// Why a file EZ Flow did not write stays.
pub fn foreign(entry: &Path) -> String {
    format!(
        "{} exists and was not written by EZ Flow; leaving it as it is \
         (remove or rename it to let EZ Flow manage starting at login)",
        entry.display()
    )
}

/// The desktop entry that starts `exe` at login; `Err` for a path a desktop
/// entry cannot hold (not UTF-8, or with a control character).
pub fn desktop_entry(exe: &Path) -> Result<String, String> {
    let path = exe.to_str().ok_or_else(|| {
        format!(
            "{} is not valid UTF-8, which a desktop entry cannot name",
            exe.display()
        )
    })?;
    if path.chars().any(char::is_control) {
        return Err(format!(
            "{path:?} holds a control character, which a desktop entry cannot name"
        ));
    }
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=EZ Flow\n\
         Comment=Private, local voice dictation\n\
         TryExec={}\n\
         Exec={}\n\
         Icon=ezflow\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n\
         {MARK}\n",
        // With the program gone (the package removed), the session skips
        // the entry instead of failing to start it.
        path.replace('\\', "\\\\"),
        exec_quote(path)
    ))
}

/// Whether an entry's text is one EZ Flow wrote.
pub fn is_ours(text: &str) -> bool {
    text.lines().any(|line| line.trim() == MARK)
}

/// The `Exec` value of an entry's text, as written.
pub fn exec_value(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("Exec="))
        .map(str::trim)
}

/// `path` as one argument of a desktop entry's `Exec` (the Desktop Entry
/// Specification's quoting: double quotes around anything with a reserved
/// character, `"`, `` ` ``, `$` and `\` escaped; `%` doubled always, and
/// then the key's own escaping of `\`).
fn exec_quote(path: &str) -> String {
    let path = path.replace('%', "%%");
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`".contains(c);
    if !path.chars().any(reserved) {
        return path;
    }
    let mut quoted = String::from("\"");
    for c in path.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    // The string value's own escape: a backslash is written as two.
    quoted.replace('\\', "\\\\")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn in_temp(dir: &Path, exe: &str) -> XdgAutostart {
        XdgAutostart {
            entry: dir.join("autostart").join(ENTRY_FILE),
            exe: PathBuf::from(exe),
        }
    }

    /// Runs Debian's `desktop-file-validate` (desktop-file-utils, installed
    /// by `scripts/setup-system.sh`) on `path`: no error, warning or hint.
    /// `false` (after saying so) when the tool is not installed.
    fn validate(path: &Path) -> bool {
        let out = match Command::new("desktop-file-validate").arg(path).output() {
            Ok(out) => out,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                eprintln!(
                    "SKIPPED: desktop-file-validate is not installed (Debian: desktop-file-utils, \
                     scripts/setup-system.sh installs it); {} not validated",
                    path.display()
                );
                return false;
            }
            Err(e) => panic!("desktop-file-validate: {e}"),
        };
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "desktop-file-validate {}: {}\n{said}\n{}",
            path.display(),
            out.status,
            fs::read_to_string(path).unwrap_or_default()
        );
        true
    }

    #[test]
    fn the_entry_starts_this_binary_and_is_recognised_as_ours() {
        let text = desktop_entry(Path::new("/usr/bin/ezflow")).unwrap();
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(text.contains("\nExec=/usr/bin/ezflow\n"), "{text}");
        assert!(text.contains("\nType=Application\n"), "{text}");
        assert_eq!(exec_value(&text), Some("/usr/bin/ezflow"));
        assert!(is_ours(&text));
        assert!(!is_ours("[Desktop Entry]\nExec=/usr/bin/ezflow\n"));
    }

    #[test]
    fn odd_paths_are_quoted_and_impossible_ones_refused() {
        assert_eq!(
            exec_quote("/home/a b/ezflow"),
            "\"/home/a b/ezflow\"".to_owned()
        );
        assert_eq!(exec_quote("/opt/100%/ezflow"), "/opt/100%%/ezflow");
        assert_eq!(exec_quote("/x/$HOME"), "\"/x/\\\\$HOME\"");
        let e = desktop_entry(Path::new("/opt/a\nb/ezflow")).unwrap_err();
        assert!(e.contains("control character"), "{e}");
        use std::os::unix::ffi::OsStrExt;
        let e =
            desktop_entry(Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/ezflow"))).unwrap_err();
        assert!(e.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn the_entry_appears_and_disappears_and_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        // A path with a space and a dollar sign: the quoting must validate.
        for exe in ["/usr/bin/ezflow", "/home/a b/$bin/ezflow"] {
            let autostart = in_temp(dir.path(), exe);
            assert_eq!(autostart.state().unwrap(), Entry::Missing);
            autostart.set(false).unwrap();
            assert!(!autostart.entry.exists(), "off writes nothing");

            autostart.set(true).unwrap();
            assert_eq!(autostart.state().unwrap(), Entry::Current);
            assert!(autostart.enabled());
            validate(&autostart.entry);
            // In step: nothing is written again.
            let before = fs::metadata(&autostart.entry).unwrap().modified().unwrap();
            autostart.set(true).unwrap();
            assert_eq!(
                fs::metadata(&autostart.entry).unwrap().modified().unwrap(),
                before
            );

            autostart.set(false).unwrap();
            assert_eq!(autostart.state().unwrap(), Entry::Missing);
            assert!(!autostart.enabled());
        }
    }

    #[test]
    fn a_stale_entry_is_written_again_with_this_binary() {
        let dir = tempfile::tempdir().unwrap();
        let old = in_temp(dir.path(), "/opt/old-ezflow/ezflow");
        old.set(true).unwrap();
        let autostart = in_temp(dir.path(), "/usr/bin/ezflow");
        assert_eq!(
            autostart.state().unwrap(),
            Entry::Stale {
                exec: Some("/opt/old-ezflow/ezflow".to_owned())
            }
        );
        assert!(autostart.enabled(), "a stale entry still starts EZ Flow");
        autostart.set(true).unwrap();
        assert_eq!(autostart.state().unwrap(), Entry::Current);
        let text = fs::read_to_string(&autostart.entry).unwrap();
        assert_eq!(exec_value(&text), Some("/usr/bin/ezflow"));

        // A stale entry is ours: off removes it.
        old.set(true).unwrap();
        autostart.set(false).unwrap();
        assert_eq!(autostart.state().unwrap(), Entry::Missing);
    }

    #[test]
    fn another_installed_ezflow_keeps_its_entry() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let installed = dir.path().join("usr-bin-ezflow");
        fs::write(&installed, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
        let package = in_temp(dir.path(), installed.to_str().unwrap());
        package.set(true).unwrap();
        let written = fs::read_to_string(&package.entry).unwrap();

        // A build from source, on: the package's entry stays.
        let from_source = in_temp(dir.path(), "/home/me/ezflow/target/debug/ezflow");
        from_source.set(true).unwrap();
        assert_eq!(fs::read_to_string(&package.entry).unwrap(), written);

        // Once that program is gone, the entry is this one's.
        fs::remove_file(&installed).unwrap();
        from_source.set(true).unwrap();
        assert_eq!(from_source.state().unwrap(), Entry::Current);
    }

    #[test]
    fn a_foreign_entry_is_never_replaced_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let autostart = in_temp(dir.path(), "/usr/bin/ezflow");
        fs::create_dir_all(autostart.entry.parent().unwrap()).unwrap();
        let foreign = "[Desktop Entry]\nType=Application\nName=Mine\nExec=/usr/bin/ezflow --mine\n";
        fs::write(&autostart.entry, foreign).unwrap();
        assert_eq!(autostart.state().unwrap(), Entry::Foreign);
        assert!(!autostart.enabled());
        let e = autostart.set(true).unwrap_err();
        assert!(e.contains("not written by EZ Flow"), "{e}");
        autostart.set(false).unwrap();
        assert_eq!(fs::read_to_string(&autostart.entry).unwrap(), foreign);

        // Not even text: still not ours, still left alone.
        fs::write(&autostart.entry, b"\xff\xfe").unwrap();
        assert_eq!(autostart.state().unwrap(), Entry::Foreign);
        autostart.set(false).unwrap();
        assert!(autostart.set(true).is_err());
        assert_eq!(fs::read(&autostart.entry).unwrap(), b"\xff\xfe");
    }

    #[test]
    fn an_unwritable_directory_is_one_line_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The autostart "directory" is a file: nothing can be created in it.
        fs::write(dir.path().join("autostart"), "").unwrap();
        let autostart = in_temp(dir.path(), "/usr/bin/ezflow");
        let e = autostart.set(true).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("autostart"), "{e}");
        assert!(!autostart.enabled());
    }
}
