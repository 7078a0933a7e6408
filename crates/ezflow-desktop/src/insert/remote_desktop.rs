//! Text insertion on Wayland through the XDG desktop portal's
//! `org.freedesktop.portal.RemoteDesktop`, where the desktop offers it (no
//! extra daemon or tool needed). One portal session for the inserter's
//! lifetime: `CreateSession`, `SelectDevices` (a keyboard, persistent until
//! revoked, with the restore token saved last time), `Start` (the desktop
//! may ask the user to allow it, once; the new restore token is saved), then
//! `NotifyKeyboardKeysym` presses and releases one keysym per character.
//!
//! Paste: with an XWayland display, the text goes on the X11 CLIPBOARD
//! (which the compositor bridges to the Wayland clipboard), Ctrl+V is
//! pressed through the portal, and once the focused application has fetched
//! the text (our clipboard owner sees its request; bounded by a timeout) the
//! previous clipboard text is put back, as the X11 paste does. Without
//! XWayland the text is typed.
//!
//! When the portal closes the session (its `Closed` signal, watched by one
//! thread blocked on the connection) or a key press is refused, every later
//! insertion fails with [`InsertError::Portal`]: the caller drops the
//! inserter and connects again next time. Nothing polls.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::x11_selection::{paste_via_clipboard, Client};
use super::{InsertError, InsertMethod, Insertion, TextInserter};
use crate::hotkey::x11_keymap::text_keysyms;
use crate::portal_request::{
    response_meaning, Portal, PortalError, PORTAL_PATH, PORTAL_SERVICE, RESPONSE_TIMEOUT,
};

const REMOTE_DESKTOP_INTERFACE: &str = "org.freedesktop.portal.RemoteDesktop";

/// The RemoteDesktop device type bit of a keyboard.
const DEVICE_KEYBOARD: u32 = 1;
/// `persist_mode`: the permission lasts until the user revokes it.
const PERSIST_UNTIL_REVOKED: u32 = 2;
/// How long the desktop may take to answer `Start`: it may show the user a
/// dialog asking whether EZ Flow may control the keyboard.
const CONSENT_TIMEOUT: Duration = Duration::from_secs(60);
/// A restore token longer than this is not one the portal wrote.
const MAX_TOKEN_LEN: usize = 1024;

const KEYSYM_CONTROL_L: u32 = 0xffe3;
const KEYSYM_V: u32 = 0x0076;

/// Makes temporary token file names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Types and pastes through a RemoteDesktop portal session that lives as
/// long as this value. Dropping it closes the session.
pub struct RemoteDesktopInserter {
    /// `None` only while dropping.
    portal: Option<Portal>,
    session: OwnedObjectPath,
    /// Why the session is over, once it is.
    closed: Arc<Mutex<Option<String>>>,
    watcher: Option<JoinHandle<()>>,
    /// The XWayland display whose CLIPBOARD `Paste` uses.
    xwayland_display: Option<String>,
}

impl RemoteDesktopInserter {
    /// Starts a RemoteDesktop session with a keyboard through the portal on
    /// the bus at `address` (a D-Bus address such as
    /// `unix:path=/run/user/1000/bus`).
    ///
    /// `token_file`: where the restore token is kept between runs, so the
    /// desktop asks the user only once; read if present (a corrupt one is
    /// ignored with a warning), replaced atomically (mode 0600) when the
    /// portal hands out a new one. `None`: no token is kept.
    ///
    /// `xwayland_display`: the XWayland `DISPLAY` whose clipboard `Paste`
    /// uses; `None`: `Paste` types the text.
    ///
    /// Blocks until the desktop has started the session or refused: at most
    /// 30 seconds per step, and 60 seconds for `Start`, while the desktop
    /// may show its consent dialog.
    pub fn connect_on(
        address: &str,
        token_file: Option<&Path>,
        xwayland_display: Option<&str>,
    ) -> Result<RemoteDesktopInserter, InsertError> {
        let restore_token = token_file.and_then(read_token);
        // A failure from here on drops `portal`, which closes the session
        // (once there is one) and the connection.
        let (mut portal, version) = Portal::connect(address, REMOTE_DESKTOP_INTERFACE)?;
        let devices = portal.property_u32(REMOTE_DESKTOP_INTERFACE, "AvailableDeviceTypes")?;
        if devices & DEVICE_KEYBOARD == 0 {
            return Err(portal_error(
                "the desktop offers no keyboard through the RemoteDesktop portal",
            ));
        }
        let session =
            portal.create_session(REMOTE_DESKTOP_INTERFACE, "a remote-desktop session")?;
        let new_token = start(&portal, &session, version, restore_token.as_deref())?;
        if let (Some(path), Some(token)) = (token_file, new_token) {
            save_token(path, &token, restore_token.as_deref());
        }
        let closed = Arc::new(Mutex::new(None));
        let watcher = {
            let closed = Arc::clone(&closed);
            portal.watch_closed(&session, move |reason| {
                tracing::info!("the desktop ended the remote-desktop session: {reason}");
                *closed.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
            })?
        };
        tracing::info!(session = %session, "typing through the desktop's RemoteDesktop portal");
        Ok(RemoteDesktopInserter {
            portal: Some(portal),
            session,
            closed,
            watcher: Some(watcher),
            xwayland_display: xwayland_display.map(str::to_owned),
        })
    }

