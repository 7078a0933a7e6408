//! Talking to the XDG desktop portal (`org.freedesktop.portal.Desktop`),
//! shared by the Wayland hotkey (`hotkey/portal.rs`, GlobalShortcuts) and
//! Wayland text insertion (`insert/remote_desktop.rs`, RemoteDesktop): the
//! connection and the check that the portal has the interface; the
//! request/response pattern (a fresh `handle_token`, the `Response` signal on
//! the predictable Request path subscribed before the call, a bounded wait);
//! portal sessions and their `Closed` signal. Dropping a [`Portal`] closes
//! its session (unless the desktop ended it) and then its connection, so
//! every way out of a half-made session cleans up the same way.
//!
//! Nothing here polls: a wait for a `Response` blocks on a channel with a
//! deadline, and a session's `Closed` is watched by one thread blocked on
//! the connection until the signal comes or the connection is closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::{Message, Type as MessageType};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::MatchRule;

pub(crate) const PORTAL_SERVICE: &str = "org.freedesktop.portal.Desktop";
pub(crate) const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const REQUEST_INTERFACE: &str = "org.freedesktop.portal.Request";
const SESSION_INTERFACE: &str = "org.freedesktop.portal.Session";

/// How long a request with no user involved may take to be answered.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one plain method call may take.
const METHOD_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes handle tokens unique within this process.
static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The `results` of a request's `Response`.
pub(crate) type Results = HashMap<String, OwnedValue>;

/// Why talking to the portal failed; each caller turns it into its own
/// error type.
#[derive(Debug)]
pub(crate) enum PortalError {
    /// The reason, for a person.
    Failed(String),
    /// No helper thread could be started.
    Thread(std::io::Error),
}

pub(crate) fn failed(reason: impl Into<String>) -> PortalError {
    PortalError::Failed(reason.into())
}

/// A connection to the session bus with the portal on it, and the session
/// made on it. Dropped, it closes both (see [`Drop`] below).
pub(crate) struct Portal {
    conn: Connection,
    /// The portal's unique bus name: only its signals are accepted.
    owner: String,
    /// Our unique name as it appears in Request paths (`:1.42` → `1_42`).
    sender: String,
    /// The session [`create_session`](Portal::create_session) made, until
    /// it is closed or [`session_ended`](Portal::session_ended).
    session: Option<OwnedObjectPath>,
}

impl Portal {
    /// Connects to the bus at `address` and checks that the portal serves
    /// `interface`; returns the interface's `version`. The errors say
    /// whether the bus, the portal or only the interface is missing.
    pub(crate) fn connect(address: &str, interface: &str) -> Result<(Portal, u32), PortalError> {
        let conn = zbus::blocking::connection::Builder::address(address)
            .and_then(|b| b.method_timeout(METHOD_TIMEOUT).build())
            .map_err(|e| failed(format!("cannot connect to the D-Bus session bus: {e}")))?;
        match Portal::check(&conn, interface) {
            Ok((owner, sender, version)) => Ok((
                Portal {
                    conn,
                    owner,
                    sender,
                    session: None,
                },
                version,
            )),
            Err(err) => {
                // Ends any helper thread still waiting on this connection.
                let _ = conn.close();
                Err(err)
            }
        }
    }

