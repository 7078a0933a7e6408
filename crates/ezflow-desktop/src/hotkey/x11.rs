//! The global hotkey on X11: passive key grabs on the root window (one per
//! keycode of the key × each combination of the lock modifiers NumLock,
//! CapsLock and ScrollLock, so the shortcut works whatever locks are on), and
//! one thread blocked on the connection that turns the grabbed key's events
//! into exactly one `Pressed` and one `Released`.
//!
//! Autorepeat: XKB's per-client DetectableAutoRepeat makes the server send
//! repeats as presses without the fake releases in between, and repeated
//! presses are dropped while the key is down. Servers without it get the
//! classic filter (a release followed at once by a press of the same key with
//! the same timestamp is a repeat).
//!
//! Stopping ungrabs, waits for the server to have done so, then wakes the
//! thread with a ClientMessage to a hidden window of our own. No polling.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, GrabMode, Mapping, ModMask,
    Window, WindowClass,
};
use x11rb::protocol::{ErrorKind, Event};
use x11rb::rust_connection::RustConnection;
use x11rb::COPY_DEPTH_FROM_PARENT;
use x11rb::COPY_FROM_PARENT;

use super::x11_keymap::{keysym, mask, Keymap};
use super::{HotkeyError, HotkeyEvent, HotkeyListener, Shortcut};

type Callback = Box<dyn Fn(HotkeyEvent) + Send + Sync>;

fn x11_error(doing: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> HotkeyError {
    move |e| HotkeyError::X11 {
        doing,
        detail: e.to_string(),
    }
}

macro_rules! x11 {
    ($doing:literal, $e:expr) => {
        $e.map_err(|e| x11_error($doing)(&e))
    };
}

/// The key combinations currently grabbed.
#[derive(Clone, Default, PartialEq, Eq)]
struct Grabs {
    keycodes: Vec<u8>,
    masks: Vec<u16>,
}

struct Shared {
    grabs: Grabs,
    stopped: bool,
}

pub(super) fn listen(
    display: &str,
    shortcut: &Shortcut,
    on_event: Callback,
) -> Result<Box<dyn HotkeyListener>, HotkeyError> {
    let (conn, root) =
        super::display::connect_x11(display).map_err(|reason| HotkeyError::NoDisplay { reason })?;
    let detectable = enable_detectable_autorepeat(&conn);

    let wake_window = x11!("creating the hotkey's window", conn.generate_id())?;
    x11!(
        "creating the hotkey's window",
        conn.create_window(
            COPY_DEPTH_FROM_PARENT,
            wake_window,
            root,
            -1,
            -1,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            COPY_FROM_PARENT,
            &CreateWindowAux::new(),
        )
    )?;
    let wake_atom = x11!(
        "interning an atom",
        conn.intern_atom(false, b"_EZFLOW_HOTKEY_STOP")
    )?;
    let wake_atom = x11!("interning an atom", wake_atom.reply())?.atom;

    let wanted = wanted_grabs(&conn, shortcut)?;
    grab_all(&conn, root, &wanted, shortcut)?;
    tracing::info!(
        %shortcut,
        keycodes = ?wanted.keycodes,
        masks = ?wanted.masks,
        detectable_autorepeat = detectable,
        "global hotkey grabbed"
    );

    let conn = Arc::new(conn);
    let shared = Arc::new(Mutex::new(Shared {
        grabs: wanted,
        stopped: false,
    }));
    let thread = {
        let conn = Arc::clone(&conn);
        let shared = Arc::clone(&shared);
        let shortcut = shortcut.clone();
        std::thread::Builder::new()
            .name("ezflow-hotkey".to_owned())
            .spawn(move || {
                event_loop(
                    &conn,
                    root,
                    wake_window,
                    wake_atom,
                    &shortcut,
                    &shared,
                    detectable,
                    &*on_event,
                )
            })
    };
    let thread = match thread {
        Ok(thread) => thread,
        Err(e) => {
            // Nothing would serve the grab: give the key back.
            let grabs = shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .grabs
                .clone();
            ungrab_all(&conn, root, &grabs);
            return Err(HotkeyError::Thread(e));
        }
    };
    Ok(Box::new(X11Listener {
        shortcut: shortcut.clone(),
        conn,
        root,
        wake_window,
        wake_atom,
        shared,
        thread: Some(thread),
    }))
}

/// Asks XKB to report autorepeat as repeated presses without releases.
fn enable_detectable_autorepeat(conn: &RustConnection) -> bool {
    let enabled = (|| -> Result<bool, ReplyError> {
        let ext = conn.xkb_use_extension(1, 0)?.reply()?;
        if !ext.supported {
            return Ok(false);
        }
        let flag = xkb::PerClientFlag::DETECTABLE_AUTO_REPEAT;
        let reply = conn
            .xkb_per_client_flags(
                xkb::ID::USE_CORE_KBD.into(),
                flag,
                flag,
                xkb::BoolCtrl::from(0u32),
                xkb::BoolCtrl::from(0u32),
                xkb::BoolCtrl::from(0u32),
            )?
            .reply()?;
        Ok(u32::from(reply.value) & u32::from(flag) != 0)
    })();
    match enabled {
        Ok(enabled) => enabled,
        Err(e) => {
            tracing::debug!("XKB detectable autorepeat unavailable: {e}");
            false
        }
    }
}

/// The keycodes carrying the shortcut's key and the modifier masks to grab:
/// the shortcut's own modifiers plus every combination of the lock modifiers.
fn wanted_grabs(conn: &RustConnection, shortcut: &Shortcut) -> Result<Grabs, HotkeyError> {
    let keymap = x11!("reading the keyboard mapping", Keymap::fetch(conn))?;
    let keycodes = keymap.keycodes_for(shortcut.keysym());
    if keycodes.is_empty() {
        return Err(HotkeyError::KeyNotOnKeyboard {
            shortcut: shortcut.clone(),
        });
    }
    let m = shortcut.modifiers();
    let alt = keymap
        .modifier_mask(&[keysym::ALT_L, keysym::ALT_R, keysym::META_L, keysym::META_R])
        .unwrap_or(mask::MOD1);
    let super_key = keymap
        .modifier_mask(&[keysym::SUPER_L, keysym::SUPER_R])
        .unwrap_or(mask::MOD4);
    let mut required = 0u16;
    for (on, bit) in [
        (m.ctrl, mask::CONTROL),
        (m.shift, mask::SHIFT),
        (m.alt, alt),
        (m.super_key, super_key),
    ] {
        if on {
            required |= bit;
        }
    }
    let num_lock = keymap
        .modifier_mask(&[keysym::NUM_LOCK])
        .unwrap_or(mask::MOD2);
    let scroll_lock = keymap.modifier_mask(&[keysym::SCROLL_LOCK]);
    let mut locks: Vec<u16> = Vec::new();
    for bit in [Some(mask::LOCK), Some(num_lock), scroll_lock]
        .into_iter()
        .flatten()
    {
        if bit & required == 0 && !locks.contains(&bit) {
            locks.push(bit);
        }
    }
    let masks = (0..1u32 << locks.len())
        .map(|subset| {
            locks
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) != 0)
                .fold(required, |acc, (_, bit)| acc | bit)
        })
        .collect();
    Ok(Grabs { keycodes, masks })
}