    /// True once the portal has closed the session or refused a key press:
    /// every insertion fails from then on.
    pub fn is_closed(&self) -> bool {
        self.closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Fails when the session is over.
    fn check_open(&self) -> Result<(), InsertError> {
        match &*self.closed.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(reason) => Err(session_over(reason)),
            None => Ok(()),
        }
    }

    /// Marks the session as over and returns the error saying so.
    fn close_with(&self, reason: String) -> InsertError {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        let reason = closed.get_or_insert(reason);
        session_over(reason)
    }

    /// Presses (`down`) or releases one keysym through the portal.
    fn key(&self, keysym: u32, down: bool) -> Result<(), InsertError> {
        let Some(portal) = &self.portal else {
            return Err(self.close_with("the inserter is being dropped".to_owned()));
        };
        let keysym = i32::try_from(keysym)
            .map_err(|_| portal_error(format!("0x{keysym:x} is not a keysym")))?;
        let options: HashMap<&str, Value<'_>> = HashMap::new();
        portal
            .conn()
            .call_method(
                Some(PORTAL_SERVICE),
                PORTAL_PATH,
                Some(REMOTE_DESKTOP_INTERFACE),
                "NotifyKeyboardKeysym",
                &(self.session.as_ref(), options, keysym, u32::from(down)),
            )
            .map_err(|e| {
                self.close_with(format!("the desktop portal refused a key press ({e})"))
            })?;
        Ok(())
    }

    fn type_text(&self, text: &str) -> Result<(), InsertError> {
        text_keysyms(text).into_iter().try_for_each(|sym| {
            self.key(sym, true)?;
            self.key(sym, false)
        })
    }

    /// Ctrl+V; Control is let go even when V fails.
    fn press_ctrl_v(&self) -> Result<(), InsertError> {
        self.key(KEYSYM_CONTROL_L, true)?;
        let v = self
            .key(KEYSYM_V, true)
            .and_then(|()| self.key(KEYSYM_V, false));
        let control_up = self.key(KEYSYM_CONTROL_L, false);
        v.and(control_up)
    }

    /// Pastes through the XWayland clipboard; true when the previous
    /// clipboard text is back.
    fn paste(&self, text: &str, client: &Client) -> Result<bool, InsertError> {
        paste_via_clipboard(client, text, || self.press_ctrl_v())
    }

    /// The XWayland clipboard for a paste, if there is one now.
    fn paste_clipboard(&self) -> Option<Client> {
        let display = self.xwayland_display.as_deref()?;
        match Client::connect(display) {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::warn!(
                    "no XWayland clipboard to paste with ({e}); typing the text instead"
                );
                None
            }
        }
    }
}

impl TextInserter for RemoteDesktopInserter {
    fn insert(&self, text: &str, method: InsertMethod) -> Result<Insertion, InsertError> {
        if text.is_empty() {
            let method = match method {
                InsertMethod::Paste if self.xwayland_display.is_none() => InsertMethod::Type,
                method => method,
            };
            return Ok(Insertion {
                method,
                clipboard_restored: true,
            });
        }
        // Before the clipboard is touched.
        self.check_open()?;
        let clipboard = match method {
            InsertMethod::Paste => self.paste_clipboard(),
            InsertMethod::Type => None,
        };
        let (method, clipboard_restored) = match &clipboard {
            Some(client) => (InsertMethod::Paste, self.paste(text, client)?),
            None => {
                self.type_text(text)?;
                (InsertMethod::Type, true)
            }
        };
        tracing::debug!(
            ?method,
            chars = text.chars().count(),
            clipboard_restored,
            "text inserted through the RemoteDesktop portal"
        );
        Ok(Insertion {
            method,
            clipboard_restored,
        })
    }
}

impl Drop for RemoteDesktopInserter {
    fn drop(&mut self) {
        let Some(mut portal) = self.portal.take() else {
            return;
        };
        if self.is_closed() {
            portal.session_ended();
        }
        // Closing the session, then the connection, ends the watcher's
        // receive.
        drop(portal);
        if let Some(watcher) = self.watcher.take() {
            if watcher.join().is_err() {
                tracing::warn!("the portal session watcher panicked");
            }
        }
    }
}

impl From<PortalError> for InsertError {
    fn from(err: PortalError) -> Self {
        match err {
            PortalError::Failed(reason) => InsertError::Portal { reason },
            PortalError::Thread(e) => InsertError::Portal {
                reason: format!("could not start a thread: {e}"),
            },
        }
    }
}

