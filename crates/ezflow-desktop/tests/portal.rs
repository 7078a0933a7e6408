//! The Wayland hotkey through the XDG GlobalShortcuts portal, against a real
//! private `dbus-daemon` per test.
//!
//! The portal itself is a stand-in served here with zbus: the real
//! `xdg-desktop-portal` needs a running desktop (a compositor and its portal
//! backend, which shows the confirmation dialog), which this machine does not
//! have. The stand-in implements `org.freedesktop.portal.GlobalShortcuts` as
//! the portal documentation describes it: `CreateSession` and
//! `BindShortcuts` answer with a `Response` signal on the predictable
//! Request path, the session object has `Close`, and the test emits
//! `Activated` / `Deactivated` itself, as the desktop would on a key press,
//! and the session's `Closed`, as the desktop does when it ends a session.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ezflow_desktop::hotkey::portal::listen_on;
use ezflow_desktop::hotkey::{HotkeyError, HotkeyEvent, HotkeyListener, Shortcut};
use ezflow_testbed::dbus::DbusSession;
use ezflow_testbed::portal::{
    emit_session_closed, request_path, respond_later, serve_portal,
    serve_portal_without_the_interface, session_path, string, PORTAL_PATH,
};
use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use HotkeyEvent::{Pressed, Released};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Long enough to be sure nothing more is coming after the portal's last
/// signal has been handled (a marker signal is used to know that).
const QUIET: Duration = Duration::from_millis(300);

/// What the stand-in saw.
#[derive(Debug, Clone)]
enum Seen {
    Bound {
        session: String,
        id: String,
        trigger: String,
        description: String,
    },
    Closed {
        session: String,
    },
}

/// The stand-in `org.freedesktop.portal.GlobalShortcuts`.
struct StandIn {
    seen: Sender<Seen>,
    /// The `response` code BindShortcuts answers with (0 bound, 1 cancelled).
    bind_response: u32,
    /// Whether the session emits `Closed` when the client closes it too
    /// (xdg-desktop-portal does not; a portal that did must not confuse us).
    closed_on_close: bool,
    conn: Arc<Mutex<Option<Connection>>>,
}

#[zbus::interface(name = "org.freedesktop.portal.GlobalShortcuts")]
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
                    seen: self.seen.clone(),
                    path: session.clone(),
                    closed_on_close: self.closed_on_close,
                    conn: Arc::clone(&self.conn),
                },
            )
            .unwrap();
        let results = HashMap::from([(
            "session_handle".to_owned(),
            Value::from(session.as_str()).try_to_owned().unwrap(),
        )]);
        respond_later(&self.conn, request.clone(), 0, results);
        request
    }

    fn bind_shortcuts(
        &self,
        #[zbus(header)] header: Header<'_>,
        session_handle: ObjectPath<'_>,
        shortcuts: Vec<(String, HashMap<String, OwnedValue>)>,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let request = request_path(&header, &string(&options, "handle_token").unwrap());
        for (id, props) in &shortcuts {
            self.seen
                .send(Seen::Bound {
                    session: session_handle.to_string(),
                    id: id.clone(),
                    trigger: string(props, "preferred_trigger").unwrap(),
                    description: string(props, "description").unwrap(),
                })
                .unwrap();
        }
        respond_later(
            &self.conn,
            request.clone(),
            self.bind_response,
            HashMap::new(),
        );
        request
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

struct SessionStandIn {
    seen: Sender<Seen>,
    path: String,
    closed_on_close: bool,
    conn: Arc<Mutex<Option<Connection>>>,
}

#[zbus::interface(name = "org.freedesktop.portal.Session")]
impl SessionStandIn {
    fn close(&self) {
        let _ = self.seen.send(Seen::Closed {
            session: self.path.clone(),
        });
        if self.closed_on_close {
            let conn = self.conn.lock().unwrap().clone().unwrap();
            let path = self.path.clone();
            // The client may be gone already.
            std::thread::spawn(move || {
                let _ = emit_session_closed(&conn, &path);
            });
        }
    }
}

/// A running stand-in portal on a private bus.
struct Portal {
    bus: DbusSession,
    conn: Connection,
    seen: Receiver<Seen>,
}

impl Portal {
    fn start(bind_response: u32) -> Portal {
        Portal::start_with(bind_response, false)
    }

    fn start_with(bind_response: u32, closed_on_close: bool) -> Portal {
        let bus = DbusSession::start();
        let (tx, seen) = mpsc::channel();
        let slot = Arc::new(Mutex::new(None));
        let conn = serve_portal(
            &bus,
            StandIn {
                seen: tx,
                bind_response,
                closed_on_close,
                conn: Arc::clone(&slot),
            },
        );
        *slot.lock().unwrap() = Some(conn.clone());
        Portal { bus, conn, seen }
    }

    fn next_seen(&self) -> Seen {
        self.seen
            .recv_timeout(EVENT_TIMEOUT)
            .expect("the stand-in portal saw nothing within the timeout")
    }

    /// Emits a GlobalShortcuts signal, as the desktop does on a key press.
    fn emit(&self, member: &str, session: &str, id: &str) {
        let options: HashMap<&str, Value<'_>> = HashMap::new();
        self.conn
            .emit_signal(
                None::<&str>,
                PORTAL_PATH,
                "org.freedesktop.portal.GlobalShortcuts",
                member,
                &(ObjectPath::try_from(session).unwrap(), id, 1234u64, options),
            )
            .unwrap();
    }
}

fn ctrl_alt_space() -> Shortcut {
    "Ctrl+Alt+Space".parse().unwrap()
}

type Events = Receiver<HotkeyEvent>;

fn listen(portal: &Portal, shortcut: &Shortcut) -> (Box<dyn HotkeyListener>, Events) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let listener = listen_on(
        &portal.bus.address,
        shortcut,
        Box::new(move |event| {
            let _ = tx.lock().unwrap().send(event);
        }),
    )
    .unwrap();
    (listener, rx)
}

