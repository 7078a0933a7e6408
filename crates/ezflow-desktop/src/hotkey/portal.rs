//! The hotkey on Wayland through the XDG desktop portal's
//! `org.freedesktop.portal.GlobalShortcuts`: a session created with
//! `CreateSession`, the shortcut bound with `BindShortcuts` (the desktop may
//! ask the user to confirm it in a dialog), then the portal's `Activated` and
//! `Deactivated` signals become [`HotkeyEvent::Pressed`] and
//! [`HotkeyEvent::Released`]. When the portal closes the session (its
//! `Closed` signal) or the bus connection ends without
//! [`HotkeyListener::stop`], the listener reports [`HotkeyEvent::Lost`]
//! once and nothing after it. The request/response plumbing is shared with
//! text insertion in `portal_request.rs`.
//!
//! Nothing here polls: one thread blocks on the D-Bus connection for the
//! portal's shortcut signals, another for the session's `Closed`;
//! [`HotkeyListener::stop`] closes the portal session and then the
//! connection, which ends both receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use zbus::blocking::MessageIterator;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, Value};

use super::{HotkeyError, HotkeyEvent, HotkeyListener, Shortcut};
use crate::portal_request::{
    response_meaning, Portal, PortalError, PORTAL_PATH, PORTAL_SERVICE, RESPONSE_TIMEOUT,
};

const SHORTCUTS_INTERFACE: &str = "org.freedesktop.portal.GlobalShortcuts";

/// The id of our one shortcut in the portal session.
pub const SHORTCUT_ID: &str = "dictation";
/// What the desktop shows the user next to the shortcut.
pub const SHORTCUT_DESCRIPTION: &str = "EZ Flow dictation";

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
/// one of the listener's own threads, never two calls at once.
pub fn listen_on(
    address: &str,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    let (portal, _) = Portal::connect(address, SHORTCUTS_INTERFACE)?;
    bind(portal, shortcut, on_event)
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

impl From<PortalError> for HotkeyError {
    fn from(err: PortalError) -> Self {
        match err {
            PortalError::Failed(reason) => HotkeyError::Portal { reason },
            PortalError::Thread(e) => HotkeyError::Thread(e),
        }
    }
}

/// Binds the shortcut in a new session, then starts the threads that report
/// its signals and the session's end.
fn bind(
    mut portal: Portal,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    // 1. CreateSession. A failure from here on drops `portal`, which closes
    // the session and the connection (ending any thread started on it).
    let session = portal.create_session(SHORTCUTS_INTERFACE, "a shortcut session")?;
    let (reporter, threads) = start(&portal, &session, shortcut, on_event)?;
    tracing::info!(shortcut = %shortcut, session = %session, "global shortcut bound through the portal");
    Ok(Box::new(PortalListener {
        shortcut: shortcut.clone(),
        portal: Some(portal),
        reporter,
        threads,
    }))
}

/// Binds the shortcut (step 2), then starts the threads (step 3): one for
/// the shortcut's signals, one for the session's `Closed`. Both are
/// subscribed before returning, so no press and no close is missed.
fn start(
    portal: &Portal,
    session: &OwnedObjectPath,
    shortcut: &Shortcut,
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
) -> Result<(Arc<Reporter>, Vec<JoinHandle<()>>), HotkeyError> {
    bind_shortcuts(portal, session, shortcut)?;
    let signals = portal.subscribe_signals(SHORTCUTS_INTERFACE)?;
    let reporter = Arc::new(Reporter {
        on_event,
        state: Mutex::new(ReportState::default()),
    });
    let closed_watch = {
        let reporter = Arc::clone(&reporter);
        let conn = portal.conn().clone();
        portal.watch_closed(session, move |reason| {
            reporter.report(HotkeyEvent::Lost { reason });
            // Nothing more will come: closing the connection ends the
            // signal thread too.
            if let Err(e) = conn.close() {
                tracing::debug!("closing the portal connection: {e}");
            }
        })?
    };
    let signal_thread = {
        let session = session.clone();
        let reporter = Arc::clone(&reporter);
        std::thread::Builder::new()
            .name("ezflow-hotkey-portal".to_owned())
            .spawn(move || signal_loop(signals, &session, &reporter))
            .map_err(HotkeyError::Thread)?
    };
    Ok((reporter, vec![signal_thread, closed_watch]))
}

/// BindShortcuts with our one shortcut and its preferred trigger.
fn bind_shortcuts(
    portal: &Portal,
    session: &OwnedObjectPath,
    shortcut: &Shortcut,
) -> Result<(), HotkeyError> {
    let trigger = preferred_trigger(shortcut);
    let (code, _results) = portal.request("BindShortcuts", RESPONSE_TIMEOUT, |conn, token| {
        let properties: HashMap<&str, Value<'_>> = HashMap::from([
            ("description", Value::from(SHORTCUT_DESCRIPTION)),
            ("preferred_trigger", Value::from(trigger.as_str())),
        ]);
        let shortcuts = vec![(SHORTCUT_ID, properties)];
        let options: HashMap<&str, Value<'_>> =
            HashMap::from([("handle_token", Value::from(token))]);
        conn.call_method(
            Some(PORTAL_SERVICE),
            PORTAL_PATH,
            Some(SHORTCUTS_INTERFACE),
            "BindShortcuts",
            &(session.as_ref(), shortcuts, "", options),
        )
    })?;
    if code != 0 {
        return Err(portal_error(format!(
            "the desktop did not bind the shortcut {shortcut} ({})",
            response_meaning(code)
        )));
    }
    Ok(())
}

