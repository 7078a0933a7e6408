//! Which display server this process talks to, decided from the session's
//! environment variables (DISPLAY, WAYLAND_DISPLAY, XDG_SESSION_TYPE). Used by
//! the hotkey and by text insertion; reading the environment happens once, in
//! [`DisplayEnv::from_process`], so callers and tests can pass their own.

/// The session variables that decide the display server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisplayEnv {
    /// `DISPLAY`: the X11 display, e.g. ":0".
    pub display: Option<String>,
    /// `WAYLAND_DISPLAY`: set inside a Wayland session.
    pub wayland_display: Option<String>,
    /// `XDG_SESSION_TYPE`: "x11", "wayland", "tty", …
    pub session_type: Option<String>,
}

/// The display server the desktop integration should use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplayServer {
    /// An X11 server at this display name.
    X11(String),
    /// A Wayland session. Its XWayland `DISPLAY`, if any, is not used: X11
    /// grabs and synthetic keys there reach only X11 windows.
    Wayland,
    /// Neither: no graphical session.
    None,
}

impl DisplayEnv {
    /// The variables of this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        DisplayEnv {
            display: var("DISPLAY"),
            wayland_display: var("WAYLAND_DISPLAY"),
            session_type: var("XDG_SESSION_TYPE"),
        }
    }

    /// An X11 session on `display` (for tests and callers that know the display).
    pub fn x11(display: &str) -> Self {
        DisplayEnv {
            display: Some(display.to_owned()),
            wayland_display: None,
            session_type: Some("x11".to_owned()),
        }
    }

    /// Wayland when XDG_SESSION_TYPE says so, or when only WAYLAND_DISPLAY is
    /// set; X11 when DISPLAY is set; otherwise none.
    pub fn server(&self) -> DisplayServer {
        let wayland_session = self
            .session_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("wayland"));
        match (&self.display, &self.wayland_display) {
            _ if wayland_session => DisplayServer::Wayland,
            (None, Some(_)) => DisplayServer::Wayland,
            (Some(display), _) => DisplayServer::X11(display.clone()),
            (None, None) => DisplayServer::None,
        }
    }
}

/// Connects to the X display `display` and finds the root window of its
/// default screen. `Err` is the reason, for the caller's own "no display"
/// error (the hotkey and text insertion each have one).
pub(crate) fn connect_x11(
    display: &str,
) -> Result<(x11rb::rust_connection::RustConnection, u32), String> {
    use x11rb::connection::Connection as _;
    let (conn, screen) = x11rb::connect(Some(display))
        .map_err(|e| format!("cannot connect to the X display {display:?}: {e}"))?;
    let root = conn
        .setup()
        .roots
        .get(screen)
        .map(|s| s.root)
        .ok_or_else(|| format!("the X display {display:?} has no screen {screen}"))?;
    Ok((conn, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(display: Option<&str>, wayland: Option<&str>, session: Option<&str>) -> DisplayEnv {
        DisplayEnv {
            display: display.map(str::to_owned),
            wayland_display: wayland.map(str::to_owned),
            session_type: session.map(str::to_owned),
        }
    }

    #[test]
    fn decides_the_server() {
        assert_eq!(
            env(Some(":0"), None, Some("x11")).server(),
            DisplayServer::X11(":0".into())
        );
        assert_eq!(
            env(Some(":0"), None, None).server(),
            DisplayServer::X11(":0".into())
        );
        // XWayland's DISPLAY inside a Wayland session is not used.
        assert_eq!(
            env(Some(":0"), Some("wayland-0"), Some("wayland")).server(),
            DisplayServer::Wayland
        );
        assert_eq!(
            env(None, Some("wayland-0"), None).server(),
            DisplayServer::Wayland
        );
        assert_eq!(
            env(None, None, Some("Wayland")).server(),
            DisplayServer::Wayland
        );
        assert_eq!(env(None, None, Some("tty")).server(), DisplayServer::None);
        assert_eq!(env(None, None, None).server(), DisplayServer::None);
        // Both sockets but no session type (e.g. a nested X server): X11.
        assert_eq!(
            env(Some(":1"), Some("wayland-0"), None).server(),
            DisplayServer::X11(":1".into())
        );
    }
}
