//! Putting the transcript into the focused application, and the clipboard.
//! Two methods: `Paste` (clipboard + Ctrl+V, then the previous clipboard text
//! is put back) and `Type` (synthetic key presses, one per character). One
//! implementation per display server: `insert/x11.rs` (XTest) with the X11
//! CLIPBOARD in `insert/x11_selection.rs`.
//!
//! On Wayland nothing may inject keys into other applications without the
//! compositor's consent. [`text_inserter_with`] tries, in order: the XDG
//! desktop portal's RemoteDesktop (`insert/remote_desktop.rs`; the desktop
//! asks the user once, a restore token keeps the permission), then `wtype`
//! or `ydotool` when one is installed (`insert/wayland_tool.rs`), and
//! returns `Unsupported` otherwise; the app then leaves the text on the
//! clipboard (docs/desktop-integration.md).

mod remote_desktop;
mod wayland_tool;
mod x11;
mod x11_selection;

use std::ffi::OsStr;
use std::path::Path;

pub use remote_desktop::RemoteDesktopInserter;
pub use wayland_tool::WaylandTool;

pub use crate::hotkey::{DisplayEnv, DisplayServer};

/// How the text goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertMethod {
    /// Put the text on the clipboard, press Ctrl+V, then put the previous
    /// clipboard text back. Fast and exact for any text; needs an application
    /// that pastes on Ctrl+V (terminals usually want Ctrl+Shift+V).
    Paste,
    /// Press one key per character. Works where Ctrl+V does not; slower, and
    /// characters missing from the keyboard layout are typed through a
    /// borrowed spare keycode.
    Type,
}

/// What an insertion did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insertion {
    pub method: InsertMethod,
    /// True when the clipboard holds what it held before (always for `Type`
    /// and for empty text). False when the previous content could not be
    /// read (its owner did not answer in time, or it was not text, such as
    /// an image): the transcript is then left on the clipboard.
    pub clipboard_restored: bool,
}

/// Inserts text into the focused application.
pub trait TextInserter: Send {
    /// Inserts `text` with `method`. Empty text inserts nothing and leaves
    /// the clipboard alone.
    fn insert(&self, text: &str, method: InsertMethod) -> Result<Insertion, InsertError>;
}

/// The desktop clipboard (on X11 the CLIPBOARD selection, the one Ctrl+C and
/// Ctrl+V use).
pub trait Clipboard: Send {
    /// Puts `text` on the clipboard. It stays there after this returns, until
    /// another application copies something or this process exits.
    fn set_text(&self, text: &str) -> Result<(), InsertError>;
    /// The clipboard's text; `None` when it is empty or holds no text.
    fn text(&self) -> Result<Option<String>, InsertError>;
}

