//! Desktop notifications against a real, private `dbus-daemon` per test.
//!
//! The notification server is a stand-in (`ezflow_testbed::notifications`; a
//! real one needs a display and draws popups); it answers like one and
//! records every call. The bus, the messages and the client are real.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ezflow_desktop::notify::{Notifier, NotifyError, CALL_TIMEOUT};
use ezflow_testbed::dbus::DbusSession;
use ezflow_testbed::notifications::{start_server, NotifyCall, PATH, SERVICE};
use zbus::zvariant::OwnedValue;

#[test]
fn notify_replace_and_close_round_trip() {
    let bus = DbusSession::start();
    let (_server, record) = start_server(&bus);
    let notifier = Notifier::connect_to(&bus.address).expect("connects with a server present");

    let loading = notifier
        .notify(
            "Loading model…",
            "base.en is taking longer than a second",
            None,
        )
        .unwrap();
    let loaded = notifier
        .notify("Model loaded", "base.en is ready", Some(loading))
        .unwrap();
    let error = notifier
        .notify("Microphone error", "no input device <default>", None)
        .unwrap();
    notifier.close(loading);

    assert_eq!(loading, 1);
    assert_eq!(loaded, loading, "a replacement keeps the id");
    assert_eq!(error, 2, "a new notification gets a new id");

    let record = record.lock().unwrap();
    let expected = |replaces_id: u32, summary: &str, body: &str| NotifyCall {
        app_name: "EZ Flow".into(),
        replaces_id,
        app_icon: "audio-input-microphone".into(),
        summary: summary.into(),
        body: body.into(),
        actions: vec![],
        hint_names: vec![],
        expire_timeout: -1,
    };
    assert_eq!(
        record.notified,
        [
            expected(
                0,
                "Loading model…",
                "base.en is taking longer than a second"
            ),
            expected(1, "Model loaded", "base.en is ready"),
            expected(0, "Microphone error", "no input device <default>"),
        ]
    );
    assert_eq!(record.closed, [1]);
}

#[test]
fn connect_uses_the_session_bus_from_the_environment() {
    // The only test in this binary that reads DBUS_SESSION_BUS_ADDRESS.
    let bus = DbusSession::start();
    let (_server, record) = start_server(&bus);
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let notifier = Notifier::connect().expect("connects through the environment");
    assert_eq!(notifier.notify("s", "b", None).unwrap(), 1);
    assert_eq!(record.lock().unwrap().notified.len(), 1);
}

#[test]
fn no_notification_server_is_an_error() {
    let bus = DbusSession::start();
    match Notifier::connect_to(&bus.address) {
        Err(NotifyError::NoService) => {}
        Err(other) => panic!("expected NoService, got {other:?}"),
        Ok(_) => panic!("expected NoService, got a notifier"),
    }
}

#[test]
fn a_server_that_goes_away_is_an_error() {
    let bus = DbusSession::start();
    let (server, _record) = start_server(&bus);
    let notifier = Notifier::connect_to(&bus.address).unwrap();
    assert!(notifier.notify("first", "", None).is_ok());

    // The reply to ReleaseName comes after the bus has let the name go.
    server.release_name(SERVICE).unwrap();
    match notifier.notify("second", "", None) {
        Err(NotifyError::NoService) => {}
        other => panic!("expected NoService, got {other:?}"),
    }
    // Closing is best effort and does not fail either.
    notifier.close(1);
}

#[test]
fn no_bus_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("no-bus-here").display());
    match Notifier::connect_to(&address) {
        Err(NotifyError::NoSessionBus(_)) => {}
        Err(other) => panic!("expected NoSessionBus, got {other:?}"),
        Ok(_) => panic!("expected NoSessionBus, got a notifier"),
    }
}

/// Owns the notification service's name but never answers a Notify.
struct SilentServer;

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl SilentServer {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        _summary: String,
        _body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        std::future::pending::<u32>().await
    }
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    let bus = DbusSession::start();
    let _silent = bus.serve(PATH, SERVICE, SilentServer);
    let notifier = Notifier::connect_to(&bus.address).unwrap();
    let started = Instant::now();
    match notifier.notify("s", "b", None) {
        Err(NotifyError::Dbus(_)) => {}
        other => panic!("expected a D-Bus error (timeout), got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= CALL_TIMEOUT - Duration::from_millis(100) && waited < CALL_TIMEOUT * 2,
        "gave up after {waited:?}, the timeout is {CALL_TIMEOUT:?}"
    );
}