fn portal_error(reason: impl Into<String>) -> HotkeyError {
    HotkeyError::Portal {
        reason: reason.into(),
    }
}

/// Hands events to the listener's callback from its two threads: nothing
/// after [`HotkeyEvent::Lost`] (reported at most once), nothing once
/// [`HotkeyListener::stop`] has begun.
struct Reporter {
    on_event: Box<dyn Fn(HotkeyEvent) + Send + Sync>,
    state: Mutex<ReportState>,
}

#[derive(Default)]
struct ReportState {
    stopping: bool,
    lost: bool,
}

impl Reporter {
    /// Reports `event` unless the listener is stopping or already lost. The
    /// lock is held during the callback, so `stop` waits for a report in
    /// progress and nothing is reported after it.
    fn report(&self, event: HotkeyEvent) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.stopping || state.lost {
            return;
        }
        if let HotkeyEvent::Lost { reason } = &event {
            tracing::warn!("the global shortcut stopped working: {reason}");
            state.lost = true;
        }
        (self.on_event)(event);
    }

    /// Marks the listener as stopping; true when it was lost already.
    fn stop(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.stopping = true;
        state.lost
    }
}

/// The signal thread: the portal's signals for our session and shortcut
/// become events, until the connection closes; an end nobody asked for is
/// reported as [`HotkeyEvent::Lost`].
fn signal_loop(signals: MessageIterator, session: &OwnedObjectPath, reporter: &Reporter) {
    let mut pressed = false;
    for msg in signals {
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!("portal hotkey connection ended: {e}");
                reporter.report(HotkeyEvent::Lost {
                    reason: format!("the connection to the D-Bus session bus failed: {e}"),
                });
                return;
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
        reporter.report(event);
    }
    reporter.report(HotkeyEvent::Lost {
        reason: "the connection to the D-Bus session bus ended".to_owned(),
    });
}

/// A shortcut bound through the portal.
struct PortalListener {
    shortcut: Shortcut,
    /// The portal connection and its session.
    portal: Option<Portal>,
    reporter: Arc<Reporter>,
    threads: Vec<JoinHandle<()>>,
}

impl PortalListener {
    fn shutdown(&mut self) {
        let Some(mut portal) = self.portal.take() else {
            return;
        };
        // A lost session is gone already (or its connection is).
        if self.reporter.stop() {
            portal.session_ended();
        }
        // Closing the session, then the connection, ends the threads'
        // receives.
        drop(portal);
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::warn!("a portal hotkey thread panicked");
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