fn next_event(events: &Events) -> HotkeyEvent {
    events
        .recv_timeout(EVENT_TIMEOUT)
        .expect("no hotkey event within the timeout")
}

fn assert_quiet(events: &Events) {
    match events.recv_timeout(QUIET) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected no more events, got {other:?}"),
    }
}

fn bound_session(portal: &Portal) -> String {
    match portal.next_seen() {
        Seen::Bound {
            session,
            id,
            trigger,
            description,
        } => {
            assert_eq!(id, "dictation");
            assert_eq!(trigger, "CTRL+ALT+space");
            assert_eq!(description, "EZ Flow dictation");
            session
        }
        other => panic!("expected BindShortcuts, got {other:?}"),
    }
}

#[test]
fn binds_with_the_portal_trigger_and_reports_press_and_release() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    assert_eq!(listener.shortcut(), &ctrl_alt_space());
    let session = bound_session(&portal);

    portal.emit("Activated", &session, "dictation");
    assert_eq!(next_event(&events), Pressed);
    portal.emit("Deactivated", &session, "dictation");
    assert_eq!(next_event(&events), Released);
    // A second press and release, each reported once.
    portal.emit("Activated", &session, "dictation");
    portal.emit("Deactivated", &session, "dictation");
    assert_eq!(next_event(&events), Pressed);
    assert_eq!(next_event(&events), Released);
    assert_quiet(&events);
    listener.stop();
}

#[test]
fn ignores_other_shortcuts_and_other_sessions() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    let session = bound_session(&portal);
    let other_session = format!("{PORTAL_PATH}/session/1_99/someone_else");

    portal.emit("Activated", &session, "other-shortcut");
    portal.emit("Activated", &other_session, "dictation");
    portal.emit("Deactivated", &other_session, "dictation");
    // Signals arrive in order: once ours is reported, the others were seen
    // and dropped.
    portal.emit("Activated", &session, "dictation");
    assert_eq!(next_event(&events), Pressed);
    assert_quiet(&events);
    listener.stop();
}

#[test]
fn stop_closes_the_session_and_ends_the_thread() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    let session = bound_session(&portal);

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        listener.stop();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(EVENT_TIMEOUT)
        .expect("stop() did not return: the listener thread did not end");
    match portal.next_seen() {
        Seen::Closed { session: closed } => assert_eq!(closed, session),
        other => panic!("expected Session.Close, got {other:?}"),
    }
    // The thread is gone with its callback: the events channel is closed.
    portal.emit("Activated", &session, "dictation");
    match events.recv_timeout(EVENT_TIMEOUT) {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!("expected the listener's callback to be dropped, got {other:?}"),
    }
}

#[test]
fn a_cancelled_binding_is_an_error_and_closes_the_session() {
    let portal = Portal::start(1);
    let err = listen_on(&portal.bus.address, &ctrl_alt_space(), Box::new(|_| {}))
        .err()
        .expect("a cancelled BindShortcuts must fail");
    assert!(matches!(err, HotkeyError::Portal { .. }), "{err}");
    assert!(err.to_string().contains("cancelled"), "{err}");
    let session = bound_session(&portal);
    match portal.next_seen() {
        Seen::Closed { session: closed } => assert_eq!(closed, session),
        other => panic!("expected Session.Close, got {other:?}"),
    }
}

#[test]
fn no_portal_on_the_bus_fails_quickly() {
    let bus = DbusSession::start();
    let started = Instant::now();
    let err = listen_on(&bus.address, &ctrl_alt_space(), Box::new(|_| {}))
        .err()
        .expect("no portal must fail");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, HotkeyError::Portal { .. }), "{err}");
    assert!(err.to_string().contains("no desktop portal"), "{err}");
}

