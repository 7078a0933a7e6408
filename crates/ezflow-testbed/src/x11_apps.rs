//! Other X applications, for tests: a focused window that turns key presses
//! and Ctrl+V pastes into text the way an editor does, and clipboard owners
//! and readers like other applications. Used by this crate's insertion tests
//! and by the app's end-to-end test.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _,
    CreateWindowAux, EventMask, InputFocus, KeyButMask, PropMode, Property, SelectionNotifyEvent,
    Window, WindowClass, SELECTION_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{CURRENT_TIME, NONE};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn atom(conn: &RustConnection, name: &str) -> Atom {
    conn.intern_atom(false, name.as_bytes())
        .expect("send an X request")
        .reply()
        .expect("the X server replies")
        .atom
}

pub fn hidden_window(conn: &RustConnection, screen: usize, mask: EventMask) -> Window {
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().expect("an X resource id");
    conn.create_window(
        0,
        window,
        root,
        -1,
        -1,
        1,
        1,
        0,
        WindowClass::INPUT_ONLY,
        0,
        &CreateWindowAux::new().event_mask(mask),
    )
    .expect("send an X request");
    window
}

/// Runs `f` on a thread and fails the test if it does not finish in time.
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(TIMEOUT)
        .unwrap_or_else(|_| panic!("{what} did not finish within {TIMEOUT:?}"))
}

// ---------------------------------------------------------------- keyboard map

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyboardMap {
    pub min_keycode: u8,
    pub per: usize,
    pub keysyms: Vec<u32>,
}

impl KeyboardMap {
    pub fn fetch(conn: &RustConnection) -> KeyboardMap {
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let reply = conn
            .get_keyboard_mapping(min, max - min + 1)
            .expect("send an X request")
            .reply()
            .expect("the X server replies");
        KeyboardMap {
            min_keycode: min,
            per: usize::from(reply.keysyms_per_keycode),
            keysyms: reply.keysyms,
        }
    }

    pub fn syms(&self, keycode: u8) -> &[u32] {
        let start = usize::from(keycode - self.min_keycode) * self.per;
        &self.keysyms[start..start + self.per]
    }

    pub fn keycode(&self, keysym: u32) -> u8 {
        let index = self
            .keysyms
            .iter()
            .position(|&s| s == keysym)
            .unwrap_or_else(|| panic!("keysym {keysym:#x} is not on Xvfb's keyboard"));
        self.min_keycode + u8::try_from(index / self.per).expect("a keycode fits a byte")
    }
}

/// What an Xlib client makes of a keysym (the subset the tests type).
pub fn keysym_char(keysym: u32) -> Option<char> {
    match keysym {
        0xff0d => Some('\n'),
        0xff09 => Some('\t'),
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(keysym),
        0x0100_0100..=0x0110_ffff => char::from_u32(keysym - 0x0100_0000),
        _ => None,
    }
}

pub fn is_modifier_keysym(keysym: u32) -> bool {
    (0xffe1..=0xffee).contains(&keysym) || keysym == 0xff7f || keysym == 0xfe03
}

// ---------------------------------------------------------------- text window

#[derive(Default)]
pub struct WindowState {
    pub text: String,
    pub keymap: Option<KeyboardMap>,
    pub keymap_changes: usize,
}

/// A focused window that turns key presses into text, like an editor.
pub struct TextWindow {
    pub conn: Arc<RustConnection>,
    pub window: Window,
    pub quit: Atom,
    pub state: Arc<(Mutex<WindowState>, Condvar)>,
    pub thread: Option<JoinHandle<()>>,
}

impl TextWindow {
    pub fn open(display: &str) -> TextWindow {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to the X server");
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().expect("an X resource id");
        conn.create_window(
            0,
            window,
            root,
            0,
            0,
            400,
            200,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().event_mask(
                EventMask::KEY_PRESS | EventMask::STRUCTURE_NOTIFY | EventMask::PROPERTY_CHANGE,
            ),
        )
        .expect("send an X request");
        conn.map_window(window).expect("map the window");
        conn.flush().expect("flush to the X server");
        loop {
            if let Event::MapNotify(_) = conn.wait_for_event().expect("an X event") {
                break;
            }
        }
        conn.set_input_focus(InputFocus::PARENT, window, CURRENT_TIME)
            .expect("send an X request");
        let focus = conn
            .get_input_focus()
            .expect("send an X request")
            .reply()
            .expect("the X server replies");
        assert_eq!(focus.focus, window, "the text window did not get the focus");
        let quit = atom(&conn, "TEST_QUIT");
        let state = Arc::new((
            Mutex::new(WindowState {
                keymap: Some(KeyboardMap::fetch(&conn)),
                ..WindowState::default()
            }),
            Condvar::new(),
        ));
        let conn = Arc::new(conn);
        let thread = {
            let conn = Arc::clone(&conn);
            let state = Arc::clone(&state);
            std::thread::spawn(move || run_text_window(&conn, window, quit, &state))
        };
        TextWindow {
            conn,
            window,
            quit,
            state,
            thread: Some(thread),
        }
    }

