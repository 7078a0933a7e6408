//! Starting EZ Flow at login: the user's XDG autostart entry,
//! `$XDG_CONFIG_HOME/autostart/ezflow.desktop` (`~/.config/autostart/…`),
//! whose `Exec` is the running `ezflow` binary. [`Autostart`] is what the
//! loop needs; [`XdgAutostart`] the real one.
//!
//! It owns the entry's text and recognising our own entry (its
//! `X-EZFlow-Autostart` key): a file of the same name that EZ Flow did not
//! write is never replaced or removed, and does not count as "on".

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The key that marks an entry as written by EZ Flow.
const MARK: &str = "X-EZFlow-Autostart=true";
/// The entry's file name in the autostart directory.
pub const ENTRY_FILE: &str = "ezflow.desktop";

/// What the loop needs: whether EZ Flow starts at login, and changing it.
pub trait Autostart {
    fn enabled(&self) -> bool;
    /// Writes or removes the entry; `Err` is one line saying why not.
    fn set(&self, enabled: bool) -> Result<(), String>;
}

/// The entry in the XDG autostart directory, starting `exe`.
pub struct XdgAutostart {
    pub entry: PathBuf,
    pub exe: PathBuf,
}

impl XdgAutostart {
    /// The user's autostart directory (`$XDG_CONFIG_HOME/autostart`, else
    /// `$HOME/.config/autostart`) and the running binary.
    pub fn for_this_user() -> Option<XdgAutostart> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .map(|home| home.join(".config"))
            })?;
        let exe = std::env::current_exe().ok()?;
        Some(XdgAutostart {
            entry: config.join("autostart").join(ENTRY_FILE),
            exe,
        })
    }
}

impl Autostart for XdgAutostart {
    fn enabled(&self) -> bool {
        fs::read_to_string(&self.entry).is_ok_and(|text| is_ours(&text))
    }

    fn set(&self, enabled: bool) -> Result<(), String> {
        let shown = self.entry.display();
        let existing = match fs::read_to_string(&self.entry) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {shown}: {e}")),
        };
        if existing.as_deref().is_some_and(|text| !is_ours(text)) {
            return Err(format!(
                "{shown} exists and was not written by EZ Flow; leaving it as it is \
                 (remove or rename it to let EZ Flow manage starting at login)"
            ));
        }
        if enabled {
            let dir = self.entry.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            ezflow_config::atomic_file::write(&self.entry, desktop_entry(&self.exe).as_bytes())
                .map_err(|e| format!("cannot write {shown}: {e}"))?;
            tracing::info!(entry = %shown, "EZ Flow starts at login");
        } else if existing.is_some() {
            fs::remove_file(&self.entry).map_err(|e| format!("cannot remove {shown}: {e}"))?;
            tracing::info!(entry = %shown, "EZ Flow no longer starts at login");
        }
        Ok(())
    }
}

/// The desktop entry that starts `exe` at login.
pub fn desktop_entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=EZ Flow\n\
         Comment=Private, local voice dictation\n\
         Exec={}\n\
         Icon=audio-input-microphone\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n\
         {MARK}\n",
        exec_quote(&exe.to_string_lossy())
    )
}

/// Whether an entry's text is one EZ Flow wrote.
pub fn is_ours(text: &str) -> bool {
    text.lines().any(|line| line.trim() == MARK)
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

    #[test]
    fn the_entry_starts_this_binary_and_is_recognised_as_ours() {
        let text = desktop_entry(Path::new("/usr/bin/ezflow"));
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(text.contains("\nExec=/usr/bin/ezflow\n"), "{text}");
        assert!(text.contains("\nType=Application\n"), "{text}");
        assert!(is_ours(&text));
        assert!(!is_ours("[Desktop Entry]\nExec=/usr/bin/ezflow\n"));
    }

    #[test]
    fn odd_paths_are_quoted() {
        assert_eq!(
            exec_quote("/home/a b/ezflow"),
            "\"/home/a b/ezflow\"".to_owned()
        );
        assert_eq!(exec_quote("/opt/100%/ezflow"), "/opt/100%%/ezflow");
        assert_eq!(exec_quote("/x/$HOME"), "\"/x/\\\\$HOME\"");
    }

    #[test]
    fn a_foreign_entry_is_never_replaced_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let autostart = XdgAutostart {
            entry: dir.path().join("autostart").join(ENTRY_FILE),
            exe: PathBuf::from("/usr/bin/ezflow"),
        };
        assert!(!autostart.enabled());
        autostart.set(false).unwrap();
        autostart.set(true).unwrap();
        assert!(autostart.enabled());
        autostart.set(false).unwrap();
        assert!(!autostart.entry.exists());

        let foreign = "[Desktop Entry]\nExec=/usr/bin/ezflow --mine\n";
        std::fs::write(&autostart.entry, foreign).unwrap();
        assert!(!autostart.enabled());
        for enabled in [true, false] {
            let e = autostart.set(enabled).unwrap_err();
            assert!(e.contains("not written by EZ Flow"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&autostart.entry).unwrap(), foreign);
    }
}
