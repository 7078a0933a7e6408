//! Text insertion against a real X server: a private Xvfb per test, a small
//! text-window client written here that has the keyboard focus and behaves
//! like an editor (keycodes → text through the keyboard mapping, honouring
//! Shift, Caps Lock and mapping changes; Ctrl+V asks for the CLIPBOARD as
//! UTF8_STRING), clipboard owners and a clipboard reader of the test's own.

use std::time::Instant;

use ezflow_desktop::insert::{
    clipboard, clipboard_in, text_inserter, text_inserter_in, DisplayEnv, InsertError,
    InsertMethod, Insertion, TextInserter,
};
use ezflow_testbed::x11_apps::*;
use ezflow_testbed::xvfb::{unused_display, Xvfb};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, KeyButMask};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::NONE;

fn inserter(display: &str) -> Box<dyn TextInserter> {
    text_inserter_in(&DisplayEnv::x11(display)).unwrap()
}

// ---------------------------------------------------------------- tests

#[test]
fn paste_inserts_and_restores_the_previous_clipboard() {
    let x = Xvfb::start();
    let previous = TestOwner::start(&x.display, "previous clipboard", true);
    let window = TextWindow::open(&x.display);
    let inserter = inserter(&x.display);

    let result = inserter
        .insert("Hello from EZ Flow.", InsertMethod::Paste)
        .unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Paste,
            clipboard_restored: true
        }
    );
    window.wait_for_text("Hello from EZ Flow.");
    previous.wait_lost();
    assert_eq!(
        read_clipboard(&x.display).as_deref(),
        Some("previous clipboard")
    );

    // Again, with text no keyboard has; the restored clipboard is ours now.
    let result = inserter.insert(" Grüße — 😀", InsertMethod::Paste).unwrap();
    assert!(result.clipboard_restored);
    window.wait_for_text("Hello from EZ Flow. Grüße — 😀");
    assert_eq!(
        read_clipboard(&x.display).as_deref(),
        Some("previous clipboard")
    );

    // The inserter gone, the restored clipboard is still served.
    drop(inserter);
    assert_eq!(
        read_clipboard(&x.display).as_deref(),
        Some("previous clipboard")
    );
}

#[test]
fn paste_with_an_empty_clipboard_leaves_it_empty() {
    let x = Xvfb::start();
    let window = TextWindow::open(&x.display);
    assert_eq!(clipboard_owner(&x.display), NONE);
    let result = inserter(&x.display)
        .insert("nothing was copied", InsertMethod::Paste)
        .unwrap();
    assert!(result.clipboard_restored);
    window.wait_for_text("nothing was copied");
    assert_eq!(clipboard_owner(&x.display), NONE);
    assert_eq!(read_clipboard(&x.display), None);
}

#[test]
fn paste_goes_ahead_when_the_clipboard_owner_does_not_answer() {
    let x = Xvfb::start();
    let _hung = TestOwner::start(&x.display, "never served", false);
    let window = TextWindow::open(&x.display);
    let started = Instant::now();
    let result = inserter(&x.display)
        .insert("pasted anyway", InsertMethod::Paste)
        .unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Paste,
            clipboard_restored: false
        }
    );
    window.wait_for_text("pasted anyway");
    assert!(started.elapsed() < TIMEOUT);
    // Nothing to restore: the transcript stays on the clipboard.
    assert_eq!(read_clipboard(&x.display).as_deref(), Some("pasted anyway"));
}

