//! Wayland text insertion through the XDG RemoteDesktop portal, against a
//! real private `dbus-daemon` per test (and a real Xvfb for the paste).
//!
//! The portal itself is a stand-in served here with zbus: the real
//! `xdg-desktop-portal` needs a running Wayland compositor and its portal
//! backend (which shows the consent dialog and turns keysyms into key
//! events), and none can run on this machine. The stand-in implements
//! `org.freedesktop.portal.RemoteDesktop` as the portal documentation
//! describes it: `CreateSession`, `SelectDevices` and `Start` answer with a
//! `Response` signal on the predictable Request path, `Start` hands out a
//! new restore token each time, `NotifyKeyboardKeysym` is refused for a
//! session that is not started or was closed, and the session object has
//! `Close` and emits `Closed` when the desktop ends it. It records what it
//! was sent; the assertions are on that record, which is exactly what a
//! compositor would have been asked to type.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ezflow_desktop::insert::{
    InsertError, InsertMethod, Insertion, RemoteDesktopInserter, TextInserter,
};
use ezflow_testbed::dbus::DbusSession;
use ezflow_testbed::portal::{
    emit_session_closed, request_path, respond_later, serve_portal,
    serve_portal_without_the_interface, session_path, string,
};
use ezflow_testbed::{x11_apps, xvfb};
use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

const WAIT: Duration = Duration::from_secs(10);

const RETURN: i32 = 0xff0d;
const TAB: i32 = 0xff09;
const CONTROL_L: i32 = 0xffe3;
const V: i32 = 0x76;

/// How the stand-in behaves.
#[derive(Clone)]
struct Config {
    /// `AvailableDeviceTypes` (1 keyboard, 2 pointer, 4 touchscreen).
    devices: u32,
    /// The `response` code of `Start` (0 allowed, 1 the user cancelled).
    start_response: u32,
    /// When set, a Ctrl+V makes the stand-in read this X display's
    /// CLIPBOARD, as the focused application would on paste.
    paste_display: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            devices: 7,
            start_response: 0,
            paste_display: None,
        }
    }
}

/// The options `SelectDevices` received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selected {
    types: Option<u32>,
    persist_mode: Option<u32>,
    restore_token: Option<String>,
}

/// What the stand-in saw and holds.
#[derive(Default)]
struct Record {
    /// Sessions that exist, and whether they were started.
    sessions: HashMap<String, bool>,
    selected: Vec<Selected>,
    /// Every accepted key event: (keysym, state).
    keys: Vec<(i32, u32)>,
    /// Sessions the client closed.
    closed_by_client: Vec<String>,
    tokens_handed_out: u32,
    control_down: bool,
}

/// The stand-in `org.freedesktop.portal.RemoteDesktop`.
struct StandIn {
    config: Config,
    record: Arc<Mutex<Record>>,
    conn: Arc<Mutex<Option<Connection>>>,
    pasted: Sender<Option<String>>,
}

fn number(options: &HashMap<String, OwnedValue>, key: &str) -> Option<u32> {
    options
        .get(key)
        .map(|v| u32::try_from(v).unwrap_or_else(|e| panic!("{key} is not a u32: {e}")))
}

fn owned(value: Value<'_>) -> OwnedValue {
    value.try_to_owned().unwrap()
}

#[zbus::interface(name = "org.freedesktop.portal.RemoteDesktop")]
impl StandIn {
    fn create_session(
        &self,
        #[zbus(header)] header: Header<'_>,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &string(&options, "handle_token").unwrap());
        let session = session_path(&request, &options);
        let conn = self.conn.lock().unwrap().clone().unwrap();
        conn.object_server()
            .at(
                session.as_str(),
                SessionStandIn {
                    record: Arc::clone(&self.record),
                    path: session.clone(),
                },
            )
            .unwrap();
        self.record
            .lock()
            .unwrap()
            .sessions
            .insert(session.clone(), false);
        let results = HashMap::from([(
            "session_handle".to_owned(),
            owned(Value::from(session.as_str())),
        )]);
        respond_later(&self.conn, request.clone(), 0, results);
        request
    }