    pub fn text(&self) -> String {
        self.state.0.lock().expect("window state lock").text.clone()
    }

    /// Waits until `done` holds for the window's state.
    pub fn wait(&self, what: &str, done: impl Fn(&WindowState) -> bool) {
        self.wait_within(what, TIMEOUT, done);
    }

    /// [`TextWindow::wait`] with a bound of the caller's choosing.
    pub fn wait_within(&self, what: &str, timeout: Duration, done: impl Fn(&WindowState) -> bool) {
        let (lock, cond) = &*self.state;
        let guard = lock.lock().expect("window state lock");
        let (guard, result) = cond
            .wait_timeout_while(guard, timeout, |s| !done(s))
            .expect("window state lock");
        assert!(
            !result.timed_out(),
            "{what}: not within {timeout:?}; the window holds {:?}",
            guard.text
        );
    }

    /// Waits until the keyboard mapping is `expected` again.
    pub fn wait_for_keymap(&self, expected: &KeyboardMap) {
        let (lock, cond) = &*self.state;
        let guard = lock.lock().expect("window state lock");
        let (guard, result) = cond
            .wait_timeout_while(guard, TIMEOUT, |s| s.keymap.as_ref() != Some(expected))
            .expect("window state lock");
        if result.timed_out() {
            let now = guard
                .keymap
                .as_ref()
                .expect("the window has a keyboard map");
            let changed: Vec<String> = (expected.min_keycode..=255u8)
                .filter(|&k| now.syms(k) != expected.syms(k))
                .map(|k| format!("{k}: {:x?} -> {:x?}", expected.syms(k), now.syms(k)))
                .collect();
            panic!(
                "the keyboard mapping was not restored within {TIMEOUT:?} \
                 ({} mapping changes seen, keysyms per keycode {} -> {}); changed: {changed:?}",
                guard.keymap_changes, expected.per, now.per
            );
        }
    }

    pub fn wait_for_text(&self, expected: &str) {
        self.wait(&format!("waiting for the text {expected:?}"), |s| {
            s.text == expected
        });
        assert_eq!(self.text(), expected);
    }
}

