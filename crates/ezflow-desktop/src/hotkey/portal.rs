//! The hotkey on Wayland through the XDG desktop portal's
//! `org.freedesktop.portal.GlobalShortcuts`: a session created with
//! `CreateSession`, the shortcut bound with `BindShortcuts` (the desktop may
//! ask the user to confirm it in a dialog), then the portal's `Activated` and
//! `Deactivated` signals become [`HotkeyEvent::Pressed`] and
//! [`HotkeyEvent::Released`].
//!
//! Nothing here polls: one thread blocks on the D-Bus connection for the
//! portal's signals; [`HotkeyListener::stop`] closes the portal session and
//! then the connection, which ends that thread's receive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type as MessageType;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::MatchRule;

use super::{HotkeyError, HotkeyEvent, HotkeyListener, Shortcut};

const PORTAL_SERVICE: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const SHORTCUTS_INTERFACE: &str = "org.freedesktop.portal.GlobalShortcuts";
const REQUEST_INTERFACE: &str = "org.freedesktop.portal.Request";
const SESSION_INTERFACE: &str = "org.freedesktop.portal.Session";

/// The id of our one shortcut in the portal session.
pub const SHORTCUT_ID: &str = "dictation";
/// What the desktop shows the user next to the shortcut.
pub const SHORTCUT_DESCRIPTION: &str = "EZ Flow dictation";

/// How long a request may take to be answered: the desktop may show a
/// dialog and wait for the user.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one plain method call (no user involved) may take.
const METHOD_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes handle tokens unique within this process.
static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Listens for `shortcut` through the portal on the session bus named by
/// `DBUS_SESSION_BUS_ADDRESS`.
pub(crate) fn listen(
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) if !address.trim().is_empty() => address,
        _ => {
            return Err(portal_error(
                "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)",
            ))
        }
    };
    listen_on(&address, shortcut, on_event)
}

/// Listens for `shortcut` through the GlobalShortcuts portal on the bus at
/// `address` (a D-Bus address such as `unix:path=/run/user/1000/bus`).
/// Blocks until the desktop has bound the shortcut or refused (at most
/// 30 seconds per step, the desktop may ask the user). `on_event` runs on
/// the listener's own thread.
pub fn listen_on(
    address: &str,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    let conn = zbus::blocking::connection::Builder::address(address)
        .and_then(|b| b.method_timeout(METHOD_TIMEOUT).build())
        .map_err(|e| portal_error(format!("cannot connect to the D-Bus session bus: {e}")))?;
    match bind(&conn, shortcut, on_event) {
        Ok(listener) => Ok(listener),
        Err(err) => {
            // Ends any helper thread still waiting on this connection.
            let _ = conn.close();
            Err(err)
        }
    }
}

