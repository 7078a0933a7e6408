//! The global hotkey: the shortcut the user chose, and a listener that
//! reports its key going down and up anywhere on the desktop. One
//! implementation per display server: `hotkey/x11.rs` (a key grab), and on
//! Wayland `hotkey/portal.rs` (the XDG GlobalShortcuts portal, where the
//! desktop offers it). Where neither works, [`listen`] says so and the user
//! binds the compositor's own shortcut to `ezflow toggle`
//! (docs/desktop-integration.md).
//!
//! Nothing here polls: the X11 listener is one thread blocked on the X
//! connection, woken by a message to its own window when stopped.

pub(crate) mod display;
pub mod portal;
mod shortcut;
mod x11;
pub(crate) mod x11_keymap;

pub use display::{DisplayEnv, DisplayServer};
pub use shortcut::{Modifiers, Shortcut, ShortcutError};

/// What the listener reports: exactly one `Pressed` when the key goes down
/// with the shortcut's modifiers, and one `Released` when that key comes up
/// (autorepeat while it is held reports nothing). `Lost` when the shortcut
/// stopped working for good without [`HotkeyListener::stop`] (the desktop
/// portal closed the session); nothing follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HotkeyEvent {
    Pressed,
    Released,
    Lost { reason: String },
}

/// A running global-shortcut registration. Dropping it stops it too.
pub trait HotkeyListener: Send {
    /// The shortcut being listened to.
    fn shortcut(&self) -> &Shortcut;
    /// Releases the shortcut and ends the listener thread; when this returns
    /// the key is free for other applications.
    fn stop(self: Box<Self>);
}

/// Why the hotkey could not be registered. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HotkeyError {
    #[error("no X display: {reason}")]
    NoDisplay { reason: String },
    #[error(
        "global shortcuts are not available here ({reason}); bind a shortcut in your \
         desktop's keyboard settings to run `ezflow toggle` (see docs/desktop-integration.md)"
    )]
    Unsupported { reason: String },
    #[error(
        "the shortcut {shortcut} is already taken by another application; \
         choose a different one in the settings"
    )]
    Taken { shortcut: Shortcut },
    #[error(
        "the key of the shortcut {shortcut} is not on the current keyboard layout; \
         choose a different one in the settings"
    )]
    KeyNotOnKeyboard { shortcut: Shortcut },
    #[error("X11 error while {doing}: {detail}")]
    X11 { doing: &'static str, detail: String },
    #[error("the desktop portal's global shortcuts did not work: {reason}")]
    Portal { reason: String },
    #[error("could not start the hotkey thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Listens for `shortcut` on this session's display server (from the
/// environment). `on_event` runs on the listener's own thread.
pub fn listen(
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    listen_in(&DisplayEnv::from_process(), shortcut, on_event)
}

/// [`listen`] for the session described by `env`.
pub fn listen_in(
    env: &DisplayEnv,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    match env.server() {
        DisplayServer::X11(display) => x11::listen(&display, shortcut, on_event),
        DisplayServer::Wayland => {
            portal::listen(shortcut, on_event).map_err(|err| HotkeyError::Unsupported {
                reason: format!(
                    "this is a Wayland session, where only the compositor sees every key, \
                     and the desktop portal could not bind it: {err}"
                ),
            })
        }
        DisplayServer::None => Err(HotkeyError::NoDisplay {
            reason: "DISPLAY is not set; start EZ Flow inside your desktop session".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wayland_is_unsupported_with_the_fallback() {
        let env = DisplayEnv {
            display: None,
            wayland_display: Some("wayland-0".into()),
            session_type: Some("wayland".into()),
        };
        let shortcut: Shortcut = "Ctrl+Alt+Space".parse().unwrap();
        let err = listen_in(&env, &shortcut, Box::new(|_| {})).err().unwrap();
        assert!(matches!(err, HotkeyError::Unsupported { .. }));
        assert!(err.to_string().contains("`ezflow toggle`"), "{err}");
    }

    #[test]
    fn no_display_at_all() {
        let shortcut: Shortcut = "F9".parse().unwrap();
        let err = listen_in(&DisplayEnv::default(), &shortcut, Box::new(|_| {}))
            .err()
            .unwrap();
        assert!(matches!(err, HotkeyError::NoDisplay { .. }), "{err}");
    }
}
