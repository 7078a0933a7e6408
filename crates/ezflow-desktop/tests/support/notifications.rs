//! A stand-in freedesktop notification server (`org.freedesktop.Notifications`)
//! served with zbus on a private bus: a real one needs a display and draws
//! popups. It answers like one (ids, replacement keeps the id) and records
//! every call, for the notification tests and the app's end-to-end tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::blocking::Connection;
use zbus::zvariant::OwnedValue;

use super::dbus::DbusSession;

pub const SERVICE: &str = "org.freedesktop.Notifications";

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
        let mut record = self.0.lock().unwrap();
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
        self.0.lock().unwrap().closed.push(id);
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

pub fn start_server(bus: &DbusSession) -> (Connection, Arc<Mutex<Record>>) {
    let record = Arc::new(Mutex::new(Record::default()));
    let conn = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .serve_at("/org/freedesktop/Notifications", FakeServer(record.clone()))
        .unwrap()
        .name(SERVICE)
        .unwrap()
        .build()
        .unwrap();
    (conn, record)
}
