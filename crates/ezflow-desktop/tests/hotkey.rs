//! The global hotkey against a real X server: a private Xvfb per test, key
//! presses faked through XTEST from a separate connection (as a keyboard
//! would), the listener's events collected from its callback.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use ezflow_desktop::hotkey::{
    listen, listen_in, DisplayEnv, HotkeyError, HotkeyEvent, HotkeyListener, Shortcut,
    ShortcutError,
};
use ezflow_testbed::xvfb::{unused_display, Xvfb};
use x11rb::connection::Connection;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateWindowAux, EventMask, GrabMode, InputFocus, KeyButMask, ModMask,
    WindowClass,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use HotkeyEvent::{Pressed, Released};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

const XK_CONTROL_L: u32 = 0xffe3;
const XK_ALT_L: u32 = 0xffe9;
const XK_SPACE: u32 = 0x20;
const XK_NUM_LOCK: u32 = 0xff7f;
const XK_CAPS_LOCK: u32 = 0xffe5;
const XK_A: u32 = 0x61;

/// A second client that presses keys through XTEST, like a keyboard.
struct Keyboard {
    conn: RustConnection,
    root: u32,
    min_keycode: u8,
    per: usize,
    keysyms: Vec<u32>,
}

impl Keyboard {
    fn connect(display: &str) -> Keyboard {
        let (conn, screen) = x11rb::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen].root;
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let map = conn
            .get_keyboard_mapping(min, max - min + 1)
            .unwrap()
            .reply()
            .unwrap();
        Keyboard {
            conn,
            root,
            min_keycode: min,
            per: usize::from(map.keysyms_per_keycode),
            keysyms: map.keysyms,
        }
    }

    fn keycode(&self, keysym: u32) -> u8 {
        let index = self
            .keysyms
            .iter()
            .position(|&s| s == keysym)
            .unwrap_or_else(|| panic!("keysym 0x{keysym:x} is not on Xvfb's keyboard"));
        self.min_keycode + u8::try_from(index / self.per).unwrap()
    }

    fn key(&self, keysym: u32, down: bool) {
        let kind = if down { 2 } else { 3 }; // KeyPress, KeyRelease
        self.conn
            .xtest_fake_input(kind, self.keycode(keysym), 0, 0, 0, 0, 0)
            .unwrap();
        self.sync();
    }

    fn sync(&self) {
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }

    /// Ctrl+Alt+Space down and up again, releasing in the natural order.
    fn tap_ctrl_alt_space(&self) {
        self.key(XK_CONTROL_L, true);
        self.key(XK_ALT_L, true);
        self.key(XK_SPACE, true);
        self.key(XK_SPACE, false);
        self.key(XK_ALT_L, false);
        self.key(XK_CONTROL_L, false);
    }

    fn toggle(&self, keysym: u32) {
        self.key(keysym, true);
        self.key(keysym, false);
    }

    fn modifier_state(&self) -> KeyButMask {
        self.conn
            .query_pointer(self.root)
            .unwrap()
            .reply()
            .unwrap()
            .mask
    }
}

fn ctrl_alt_space() -> Shortcut {
    "Ctrl+Alt+Space".parse().unwrap()
}

fn start(display: &str, shortcut: &Shortcut) -> (Box<dyn HotkeyListener>, Receiver<HotkeyEvent>) {
    let (tx, rx) = mpsc::channel();
    let listener = listen_in(
        &DisplayEnv::x11(display),
        shortcut,
        Box::new(move |event| {
            let _ = tx.send(event);
        }),
    )
    .unwrap();
    (listener, rx)
}

fn next(rx: &Receiver<HotkeyEvent>) -> HotkeyEvent {
    rx.recv_timeout(EVENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("no hotkey event within {EVENT_TIMEOUT:?}: {e}"))
}

/// Receives `expected` events in order. The test ends each sequence with one
/// more tap, so any stray event (a repeat, a second press) would show up
/// before the last pair.
fn expect_events(rx: &Receiver<HotkeyEvent>, expected: &[HotkeyEvent]) {
    let got: Vec<HotkeyEvent> = expected.iter().map(|_| next(rx)).collect();
    assert_eq!(got, expected);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
}