    fn select_devices(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &string(&options, "handle_token").unwrap());
        let mut record = self.record.lock().unwrap();
        assert!(record.sessions.contains_key(session_handle.as_str()));
        record.selected.push(Selected {
            types: number(&options, "types"),
            persist_mode: number(&options, "persist_mode"),
            restore_token: string(&options, "restore_token"),
        });
        respond_later(&self.conn, request.clone(), 0, HashMap::new());
        request
    }

    fn start(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &string(&options, "handle_token").unwrap());
        let mut results = HashMap::new();
        if self.config.start_response == 0 {
            let mut record = self.record.lock().unwrap();
            record
                .sessions
                .insert(session_handle.to_string(), true)
                .expect("Start on an unknown session");
            record.tokens_handed_out += 1;
            let token = format!("restore-token-{}", record.tokens_handed_out);
            results.insert("devices".to_owned(), owned(Value::from(1u32)));
            results.insert("restore_token".to_owned(), owned(Value::from(token)));
        }
        respond_later(
            &self.conn,
            request.clone(),
            self.config.start_response,
            results,
        );
        request
    }

    fn notify_keyboard_keysym(
        &self,
        session_handle: ObjectPath<'_>,
        _options: HashMap<String, OwnedValue>,
        keysym: i32,
        state: u32,
    ) -> zbus::fdo::Result<()> {
        let mut record = self.record.lock().unwrap();
        if record.sessions.get(session_handle.as_str()) != Some(&true) {
            return Err(zbus::fdo::Error::AccessDenied(
                "no started session with this handle".to_owned(),
            ));
        }
        record.keys.push((keysym, state));
        if keysym == CONTROL_L {
            record.control_down = state == 1;
        }
        if keysym == V && state == 1 && record.control_down {
            if let Some(display) = self.config.paste_display.clone() {
                // The focused application asks for the clipboard after the
                // key press, on its own time.
                let pasted = self.pasted.clone();
                std::thread::spawn(move || {
                    let _ = pasted.send(x11_apps::read_clipboard(&display));
                });
            }
        }
        Ok(())
    }

    #[zbus(property, name = "AvailableDeviceTypes")]
    fn available_device_types(&self) -> u32 {
        self.config.devices
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        2
    }
}

struct SessionStandIn {
    record: Arc<Mutex<Record>>,
    path: String,
}

#[zbus::interface(name = "org.freedesktop.portal.Session")]
impl SessionStandIn {
    fn close(&self) {
        let mut record = self.record.lock().unwrap();
        record.sessions.remove(&self.path);
        record.closed_by_client.push(self.path.clone());
    }
}

/// A running stand-in portal on a private bus.
struct Portal {
    bus: DbusSession,
    conn: Connection,
    record: Arc<Mutex<Record>>,
    pasted: Receiver<Option<String>>,
}

impl Portal {
    fn start(config: Config) -> Portal {
        let bus = DbusSession::start();
        let record = Arc::new(Mutex::new(Record::default()));
        let slot = Arc::new(Mutex::new(None));
        let (pasted_tx, pasted) = mpsc::channel();
        let conn = serve_portal(
            &bus,
            StandIn {
                config,
                record: Arc::clone(&record),
                conn: Arc::clone(&slot),
                pasted: pasted_tx,
            },
        );
        *slot.lock().unwrap() = Some(conn.clone());
        Portal {
            bus,
            conn,
            record,
            pasted,
        }
    }

    fn connect(&self, token_file: Option<&Path>) -> RemoteDesktopInserter {
        RemoteDesktopInserter::connect_on(&self.bus.address, token_file, None)
            .expect("connecting to the stand-in RemoteDesktop portal")
    }

    fn keys(&self) -> Vec<(i32, u32)> {
        self.record.lock().unwrap().keys.clone()
    }

    fn selected(&self) -> Vec<Selected> {
        self.record.lock().unwrap().selected.clone()
    }

    fn closed_by_client(&self) -> Vec<String> {
        self.record.lock().unwrap().closed_by_client.clone()
    }

    /// The one session that exists now.
    fn session(&self) -> String {
        let record = self.record.lock().unwrap();
        let sessions: Vec<&String> = record.sessions.keys().collect();
        assert_eq!(sessions.len(), 1, "sessions: {sessions:?}");
        sessions[0].clone()
    }

    /// Ends `session` from the desktop's side (the user revoked the
    /// permission): it is gone, and its `Closed` signal goes out. With
    /// `still_accept_keys`, a sloppy portal that signals `Closed` but goes on
    /// taking key presses for the session.
    fn end_session(&self, session: &str, still_accept_keys: bool) {
        if !still_accept_keys {
            self.record.lock().unwrap().sessions.remove(session);
        }
        emit_session_closed(&self.conn, session).unwrap();
    }
}