/// The shortcut as the XDG shortcuts specification writes it: modifiers
/// `CTRL`, `ALT`, `SHIFT`, `LOGO` joined with `+`, then the XKB key name,
/// e.g. `CTRL+ALT+space`.
pub fn preferred_trigger(shortcut: &Shortcut) -> String {
    let m = shortcut.modifiers();
    let mut parts: Vec<String> = [
        (m.ctrl, "CTRL"),
        (m.alt, "ALT"),
        (m.shift, "SHIFT"),
        (m.super_key, "LOGO"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| (*name).to_owned())
    .collect();
    parts.push(xkb_key_name(shortcut.keysym()));
    parts.join("+")
}

/// The XKB name of a keysym the shortcut parser accepts.
fn xkb_key_name(keysym: u32) -> String {
    const F1: u32 = 0xffbe;
    let named = match keysym {
        0x20 => "space",
        0xff0d => "Return",
        0xff09 => "Tab",
        0xff1b => "Escape",
        0xff08 => "BackSpace",
        0xffff => "Delete",
        0xff63 => "Insert",
        0xff50 => "Home",
        0xff57 => "End",
        0xff55 => "Page_Up",
        0xff56 => "Page_Down",
        0xff51 => "Left",
        0xff52 => "Up",
        0xff53 => "Right",
        0xff54 => "Down",
        0xff13 => "Pause",
        0xff61 => "Print",
        0xff67 => "Menu",
        0x2d => "minus",
        0x3d => "equal",
        0x2c => "comma",
        0x2e => "period",
        0x2f => "slash",
        0x5c => "backslash",
        0x3b => "semicolon",
        0x27 => "apostrophe",
        0x60 => "grave",
        0x5b => "bracketleft",
        0x5d => "bracketright",
        k if (F1..F1 + 35).contains(&k) => return format!("F{}", k - F1 + 1),
        k if (0x30..=0x39).contains(&k) || (0x61..=0x7a).contains(&k) => {
            return char::from_u32(k).map(String::from).unwrap_or_default()
        }
        k => return format!("0x{k:x}"),
    };
    named.to_owned()
}

fn portal_error(reason: impl Into<String>) -> HotkeyError {
    HotkeyError::Portal {
        reason: reason.into(),
    }
}

/// A fresh token for `handle_token` / `session_handle_token`.
fn new_token(kind: &str) -> String {
    let n = TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("ezflow_{kind}_{}_{n}", std::process::id())
}

/// Checks the portal and its GlobalShortcuts interface are there, creates a
/// session, binds the shortcut, and starts the signal thread.
fn bind(
    conn: &Connection,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    let version = interface_version(conn)?;
    tracing::debug!(version, "GlobalShortcuts portal found");
    // The portal is bus-activated: asking for the version started it, so it
    // has an owner now. Its unique name restricts the signals we accept.
    let owner = portal_owner(conn)?;
    let sender = conn
        .unique_name()
        .map(|name| name.trim_start_matches(':').replace('.', "_"))
        .ok_or_else(|| portal_error("the D-Bus connection has no unique name"))?;

    // 1. CreateSession.
    let handle_token = new_token("create");
    let session_token = new_token("session");
    let response = subscribe_response(conn, &owner, &sender, &handle_token)?;
    let options: HashMap<&str, Value<'_>> = HashMap::from([
        ("handle_token", Value::from(handle_token.as_str())),
        ("session_handle_token", Value::from(session_token.as_str())),
    ]);
    conn.call_method(
        Some(PORTAL_SERVICE),
        PORTAL_PATH,
        Some(SHORTCUTS_INTERFACE),
        "CreateSession",
        &(options,),
    )
    .map_err(|e| portal_error(format!("CreateSession failed: {e}")))?;
    let (code, results) = wait_response(response, "CreateSession")?;
    if code != 0 {
        return Err(portal_error(format!(
            "the desktop refused to create a shortcut session ({})",
            response_meaning(code)
        )));
    }
    let session = results
        .get("session_handle")
        .and_then(|v| match &**v {
            Value::Str(s) => Some(s.to_string()),
            Value::ObjectPath(p) => Some(p.to_string()),
            _ => None,
        })
        .and_then(|s| OwnedObjectPath::try_from(s).ok())
        .ok_or_else(|| portal_error("CreateSession answered without a session_handle"))?;

    // From here on, a failure must close the session again.
    let result = bind_in_session(conn, &owner, &sender, &session, shortcut);
    if let Err(err) = result {
        close_session(conn, &session);
        return Err(err);
    }

    // 3. The signal thread. Subscribed before returning, so no press is lost.
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(owner.as_str())
        .and_then(|b| b.interface(SHORTCUTS_INTERFACE))
        .and_then(|b| b.path(PORTAL_PATH))
        .map(|b| b.build())
        .map_err(|e| portal_error(format!("bad signal match rule: {e}")))?;
    let signals = match MessageIterator::for_match_rule(rule, conn, None) {
        Ok(signals) => signals,
        Err(e) => {
            close_session(conn, &session);
            return Err(portal_error(format!(
                "cannot subscribe to the portal's signals: {e}"
            )));
        }
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let thread = {
        let session = session.clone();
        let stopping = Arc::clone(&stopping);
        std::thread::Builder::new()
            .name("ezflow-hotkey-portal".to_owned())
            .spawn(move || signal_loop(signals, &session, &stopping, on_event))
    };
    let thread = match thread {
        Ok(thread) => thread,
        Err(e) => {
            close_session(conn, &session);
            return Err(HotkeyError::Thread(e));
        }
    };
    tracing::info!(shortcut = %shortcut, session = %session, "global shortcut bound through the portal");
    Ok(Box::new(PortalListener {
        shortcut: shortcut.clone(),
        conn: Some(conn.clone()),
        session,
        stopping,
        thread: Some(thread),
    }))
}