/// Grabs every combination; if one is refused, gives back the others.
fn grab_all(
    conn: &RustConnection,
    root: Window,
    grabs: &Grabs,
    shortcut: &Shortcut,
) -> Result<(), HotkeyError> {
    let mut cookies = Vec::new();
    for &keycode in &grabs.keycodes {
        for &m in &grabs.masks {
            let cookie = x11!(
                "grabbing the shortcut",
                conn.grab_key(
                    false,
                    root,
                    ModMask::from(m),
                    keycode,
                    GrabMode::ASYNC,
                    GrabMode::ASYNC,
                )
            )?;
            cookies.push(cookie);
        }
    }
    let mut failure = None;
    for cookie in cookies {
        match cookie.check() {
            Ok(()) => {}
            Err(ReplyError::X11Error(e)) if e.error_kind == ErrorKind::Access => {
                failure.get_or_insert(HotkeyError::Taken {
                    shortcut: shortcut.clone(),
                });
            }
            Err(e) => {
                failure.get_or_insert(x11_error("grabbing the shortcut")(&e));
            }
        }
    }
    match failure {
        None => Ok(()),
        Some(error) => {
            // Ungrabbing a combination grabbed by another client does
            // nothing, so giving back all of them is safe.
            ungrab_all(conn, root, grabs);
            Err(error)
        }
    }
}

/// Releases the grabs and waits until the server has processed it.
fn ungrab_all(conn: &RustConnection, root: Window, grabs: &Grabs) {
    for &keycode in &grabs.keycodes {
        for &m in &grabs.masks {
            if let Err(e) = conn.ungrab_key(keycode, root, ModMask::from(m)) {
                tracing::warn!("ungrabbing the hotkey failed: {e}");
                return;
            }
        }
    }
    let synced = conn.get_input_focus().map(|cookie| cookie.reply());
    if let Ok(Err(e)) | Err(e) = synced.map_err(ReplyError::from) {
        tracing::warn!("the X server did not confirm the ungrab: {e}");
    }
}