/// Why text could not be inserted or the clipboard used. Each message says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("no X display: {reason}")]
    NoDisplay { reason: String },
    #[error(
        "{what} is not available here ({reason}); the transcript is left on the \
         clipboard: paste it with Ctrl+V (see docs/desktop-integration.md)"
    )]
    Unsupported { what: &'static str, reason: String },
    #[error(
        "the X display {display:?} has no XTEST extension, which is needed to press keys \
         for you; enable it in the X server's configuration"
    )]
    NoXTest { display: String },
    #[error("the keyboard layout has no {key} key, which is needed to {purpose}")]
    KeyNotOnKeyboard {
        key: &'static str,
        purpose: &'static str,
    },
    #[error(
        "the keyboard mapping has no free keycode to type characters missing from the \
         layout; use the Paste insertion method instead"
    )]
    NoSpareKeycode,
    #[error(
        "the application holding the clipboard did not answer within {waited_ms} ms; \
         try copying again"
    )]
    ClipboardTimeout { waited_ms: u64 },
    #[error("X11 error while {doing}: {detail}")]
    X11 { doing: &'static str, detail: String },
    #[error("could not start a thread for the clipboard: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{tool} could not type the text: {reason}")]
    Tool { tool: &'static str, reason: String },
    /// The desktop portal's RemoteDesktop failed. From
    /// [`TextInserter::insert`] it means the portal session is over: drop
    /// the inserter and make a new one for the next insertion.
    #[error("the desktop portal's remote-desktop keyboard did not work: {reason}")]
    Portal { reason: String },
}

/// The text inserter for this session's display server (from the
/// environment), without a saved portal restore token.
pub fn text_inserter() -> Result<Box<dyn TextInserter>, InsertError> {
    text_inserter_in(&DisplayEnv::from_process())
}

/// [`text_inserter`] for the session described by `env`.
pub fn text_inserter_in(env: &DisplayEnv) -> Result<Box<dyn TextInserter>, InsertError> {
    text_inserter_with(env, None)
}

/// The text inserter for the session described by `env`. On X11: XTest. On
/// Wayland, the first that works of: the desktop portal's RemoteDesktop on
/// the session bus (`DBUS_SESSION_BUS_ADDRESS`; the desktop may ask the
/// user to allow it, and this blocks until it is answered, up to a minute),
/// `wtype`, `ydotool` (on `PATH`); otherwise `Unsupported`.
///
/// `portal_token`: the file that keeps the portal's restore token between
/// runs, so the desktop asks only once; `None` keeps none. Keep the
/// returned inserter for the whole run (one portal session) and make a new
/// one when an insertion fails with [`InsertError::Portal`].
pub fn text_inserter_with(
    env: &DisplayEnv,
    portal_token: Option<&Path>,
) -> Result<Box<dyn TextInserter>, InsertError> {
    match env.server() {
        DisplayServer::X11(display) => Ok(Box::new(x11::X11Inserter::connect(&display)?)),
        DisplayServer::Wayland => {
            let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
                .ok()
                .filter(|address| !address.trim().is_empty());
            wayland_inserter(
                env,
                bus.as_deref(),
                &std::env::var_os("PATH").unwrap_or_default(),
                portal_token,
            )
        }
        DisplayServer::None => Err(no_display()),
    }
}

/// The Wayland choice: the portal on the bus at `bus`, then a typing tool
/// found in `path`.
fn wayland_inserter(
    env: &DisplayEnv,
    bus: Option<&str>,
    path: &OsStr,
    portal_token: Option<&Path>,
) -> Result<Box<dyn TextInserter>, InsertError> {
    let portal_failure = match bus {
        None => "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".to_owned(),
        Some(address) => {
            match RemoteDesktopInserter::connect_on(address, portal_token, env.display.as_deref()) {
                Ok(inserter) => return Ok(Box::new(inserter)),
                Err(e) => {
                    tracing::info!(
                        "no typing through the desktop portal, trying wtype and ydotool: {e}"
                    );
                    e.to_string()
                }
            }
        }
    };
    match WaylandTool::find_in(path) {
        Some(tool) => {
            tracing::info!(tool = tool.name(), "typing through a Wayland typing tool");
            Ok(Box::new(tool))
        }
        None => Err(InsertError::Unsupported {
            what: "typing or pasting into other applications",
            reason: format!(
                "this is a Wayland session, where only the compositor may send keys to other \
                 applications; the desktop portal's RemoteDesktop was tried ({portal_failure}), \
                 and neither wtype nor ydotool is installed"
            ),
        }),
    }
}

/// The clipboard of this session (from the environment).
pub fn clipboard() -> Result<Box<dyn Clipboard>, InsertError> {
    clipboard_in(&DisplayEnv::from_process())
}

/// [`clipboard`] for the session described by `env`. In a Wayland session
/// with XWayland (DISPLAY set) the X11 CLIPBOARD is used: the compositor
/// bridges it to the Wayland clipboard (not tested here).
pub fn clipboard_in(env: &DisplayEnv) -> Result<Box<dyn Clipboard>, InsertError> {
    let display = match env.server() {
        DisplayServer::X11(display) => Some(display),
        DisplayServer::Wayland => env.display.clone(),
        DisplayServer::None => None,
    };
    match (env.server(), display) {
        (_, Some(display)) => Ok(Box::new(x11_selection::X11Clipboard::connect(&display)?)),
        (DisplayServer::Wayland, None) => Err(InsertError::Unsupported {
            what: "the clipboard",
            reason: "this Wayland session has no XWayland (DISPLAY is not set)".to_owned(),
        }),
        (_, None) => Err(no_display()),
    }
}

fn no_display() -> InsertError {
    InsertError::NoDisplay {
        reason: "DISPLAY is not set; start EZ Flow inside your desktop session".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wayland_without_portal_or_tools_is_unsupported() {
        let env = DisplayEnv {
            display: None,
            wayland_display: Some("wayland-0".into()),
            session_type: Some("wayland".into()),
        };
        // No session bus and nothing on PATH: neither the host's portal nor
        // its tools are involved.
        let err = wayland_inserter(&env, None, OsStr::new(""), None)
            .err()
            .unwrap();
        assert!(matches!(err, InsertError::Unsupported { .. }), "{err}");
        let message = err.to_string();
        for part in [
            "left on the clipboard",
            "RemoteDesktop",
            "DBUS_SESSION_BUS_ADDRESS",
            "wtype",
            "ydotool",
        ] {
            assert!(message.contains(part), "{part:?} missing from: {message}");
        }
        let err = clipboard_in(&env).err().unwrap();
        assert!(matches!(err, InsertError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn wayland_falls_through_to_a_typing_tool_when_the_portal_is_not_there() {
        use std::os::unix::fs::PermissionsExt;
        let env = DisplayEnv {
            display: None,
            wayland_display: Some("wayland-0".into()),
            session_type: Some("wayland".into()),
        };
        let dir = tempfile::tempdir().unwrap();
        // A stand-in wtype (no compositor here) that records its arguments.
        let calls = dir.path().join("calls");
        let wtype = dir.path().join("wtype");
        std::fs::write(
            &wtype,
            format!("#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\n", calls.display()),
        )
        .unwrap();
        std::fs::set_permissions(&wtype, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A bus nobody listens on: the portal is tried and fails at once.
        let bus = format!("unix:path={}", dir.path().join("no-bus").display());
        let inserter = wayland_inserter(&env, Some(&bus), dir.path().as_os_str(), None).unwrap();
        inserter.insert("hi", InsertMethod::Type).unwrap();
        assert_eq!(std::fs::read_to_string(&calls).unwrap(), "--|hi|");
    }

    #[test]
    fn no_display_at_all() {
        let err = text_inserter_in(&DisplayEnv::default()).err().unwrap();
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err}");
        let err = clipboard_in(&DisplayEnv::default()).err().unwrap();
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err}");
    }
}
