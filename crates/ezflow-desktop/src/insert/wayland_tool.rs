//! Text insertion on Wayland through a typing tool the user installed:
//! `wtype` (virtual-keyboard protocol; wlroots compositors such as Sway and
//! Hyprland) or, failing that, `ydotool` (uinput; needs its daemon). Both
//! type the text; neither can restore a clipboard, so `Paste` types too.
//! Without either, the app leaves the text on the clipboard.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{InsertError, InsertMethod, Insertion, TextInserter};

/// Which tool, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaylandTool {
    name: &'static str,
    path: PathBuf,
}

impl WaylandTool {
    /// The first of `wtype`, `ydotool` found in the directories of `path`
    /// (a `PATH`-style list).
    pub fn find_in(path: &OsStr) -> Option<WaylandTool> {
        ["wtype", "ydotool"].into_iter().find_map(|name| {
            std::env::split_paths(path)
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate))
                .map(|path| WaylandTool { name, path })
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl TextInserter for WaylandTool {
    fn insert(&self, text: &str, _method: InsertMethod) -> Result<Insertion, InsertError> {
        let done = Insertion {
            method: InsertMethod::Type,
            clipboard_restored: false,
        };
        if text.is_empty() {
            return Ok(done);
        }
        let mut command = Command::new(&self.path);
        match self.name {
            "wtype" => command.arg("--").arg(text),
            _ => command.args(["type", "--"]).arg(text),
        };
        let output = command.output().map_err(|e| InsertError::Tool {
            tool: self.name,
            reason: e.to_string(),
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(InsertError::Tool {
                tool: self.name,
                reason: format!(
                    "{} ({})",
                    stderr.lines().next().unwrap_or("no message"),
                    output.status
                ),
            });
        }
        Ok(done)
    }
}
