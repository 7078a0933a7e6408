//! Putting the transcript into the focused application, and the clipboard.
//! Two methods: `Paste` (clipboard + Ctrl+V, then the previous clipboard text
//! is put back) and `Type` (synthetic key presses, one per character). One
//! implementation per display server: `insert/x11.rs` (XTest) with the X11
//! CLIPBOARD in `insert/x11_selection.rs`.
//!
//! On Wayland nothing may inject keys into other applications without the
//! compositor's consent: [`text_inserter`] uses `wtype` or `ydotool` when
//! one is installed (`insert/wayland_tool.rs`) and returns `Unsupported`
//! otherwise, and the app leaves the text on the clipboard
//! (docs/desktop-integration.md).

mod wayland_tool;
mod x11;
mod x11_selection;

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
}

/// The text inserter for this session's display server (from the environment).
pub fn text_inserter() -> Result<Box<dyn TextInserter>, InsertError> {
    text_inserter_in(&DisplayEnv::from_process())
}

/// [`text_inserter`] for the session described by `env`.
pub fn text_inserter_in(env: &DisplayEnv) -> Result<Box<dyn TextInserter>, InsertError> {
    match env.server() {
        DisplayServer::X11(display) => Ok(Box::new(x11::X11Inserter::connect(&display)?)),
        DisplayServer::Wayland => {
            match WaylandTool::find_in(&std::env::var_os("PATH").unwrap_or_default()) {
                Some(tool) => Ok(Box::new(tool)),
                None => Err(InsertError::Unsupported {
                    what: "typing or pasting into other applications",
                    reason: "this is a Wayland session, where only the compositor may send \
                             keys to other applications, and neither wtype nor ydotool is \
                             installed"
                        .to_owned(),
                }),
            }
        }
        DisplayServer::None => Err(no_display()),
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
    fn wayland_has_no_inserter_yet() {
        let env = DisplayEnv {
            display: None,
            wayland_display: Some("wayland-0".into()),
            session_type: Some("wayland".into()),
        };
        let err = text_inserter_in(&env).err().unwrap();
        assert!(matches!(err, InsertError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("left on the clipboard"), "{err}");
        let err = clipboard_in(&env).err().unwrap();
        assert!(matches!(err, InsertError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn no_display_at_all() {
        let err = text_inserter_in(&DisplayEnv::default()).err().unwrap();
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err}");
        let err = clipboard_in(&DisplayEnv::default()).err().unwrap();
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err}");
    }
}
