//! Driving the real settings window from a test or the benchmark:
//! `tauri-driver` (built by `scripts/setup-window-tests.sh`) in front of
//! WebKitGTK's own `WebKitWebDriver`, and a small client for the standard
//! W3C WebDriver protocol (new session, find, click, type, read, run a
//! script, screenshot, close).
//!
//! The driver is started inside a [`DesktopSession`] (its Xvfb, bus and
//! isolated home), so the window it launches sees only that session. Both
//! drivers listen on loopback ports picked free for each test, so tests run
//! side by side. Everything is stopped when the guards drop.
//!
//! This module knows nothing of the window's pages: the tests name the
//! elements (by their `data-*` hooks).

use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::http::unused_loopback_addr;
use crate::process::LogLines;
use crate::session::DesktopSession;

/// WebKitGTK's WebDriver server, from Debian's `webkit2gtk-driver`.
pub const WEBKIT_WEBDRIVER: &str = "/usr/bin/WebKitWebDriver";
/// Where `scripts/setup-window-tests.sh` installs `tauri-driver`, relative
/// to the workspace root.
pub const TAURI_DRIVER_IN_WORKSPACE: &str = "target/tools/bin/tauri-driver";
/// Overrides where `tauri-driver` is found.
pub const TAURI_DRIVER_ENV: &str = "EZFLOW_TAURI_DRIVER";
/// The W3C WebDriver key for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long the drivers may take to listen.
const DRIVER_START: Duration = Duration::from_secs(30);
/// One WebDriver command's limit (a new session starts the window).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The `tauri-driver` binary: `$EZFLOW_TAURI_DRIVER`, else the one the
/// setup script built into the workspace's `target/tools`.
pub fn tauri_driver_path() -> PathBuf {
    if let Some(path) = std::env::var_os(TAURI_DRIVER_ENV) {
        return PathBuf::from(path);
    }
    workspace_root().join(TAURI_DRIVER_IN_WORKSPACE)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A running `tauri-driver` (and the `WebKitWebDriver` it starts), in a
/// desktop session. Killed when dropped.
pub struct WindowDriver {
    child: Child,
    port: u16,
    log: LogLines,
}

impl WindowDriver {
    /// Starts `tauri-driver` with `extra_env` on top of the session's
    /// environment (the window it launches inherits both).
    pub fn start(session: &DesktopSession, extra_env: &[(&str, &OsStr)]) -> WindowDriver {
        let driver = tauri_driver_path();
        assert!(
            driver.exists(),
            "{} is missing; run scripts/setup-window-tests.sh (scripts/test.sh does)",
            driver.display()
        );
        assert!(
            Path::new(WEBKIT_WEBDRIVER).exists(),
            "{WEBKIT_WEBDRIVER} is missing; scripts/setup-system.sh installs Debian's webkit2gtk-driver"
        );
        let port = unused_loopback_addr().port();
        let native_port = unused_loopback_addr().port();
        let mut command: Command = session.command(&driver);
        command
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .args(["--native-driver", WEBKIT_WEBDRIVER])
            // WebKitGTK's web process sandbox (bubblewrap) cannot set up
            // its namespaces inside this machine's container, and as root
            // it refuses outright. The tests' window runs without it; the
            // product never sets this.
            .env("WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS", "1")
            // No GPU: software rendering, and no DMA-BUF renderer probing.
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = LogLines::follow(stderr, Some("tauri-driver"));
        let deadline = Instant::now() + DRIVER_START;
        // Both must listen: tauri-driver answers a session request it
        // cannot forward yet with a dropped connection.
        let listening = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
        while !(listening(port) && listening(native_port)) {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "tauri-driver (port {port}) and WebKitWebDriver (port {native_port}) \
                     did not both listen within {DRIVER_START:?}"
                );
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tauri-driver exited before listening: {status}");
            }
            // The driver gives no readiness signal other than listening;
            // a short bounded wait between connection attempts.
            std::thread::sleep(Duration::from_millis(50));
        }
        WindowDriver { child, port, log }
    }

    /// Opens a session: `tauri-driver` launches `application` with `args`
    /// and the session's environment, and the session drives its window.
    pub fn open(&self, application: &Path, args: &[&str]) -> anyhow::Result<Window> {
        let agent = ureq::AgentBuilder::new().timeout(COMMAND_TIMEOUT).build();
        let base = format!("http://127.0.0.1:{}", self.port);
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "tauri:options": {
                        "application": application,
                        "args": args,
                    }
                }
            }
        });
        let answer = post(&agent, &format!("{base}/session"), &capabilities)
            .context("starting a WebDriver session (launching the window)")?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {answer}"))?
            .to_owned();
        Ok(Window {
            agent,
            url: format!("{base}/session/{id}"),
            open: true,
        })
    }

    /// What the drivers printed so far.
    pub fn log(&mut self) -> &mut LogLines {
        &mut self.log
    }
}

