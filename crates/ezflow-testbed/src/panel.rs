//! What a desktop panel does with a tray item, for tests: a stand-in
//! `org.kde.StatusNotifierWatcher` (no panel can run here) that records
//! registrations, and reading an item's properties and dbusmenu the way a
//! panel does. Used by the desktop crate's tray tests, the app's end-to-end
//! tests and the benchmark.

use std::collections::HashMap;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::dbus::DbusSession;
use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
pub const WATCHER_PATH: &str = "/StatusNotifierWatcher";
pub const ITEM_PATH: &str = "/StatusNotifierItem";
pub const ITEM_IFACE: &str = "org.kde.StatusNotifierItem";
pub const MENU_IFACE: &str = "com.canonical.dbusmenu";
/// Bound on every wait for something the tray does in reply.
pub const WAIT: Duration = Duration::from_secs(5);

/// A connection to `bus` as a panel has one, its calls bounded by [`WAIT`].
pub fn connect(bus: &DbusSession) -> Connection {
    zbus::blocking::connection::Builder::address(bus.address.as_str())
        .and_then(|builder| builder.method_timeout(WAIT).build())
        .unwrap_or_else(|e| panic!("connecting to the private bus: {e}"))
}

// ---------------------------------------------------------------------------
// The stand-in watcher

#[derive(Debug)]
pub struct Registration {
    /// The unique name of the connection that called.
    pub sender: String,
    /// The service it registered (ksni: a well-known name it owns).
    pub service: String,
}

pub struct Watcher {
    pub items: Mutex<Vec<String>>,
    pub host_registered: bool,
    pub registrations: mpsc::Sender<Registration>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        self.items
            .lock()
            .expect("the watcher's item list lock")
            .push(service.clone());
        let _ = self.registrations.send(Registration {
            sender,
            service: service.clone(),
        });
        Self::status_notifier_item_registered(&emitter, &service).await?;
        Ok(())
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .expect("the watcher's item list lock")
            .clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        self.host_registered
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_item_unregistered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_unregistered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// Serves a watcher on `bus`; registrations arrive on the receiver.
pub fn start_watcher(
    bus: &DbusSession,
    host_registered: bool,
) -> (Connection, mpsc::Receiver<Registration>) {
    let (tx, rx) = mpsc::channel();
    let watcher = Watcher {
        items: Mutex::new(Vec::new()),
        host_registered,
        registrations: tx,
    };
    (bus.serve(WATCHER_PATH, WATCHER_NAME, watcher), rx)
}

// ---------------------------------------------------------------------------
// Reading the item the way a panel does

pub fn call(
    conn: &Connection,
    dest: &str,
    path: &str,
    iface: &str,
    method: &str,
    body: &(impl zbus::export::serde::Serialize + zbus::zvariant::DynamicType),
) -> zbus::Message {
    conn.call_method(Some(dest), path, Some(iface), method, body)
        .unwrap_or_else(|e| panic!("{iface}.{method} on {dest}{path}: {e}"))
}

/// The value inside any number of variant wrappers.
pub fn inner<'a>(v: &'a Value<'a>) -> &'a Value<'a> {
    match v {
        Value::Value(boxed) => inner(boxed),
        other => other,
    }
}

pub fn owned(v: &Value<'_>) -> OwnedValue {
    inner(v)
        .try_to_owned()
        .expect("a value without file descriptors")
}

pub fn item_prop(conn: &Connection, service: &str, name: &str) -> OwnedValue {
    let reply = call(
        conn,
        service,
        ITEM_PATH,
        "org.freedesktop.DBus.Properties",
        "Get",
        &(ITEM_IFACE, name),
    );
    let value: OwnedValue = reply
        .body()
        .deserialize()
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.{name} is not a variant: {e}"));
    owned(&value)
}

pub fn item_str(conn: &Connection, service: &str, name: &str) -> String {
    String::try_from(item_prop(conn, service, name))
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.{name} is not a string: {e}"))
}

pub type IconTuple = (i32, i32, Vec<u8>);

pub fn item_pixmaps(conn: &Connection, service: &str, name: &str) -> Vec<IconTuple> {
    Vec::<IconTuple>::try_from(item_prop(conn, service, name))
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.{name} is not a(iiay): {e}"))
}