#[test]
fn a_portal_without_global_shortcuts_says_so() {
    let bus = DbusSession::start();
    // A portal (an older one, say) that serves other interfaces but no
    // GlobalShortcuts.
    let _other = serve_portal_without_the_interface(&bus);
    let err = listen_on(&bus.address, &ctrl_alt_space(), Box::new(|_| {}))
        .err()
        .expect("a portal without GlobalShortcuts must fail");
    assert!(err.to_string().contains("no GlobalShortcuts"), "{err}");
}

#[test]
fn no_bus_at_all_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("nobody").display());
    let err = listen_on(&address, &ctrl_alt_space(), Box::new(|_| {}))
        .err()
        .expect("no bus must fail");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[test]
fn triggers_are_written_the_way_the_shortcuts_spec_wants() {
    use ezflow_desktop::hotkey::portal::preferred_trigger;
    for (text, trigger) in [
        ("Ctrl+Alt+Space", "CTRL+ALT+space"),
        ("Super+F9", "LOGO+F9"),
        ("F12", "F12"),
        ("Ctrl+Shift+PageUp", "CTRL+SHIFT+Page_Up"),
        ("Ctrl+Alt+Backspace", "CTRL+ALT+BackSpace"),
        ("Alt+Shift+Super+A", "ALT+SHIFT+LOGO+a"),
        ("Ctrl+7", "CTRL+7"),
        ("Ctrl+Comma", "CTRL+comma"),
        ("Ctrl+Alt+Return", "CTRL+ALT+Return"),
    ] {
        let shortcut: Shortcut = text.parse().unwrap();
        assert_eq!(preferred_trigger(&shortcut), trigger, "{text}");
    }
}

#[test]
fn dropping_the_listener_closes_the_session_too() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    let session = bound_session(&portal);
    drop(listener);
    match portal.next_seen() {
        Seen::Closed { session: closed } => assert_eq!(closed, session),
        other => panic!("expected Session.Close, got {other:?}"),
    }
    match events.recv_timeout(EVENT_TIMEOUT) {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!("expected the listener's callback to be dropped, got {other:?}"),
    }
}

/// Waits until the listener's callback is gone (the listener stopped) and
/// returns every event it reported.
fn events_until_dropped(events: &Events) -> Vec<HotkeyEvent> {
    let mut all = Vec::new();
    loop {
        match events.recv_timeout(EVENT_TIMEOUT) {
            Ok(event) => all.push(event),
            Err(RecvTimeoutError::Disconnected) => return all,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the listener's callback was not dropped; events so far: {all:?}")
            }
        }
    }
}

#[test]
fn a_session_closed_by_the_portal_is_reported_lost_once() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    let session = bound_session(&portal);

    portal.emit("Activated", &session, "dictation");
    assert_eq!(next_event(&events), Pressed);
    emit_session_closed(&portal.conn, &session).unwrap();
    match next_event(&events) {
        HotkeyEvent::Lost { reason } => {
            assert!(reason.contains("closed the session"), "{reason}")
        }
        other => panic!("expected Lost, got {other:?}"),
    }
    // Nothing after Lost, not even the release of the key held down.
    portal.emit("Deactivated", &session, "dictation");
    portal.emit("Activated", &session, "dictation");
    assert_quiet(&events);

    listener.stop();
    assert_eq!(events_until_dropped(&events), vec![]);
    // The session was gone: stop() did not try to close it.
    assert!(
        portal.seen.try_recv().is_err(),
        "stop() closed a session the portal had closed"
    );
}

#[test]
fn the_bus_connection_ending_is_reported_lost_once() {
    let portal = Portal::start(0);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    bound_session(&portal);
    let Portal { bus, conn, .. } = portal;

    // The session bus goes away (the session ends, or the bus crashed).
    drop(conn);
    drop(bus);
    match next_event(&events) {
        HotkeyEvent::Lost { reason } => assert!(reason.contains("D-Bus"), "{reason}"),
        other => panic!("expected Lost, got {other:?}"),
    }
    assert_quiet(&events);
    listener.stop();
    assert_eq!(events_until_dropped(&events), vec![]);
}

#[test]
fn stop_reports_no_lost_even_when_the_portal_signals_closed() {
    // A portal that also emits Closed for a session the client closed.
    let portal = Portal::start_with(0, true);
    let (listener, events) = listen(&portal, &ctrl_alt_space());
    let session = bound_session(&portal);
    portal.emit("Activated", &session, "dictation");
    assert_eq!(next_event(&events), Pressed);

    listener.stop();
    match portal.next_seen() {
        Seen::Closed { session: closed } => assert_eq!(closed, session),
        other => panic!("expected Session.Close, got {other:?}"),
    }
    assert_eq!(events_until_dropped(&events), vec![]);
}