#[test]
fn press_and_release_are_reported_once_each() {
    let x = Xvfb::start();
    let keyboard = Keyboard::connect(&x.display);
    let (listener, rx) = start(&x.display, &ctrl_alt_space());
    assert_eq!(listener.shortcut().to_string(), "Ctrl+Alt+Space");

    keyboard.key(XK_CONTROL_L, true);
    keyboard.key(XK_ALT_L, true);
    keyboard.key(XK_SPACE, true);
    assert_eq!(next(&rx), Pressed);
    keyboard.key(XK_SPACE, false);
    assert_eq!(next(&rx), Released);
    keyboard.key(XK_ALT_L, false);
    keyboard.key(XK_CONTROL_L, false);

    // Space without the modifiers, and with only one of them, is not the shortcut.
    keyboard.toggle(XK_SPACE);
    keyboard.key(XK_CONTROL_L, true);
    keyboard.toggle(XK_SPACE);
    keyboard.key(XK_CONTROL_L, false);

    // Releasing the modifiers before the key still ends with Released.
    keyboard.key(XK_CONTROL_L, true);
    keyboard.key(XK_ALT_L, true);
    keyboard.key(XK_SPACE, true);
    keyboard.key(XK_CONTROL_L, false);
    keyboard.key(XK_ALT_L, false);
    keyboard.key(XK_SPACE, false);

    keyboard.tap_ctrl_alt_space();
    expect_events(&rx, &[Pressed, Released, Pressed, Released]);
    listener.stop();
}

/// A window of a plain client that counts the key presses it receives.
fn count_presses_while_held(
    keyboard: &Keyboard,
    display: &str,
    keysym: u32,
    hold: Duration,
) -> usize {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().unwrap();
    conn.create_window(
        0,
        window,
        root,
        0,
        0,
        100,
        100,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().event_mask(
            EventMask::KEY_PRESS | EventMask::KEY_RELEASE | EventMask::STRUCTURE_NOTIFY,
        ),
    )
    .unwrap();
    conn.map_window(window).unwrap();
    conn.flush().unwrap();
    loop {
        if let Event::MapNotify(_) = conn.wait_for_event().unwrap() {
            break;
        }
    }
    conn.set_input_focus(InputFocus::PARENT, window, 0u32)
        .unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();

    // Detectable autorepeat: repeats arrive as presses, the one release at the end.
    let dar = xkb::PerClientFlag::DETECTABLE_AUTO_REPEAT;
    conn.xkb_use_extension(1, 0).unwrap().reply().unwrap();
    let flags = conn
        .xkb_per_client_flags(
            xkb::ID::USE_CORE_KBD.into(),
            dar,
            dar,
            0u32.into(),
            0u32.into(),
            0u32.into(),
        )
        .unwrap()
        .reply()
        .unwrap();
    assert_ne!(
        u32::from(flags.value) & u32::from(dar),
        0,
        "no detectable autorepeat"
    );

    let keycode = keyboard.keycode(keysym);
    keyboard.key(keysym, true);
    // Holding the key is the scenario itself, not a wait for readiness.
    std::thread::sleep(hold);
    keyboard.key(keysym, false);
    let mut presses = 0;
    loop {
        match conn.wait_for_event().unwrap() {
            Event::KeyPress(e) if e.detail == keycode => presses += 1,
            Event::KeyRelease(e) if e.detail == keycode => break,
            _ => {}
        }
    }
    conn.destroy_window(window).unwrap();
    conn.flush().unwrap();
    presses
}

#[test]
fn holding_the_key_through_autorepeat_reports_one_press() {
    // Autorepeat after 100 ms, then every 20 ms.
    let x = Xvfb::start_with_args(&["-ardelay", "100", "-arinterval", "20"]);
    let keyboard = Keyboard::connect(&x.display);
    let hold = Duration::from_millis(600);

    // First show that a key held through XTEST does autorepeat on this server.
    let presses = count_presses_while_held(&keyboard, &x.display, XK_A, hold);
    assert!(
        presses >= 5,
        "holding a key through XTEST for {hold:?} gave {presses} presses: \
         this server does not autorepeat XTEST keys, so the test proves nothing"
    );

    let (listener, rx) = start(&x.display, &ctrl_alt_space());
    keyboard.key(XK_CONTROL_L, true);
    keyboard.key(XK_ALT_L, true);
    keyboard.key(XK_SPACE, true);
    assert_eq!(next(&rx), Pressed);
    std::thread::sleep(hold);
    keyboard.key(XK_SPACE, false);
    keyboard.key(XK_ALT_L, false);
    keyboard.key(XK_CONTROL_L, false);
    keyboard.tap_ctrl_alt_space();
    expect_events(&rx, &[Released, Pressed, Released]);
    listener.stop();
}

#[test]
fn fires_with_num_lock_and_caps_lock_on() {
    let x = Xvfb::start();
    let keyboard = Keyboard::connect(&x.display);
    let (listener, rx) = start(&x.display, &ctrl_alt_space());

    keyboard.toggle(XK_NUM_LOCK);
    assert!(
        keyboard.modifier_state().contains(KeyButMask::MOD2),
        "NumLock did not turn on"
    );
    keyboard.tap_ctrl_alt_space();
    expect_events(&rx, &[Pressed, Released]);

    keyboard.toggle(XK_CAPS_LOCK);
    assert!(keyboard.modifier_state().contains(KeyButMask::LOCK));
    keyboard.tap_ctrl_alt_space();
    expect_events(&rx, &[Pressed, Released]);
    listener.stop();
}

