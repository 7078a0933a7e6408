//! What every stand-in XDG desktop portal in these tests shares: the
//! Request object path a client predicts from its handle token, and the
//! `Response` signal sent on it after the method call has returned (the
//! real portal answers that way; the client subscribes before calling),
//! the session's `Closed` signal, and a portal without the interface asked
//! for. The GlobalShortcuts and RemoteDesktop stand-ins themselves are in
//! the desktop crate's tests that use them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::dbus::DbusSession;

/// The portal's bus name.
pub const PORTAL_NAME: &str = "org.freedesktop.portal.Desktop";
/// The portal's object path.
pub const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";

/// `/org/freedesktop/portal/desktop/request/SENDER/TOKEN`, as the portal
/// documentation defines it.
pub fn request_path(header: &Header<'_>, token: &str) -> OwnedObjectPath {
    let sender = header
        .sender()
        .expect("a portal call has a sender")
        .as_str()
        .trim_start_matches(':')
        .replace('.', "_");
    OwnedObjectPath::try_from(format!("{PORTAL_PATH}/request/{sender}/{token}"))
        .expect("a valid request path")
}

/// The string option `key` of a portal call, if given.
pub fn string(options: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    options.get(key).map(|v| match &**v {
        Value::Str(s) => s.to_string(),
        other => panic!("{key} is not a string: {other:?}"),
    })
}

/// The path of the session a `CreateSession` call with `options` makes:
/// `/org/freedesktop/portal/desktop/session/SENDER/TOKEN`, the sender taken
/// from the call's `request` path.
pub fn session_path(request: &OwnedObjectPath, options: &HashMap<String, OwnedValue>) -> String {
    let sender = request
        .as_str()
        .split('/')
        .nth(6)
        .expect("a request path names its sender");
    format!(
        "{PORTAL_PATH}/session/{sender}/{}",
        string(options, "session_handle_token").expect("CreateSession has a session token")
    )
}

/// The session's `Closed` signal, as the portal sends it.
pub fn emit_session_closed(conn: &Connection, session: &str) -> zbus::Result<()> {
    let details: HashMap<&str, Value<'_>> = HashMap::new();
    conn.emit_signal(
        None::<&str>,
        session,
        "org.freedesktop.portal.Session",
        "Closed",
        &(details,),
    )
}

/// Emits the Request's `Response` from another thread, after the method's
/// reply has gone out. `conn` is the stand-in's own connection, set once
/// it is built.
pub fn respond_later(
    conn: &Arc<Mutex<Option<Connection>>>,
    path: OwnedObjectPath,
    code: u32,
    results: HashMap<String, OwnedValue>,
) {
    let conn = conn.clone();
    std::thread::spawn(move || {
        let conn = conn
            .lock()
            .expect("the connection slot lock")
            .clone()
            .expect("the stand-in's connection is set once built");
        let results: HashMap<&str, &OwnedValue> =
            results.iter().map(|(k, v)| (k.as_str(), v)).collect();
        conn.emit_signal(
            None::<&str>,
            path.as_ref(),
            "org.freedesktop.portal.Request",
            "Response",
            &(code, results),
        )
        .expect("emit the Request's Response");
    });
}

/// A portal (an older one, say) that serves other interfaces only.
struct OtherPortal;

#[zbus::interface(name = "org.freedesktop.portal.Settings")]
impl OtherPortal {
    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        2
    }
}

/// Serves, on `bus`, a desktop portal that has only the Settings interface;
/// it runs until the returned connection is dropped.
pub fn serve_portal_without_the_interface(bus: &DbusSession) -> Connection {
    serve_portal(bus, OtherPortal)
}

/// Serves `stand_in` as the desktop portal on `bus`, until the returned
/// connection is dropped.
pub fn serve_portal<T: zbus::object_server::Interface>(
    bus: &DbusSession,
    stand_in: T,
) -> Connection {
    bus.serve(PORTAL_PATH, PORTAL_NAME, stand_in)
}