impl Drop for TextWindow {
    fn drop(&mut self) {
        let quit = ClientMessageEvent::new(32, self.window, self.quit, [0u32; 5]);
        let _ = self
            .conn
            .send_event(false, self.window, EventMask::NO_EVENT, quit);
        let _ = self.conn.flush();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn run_text_window(
    conn: &RustConnection,
    window: Window,
    quit: Atom,
    state: &(Mutex<WindowState>, Condvar),
) {
    let clipboard = atom(conn, "CLIPBOARD");
    let utf8 = atom(conn, "UTF8_STRING");
    let paste_property = atom(conn, "TEST_PASTE");
    let (lock, cond) = state;
    loop {
        let Ok(event) = conn.wait_for_event() else {
            return;
        };
        match event {
            Event::KeyPress(e) => {
                let map = lock
                    .lock()
                    .expect("window state lock")
                    .keymap
                    .clone()
                    .expect("the window fetched its keyboard map");
                let syms = map.syms(e.detail);
                let shift = e.state.contains(KeyButMask::SHIFT);
                let mut keysym = if shift && syms[1] != 0 {
                    syms[1]
                } else {
                    syms[0]
                };
                if is_modifier_keysym(keysym) {
                    continue;
                }
                if e.state.contains(KeyButMask::CONTROL) {
                    if keysym == 0x76 || keysym == 0x56 {
                        conn.convert_selection(window, clipboard, utf8, paste_property, e.time)
                            .expect("send an X request");
                        conn.flush().expect("flush to the X server");
                    }
                    continue;
                }
                // Caps Lock as Xlib applies it: lower-case letters go upper case.
                if e.state.contains(KeyButMask::LOCK) {
                    if let Some(c) = keysym_char(keysym).filter(|c| c.is_lowercase()) {
                        let upper: Vec<char> = c.to_uppercase().collect();
                        if let [u] = upper[..] {
                            keysym = u32::from(u);
                        }
                    }
                }
                let c = keysym_char(keysym).unwrap_or('\u{fffd}');
                lock.lock().expect("window state lock").text.push(c);
                cond.notify_all();
            }
            Event::SelectionNotify(n) if n.requestor == window => {
                let pasted = if n.property == NONE {
                    "<paste refused>".to_owned()
                } else {
                    let reply = conn
                        .get_property(true, window, paste_property, AtomEnum::ANY, 0, 1 << 20)
                        .expect("send an X request")
                        .reply()
                        .expect("the X server replies");
                    String::from_utf8(reply.value).expect("UTF8_STRING text is UTF-8")
                };
                lock.lock()
                    .expect("window state lock")
                    .text
                    .push_str(&pasted);
                cond.notify_all();
            }
            Event::MappingNotify(_) => {
                // Like Xlib's XRefreshKeyboardMapping: fetch the map again.
                let map = KeyboardMap::fetch(conn);
                let mut s = lock.lock().expect("window state lock");
                s.keymap = Some(map);
                s.keymap_changes += 1;
                cond.notify_all();
            }
            Event::ClientMessage(m) if m.type_ == quit => return,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- clipboard helpers

/// Another application holding the clipboard, as the user left it.
pub struct TestOwner {
    pub display: String,
    pub window: Window,
    pub lost: Receiver<()>,
}

impl TestOwner {
    /// Owns CLIPBOARD with `text`; `answer` false makes a hung application
    /// that never replies to requests.
    pub fn start(display: &str, text: &str, answer: bool) -> TestOwner {
        TestOwner::start_inner(display, text, answer, None)
    }

    /// Owns CLIPBOARD with `text` and sends it incrementally (ICCCM INCR),
    /// `chunk` bytes at a time, as applications do with large selections.
    pub fn start_incr(display: &str, text: &str, chunk: usize) -> TestOwner {
        TestOwner::start_inner(display, text, true, Some(chunk))
    }

    pub fn start_inner(display: &str, text: &str, answer: bool, incr: Option<usize>) -> TestOwner {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to the X server");
        let window = hidden_window(&conn, screen, EventMask::NO_EVENT);
        let clipboard = atom(&conn, "CLIPBOARD");
        let utf8 = atom(&conn, "UTF8_STRING");
        let targets = atom(&conn, "TARGETS");
        let incr_atom = atom(&conn, "INCR");
        conn.set_selection_owner(window, clipboard, CURRENT_TIME)
            .expect("send an X request");
        let owner = conn
            .get_selection_owner(clipboard)
            .expect("send an X request")
            .reply()
            .expect("the X server replies")
            .owner;
        assert_eq!(owner, window);
        let text = text.to_owned();
        let (lost_tx, lost) = mpsc::channel();
        // An INCR transfer in progress: requestor window, property, bytes sent.
        let mut transfer: Option<(Window, Atom, usize)> = None;
        std::thread::spawn(move || loop {
            match conn.wait_for_event() {
                Ok(Event::SelectionRequest(r)) if answer => {
                    let ok = if r.target == utf8 && incr.is_some() {
                        // Announce the size; each deletion of the property
                        // by the requestor asks for the next chunk.
                        conn.change_window_attributes(
                            r.requestor,
                            &ChangeWindowAttributesAux::new()
                                .event_mask(EventMask::PROPERTY_CHANGE),
                        )
                        .expect("send an X request");
                        let size = u32::try_from(text.len()).expect("the test text fits 4 GiB");
                        conn.change_property32(
                            PropMode::REPLACE,
                            r.requestor,
                            r.property,
                            incr_atom,
                            &[size],
                        )
                        .expect("send an X request");
                        transfer = Some((r.requestor, r.property, 0));
                        true
                    } else if r.target == utf8 {
                        conn.change_property8(
                            PropMode::REPLACE,
                            r.requestor,
                            r.property,
                            utf8,
                            text.as_bytes(),
                        )
                        .expect("send an X request");
                        true
                    } else if r.target == targets {
                        conn.change_property32(
                            PropMode::REPLACE,
                            r.requestor,
                            r.property,
                            AtomEnum::ATOM,
                            &[targets, utf8],
                        )
                        .expect("send an X request");
                        true
                    } else {
                        false
                    };
                    let notify = SelectionNotifyEvent {
                        response_type: SELECTION_NOTIFY_EVENT,
                        sequence: 0,
                        time: r.time,
                        requestor: r.requestor,
                        selection: r.selection,
                        target: r.target,
                        property: if ok { r.property } else { NONE },
                    };
                    conn.send_event(false, r.requestor, EventMask::NO_EVENT, notify)
                        .expect("send an X request");
                    conn.flush().expect("flush to the X server");
                }
                Ok(Event::PropertyNotify(p))
                    if p.state == Property::DELETE
                        && transfer.is_some_and(|(w, a, _)| w == p.window && a == p.atom) =>
                {
                    let (requestor, property, sent) =
                        transfer.take().expect("checked in the guard");
                    let end =
                        (sent + incr.expect("INCR transfers have a chunk size")).min(text.len());
                    // The last chunk is empty: it ends the transfer.
                    conn.change_property8(
                        PropMode::REPLACE,
                        requestor,
                        property,
                        utf8,
                        &text.as_bytes()[sent..end],
                    )
                    .expect("send an X request");
                    conn.flush().expect("flush to the X server");
                    if end > sent {
                        transfer = Some((requestor, property, end));
                    }
                }
                Ok(Event::SelectionClear(_)) | Err(_) => {
                    let _ = lost_tx.send(());
                    return;
                }
                Ok(_) => {}
            }
        });
        TestOwner {
            display: display.to_owned(),
            window,
            lost,
        }
    }

    /// Whether the server still names this owner's window.
    pub fn still_owner(&self) -> bool {
        clipboard_owner(&self.display) == self.window
    }

    /// Waits for the SelectionClear that ends this ownership.
    pub fn wait_lost(&self) {
        self.lost
            .recv_timeout(TIMEOUT)
            .expect("the test owner never lost the clipboard");
    }
}

/// Reads the clipboard as UTF8_STRING from a fresh connection, like another
/// application pasting. `None` when nobody owns it.
pub fn read_clipboard(display: &str) -> Option<String> {
    let display = display.to_owned();
    bounded("reading the clipboard", move || {
        let (conn, screen) = x11rb::connect(Some(&display)).expect("connect to the X server");
        let window = hidden_window(&conn, screen, EventMask::NO_EVENT);
        let clipboard = atom(&conn, "CLIPBOARD");
        let utf8 = atom(&conn, "UTF8_STRING");
        let property = atom(&conn, "TEST_READ");
        let owner = conn
            .get_selection_owner(clipboard)
            .expect("send an X request")
            .reply()
            .expect("the X server replies")
            .owner;
        if owner == NONE {
            return None;
        }
        conn.convert_selection(window, clipboard, utf8, property, CURRENT_TIME)
            .expect("send an X request");
        conn.flush().expect("flush to the X server");
        loop {
            if let Event::SelectionNotify(n) = conn.wait_for_event().expect("an X event") {
                assert_ne!(n.property, NONE, "the clipboard owner refused UTF8_STRING");
                let reply = conn
                    .get_property(true, window, property, AtomEnum::ANY, 0, 1 << 20)
                    .expect("send an X request")
                    .reply()
                    .expect("the X server replies");
                assert_eq!(reply.type_, utf8);
                return Some(String::from_utf8(reply.value).expect("UTF8_STRING text is UTF-8"));
            }
        }
    })
}

pub fn clipboard_owner(display: &str) -> Window {
    let (conn, _) = x11rb::connect(Some(display)).expect("connect to the X server");
    let clipboard = atom(&conn, "CLIPBOARD");
    conn.get_selection_owner(clipboard)
        .expect("send an X request")
        .reply()
        .expect("the X server replies")
        .owner
}

/// Presses (`down`) or releases Ctrl+Alt+Space through XTest, as a
/// keyboard would: EZ Flow's default hotkey.
pub fn ctrl_alt_space(display: &str, down: bool) {
    use x11rb::protocol::xtest::ConnectionExt as _;
    let (conn, _) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let map = KeyboardMap::fetch(&conn);
    // Control_L, Alt_L, space.
    let keys = [map.keycode(0xffe3), map.keycode(0xffe9), map.keycode(0x20)];
    let kind = if down { 2 } else { 3 }; // KeyPress, KeyRelease
    let order: Vec<u8> = if down {
        keys.to_vec()
    } else {
        keys.iter().rev().copied().collect()
    };
    for key in order {
        conn.xtest_fake_input(kind, key, 0, NONE, 0, 0, 0)
            .expect("fake key");
    }
    conn.sync().expect("sync");
}

/// The top-level windows whose `_NET_WM_NAME` (or `WM_NAME`) is `title`.
/// Under Xvfb there is no window manager, so top-level windows are the
/// root's children (GTK maps its own toplevels there).
pub fn windows_titled(display: &str, title: &str) -> Vec<Window> {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to the X server");
    let root = conn.setup().roots[screen].root;
    let net_wm_name = atom(&conn, "_NET_WM_NAME");
    let utf8 = atom(&conn, "UTF8_STRING");
    let tree = conn
        .query_tree(root)
        .expect("send an X request")
        .reply()
        .expect("the X server replies");
    let mut found = Vec::new();
    for window in tree.children {
        let name = |property: Atom, kind: Atom| {
            conn.get_property(false, window, property, kind, 0, 1024)
                .ok()
                .and_then(|cookie| cookie.reply().ok())
                .map(|reply| String::from_utf8_lossy(&reply.value).into_owned())
                .unwrap_or_default()
        };
        if name(net_wm_name, utf8) == title
            || name(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()) == title
        {
            found.push(window);
        }
    }
    found
}

/// Asks `window` to close, as a window manager's close button does: a
/// `WM_PROTOCOLS` / `WM_DELETE_WINDOW` client message.
pub fn ask_to_close(display: &str, window: Window) {
    let (conn, _) = x11rb::connect(Some(display)).expect("connect to the X server");
    let protocols = atom(&conn, "WM_PROTOCOLS");
    let delete = atom(&conn, "WM_DELETE_WINDOW");
    let event = ClientMessageEvent::new(32, window, protocols, [delete, CURRENT_TIME, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event)
        .expect("send an X request");
    conn.flush().expect("flush the X connection");
}

/// A picture of `window` as it is on the screen now, as RGB rows: what
/// the X server holds for it (this is an X-level capture, independent of
/// the toolkit drawing the window). Assumes a 24- or 32-bit TrueColor
/// visual, as Xvfb's default screen has.
pub fn capture_window(display: &str, window: Window) -> (u32, u32, Vec<u8>) {
    use x11rb::protocol::xproto::ImageFormat;
    let (conn, _) = x11rb::connect(Some(display)).expect("connect to the X server");
    let geometry = conn
        .get_geometry(window)
        .expect("send an X request")
        .reply()
        .expect("the window's geometry");
    let (width, height) = (u32::from(geometry.width), u32::from(geometry.height));
    let image = conn
        .get_image(
            ImageFormat::Z_PIXMAP,
            window,
            0,
            0,
            geometry.width,
            geometry.height,
            !0,
        )
        .expect("send an X request")
        .reply()
        .expect("the window's pixels");
    let pixels = (width * height) as usize;
    assert!(
        image.data.len() >= pixels * 4,
        "expected 32 bits per pixel from depth {}, got {} bytes for {pixels} pixels",
        image.depth,
        image.data.len()
    );
    // ZPixmap at depth 24/32 on a little-endian server: B, G, R, unused.
    let mut rgb = Vec::with_capacity(pixels * 3);
    for bgrx in image.data.chunks_exact(4).take(pixels) {
        rgb.extend_from_slice(&[bgrx[2], bgrx[1], bgrx[0]]);
    }
    (width, height, rgb)
}

/// Closes the windows titled `title` the way a window manager's close
/// button does ([`ask_to_close`]) and waits (bounded) for them to leave the
/// display. Returns how many close messages it took.
///
/// Under Xvfb with no window manager, WebKitGTK 2.50 now and then leaves
/// the first close message unanswered while it settles after its first
/// paint; the message is sent again, up to `attempts` times, `patience`
/// apart. The caller reports a count above 1.
pub fn close_titled(
    display: &str,
    title: &str,
    attempts: usize,
    patience: Duration,
) -> Result<usize, String> {
    for attempt in 1..=attempts {
        let windows = windows_titled(display, title);
        if windows.is_empty() {
            return Ok(attempt - 1);
        }
        for window in windows {
            ask_to_close(display, window);
        }
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if windows_titled(display, title).is_empty() {
                return Ok(attempt);
            }
            // The X server sends no event to an outside client when
            // another client's window goes away; look again shortly.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(format!(
        "the window {title:?} did not close after {attempts} close messages"
    ))
}