/// Press and release of each keysym.
fn strokes(keysyms: &[i32]) -> Vec<(i32, u32)> {
    keysyms.iter().flat_map(|&k| [(k, 1), (k, 0)]).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The files in `dir`, by name.
fn files_in(dir: &Path) -> HashSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

// ---------------------------------------------------------------- tests

#[test]
fn types_each_character_as_one_keysym_press_and_release() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);

    let result = inserter
        .insert("Hi, 5\nzé€ł\tok", InsertMethod::Type)
        .unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Type,
            clipboard_restored: true
        }
    );
    assert_eq!(
        portal.keys(),
        strokes(&[
            'H' as i32,
            'i' as i32,
            ',' as i32,
            ' ' as i32,
            '5' as i32,
            RETURN,
            'z' as i32,
            0xe9,        // é: Latin-1, its own keysym
            0x0100_20ac, // €: Unicode keysym
            0x0100_0142, // ł: Unicode keysym
            TAB,
            'o' as i32,
            'k' as i32,
        ])
    );
    assert!(!inserter.is_closed());
}

#[test]
fn empty_text_sends_nothing() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);
    for method in [InsertMethod::Type, InsertMethod::Paste] {
        let result = inserter.insert("", method).unwrap();
        assert!(result.clipboard_restored);
    }
    assert_eq!(portal.keys(), vec![]);
}

#[test]
fn paste_without_a_clipboard_types_and_says_so() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);
    let result = inserter.insert("a\n", InsertMethod::Paste).unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Type,
            clipboard_restored: true
        }
    );
    assert_eq!(portal.keys(), strokes(&['a' as i32, RETURN]));
}

#[test]
fn the_inserter_keeps_one_session_and_closes_it_when_dropped() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);
    let session = portal.session();
    inserter.insert("a", InsertMethod::Type).unwrap();
    inserter.insert("b", InsertMethod::Type).unwrap();
    assert_eq!(portal.session(), session, "a second session was made");
    assert_eq!(
        portal.selected().len(),
        1,
        "the devices were selected again"
    );
    assert_eq!(portal.keys(), strokes(&['a' as i32, 'b' as i32]));
    assert_eq!(portal.closed_by_client(), Vec::<String>::new());
    drop(inserter);
    assert_eq!(portal.closed_by_client(), vec![session]);
}

#[test]
fn the_restore_token_is_saved_privately_and_used_next_time() {
    let portal = Portal::start(Config::default());
    let state = tempfile::tempdir().unwrap();
    // The directory does not exist yet: it is made.
    let dir = state.path().join("ezflow");
    let token_file = dir.join("remote-desktop-token");

    let first = portal.connect(Some(&token_file));
    assert_eq!(
        portal.selected(),
        vec![Selected {
            types: Some(1),
            persist_mode: Some(2),
            restore_token: None
        }]
    );
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "restore-token-1\n"
    );
    assert_eq!(mode(&token_file), 0o600);
    drop(first);

    let second = portal.connect(Some(&token_file));
    assert_eq!(
        portal.selected()[1],
        Selected {
            types: Some(1),
            persist_mode: Some(2),
            restore_token: Some("restore-token-1".to_owned())
        }
    );
    // Tokens are single-use: the new one replaced it, still private, and
    // no temporary file is left behind.
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "restore-token-2\n"
    );
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(
        files_in(&dir),
        HashSet::from(["remote-desktop-token".to_owned()])
    );
    second.insert("x", InsertMethod::Type).unwrap();
    assert_eq!(portal.keys(), strokes(&['x' as i32]));
}

#[test]
fn a_corrupt_token_file_is_ignored_and_replaced() {
    let portal = Portal::start(Config::default());
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("remote-desktop-token");
    std::fs::write(&token_file, b"\xff\xfe not a token\n\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let _inserter = portal.connect(Some(&token_file));
    assert_eq!(portal.selected()[0].restore_token, None);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "restore-token-1\n"
    );
    assert_eq!(mode(&token_file), 0o600);
}