#[test]
fn a_taken_shortcut_is_reported() {
    let x = Xvfb::start();
    let shortcut = ctrl_alt_space();
    let (first, _rx) = start(&x.display, &shortcut);
    let second = listen_in(&DisplayEnv::x11(&x.display), &shortcut, Box::new(|_| {}));
    let err = second
        .err()
        .expect("a second grab of the same shortcut must fail");
    assert!(matches!(err, HotkeyError::Taken { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the shortcut Ctrl+Alt+Space is already taken by another application; \
         choose a different one in the settings"
    );
    first.stop();

    // Another application's grab, with NumLock only, is detected too.
    let keyboard = Keyboard::connect(&x.display);
    keyboard
        .conn
        .grab_key(
            false,
            keyboard.root,
            ModMask::CONTROL | ModMask::M1 | ModMask::M2,
            keyboard.keycode(XK_SPACE),
            GrabMode::ASYNC,
            GrabMode::ASYNC,
        )
        .unwrap()
        .check()
        .unwrap();
    let err = listen_in(&DisplayEnv::x11(&x.display), &shortcut, Box::new(|_| {}))
        .err()
        .expect("the shortcut grabbed by another client must be reported");
    assert!(matches!(err, HotkeyError::Taken { .. }), "{err:?}");
    // Our partial grabs were given back: Ctrl+Alt+Space without NumLock is
    // free for the other client.
    keyboard
        .conn
        .grab_key(
            false,
            keyboard.root,
            ModMask::CONTROL | ModMask::M1,
            keyboard.keycode(XK_SPACE),
            GrabMode::ASYNC,
            GrabMode::ASYNC,
        )
        .unwrap()
        .check()
        .expect("the failed listener left a grab behind");
}

#[test]
fn stop_frees_the_key_and_ends_the_thread() {
    let x = Xvfb::start();
    let keyboard = Keyboard::connect(&x.display);
    let shortcut = ctrl_alt_space();
    let (first, first_rx) = start(&x.display, &shortcut);
    first.stop();
    // The callback belonged to the thread: it is gone once the thread ended.
    assert_eq!(
        first_rx.recv_timeout(EVENT_TIMEOUT),
        Err(RecvTimeoutError::Disconnected)
    );

    let (second, second_rx) = start(&x.display, &shortcut);
    keyboard.tap_ctrl_alt_space();
    expect_events(&second_rx, &[Pressed, Released]);

    // Dropping without stop releases it as well.
    drop(second);
    assert_eq!(
        second_rx.recv_timeout(EVENT_TIMEOUT),
        Err(RecvTimeoutError::Disconnected)
    );
    let (third, third_rx) = start(&x.display, &shortcut);
    keyboard.tap_ctrl_alt_space();
    expect_events(&third_rx, &[Pressed, Released]);
    third.stop();
}

#[test]
fn other_shortcuts_and_keys() {
    let x = Xvfb::start();
    let keyboard = Keyboard::connect(&x.display);
    let shortcut: Shortcut = "Super+H".parse().unwrap();
    let (listener, rx) = start(&x.display, &shortcut);
    let super_l = 0xffeb;
    keyboard.key(super_l, true);
    keyboard.toggle(0x68);
    keyboard.key(super_l, false);
    expect_events(&rx, &[Pressed, Released]);
    listener.stop();

    let f9: Shortcut = "F9".parse().unwrap();
    let (listener, rx) = start(&x.display, &f9);
    keyboard.toggle(0xffc6);
    expect_events(&rx, &[Pressed, Released]);
    listener.stop();
}

#[test]
fn bad_shortcut_texts_are_explained() {
    let err = "Ctrl+Alt+Spcae".parse::<Shortcut>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown key \"Spcae\"; did you mean Space?"
    );
    assert!(matches!(
        "Ctrl+Alt".parse::<Shortcut>(),
        Err(ShortcutError::NoKey { .. })
    ));
    assert!(matches!("".parse::<Shortcut>(), Err(ShortcutError::Empty)));
    assert!(matches!(
        "Ctrl+A+B".parse::<Shortcut>(),
        Err(ShortcutError::TwoKeys { .. })
    ));
}

/// The real `listen()` reads DISPLAY from the environment; run it in a child
/// process of this test binary so no other test sees the changed variable.
#[test]
fn no_display_is_reported() {
    const CHILD: &str = "EZFLOW_TEST_CHILD_NO_DISPLAY";
    if std::env::var_os(CHILD).is_some() {
        let display = std::env::var("DISPLAY").unwrap();
        let err = listen(&ctrl_alt_space(), Box::new(|_| {}))
            .err()
            .expect("listening without a display must fail");
        assert!(matches!(err, HotkeyError::NoDisplay { .. }), "{err:?}");
        assert!(err.to_string().contains(&display), "{err}");
        return;
    }
    let display = unused_display();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_display_is_reported",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("DISPLAY", &display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_SESSION_TYPE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}
