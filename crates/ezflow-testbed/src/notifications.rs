//! A stand-in freedesktop notification server (`org.freedesktop.Notifications`)
//! served with zbus on a private bus: a real one needs a display and draws
//! popups. It answers like one (ids, replacement keeps the id) and records
//! every call, for the notification tests and the app's end-to-end tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::blocking::Connection;
use zbus::zvariant::OwnedValue;

use crate::dbus::DbusSession;

/// The notification service's bus name.
pub const SERVICE: &str = "org.freedesktop.Notifications";

/// One `Notify` call, as the server received it.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyCall {
    pub app_name: String,
    pub replaces_id: u32,
    pub app_icon: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub hint_names: Vec<String>,
    pub expire_timeout: i32,
}

/// Everything the stand-in was asked.
#[derive(Default)]
pub struct Record {
    pub notified: Vec<NotifyCall>,
    pub closed: Vec<u32>,
    pub last_id: u32,
}

struct FakeServer(Arc<Mutex<Record>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeServer {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let mut record = self.0.lock().expect("the record lock");
        record.notified.push(NotifyCall {
            app_name,
            replaces_id,
            app_icon,
            summary,
            body,
            actions,
            hint_names: hints.into_keys().collect(),
            expire_timeout,
        });
        // As the specification says: a replaced notification keeps its id.
        if replaces_id != 0 {
            replaces_id
        } else {
            record.last_id += 1;
            record.last_id
        }
    }

    fn close_notification(&self, id: u32) {
        self.0.lock().expect("the record lock").closed.push(id);
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "ezflow tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

/// The notification service's object path.
pub const PATH: &str = "/org/freedesktop/Notifications";

/// Serves the stand-in on `bus` until the returned connection is dropped;
/// what it was sent is in the record.
pub fn start_server(bus: &DbusSession) -> (Connection, Arc<Mutex<Record>>) {
    let record = Arc::new(Mutex::new(Record::default()));
    let conn = bus.serve(PATH, SERVICE, FakeServer(record.clone()));
    (conn, record)
}