#[test]
fn type_writes_the_exact_text_and_gives_borrowed_keys_back() {
    let x = Xvfb::start();
    let window = TextWindow::open(&x.display);
    let before = window.state.0.lock().unwrap().keymap.clone().unwrap();
    let previous = TestOwner::start(&x.display, "untouched", true);
    let inserter = inserter(&x.display);

    let result = inserter
        .insert("Grüße — ok 42\n", InsertMethod::Type)
        .unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Type,
            clipboard_restored: true
        }
    );
    window.wait_for_text("Grüße — ok 42\n");

    // ü, ß and — are not on Xvfb's US layout: they went through borrowed
    // keycodes, which get their empty mapping back shortly after.
    assert!(window.state.0.lock().unwrap().keymap_changes > 0);
    window.wait_for_keymap(&before);
    assert!(previous.still_owner(), "typing touched the clipboard");
    assert_eq!(read_clipboard(&x.display).as_deref(), Some("untouched"));

    // Emoji, tabs, capitals and symbols that need Shift.
    inserter
        .insert("😀\tA-Z? {x}: \"q\"", InsertMethod::Type)
        .unwrap();
    window.wait_for_text("Grüße — ok 42\n😀\tA-Z? {x}: \"q\"");
}

/// Maps every keycode without keysyms but the first `leave` to a keysym the
/// tests never type, as a keyboard with few free keycodes would have.
fn occupy_spare_keycodes(display: &str, leave: usize) {
    let (conn, _) = x11rb::connect(Some(display)).unwrap();
    let map = KeyboardMap::fetch(&conn);
    let spares: Vec<u8> = (map.min_keycode..=conn.setup().max_keycode)
        .filter(|&k| map.syms(k).iter().all(|&s| s == 0))
        .collect();
    assert!(
        spares.len() > leave,
        "Xvfb has only {} spare keycodes",
        spares.len()
    );
    for &keycode in &spares[leave..] {
        let syms = vec![0x0100_2603; map.per]; // ☃, never typed here
        conn.change_keyboard_mapping(1, keycode, u8::try_from(map.per).unwrap(), &syms)
            .unwrap();
    }
    conn.get_input_focus().unwrap().reply().unwrap();
}

#[test]
fn type_reuses_few_spare_keycodes_in_batches() {
    let x = Xvfb::start();
    occupy_spare_keycodes(&x.display, 2);
    let window = TextWindow::open(&x.display);
    let before = window.state.0.lock().unwrap().keymap.clone().unwrap();
    let text = "αβγ δεζ αω";
    inserter(&x.display)
        .insert(text, InsertMethod::Type)
        .unwrap();
    window.wait_for_text(text);
    window.wait_for_keymap(&before);
}

#[test]
fn type_without_spare_keycodes_fails_before_typing() {
    let x = Xvfb::start();
    occupy_spare_keycodes(&x.display, 0);
    let window = TextWindow::open(&x.display);
    let inserter = inserter(&x.display);
    let err = inserter.insert("aα", InsertMethod::Type).unwrap_err();
    assert!(matches!(err, InsertError::NoSpareKeycode), "{err:?}");
    assert!(err.to_string().contains("Paste"), "{err}");
    // Layout characters still type, and pasting needs no spare keycode.
    inserter.insert("x", InsertMethod::Type).unwrap();
    window.wait_for_text("x");
    inserter.insert("α", InsertMethod::Paste).unwrap();
    window.wait_for_text("xα");
}

#[test]
fn type_is_right_with_caps_lock_on() {
    let x = Xvfb::start();
    let window = TextWindow::open(&x.display);
    let (conn, _) = x11rb::connect(Some(&x.display)).unwrap();
    let map = KeyboardMap::fetch(&conn);
    let caps = map.keycode(0xffe5);
    conn.xtest_fake_input(2, caps, 0, 0, 0, 0, 0).unwrap();
    conn.xtest_fake_input(3, caps, 0, 0, 0, 0, 0).unwrap();
    let root = conn.setup().roots[0].root;
    let state = conn.query_pointer(root).unwrap().reply().unwrap().mask;
    assert!(
        state.contains(KeyButMask::LOCK),
        "Caps Lock did not turn on"
    );

    inserter(&x.display)
        .insert("Ab ü", InsertMethod::Type)
        .unwrap();
    window.wait_for_text("Ab ü");
    let state = conn.query_pointer(root).unwrap().reply().unwrap().mask;
    assert!(state.contains(KeyButMask::LOCK), "Caps Lock was left off");
}