    fn check(conn: &Connection, interface: &str) -> Result<(String, String, u32), PortalError> {
        let version = interface_version(conn, interface)?;
        tracing::debug!(interface, version, "desktop portal interface found");
        // The portal is bus-activated: asking for the version started it, so
        // it has an owner now.
        let owner = portal_owner(conn)?;
        let sender = conn
            .unique_name()
            .map(|name| name.trim_start_matches(':').replace('.', "_"))
            .ok_or_else(|| failed("the D-Bus connection has no unique name"))?;
        Ok((owner, sender, version))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A `u32` property of `interface` on the portal object.
    pub(crate) fn property_u32(&self, interface: &str, name: &str) -> Result<u32, PortalError> {
        let reply = get_property(&self.conn, interface, name)
            .map_err(|e| failed(format!("cannot read the portal's {name}: {e}")))?;
        property_to_u32(reply, name)
    }

    /// Sends one request and waits (at most `timeout`) for its `Response`.
    /// `call` makes the method call with the `handle_token` it is given in
    /// its options; the answer is subscribed to before that.
    pub(crate) fn request(
        &self,
        what: &str,
        timeout: Duration,
        call: impl FnOnce(&Connection, &str) -> zbus::Result<Message>,
    ) -> Result<(u32, Results), PortalError> {
        let handle_token = new_token("request");
        let response = self.subscribe_response(&handle_token)?;
        call(&self.conn, &handle_token).map_err(|e| failed(format!("{what} failed: {e}")))?;
        wait_response(response, what, timeout)
    }

    /// `CreateSession` on `interface` (GlobalShortcuts and RemoteDesktop
    /// take the same arguments); `what` names the session in errors. The
    /// portal keeps the session, to close it when dropped.
    pub(crate) fn create_session(
        &mut self,
        interface: &str,
        what: &str,
    ) -> Result<OwnedObjectPath, PortalError> {
        let session_token = new_token("session");
        let (code, results) = self.request("CreateSession", RESPONSE_TIMEOUT, |conn, token| {
            let options: HashMap<&str, Value<'_>> = HashMap::from([
                ("handle_token", Value::from(token)),
                ("session_handle_token", Value::from(session_token.as_str())),
            ]);
            conn.call_method(
                Some(PORTAL_SERVICE),
                PORTAL_PATH,
                Some(interface),
                "CreateSession",
                &(options,),
            )
        })?;
        if code != 0 {
            return Err(failed(format!(
                "the desktop refused to create {what} ({})",
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
            .ok_or_else(|| failed("CreateSession answered without a session_handle"))?;
        self.session = Some(session.clone());
        Ok(session)
    }

    /// The desktop ended the session (or its connection is gone): dropping
    /// the portal will not ask to close it.
    pub(crate) fn session_ended(&mut self) {
        self.session = None;
    }

    /// Watches for the portal closing `session` (its `Closed` signal). The
    /// subscription is made before this returns; a thread blocked on it runs
    /// `on_closed` with a description if the signal comes, and ends without
    /// calling it when the connection is closed.
    pub(crate) fn watch_closed(
        &self,
        session: &OwnedObjectPath,
        on_closed: impl FnOnce(String) + Send + 'static,
    ) -> Result<JoinHandle<()>, PortalError> {
        let mut signals = self.subscribe(
            SESSION_INTERFACE,
            Some("Closed"),
            session.as_str(),
            Some(4),
            "the session's Closed signal",
        )?;
        std::thread::Builder::new()
            .name("ezflow-portal-session".to_owned())
            .spawn(move || {
                if let Some(Ok(msg)) = signals.next() {
                    let body = msg.body();
                    let details = body
                        .deserialize::<HashMap<String, OwnedValue>>()
                        .map(|d| {
                            let mut keys: Vec<_> = d.keys().cloned().collect();
                            keys.sort();
                            keys
                        })
                        .unwrap_or_default();
                    on_closed(if details.is_empty() {
                        "the desktop portal closed the session".to_owned()
                    } else {
                        format!(
                            "the desktop portal closed the session (details: {})",
                            details.join(", ")
                        )
                    });
                }
            })
            .map_err(PortalError::Thread)
    }

    /// Subscribes to every signal of `interface` on the portal object, from
    /// the portal only, queueing them all until read.
    pub(crate) fn subscribe_signals(
        &self,
        interface: &str,
    ) -> Result<MessageIterator, PortalError> {
        self.subscribe(interface, None, PORTAL_PATH, None, "the portal's signals")
    }

    /// Subscribes to the `Response` of the request that `handle_token` will
    /// create, before the call that creates it, so the answer cannot be
    /// missed.
    fn subscribe_response(&self, handle_token: &str) -> Result<MessageIterator, PortalError> {
        let path = format!("{PORTAL_PATH}/request/{}/{handle_token}", self.sender);
        self.subscribe(
            REQUEST_INTERFACE,
            Some("Response"),
            &path,
            Some(4),
            "the portal's answer",
        )
    }

    /// Subscribes to the signals of `interface` (only `member`, when given)
    /// that the portal sends from the object at `path`; `what` names them in
    /// the error. `max_queued` bounds how many wait unread (`None`: no bound).
    fn subscribe(
        &self,
        interface: &str,
        member: Option<&str>,
        path: &str,
        max_queued: Option<usize>,
        what: &str,
    ) -> Result<MessageIterator, PortalError> {
        let mut rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(self.owner.as_str())
            .and_then(|b| b.interface(interface))
            .and_then(|b| b.path(path));
        if let Some(member) = member {
            rule = rule.and_then(|b| b.member(member));
        }
        let rule = rule
            .map(|b| b.build())
            .map_err(|e| failed(format!("bad match rule for {what} at {path}: {e}")))?;
        MessageIterator::for_match_rule(rule, &self.conn, max_queued)
            .map_err(|e| failed(format!("cannot subscribe to {what}: {e}")))
    }
}

impl Drop for Portal {
    /// Asks the portal to close the session, if one is open (a failure is
    /// only logged), then closes the connection: every thread blocked on it
    /// wakes and ends.
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(e) = self.conn.call_method(
                Some(PORTAL_SERVICE),
                session.as_str(),
                Some(SESSION_INTERFACE),
                "Close",
                &(),
            ) {
                tracing::warn!(session = %session, "could not close the portal session: {e}");
            }
        }
        if let Err(e) = self.conn.clone().close() {
            tracing::debug!("closing the portal connection: {e}");
        }
    }
}

/// A fresh token for `handle_token` / `session_handle_token`.
fn new_token(kind: &str) -> String {
    let n = TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("ezflow_{kind}_{}_{n}", std::process::id())
}

/// What a request's non-zero response code means.
pub(crate) fn response_meaning(code: u32) -> String {
    match code {
        1 => "the user cancelled".to_owned(),
        2 => "the request was ended another way".to_owned(),
        n => format!("response {n}"),
    }
}

fn get_property(conn: &Connection, interface: &str, name: &str) -> zbus::Result<Message> {
    conn.call_method(
        Some(PORTAL_SERVICE),
        PORTAL_PATH,
        Some("org.freedesktop.DBus.Properties"),
        "Get",
        &(interface, name),
    )
}

fn property_to_u32(reply: Message, name: &str) -> Result<u32, PortalError> {
    let value: OwnedValue = reply
        .body()
        .deserialize()
        .map_err(|e| failed(format!("the desktop portal answered {name} oddly: {e}")))?;
    u32::try_from(value).map_err(|e| failed(format!("the portal's {name} is not a number: {e}")))
}

/// The `version` property of `interface`; the errors say whether the portal
/// or only the interface is missing.
fn interface_version(conn: &Connection, interface: &str) -> Result<u32, PortalError> {
    let short = interface.rsplit('.').next().unwrap_or(interface);
    let reply = get_property(conn, interface, "version").map_err(|e| match &e {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
        {
            failed(format!(
                "no desktop portal on the session bus ({PORTAL_SERVICE} is not there: {e})"
            ))
        }
        zbus::Error::MethodError(..) => {
            failed(format!("the desktop portal has no {short} interface ({e})"))
        }
        _ => failed(format!("cannot ask the desktop portal: {e}")),
    })?;
    property_to_u32(reply, &format!("{short} version"))
}

/// The unique bus name of the portal service.
fn portal_owner(conn: &Connection) -> Result<String, PortalError> {
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetNameOwner",
            &(PORTAL_SERVICE,),
        )
        .map_err(|e| failed(format!("the desktop portal went away: {e}")))?;
    reply
        .body()
        .deserialize::<String>()
        .map_err(|e| failed(format!("odd answer to GetNameOwner: {e}")))
}

/// Waits (at most `timeout`) for a request's `Response` signal. The receive
/// runs on a helper thread; if the wait times out, the caller closes the
/// connection (or the session goes on and the late answer is dropped), which
/// ends it.
fn wait_response(
    mut response: MessageIterator,
    what: &str,
    timeout: Duration,
) -> Result<(u32, Results), PortalError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("ezflow-portal-request".to_owned())
        .spawn(move || {
            let answer = match response.next() {
                Some(Ok(msg)) => msg
                    .body()
                    .deserialize::<(u32, Results)>()
                    .map_err(|e| format!("odd Response signal: {e}")),
                Some(Err(e)) => Err(format!("the connection failed: {e}")),
                None => Err("the connection closed".to_owned()),
            };
            let _ = tx.send(answer);
        })
        .map_err(PortalError::Thread)?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(reason)) => Err(failed(format!("no answer to {what}: {reason}"))),
        Err(_) => Err(failed(format!(
            "the desktop did not answer {what} within {} seconds",
            timeout.as_secs()
        ))),
    }
}