#[allow(clippy::too_many_arguments)]
fn event_loop(
    conn: &RustConnection,
    root: Window,
    wake_window: Window,
    wake_atom: u32,
    shortcut: &Shortcut,
    shared: &Mutex<Shared>,
    detectable: bool,
    on_event: &(dyn Fn(HotkeyEvent) + Send + Sync),
) {
    let mut pressed = false;
    let mut pending: Option<Event> = None;
    loop {
        let event = match pending.take() {
            Some(event) => event,
            None => match conn.wait_for_event() {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!("the hotkey lost its X connection: {e}");
                    return;
                }
            },
        };
        let ours = |keycode: u8| {
            shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .grabs
                .keycodes
                .contains(&keycode)
        };
        match event {
            Event::KeyPress(e) if ours(e.detail) => {
                if !pressed {
                    pressed = true;
                    on_event(HotkeyEvent::Pressed);
                } else {
                    tracing::trace!("hotkey autorepeat dropped");
                }
            }
            Event::KeyRelease(e) if ours(e.detail) => {
                if !detectable {
                    // Without XKB's detectable autorepeat a repeat is a
                    // release and a press with the same timestamp, sent together.
                    match conn.poll_for_event() {
                        Ok(Some(Event::KeyPress(next)))
                            if next.detail == e.detail && next.time == e.time =>
                        {
                            continue;
                        }
                        Ok(next) => pending = next,
                        Err(err) => {
                            tracing::error!("the hotkey lost its X connection: {err}");
                            return;
                        }
                    }
                }
                if pressed {
                    pressed = false;
                    on_event(HotkeyEvent::Released);
                }
            }
            Event::ClientMessage(m) if m.window == wake_window && m.type_ == wake_atom => {
                tracing::debug!(%shortcut, "hotkey listener stopped");
                return;
            }
            Event::MappingNotify(m)
                if m.request == Mapping::KEYBOARD || m.request == Mapping::MODIFIER =>
            {
                regrab(conn, root, shortcut, shared);
            }
            Event::Error(e) => tracing::debug!("X error on the hotkey connection: {e:?}"),
            _ => {}
        }
    }
}

/// After a keyboard mapping change the key may sit on other keycodes, or
/// NumLock on another modifier: grab what the new map says.
fn regrab(conn: &RustConnection, root: Window, shortcut: &Shortcut, shared: &Mutex<Shared>) {
    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
    if shared.stopped {
        return;
    }
    let wanted = match wanted_grabs(conn, shortcut) {
        Ok(wanted) => wanted,
        Err(e) => {
            tracing::warn!(%shortcut, "after a keyboard mapping change: {e}");
            return;
        }
    };
    if wanted == shared.grabs {
        return;
    }
    ungrab_all(conn, root, &shared.grabs);
    shared.grabs = Grabs::default();
    match grab_all(conn, root, &wanted, shortcut) {
        Ok(()) => {
            tracing::info!(%shortcut, keycodes = ?wanted.keycodes, "hotkey grabbed again after a keyboard mapping change");
            shared.grabs = wanted;
        }
        Err(e) => tracing::warn!(%shortcut, "after a keyboard mapping change: {e}"),
    }
}

struct X11Listener {
    shortcut: Shortcut,
    conn: Arc<RustConnection>,
    root: Window,
    wake_window: Window,
    wake_atom: u32,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl X11Listener {
    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        {
            let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            shared.stopped = true;
            ungrab_all(&self.conn, self.root, &shared.grabs);
            shared.grabs = Grabs::default();
        }
        let wake = ClientMessageEvent::new(32, self.wake_window, self.wake_atom, [0u32; 5]);
        let sent = self
            .conn
            .send_event(false, self.wake_window, EventMask::NO_EVENT, wake)
            .and_then(|_| self.conn.flush());
        match sent {
            Ok(()) => {
                if thread.join().is_err() {
                    tracing::error!("the hotkey thread panicked");
                }
            }
            // The connection is gone, so the thread has ended or is ending on
            // its own; do not wait on it.
            Err(e) => tracing::warn!("could not wake the hotkey thread: {e}"),
        }
        let _ = self.conn.destroy_window(self.wake_window);
        let _ = self.conn.flush();
        tracing::info!(shortcut = %self.shortcut, "global hotkey released");
    }
}

impl HotkeyListener for X11Listener {
    fn shortcut(&self) -> &Shortcut {
        &self.shortcut
    }

    fn stop(mut self: Box<Self>) {
        self.shutdown();
    }
}

impl Drop for X11Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}
