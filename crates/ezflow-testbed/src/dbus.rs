//! A private D-Bus session bus for one test: a real `dbus-daemon` listening
//! on a socket in its own temporary directory, with a minimal configuration
//! (everything allowed, and no service files, so a name nobody owns fails at
//! once instead of being activated). Killed when the [`DbusSession`] drops,
//! also when the test fails. Serving a stand-in (a panel's watcher, a
//! notification server, a portal) on it is [`DbusSession::serve`].

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the daemon may take to say it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running private bus.
pub struct DbusSession {
    /// The bus address, as `DBUS_SESSION_BUS_ADDRESS` wants it.
    pub address: String,
    /// The daemon's directory (socket and configuration).
    pub dir: PathBuf,
    child: Child,
    _tempdir: tempfile::TempDir,
}

impl DbusSession {
    /// Starts `dbus-daemon` and waits (bounded) until it prints its address,
    /// which it does once it is listening. Panics with the reason if it
    /// cannot.
    pub fn start() -> DbusSession {
        let tempdir = tempfile::Builder::new()
            .prefix("ezflow-dbus-")
            .tempdir()
            .expect("temporary directory for dbus-daemon");
        let dir = tempdir.path().to_path_buf();
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("bus").display()
            ),
        )
        .expect("write dbus-daemon configuration");

        // Its messages (such as "Failed to set fd limit" when run as root)
        // go to a log file, shown if it fails to start.
        let log_path = dir.join("daemon.log");
        let log = std::fs::File::create(&log_path).expect("dbus-daemon log file");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start dbus-daemon (is it installed?)");

        // Read the address on a helper thread so the wait can be bounded.
        let stdout = child.stdout.take().expect("dbus-daemon stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(result);
        });
        let address = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line.trim().to_owned(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "dbus-daemon did not print its address within {START_TIMEOUT:?}: {other:?}\n{log}"
                );
            }
        };
        DbusSession {
            address,
            dir,
            child,
            _tempdir: tempdir,
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Serves `object` at `path` under the well-known `name` on this bus,
    /// from a connection of its own: the stand-in answers until the
    /// returned connection is dropped.
    #[cfg(feature = "desktop")]
    pub fn serve<T: zbus::object_server::Interface>(
        &self,
        path: &str,
        name: &str,
        object: T,
    ) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str())
            .and_then(|builder| builder.serve_at(path, object))
            .and_then(|builder| builder.name(name))
            .and_then(|builder| builder.build())
            .unwrap_or_else(|e| panic!("serving {name} at {path} on the private bus: {e}"))
    }
}

impl Drop for DbusSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
