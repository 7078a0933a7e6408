//! A private Xvfb for one test: started with `-displayfd`, so the server
//! picks a free display number itself (no races between parallel tests),
//! and killed when the guard is dropped, even if the test panics. Also: a
//! display name no server answers on.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long Xvfb may take to report its display number.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Xvfb {
    /// The display name, e.g. ":3".
    pub display: String,
    child: Child,
}

impl Xvfb {
    /// Starts Xvfb with one 1024x768 screen and no TCP listener. `-noreset`:
    /// an X server resets when its last client leaves, and a client
    /// connecting during the reset is dropped.
    pub fn start() -> Xvfb {
        Xvfb::start_with_args(&[])
    }

    /// Starts Xvfb with extra server arguments (e.g. `-ardelay 200`).
    pub fn start_with_args(extra: &[&str]) -> Xvfb {
        // Xvfb writes the display number to the file descriptor named by
        // -displayfd once it is ready for clients: stdout here.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting Xvfb (is /usr/bin/Xvfb installed?)");
        let stdout = child.stdout.take().expect("Xvfb stdout");
        let stderr = child.stderr.take().expect("Xvfb stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        // Keep draining stderr so Xvfb never blocks on a full pipe; the text
        // is shown if it fails to start.
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        let mut guard = Xvfb {
            display: String::new(),
            child,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading Xvfb's display number: {e}"),
            Err(_) => panic!("Xvfb did not report a display number within {START_TIMEOUT:?}"),
        };
        let number = line.trim();
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            guard.kill();
            let stderr = err_rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_default();
            panic!("Xvfb did not start (display {number:?}); its output:\n{stderr}");
        }
        guard.display = format!(":{number}");
        guard
    }

    /// SIGTERM, so that Xvfb removes its lock file and socket; SIGKILL if
    /// that cannot be sent.
    fn kill(&mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if !terminated {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A display name with no server: no lock file and no socket.
pub fn unused_display() -> String {
    (4000..5000)
        .map(|n| n + std::process::id() % 500)
        .find(|n| {
            !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .map(|n| format!(":{n}"))
        .expect("a display number between 4000 and 5500 is free")
}