impl Drop for WindowDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: the settings window as a test sees it.
pub struct Window {
    agent: ureq::Agent,
    url: String,
    open: bool,
}

/// An element found in the window.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    /// The element as a script argument for [`Window::execute`].
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

impl Window {
    /// The first element matching the CSS `selector`, waiting up to
    /// `patience` for it to appear (pages load lazily).
    pub fn find(&self, selector: &str, patience: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + patience;
        loop {
            match self.try_find(selector) {
                Ok(Some(element)) => return Ok(element),
                Ok(None) if Instant::now() < deadline => {}
                Ok(None) => bail!("no element matches {selector:?} after {patience:?}"),
                Err(e) => return Err(e),
            }
            // WebDriver has no "wait for element" command; the client
            // retries the lookup at a short bounded interval.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first element matching `selector` now, if any.
    pub fn try_find(&self, selector: &str) -> anyhow::Result<Option<Element>> {
        let body = json!({"using": "css selector", "value": selector});
        match post(&self.agent, &format!("{}/element", self.url), &body) {
            Ok(value) => Ok(Some(element_of(&value)?)),
            Err(e) if e.to_string().contains("no such element") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every element matching `selector` now.
    pub fn find_all(&self, selector: &str) -> anyhow::Result<Vec<Element>> {
        let body = json!({"using": "css selector", "value": selector});
        let value = post(&self.agent, &format!("{}/elements", self.url), &body)?;
        value
            .as_array()
            .ok_or_else(|| anyhow!("elements answer is not a list: {value}"))?
            .iter()
            .map(element_of)
            .collect()
    }

    /// Finds `selector` (waiting up to `patience`) and clicks it, finding it
    /// again if the page drew it anew in between (pages redraw on the app's
    /// events).
    pub fn click_on(&self, selector: &str, patience: Duration) -> anyhow::Result<()> {
        self.on_fresh(selector, patience, |w, e| w.click(e))
    }

    /// The visible text of `selector`, found as [`Window::click_on`] does.
    pub fn text_of(&self, selector: &str, patience: Duration) -> anyhow::Result<String> {
        self.on_fresh(selector, patience, |w, e| w.text(e))
    }

    fn on_fresh<T>(
        &self,
        selector: &str,
        patience: Duration,
        act: impl Fn(&Window, &Element) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let element = self.find(selector, left)?;
            match act(self, &element) {
                Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => {
                    continue
                }
                other => return other,
            }
        }
    }

    pub fn click(&self, element: &Element) -> anyhow::Result<()> {
        post(
            &self.agent,
            &format!("{}/element/{}/click", self.url, element.0),
            &json!({}),
        )
        .map(drop)
    }

    /// Types `text` into the element (WebDriver key codes such as
    /// `"\u{E009}"` for Control are allowed).
    pub fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        post(
            &self.agent,
            &format!("{}/element/{}/value", self.url, element.0),
            &json!({ "text": text }),
        )
        .map(drop)
    }

    pub fn clear(&self, element: &Element) -> anyhow::Result<()> {
        post(
            &self.agent,
            &format!("{}/element/{}/clear", self.url, element.0),
            &json!({}),
        )
        .map(drop)
    }

    /// The element's visible text.
    pub fn text(&self, element: &Element) -> anyhow::Result<String> {
        let value = get(
            &self.agent,
            &format!("{}/element/{}/text", self.url, element.0),
        )?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// A DOM property (`value`, `checked`, …) of the element, as JSON.
    pub fn property(&self, element: &Element, name: &str) -> anyhow::Result<Value> {
        get(
            &self.agent,
            &format!("{}/element/{}/property/{name}", self.url, element.0),
        )
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns its result.
    pub fn execute(&self, script: &str, args: &[Value]) -> anyhow::Result<Value> {
        post(
            &self.agent,
            &format!("{}/execute/sync", self.url),
            &json!({ "script": script, "args": args }),
        )
    }

    /// The window's title.
    pub fn title(&self) -> anyhow::Result<String> {
        let value = get(&self.agent, &format!("{}/title", self.url))?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until `check` returns `Some`, retrying every 100 ms for at most
    /// `patience`; the error names `what`.
    pub fn wait_until<T>(
        &self,
        what: &str,
        patience: Duration,
        mut check: impl FnMut(&Window) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(value) = check(self)? {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("{what}: not so after {patience:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG screenshot of the page to `path`, through WebDriver.
    /// WebKitGTK's snapshot never answers under Xvfb here (seen with
    /// WebKitGTK 2.50); the tests use [`screenshot_window`] instead.
    pub fn page_screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let value = get(&self.agent, &format!("{}/screenshot", self.url))?;
        let encoded = value
            .as_str()
            .ok_or_else(|| anyhow!("screenshot answer is not a string"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("decoding the screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Closes the window (as the user closing it does) and ends the
    /// session.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.open = false;
        let _ = delete(&self.agent, &format!("{}/window", self.url));
        delete(&self.agent, &self.url).map(drop)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        if self.open {
            let _ = delete(&self.agent, &self.url);
        }
    }
}

fn element_of(value: &Value) -> anyhow::Result<Element> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element(id.to_owned()))
        .ok_or_else(|| anyhow!("not an element reference: {value}"))
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> anyhow::Result<Value> {
    answer(
        agent
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
    )
}

fn get(agent: &ureq::Agent, url: &str) -> anyhow::Result<Value> {
    answer(agent.get(url).call())
}

fn delete(agent: &ureq::Agent, url: &str) -> anyhow::Result<Value> {
    answer(agent.delete(url).call())
}

/// The `value` of a WebDriver answer, or its error as an `Err` carrying the
/// driver's error code and message.
fn answer(result: Result<ureq::Response, ureq::Error>) -> anyhow::Result<Value> {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(code, response)) => {
            let body: Value =
                serde_json::from_reader(response.into_reader()).unwrap_or(Value::Null);
            let error = body["value"]["error"].as_str().unwrap_or("unknown error");
            let message = body["value"]["message"].as_str().unwrap_or("");
            bail!("WebDriver {code}: {error}: {message}");
        }
        Err(e) => bail!("WebDriver request failed: {e}"),
    };
    let body: Value =
        serde_json::from_reader(response.into_reader()).context("a WebDriver answer")?;
    Ok(body["value"].clone())
}

/// Saves a PNG of the window titled `title` on `display`, as the X server
/// shows it, to `path`.
pub fn screenshot_window(display: &str, title: &str, path: &Path) -> anyhow::Result<()> {
    let window = crate::x11_apps::windows_titled(display, title)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no window titled {title:?} on {display}"))?;
    let (width, height, rgb) = crate::x11_apps::capture_window(display, window);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(&rgb)
        .context("writing the PNG pixels")?;
    writer.finish().context("finishing the PNG")
}