#[test]
fn empty_text_touches_nothing() {
    let x = Xvfb::start();
    let previous = TestOwner::start(&x.display, "previous clipboard", true);
    let window = TextWindow::open(&x.display);
    let inserter = inserter(&x.display);
    for method in [InsertMethod::Paste, InsertMethod::Type] {
        let result = inserter.insert("", method).unwrap();
        assert_eq!(
            result,
            Insertion {
                method,
                clipboard_restored: true
            }
        );
    }
    // Keys sent by the empty insertions would arrive before this marker.
    inserter.insert("x", InsertMethod::Type).unwrap();
    window.wait_for_text("x");
    assert!(
        previous.still_owner(),
        "an empty insertion took the clipboard"
    );
    assert_eq!(
        read_clipboard(&x.display).as_deref(),
        Some("previous clipboard")
    );
}

#[test]
fn clipboard_set_text_is_served_until_someone_else_copies() {
    let x = Xvfb::start();
    let board = clipboard_in(&DisplayEnv::x11(&x.display)).unwrap();
    assert_eq!(board.text().unwrap(), None);
    board.set_text("last transcript — ü").unwrap();
    assert_eq!(
        read_clipboard(&x.display).as_deref(),
        Some("last transcript — ü")
    );
    assert_eq!(
        board.text().unwrap().as_deref(),
        Some("last transcript — ü")
    );

    let _other = TestOwner::start(&x.display, "copied elsewhere", true);
    assert_eq!(board.text().unwrap().as_deref(), Some("copied elsewhere"));
    board.set_text("again").unwrap();
    assert_eq!(read_clipboard(&x.display).as_deref(), Some("again"));
}

#[test]
fn large_clipboard_text_sent_incrementally_is_read_and_restored() {
    let x = Xvfb::start();
    // 3000 bytes in chunks of 1001, the first split inside a character.
    let text: String = "é€abc".repeat(375);
    assert_eq!(text.len(), 3000);
    assert!(!text.is_char_boundary(1001));
    let _previous = TestOwner::start_incr(&x.display, &text, 1001);
    let board = clipboard_in(&DisplayEnv::x11(&x.display)).unwrap();
    assert_eq!(board.text().unwrap().as_deref(), Some(text.as_str()));

    let window = TextWindow::open(&x.display);
    let result = inserter(&x.display)
        .insert("short transcript", InsertMethod::Paste)
        .unwrap();
    assert!(result.clipboard_restored);
    window.wait_for_text("short transcript");
    assert_eq!(read_clipboard(&x.display).as_deref(), Some(text.as_str()));
}

#[test]
fn clipboard_text_times_out_on_a_hung_owner() {
    let x = Xvfb::start();
    let _hung = TestOwner::start(&x.display, "never served", false);
    let board = clipboard_in(&DisplayEnv::x11(&x.display)).unwrap();
    let err = board.text().unwrap_err();
    assert!(
        matches!(err, InsertError::ClipboardTimeout { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[test]
fn a_server_without_xtest_is_reported() {
    let x = Xvfb::start_with_args(&["-extension", "XTEST"]);
    let err = text_inserter_in(&DisplayEnv::x11(&x.display))
        .err()
        .expect("no XTEST must be an error");
    assert!(matches!(err, InsertError::NoXTest { .. }), "{err:?}");
    assert!(err.to_string().contains("XTEST"), "{err}");
}

/// The real `text_inserter()` and `clipboard()` read DISPLAY from the
/// environment; run them in a child process of this test binary so no
/// other test sees the changed variable.
#[test]
fn no_display_is_reported() {
    const CHILD: &str = "EZFLOW_TEST_CHILD_NO_DISPLAY";
    if std::env::var_os(CHILD).is_some() {
        let display = std::env::var("DISPLAY").unwrap();
        let err = text_inserter().err().expect("no display must fail");
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err:?}");
        assert!(err.to_string().contains(&display), "{err}");
        let err = clipboard().err().expect("no display must fail");
        assert!(matches!(err, InsertError::NoDisplay { .. }), "{err:?}");
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
