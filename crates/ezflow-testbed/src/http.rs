//! A real HTTP server on loopback for tests: tiny_http on `127.0.0.1`, on a
//! port the system picks. Every request is recorded (method, path, `Range`,
//! body) before the test's handler answers it, on a thread of its own, so a
//! reply that stalls does not hold up the next request. Stopped, with its
//! threads joined, when dropped; a handler that panicked (a failed
//! assertion about the request) fails the test then. Also: a loopback
//! address where nothing listens.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accepting thread looks whether it should stop.
const POLL: Duration = Duration::from_millis(20);

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// The path and query, e.g. `/ggml-tiny.en.bin`.
    pub path: String,
    /// The `Range` header, if sent.
    pub range: Option<String>,
    /// The body, as text (lossy).
    pub body: String,
}

/// One request for the handler to answer.
pub struct Incoming {
    /// 0 for the first request the server received, 1 for the next…
    pub index: usize,
    /// What was recorded of it (the body is read already).
    pub seen: SeenRequest,
    /// The request, to answer.
    pub request: tiny_http::Request,
    /// Set when the server is being stopped.
    pub stop: StopSignal,
}

/// Whether the server is being stopped: a reply that stalls on purpose
/// should end then.
#[derive(Clone)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Incoming {
    /// Answers with `response`; a client that has gone away is no error.
    pub fn respond<R: std::io::Read>(self, response: tiny_http::Response<R>) {
        let _ = self.request.respond(response);
    }
}

/// A running loopback server.
pub struct LoopbackServer {
    base_url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<bool>>,
}

impl LoopbackServer {
    /// Serves every request with `handler`, each on its own thread.
    pub fn start(handler: impl Fn(Incoming) + Send + Sync + 'static) -> LoopbackServer {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a loopback port");
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            thread::spawn(move || {
                let mut handlers = Vec::new();
                let mut index = 0;
                while !stop.load(Ordering::SeqCst) {
                    let mut request = match server.recv_timeout(POLL) {
                        Ok(Some(r)) => r,
                        Ok(None) => continue,
                        Err(_) => break,
                    };
                    let mut body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut body);
                    let record = SeenRequest {
                        method: request.method().to_string(),
                        path: request.url().to_owned(),
                        range: request
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("Range"))
                            .map(|h| h.value.as_str().to_owned()),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    seen.lock().expect("seen lock").push(record.clone());
                    let incoming = Incoming {
                        index,
                        seen: record,
                        request,
                        stop: StopSignal(Arc::clone(&stop)),
                    };
                    index += 1;
                    let handler = Arc::clone(&handler);
                    handlers.push(thread::spawn(move || handler(incoming)));
                }
                // Whether every handler ran to its end.
                handlers.into_iter().all(|h| h.join().is_ok())
            })
        };
        LoopbackServer {
            base_url: format!("http://127.0.0.1:{port}"),
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers every request with `status` and `body`.
    pub fn answering(status: u16, body: Vec<u8>) -> LoopbackServer {
        LoopbackServer::start(move |incoming| {
            incoming.respond(tiny_http::Response::from_data(body.clone()).with_status_code(status))
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of `path` (with or without its leading slash) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// Every request so far, in the order received.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("seen lock").clone()
    }

    /// The paths of every request so far.
    pub fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|r| r.path).collect()
    }

    /// Stops the server and waits for its threads; fails the test if a
    /// handler panicked.
    pub fn stop(mut self) {
        assert!(
            self.shut_down(),
            "a request handler of the loopback server panicked"
        );
    }

    /// Stops accepting, joins every thread; whether all handlers finished.
    fn shut_down(&mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(false),
            None => true,
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let handlers_finished = self.shut_down();
        if !handlers_finished && !thread::panicking() {
            panic!("a request handler of the loopback server panicked");
        }
    }
}

/// A response header.
pub fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// A loopback address nothing listens on (right now): connections to it
/// are refused, as to a server that is down, until something binds it.
pub fn unused_loopback_addr() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    probe.local_addr().expect("the probe's address")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn requests_are_recorded_and_answered() {
        let server = LoopbackServer::start(|incoming| {
            let status = if incoming.index == 0 { 503 } else { 200 };
            let echo = incoming.seen.body.clone();
            incoming.respond(tiny_http::Response::from_string(echo).with_status_code(status));
        });
        let first = get_over_a_socket(&server.url("a"));
        assert!(first.starts_with("HTTP/1.1 503"), "{first}");
        let second = get_over_a_socket(&server.url("/b"));
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        assert_eq!(server.paths(), ["/a", "/b"]);
        assert_eq!(server.seen()[0].range.as_deref(), Some("bytes=5-"));
        assert_eq!(server.seen()[0].method, "GET");
        server.stop();
    }

    /// A GET with a Range header over a plain socket; the status line and
    /// the rest of the answer.
    fn get_over_a_socket(url: &str) -> String {
        use std::io::Write as _;
        let rest = url.strip_prefix("http://").expect("an http URL");
        let (host, path) = rest.split_once('/').expect("a path");
        let mut stream = std::net::TcpStream::connect(host).expect("connect");
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nRange: bytes=5-\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }
}