/// 2. BindShortcuts with our one shortcut and its preferred trigger.
fn bind_in_session(
    conn: &Connection,
    owner: &str,
    sender: &str,
    session: &OwnedObjectPath,
    shortcut: &Shortcut,
) -> Result<(), HotkeyError> {
    let handle_token = new_token("bind");
    let response = subscribe_response(conn, owner, sender, &handle_token)?;
    let trigger = preferred_trigger(shortcut);
    let properties: HashMap<&str, Value<'_>> = HashMap::from([
        ("description", Value::from(SHORTCUT_DESCRIPTION)),
        ("preferred_trigger", Value::from(trigger.as_str())),
    ]);
    let shortcuts = vec![(SHORTCUT_ID, properties)];
    let options: HashMap<&str, Value<'_>> =
        HashMap::from([("handle_token", Value::from(handle_token.as_str()))]);
    conn.call_method(
        Some(PORTAL_SERVICE),
        PORTAL_PATH,
        Some(SHORTCUTS_INTERFACE),
        "BindShortcuts",
        &(session.as_ref(), shortcuts, "", options),
    )
    .map_err(|e| portal_error(format!("BindShortcuts failed: {e}")))?;
    let (code, _results) = wait_response(response, "BindShortcuts")?;
    if code != 0 {
        return Err(portal_error(format!(
            "the desktop did not bind the shortcut {shortcut} ({})",
            response_meaning(code)
        )));
    }
    Ok(())
}

fn response_meaning(code: u32) -> String {
    match code {
        1 => "the user cancelled".to_owned(),
        2 => "the request was ended another way".to_owned(),
        n => format!("response {n}"),
    }
}

/// The `version` property of the GlobalShortcuts interface; the errors say
/// whether the portal or only the interface is missing.
fn interface_version(conn: &Connection) -> Result<u32, HotkeyError> {
    let reply = conn
        .call_method(
            Some(PORTAL_SERVICE),
            PORTAL_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(SHORTCUTS_INTERFACE, "version"),
        )
        .map_err(|e| match &e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                    || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
            {
                portal_error(format!(
                    "no desktop portal on the session bus ({PORTAL_SERVICE} is not there: {e})"
                ))
            }
            zbus::Error::MethodError(..) => portal_error(format!(
                "the desktop portal has no GlobalShortcuts interface ({e})"
            )),
            _ => portal_error(format!("cannot ask the desktop portal: {e}")),
        })?;
    let value: OwnedValue = reply.body().deserialize().map_err(|e| {
        portal_error(format!(
            "the desktop portal answered the GlobalShortcuts version oddly: {e}"
        ))
    })?;
    u32::try_from(value)
        .map_err(|e| portal_error(format!("the GlobalShortcuts version is not a number: {e}")))
}

/// The unique bus name of the portal service.
fn portal_owner(conn: &Connection) -> Result<String, HotkeyError> {
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetNameOwner",
            &(PORTAL_SERVICE,),
        )
        .map_err(|e| portal_error(format!("the desktop portal went away: {e}")))?;
    reply
        .body()
        .deserialize::<String>()
        .map_err(|e| portal_error(format!("odd answer to GetNameOwner: {e}")))
}