/// (icon name, pixmaps, title, description)
pub fn item_tooltip(conn: &Connection, service: &str) -> (String, Vec<IconTuple>, String, String) {
    <(String, Vec<IconTuple>, String, String)>::try_from(item_prop(conn, service, "ToolTip"))
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.ToolTip is not (sa(iiay)ss): {e}"))
}

#[derive(Debug)]
pub struct MenuNode {
    pub id: i32,
    pub props: HashMap<String, OwnedValue>,
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    pub fn from_value(v: &Value<'_>) -> MenuNode {
        let Value::Structure(s) = inner(v) else {
            panic!("menu layout node is not a struct: {v:?}");
        };
        let fields = s.fields();
        let Value::I32(id) = inner(&fields[0]) else {
            panic!("menu id is not an int: {:?}", fields[0]);
        };
        let Value::Dict(dict) = inner(&fields[1]) else {
            panic!("menu properties are not a dict: {:?}", fields[1]);
        };
        let props = dict
            .iter()
            .map(|(k, v)| {
                let Value::Str(key) = inner(k) else {
                    panic!("property name is not a string: {k:?}");
                };
                (key.to_string(), owned(v))
            })
            .collect();
        let Value::Array(children) = inner(&fields[2]) else {
            panic!("menu children are not an array: {:?}", fields[2]);
        };
        MenuNode {
            id: *id,
            props,
            children: children.iter().map(MenuNode::from_value).collect(),
        }
    }

    pub fn str_prop(&self, key: &str) -> Option<String> {
        self.props.get(key).map(|v| match inner(v) {
            Value::Str(s) => s.to_string(),
            other => panic!("{key} is not a string: {other:?}"),
        })
    }

    pub fn label(&self) -> String {
        self.str_prop("label").unwrap_or_default()
    }

    /// dbusmenu: absent means enabled.
    pub fn enabled(&self) -> bool {
        self.props.get("enabled").is_none_or(|v| match inner(v) {
            Value::Bool(b) => *b,
            other => panic!("enabled is not a bool: {other:?}"),
        })
    }

    pub fn toggle_state(&self) -> Option<i32> {
        self.props.get("toggle-state").map(|v| match inner(v) {
            Value::I32(i) => *i,
            other => panic!("toggle-state is not an int: {other:?}"),
        })
    }

    pub fn child(&self, label: &str) -> &MenuNode {
        self.children
            .iter()
            .find(|c| c.label() == label)
            .unwrap_or_else(|| panic!("no menu entry {label:?} in {:?}", self.labels()))
    }

    pub fn labels(&self) -> Vec<String> {
        self.children.iter().map(MenuNode::label).collect()
    }
}

/// dbusmenu's `(ia{sv}av)`: id, properties, children.
pub type LayoutTuple = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

pub fn menu_layout(conn: &Connection, service: &str) -> MenuNode {
    let menu_path = zbus::zvariant::OwnedObjectPath::try_from(item_prop(conn, service, "Menu"))
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.Menu is not an object path: {e}"));
    let reply = call(
        conn,
        service,
        menu_path.as_str(),
        MENU_IFACE,
        "GetLayout",
        &(0i32, -1i32, Vec::<String>::new()),
    );
    let (_revision, (id, props, children)): (u32, LayoutTuple) = reply
        .body()
        .deserialize()
        .unwrap_or_else(|e| panic!("GetLayout's reply is not (u(ia{{sv}}av)): {e}"));
    MenuNode {
        id,
        props: props.iter().map(|(k, v)| (k.clone(), owned(v))).collect(),
        children: children.iter().map(|c| MenuNode::from_value(c)).collect(),
    }
}

pub fn click(conn: &Connection, service: &str, id: i32) {
    let menu_path = zbus::zvariant::OwnedObjectPath::try_from(item_prop(conn, service, "Menu"))
        .unwrap_or_else(|e| panic!("{ITEM_IFACE}.Menu is not an object path: {e}"));
    call(
        conn,
        service,
        menu_path.as_str(),
        MENU_IFACE,
        "Event",
        &(id, "clicked", Value::I32(0), 0u32),
    );
}