fn portal_error(reason: impl Into<String>) -> InsertError {
    InsertError::Portal {
        reason: reason.into(),
    }
}

fn session_over(reason: &str) -> InsertError {
    portal_error(format!(
        "the remote-desktop session is over: {reason}; EZ Flow starts a new one \
         (the desktop may ask again) at the next dictation"
    ))
}

/// `SelectDevices` (a keyboard; persistent with the restore token where the
/// portal has persistence, version 2 and later), then `Start`. Returns the
/// new restore token, if the portal gave one.
fn start(
    portal: &Portal,
    session: &OwnedObjectPath,
    version: u32,
    restore_token: Option<&str>,
) -> Result<Option<String>, InsertError> {
    let (code, _results) = portal.request("SelectDevices", RESPONSE_TIMEOUT, |conn, token| {
        let mut options: HashMap<&str, Value<'_>> = HashMap::from([
            ("handle_token", Value::from(token)),
            ("types", Value::from(DEVICE_KEYBOARD)),
        ]);
        if version >= 2 {
            options.insert("persist_mode", Value::from(PERSIST_UNTIL_REVOKED));
            if let Some(restore) = restore_token {
                options.insert("restore_token", Value::from(restore));
            }
        }
        conn.call_method(
            Some(PORTAL_SERVICE),
            PORTAL_PATH,
            Some(REMOTE_DESKTOP_INTERFACE),
            "SelectDevices",
            &(session.as_ref(), options),
        )
    })?;
    if code != 0 {
        return Err(portal_error(format!(
            "the desktop did not offer a keyboard ({})",
            response_meaning(code)
        )));
    }

    let (code, results) = portal.request("Start", CONSENT_TIMEOUT, |conn, token| {
        let options: HashMap<&str, Value<'_>> =
            HashMap::from([("handle_token", Value::from(token))]);
        conn.call_method(
            Some(PORTAL_SERVICE),
            PORTAL_PATH,
            Some(REMOTE_DESKTOP_INTERFACE),
            "Start",
            &(session.as_ref(), "", options),
        )
    })?;
    if code != 0 {
        return Err(portal_error(format!(
            "the desktop did not allow EZ Flow to type into other applications ({}); \
             allow it when the desktop asks, or install wtype or ydotool",
            response_meaning(code)
        )));
    }
    if let Some(devices) = results.get("devices").and_then(|v| u32::try_from(v).ok()) {
        if devices & DEVICE_KEYBOARD == 0 {
            return Err(portal_error(
                "the desktop started the session without a keyboard",
            ));
        }
    }
    Ok(results.get("restore_token").and_then(string_value))
}

fn string_value(value: &OwnedValue) -> Option<String> {
    match &**value {
        Value::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The restore token saved in `path`; `None` when there is none or it is
/// unusable (with a warning: the desktop then asks again, and the file is
/// replaced by the token it hands out).
fn read_token(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let token = parse_token(&bytes);
            if token.is_none() {
                tracing::warn!(
                    path = %path.display(),
                    "the saved remote-desktop restore token is corrupt; ignoring it \
                     (the desktop may ask again, and the file is then replaced)"
                );
            }
            token
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                "cannot read the saved remote-desktop restore token ({e}); going on without it"
            );
            None
        }
    }
}

/// A token as the portal writes them: printable ASCII without spaces.
fn parse_token(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let token = text.strip_suffix('\n').unwrap_or(text);
    let valid = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| token.to_owned())
}

/// Saves a new restore token (logging, not failing: the session works
/// without it, the desktop just asks again next time).
fn save_token(path: &Path, token: &str, previous: Option<&str>) {
    if previous == Some(token) {
        return;
    }
    if parse_token(token.as_bytes()).is_none() {
        tracing::warn!("the desktop portal handed out an odd restore token; not saving it");
        return;
    }
    match write_token(path, token) {
        Ok(()) => tracing::debug!(path = %path.display(), "saved the remote-desktop restore token"),
        Err(e) => tracing::warn!(
            path = %path.display(),
            "could not save the remote-desktop restore token ({e}); \
             the desktop may ask again next time"
        ),
    }
}

/// Replaces `path` with `token` atomically: a temporary file (mode 0600) in
/// the same directory, synced, then renamed over it.
fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the token file path has no file name",
        )
    })?;
    std::fs::create_dir_all(&dir)?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(format!("{token}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename itself survives a crash once the directory is synced.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        assert_eq!(parse_token(b"abc-123\n").as_deref(), Some("abc-123"));
        assert_eq!(parse_token(b"abc-123").as_deref(), Some("abc-123"));
        assert_eq!(parse_token(b""), None);
        assert_eq!(parse_token(b"\n"), None);
        assert_eq!(parse_token(b"two words"), None);
        assert_eq!(parse_token(b"\xff\xfe"), None);
        assert_eq!(parse_token(&[b'a'; MAX_TOKEN_LEN + 1]), None);
    }
}