/// Subscribes to the `Response` of the request that `handle_token` will
/// create, before the call that creates it, so the answer cannot be missed.
fn subscribe_response(
    conn: &Connection,
    owner: &str,
    sender: &str,
    handle_token: &str,
) -> Result<MessageIterator, HotkeyError> {
    let path = format!("{PORTAL_PATH}/request/{sender}/{handle_token}");
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(owner)
        .and_then(|b| b.interface(REQUEST_INTERFACE))
        .and_then(|b| b.member("Response"))
        .and_then(|b| b.path(path.as_str()))
        .map(|b| b.build())
        .map_err(|e| portal_error(format!("bad request match rule for {path}: {e}")))?;
    MessageIterator::for_match_rule(rule, conn, Some(4))
        .map_err(|e| portal_error(format!("cannot subscribe to the portal's answer: {e}")))
}

/// Waits (at most [`RESPONSE_TIMEOUT`]) for a request's `Response` signal.
/// The receive runs on a helper thread; if the wait times out, closing the
/// connection (the caller does) ends it.
fn wait_response(
    mut response: MessageIterator,
    what: &str,
) -> Result<(u32, HashMap<String, OwnedValue>), HotkeyError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("ezflow-portal-request".to_owned())
        .spawn(move || {
            let answer = match response.next() {
                Some(Ok(msg)) => msg
                    .body()
                    .deserialize::<(u32, HashMap<String, OwnedValue>)>()
                    .map_err(|e| format!("odd Response signal: {e}")),
                Some(Err(e)) => Err(format!("the connection failed: {e}")),
                None => Err("the connection closed".to_owned()),
            };
            let _ = tx.send(answer);
        })
        .map_err(HotkeyError::Thread)?;
    match rx.recv_timeout(RESPONSE_TIMEOUT) {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(reason)) => Err(portal_error(format!("no answer to {what}: {reason}"))),
        Err(_) => Err(portal_error(format!(
            "the desktop did not answer {what} within {} seconds",
            RESPONSE_TIMEOUT.as_secs()
        ))),
    }
}

/// Asks the portal to close the session (and so release the shortcut).
fn close_session(conn: &Connection, session: &OwnedObjectPath) {
    if let Err(e) = conn.call_method(
        Some(PORTAL_SERVICE),
        session.as_str(),
        Some(SESSION_INTERFACE),
        "Close",
        &(),
    ) {
        tracing::warn!(session = %session, "could not close the portal session: {e}");
    }
}

/// The listener thread: the portal's signals for our session and shortcut
/// become events, until the connection closes.
fn signal_loop(
    signals: MessageIterator,
    session: &OwnedObjectPath,
    stopping: &AtomicBool,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) {
    let mut pressed = false;
    for msg in signals {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!("portal hotkey connection ended: {e}");
                break;
            }
        };
        let header = msg.header();
        let event = match header.member().map(|m| m.as_str()) {
            Some("Activated") => HotkeyEvent::Pressed,
            Some("Deactivated") => HotkeyEvent::Released,
            _ => continue,
        };
        let body = msg.body();
        let Ok((their_session, id, _timestamp, _options)) =
            body.deserialize::<(ObjectPath<'_>, &str, u64, HashMap<&str, Value<'_>>)>()
        else {
            tracing::debug!("ignoring a malformed GlobalShortcuts signal");
            continue;
        };
        if their_session.as_str() != session.as_str() || id != SHORTCUT_ID {
            continue;
        }
        match (&event, pressed) {
            (HotkeyEvent::Pressed, false) => pressed = true,
            (HotkeyEvent::Released, true) => pressed = false,
            _ => continue,
        }
        on_event(event);
    }
}

/// A shortcut bound through the portal.
struct PortalListener {
    shortcut: Shortcut,
    conn: Option<Connection>,
    session: OwnedObjectPath,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PortalListener {
    fn shutdown(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        self.stopping.store(true, Ordering::Release);
        close_session(&conn, &self.session);
        // Closing the connection ends the thread's receive.
        if let Err(e) = conn.close() {
            tracing::debug!("closing the portal connection: {e}");
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the portal hotkey thread panicked");
            }
        }
    }
}

impl HotkeyListener for PortalListener {
    fn shortcut(&self) -> &Shortcut {
        &self.shortcut
    }

    fn stop(mut self: Box<Self>) {
        self.shutdown();
    }
}

impl Drop for PortalListener {
    fn drop(&mut self) {
        self.shutdown();
    }
}
