//! Desktop notifications: the freedesktop Notifications service
//! (`org.freedesktop.Notifications`) over the D-Bus session bus, with zbus's
//! blocking API. The app uses it for what the tray icon alone does not get
//! across, such as a model load that takes more than a second, or an error.
//!
//! It shows, replaces and closes notifications; when to do so is the app's
//! business. No notification service means an error the app logs and lives
//! with. Each call waits for the service's reply, at most [`CALL_TIMEOUT`],
//! so call it from a thread that may wait that long.

use std::collections::HashMap;
use std::time::Duration;

use zbus::blocking::connection::Builder;
use zbus::blocking::Connection;
use zbus::zvariant::Value;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
const APP_NAME: &str = "EZ Flow";
const APP_ICON: &str = "audio-input-microphone";

/// The longest any call here waits for a reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a notification could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// There is no D-Bus session bus to talk to (none configured, or it
    /// could not be reached).
    #[error("no D-Bus session bus: {0}")]
    NoSessionBus(String),
    /// Nothing on the session bus shows notifications: no
    /// `org.freedesktop.Notifications`, running or activatable.
    #[error("no notification service on the session bus (org.freedesktop.Notifications)")]
    NoService,
    /// Any other D-Bus failure (including no reply within [`CALL_TIMEOUT`]).
    #[error("notification D-Bus error: {0}")]
    Dbus(String),
}

/// A connection to the desktop's notification service.
pub struct Notifier {
    conn: Connection,
}

impl Notifier {
    /// Connects to the session bus (`DBUS_SESSION_BUS_ADDRESS`, or the
    /// platform default) and checks a notification service is there, running
    /// or activatable. It does not start one.
    pub fn connect() -> Result<Notifier, NotifyError> {
        Self::connect_with(Builder::session().map_err(bus_error)?)
    }

    /// Like [`Notifier::connect`], on the bus at `address` (a D-Bus address
    /// such as `unix:path=/run/user/1000/bus`).
    pub fn connect_to(address: &str) -> Result<Notifier, NotifyError> {
        Self::connect_with(Builder::address(address).map_err(bus_error)?)
    }

    fn connect_with(builder: Builder<'_>) -> Result<Notifier, NotifyError> {
        let conn = builder
            .method_timeout(CALL_TIMEOUT)
            .build()
            .map_err(bus_error)?;
        let notifier = Notifier { conn };
        if !notifier.service_available()? {
            return Err(NotifyError::NoService);
        }
        Ok(notifier)
    }

    /// Whether the notification service owns its name now, or the bus can
    /// start it on the first call.
    fn service_available(&self) -> Result<bool, NotifyError> {
        let owned: bool = self
            .bus_call("NameHasOwner", &(SERVICE,))?
            .body()
            .deserialize()
            .map_err(|e| NotifyError::Dbus(e.to_string()))?;
        if owned {
            return Ok(true);
        }
        let activatable: Vec<String> = self
            .bus_call("ListActivatableNames", &())?
            .body()
            .deserialize()
            .map_err(|e| NotifyError::Dbus(e.to_string()))?;
        Ok(activatable.iter().any(|name| name == SERVICE))
    }

    fn bus_call<B>(&self, method: &str, body: &B) -> Result<zbus::Message, NotifyError>
    where
        B: zbus::export::serde::ser::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                method,
                body,
            )
            .map_err(call_error)
    }

    /// Shows a notification, or replaces the one with id `replaces` (its text
    /// changes in place), and returns its id. The server decides how long it
    /// stays; [`Notifier::close`] takes it away. Servers that support markup
    /// read a small subset of HTML in `body`.
    pub fn notify(
        &self,
        summary: &str,
        body: &str,
        replaces: Option<u32>,
    ) -> Result<u32, NotifyError> {
        let actions: &[&str] = &[];
        let hints: HashMap<&str, Value<'_>> = HashMap::new();
        let expire_timeout: i32 = -1; // the server's default
        let reply = self
            .conn
            .call_method(
                Some(SERVICE),
                PATH,
                Some(SERVICE),
                "Notify",
                &(
                    APP_NAME,
                    replaces.unwrap_or(0),
                    APP_ICON,
                    summary,
                    body,
                    actions,
                    hints,
                    expire_timeout,
                ),
            )
            .map_err(call_error)?;
        let id: u32 = reply
            .body()
            .deserialize()
            .map_err(|e| NotifyError::Dbus(format!("unexpected reply to Notify: {e}")))?;
        tracing::debug!(id, summary, "notification shown");
        Ok(id)
    }

    /// Takes the notification with id `id` away. One that is already gone,
    /// or a failure, is only logged: there is nothing left to do about it.
    pub fn close(&self, id: u32) {
        if let Err(e) = self.conn.call_method(
            Some(SERVICE),
            PATH,
            Some(SERVICE),
            "CloseNotification",
            &(id,),
        ) {
            tracing::debug!(id, error = %e, "closing a notification failed");
        }
    }
}

fn bus_error(e: zbus::Error) -> NotifyError {
    NotifyError::NoSessionBus(e.to_string())
}

fn call_error(e: zbus::Error) -> NotifyError {
    match zbus::fdo::Error::from(e) {
        zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_) => {
            NotifyError::NoService
        }
        other => NotifyError::Dbus(other.to_string()),
    }
}