#[test]
fn a_refused_start_is_an_error_and_saves_no_token() {
    let portal = Portal::start(Config {
        start_response: 1,
        ..Config::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("remote-desktop-token");
    let err = RemoteDesktopInserter::connect_on(&portal.bus.address, Some(&token_file), None)
        .err()
        .expect("a cancelled Start must fail");
    assert!(matches!(err, InsertError::Portal { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("cancelled"), "{message}");
    assert!(message.contains("wtype or ydotool"), "{message}");
    assert!(!token_file.exists(), "a token file was written");
    assert_eq!(files_in(dir.path()), HashSet::new());
    // The half-made session was closed again.
    assert_eq!(portal.closed_by_client().len(), 1);
}

#[test]
fn a_desktop_without_a_remote_keyboard_is_an_error() {
    let portal = Portal::start(Config {
        devices: 2, // a pointer only
        ..Config::default()
    });
    let err = RemoteDesktopInserter::connect_on(&portal.bus.address, None, None)
        .err()
        .expect("no keyboard must fail");
    assert!(err.to_string().contains("no keyboard"), "{err}");
    assert_eq!(portal.selected(), vec![], "no session should be set up");
}

#[test]
fn a_session_closed_by_the_desktop_fails_the_next_insert() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);
    inserter.insert("a", InsertMethod::Type).unwrap();
    let session = portal.session();

    portal.end_session(&session, false);
    for method in [InsertMethod::Type, InsertMethod::Paste] {
        let err = inserter
            .insert("b", method)
            .expect_err("inserting into a closed session must fail");
        assert!(matches!(err, InsertError::Portal { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("session is over"), "{message}");
        assert!(message.contains("next dictation"), "{message}");
    }
    assert!(inserter.is_closed());
    // Nothing after the close reached the desktop.
    assert_eq!(portal.keys(), strokes(&['a' as i32]));
    // The session is gone: dropping does not try to close it again.
    drop(inserter);
    assert_eq!(portal.closed_by_client(), Vec::<String>::new());
}

#[test]
fn no_portal_on_the_bus_fails_quickly() {
    let bus = DbusSession::start();
    let started = Instant::now();
    let err = RemoteDesktopInserter::connect_on(&bus.address, None, None)
        .err()
        .expect("no portal must fail");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, InsertError::Portal { .. }), "{err}");
    assert!(err.to_string().contains("no desktop portal"), "{err}");
}

#[test]
fn a_portal_without_remote_desktop_says_so() {
    let bus = DbusSession::start();
    let _other = serve_portal_without_the_interface(&bus);
    let err = RemoteDesktopInserter::connect_on(&bus.address, None, None)
        .err()
        .expect("a portal without RemoteDesktop must fail");
    assert!(err.to_string().contains("no RemoteDesktop"), "{err}");
}

#[test]
fn paste_through_the_xwayland_clipboard_restores_it() {
    let x = xvfb::Xvfb::start();
    let portal = Portal::start(Config {
        paste_display: Some(x.display.clone()),
        ..Config::default()
    });
    let previous = x11_apps::TestOwner::start(&x.display, "previous clipboard", true);
    let inserter =
        RemoteDesktopInserter::connect_on(&portal.bus.address, None, Some(&x.display)).unwrap();

    let result = inserter
        .insert("Grüße — pasted", InsertMethod::Paste)
        .unwrap();
    assert_eq!(
        result,
        Insertion {
            method: InsertMethod::Paste,
            clipboard_restored: true
        }
    );
    // Ctrl+V, and nothing typed.
    assert_eq!(
        portal.keys(),
        vec![(CONTROL_L, 1), (V, 1), (V, 0), (CONTROL_L, 0)]
    );
    // What the application got on Ctrl+V.
    let pasted = portal
        .pasted
        .recv_timeout(WAIT)
        .expect("the stand-in application did not paste");
    assert_eq!(pasted.as_deref(), Some("Grüße — pasted"));
    // The previous clipboard text is back.
    previous.wait_lost();
    assert_eq!(
        x11_apps::read_clipboard(&x.display).as_deref(),
        Some("previous clipboard")
    );
}

#[test]
fn the_closed_signal_alone_ends_the_session() {
    let portal = Portal::start(Config::default());
    let inserter = portal.connect(None);
    let session = portal.session();

    // Only the signal tells the inserter: key presses would still go through.
    portal.end_session(&session, true);
    // The signal is handled on the inserter's own thread; nothing outside
    // can be waited on, so this checks, bounded.
    let deadline = Instant::now() + WAIT;
    while !inserter.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the inserter did not see the session's Closed signal within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = inserter
        .insert("b", InsertMethod::Type)
        .expect_err("inserting into a closed session must fail");
    assert!(matches!(err, InsertError::Portal { .. }), "{err}");
    assert!(
        err.to_string().contains("closed the session"),
        "the reason should be the portal's Closed signal: {err}"
    );
    assert_eq!(portal.keys(), vec![], "a key reached the closed session");
}
