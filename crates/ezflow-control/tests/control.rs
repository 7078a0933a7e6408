//! The control socket end to end: real Unix sockets in temporary
//! directories, the real server and client, and real child processes (this
//! test binary run again as a helper) for the cross-process cases: a crashed
//! server, and a client of another user.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ezflow_control::{
    lock_path, peer_allowed, send, send_with_timeout, watch, CatalogModel, ControlError,
    ControlServer, DictationPoint, DownloadEvent, DownloadProgress, Event, FinishedEvent,
    HistoryReport, ImportQuantize, LevelEvent, MemoryPoint, MicrophoneDevice, MicrophonesReport,
    ModelsReport, OtherModel, Request, Response, SentBatch, ServerHandle, SettingField,
    SettingsReport, StateEvent, StatsReport, StatusReport, TelemetryReport, UrlDownload,
    MAX_CONNECTIONS, MAX_LINE_BYTES, WATCH_QUEUE,
};

/// A running server in its own directory. Fields drop in order: the server
/// stops before its directory is deleted.
struct TestServer {
    handle: Option<ServerHandle>,
    path: PathBuf,
    dir: tempfile::TempDir,
}

impl TestServer {
    fn start<F>(handler: F) -> TestServer
    where
        F: Fn(Request) -> Response + Send + Sync + 'static,
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("control.sock");
        let handle = ControlServer::bind(&path).unwrap().serve(handler).unwrap();
        TestServer {
            handle: Some(handle),
            path,
            dir,
        }
    }

    fn connect(&self) -> Conn {
        Conn::new(&self.path)
    }
}

/// A raw client connection for writing exact bytes.
struct Conn {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Conn {
    fn new(path: &Path) -> Conn {
        let writer = UnixStream::connect(path).unwrap();
        writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Conn { writer, reader }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next response line, without its newline; "" at end of stream.
    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches('\n').to_owned()
    }

    fn ask(&mut self, bytes: &[u8]) -> String {
        self.send_raw(bytes);
        self.read_line()
    }
}

/// Answers actions with their own name as the state, and `status` with a
/// fixed report; records every request it gets.
fn recording_handler() -> (
    Arc<Mutex<Vec<Request>>>,
    impl Fn(Request) -> Response + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let seen = Arc::clone(&seen);
        move |request: Request| {
            seen.lock().unwrap().push(request.clone());
            match request {
                Request::Status => Response::Status(example_status()),
                other => Response::done(other.name()),
            }
        }
    };
    (seen, handler)
}

fn example_status() -> StatusReport {
    StatusReport {
        state: "idle".into(),
        model: "base.en".into(),
        model_loaded: false,
        pid: 4242,
        tray: true,
        hotkey: Some("Ctrl+Alt+Space".into()),
        last_error: None,
        idle_unload: "5m".into(),
    }
}

fn example_stats() -> StatsReport {
    StatsReport {
        pss_bytes: Some(11_010_048),
        rss_bytes: Some(13_631_488),
        uptime_secs: 3600,
        model_loaded: true,
        model_loaded_since: Some(1_795_830_000),
        last_load_ms: Some(271),
        dictations_today: 12,
        recent_dictations: 12,
        median_latency_ms: Some(412),
        median_real_time_factor: Some(0.094),
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// One request of every kind but `watch`, arguments filled in.
fn every_request() -> Vec<Request> {
    let values: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"idle_unload":"30s","threads":2,"telemetry":false}"#).unwrap();
    vec![
        Request::Toggle,
        Request::Start,
        Request::Stop,
        Request::Cancel,
        Request::Status,
        Request::Unload,
        Request::ReloadSettings,
        Request::Load,
        Request::Stats,
        Request::Settings,
        Request::SettingsCheck {
            values: values.clone(),
        },
        Request::SettingsSet { values },
        Request::AutostartSet { enabled: true },
        Request::Models,
        Request::ModelDownload {
            id: "tiny.en".into(),
        },
        Request::ModelDownloadUrl {
            name: "acme-medical".into(),
            url: "https://models.acme.example/ggml-acme-medical.bin".into(),
            sha256: "0123456789abcdef".repeat(4),
        },
        Request::ModelCancel {
            id: "tiny.en".into(),
        },
        Request::ModelRemove { id: "base".into() },
        Request::ModelActivate {
            id: "tiny.en".into(),
        },
        Request::ModelImport {
            path: "/home/u/faster-whisper-small".into(),
            quantize: Some(ImportQuantize::Q8_0),
        },
        Request::Telemetry,
        Request::TelemetrySet { enabled: true },
        Request::StatsHistory,
        Request::Microphones,
        Request::LevelMeter {
            device: "USB Mic".into(),
        },
        Request::LevelMeterStop,
        Request::OpenSettings,
    ]
}

#[test]
fn every_request_round_trips_with_its_arguments() {
    let (seen, handler) = recording_handler();
    let server = TestServer::start(handler);
    for request in every_request() {
        let response = send(&server.path, &request).unwrap();
        let expected = match &request {
            Request::Status => Response::Status(example_status()),
            other => Response::done(other.name()),
        };
        assert_eq!(response, expected, "response to {request:?}");
    }
    assert_eq!(*seen.lock().unwrap(), every_request());
}

#[test]
fn bad_arguments_are_answered_and_the_connection_stays_usable() {
    let (seen, handler) = recording_handler();
    let server = TestServer::start(handler);
    let mut conn = server.connect();
    let cases: &[(&str, &str)] = &[
        (r#"{"cmd":"model-download"}"#, "missing field `id`"),
        (
            r#"{"cmd":"model-download-url","name":"m","sha256":"00"}"#,
            "missing field `url`",
        ),
        (
            r#"{"cmd":"model-download-url","name":7,"url":"https://x/m.bin","sha256":"00"}"#,
            "invalid type: integer `7`, expected a string",
        ),
        (
            r#"{"cmd":"telemetry-set","enabled":"yes"}"#,
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            r#"{"cmd":"settings-set","values":["idle_unload"]}"#,
            "invalid type: sequence, expected a map",
        ),
        (
            r#"{"cmd":"model-import","path":"/m","quantize":"q4_0"}"#,
            "unknown variant `q4_0`, expected `q8_0`",
        ),
    ];
    for (line, reason) in cases {
        let got = conn.ask(format!("{line}\n").as_bytes());
        let response: Response = serde_json::from_str(&got).unwrap();
        let cmd: serde_json::Value = serde_json::from_str(line).unwrap();
        let expected = format!(
            "bad arguments for \"{}\": {reason}",
            cmd["cmd"].as_str().unwrap()
        );
        assert_eq!(response, Response::Error { error: expected }, "{line}");
    }
    assert!(seen.lock().unwrap().is_empty(), "the app never saw them");
    assert_eq!(
        conn.ask(b"{\"cmd\":\"model-cancel\",\"id\":\"tiny.en\",\"later\":1}\n"),
        r#"{"ok":true,"state":"model-cancel"}"#
    );
}

#[test]
fn field_errors_round_trip() {
    let mut errors = std::collections::BTreeMap::new();
    errors.insert(
        "hotkey".to_owned(),
        "\"Ctrl+Foo\": \"Foo\" is not a key name".to_owned(),
    );
    errors.insert("threads".to_owned(), "65 is more\nthan 64".to_owned());
    let refusal = Response::field_errors(errors);
    let server = TestServer::start(move |_| refusal.clone());
    let got = send(
        &server.path,
        &Request::SettingsSet {
            values: serde_json::Map::new(),
        },
    )
    .unwrap();
    let Response::FieldErrors {
        error,
        field_errors,
    } = &got
    else {
        panic!("{got:?}");
    };
    assert!(!got.is_ok());
    assert_eq!(
        error,
        "not saved: hotkey: \"Ctrl+Foo\": \"Foo\" is not a key name; threads: 65 is more than 64"
    );
    assert_eq!(
        field_errors["threads"], "65 is more than 64",
        "one line each"
    );
    assert_eq!(field_errors.len(), 2);
    // What a client that knows nothing of field errors sees.
    let plain: serde_json::Value = serde_json::from_str(&got.to_line()).unwrap();
    assert_eq!(plain["ok"], false);
    assert_eq!(plain["error"], error.as_str());
}

#[test]
fn several_requests_on_one_connection() {
    let (seen, handler) = recording_handler();
    let server = TestServer::start(handler);
    let mut conn = server.connect();
    // Three requests in one write, answered in order.
    conn.send_raw(b"{\"cmd\":\"start\"}\n{\"cmd\":\"stop\"}\r\n{\"cmd\":\"unload\"}\n");
    assert_eq!(conn.read_line(), r#"{"ok":true,"state":"start"}"#);
    assert_eq!(conn.read_line(), r#"{"ok":true,"state":"stop"}"#);
    assert_eq!(conn.read_line(), r#"{"ok":true,"state":"unload"}"#);
    // The connection stays open for more.
    assert_eq!(
        conn.ask(b"{\"cmd\":\"cancel\"}\n"),
        r#"{"ok":true,"state":"cancel"}"#
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Request::Start,
            Request::Stop,
            Request::Unload,
            Request::Cancel
        ]
    );
}

#[test]
fn concurrent_clients_are_served_at_once() {
    // `stop` blocks until a `start` arrives on another connection, and
    // `start` is sent only once `stop` is inside the handler: this can only
    // finish if two connections are served at the same time.
    let (start_tx, start_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let start_rx = Mutex::new(start_rx);
    let start_tx = Mutex::new(start_tx);
    let entered_tx = Mutex::new(entered_tx);
    let count = Arc::new(Mutex::new(0usize));
    let server = TestServer::start({
        let count = Arc::clone(&count);
        move |request| {
            *count.lock().unwrap() += 1;
            match request {
                Request::Stop => {
                    entered_tx.lock().unwrap().send(()).unwrap();
                    match start_rx
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(10))
                    {
                        Ok(()) => Response::done("idle"),
                        Err(_) => Response::error("no start came within 10 s"),
                    }
                }
                Request::Start => {
                    start_tx.lock().unwrap().send(()).unwrap();
                    Response::done("recording")
                }
                other => Response::done(other.name()),
            }
        }
    });
    let path = server.path.clone();
    let stopper =
        thread::spawn(move || send_with_timeout(&path, &Request::Stop, Duration::from_secs(20)));
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("stop did not reach the handler within 10 s");
    assert_eq!(
        send(&server.path, &Request::Start).unwrap(),
        Response::done("recording")
    );
    assert_eq!(stopper.join().unwrap().unwrap(), Response::done("idle"));

    // And many clients at once, each getting its own answers.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = server.path.clone();
            thread::spawn(move || {
                for _ in 0..25 {
                    assert_eq!(
                        send(&path, &Request::Toggle).unwrap(),
                        Response::done("toggle")
                    );
                    assert_eq!(
                        send(&path, &Request::Unload).unwrap(),
                        Response::done("unload")
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*count.lock().unwrap(), 2 + 8 * 25 * 2);
}

#[test]
fn malformed_lines_get_an_error_and_the_connection_stays_usable() {
    let (seen, handler) = recording_handler();
    let server = TestServer::start(handler);
    let mut conn = server.connect();
    let error_of = |line: String| -> String {
        match serde_json::from_str::<Response>(&line).unwrap() {
            Response::Error { error } => error,
            other => panic!("expected an error, got {other:?}"),
        }
    };
    let e = error_of(conn.ask(b"hello\n"));
    assert!(e.starts_with("request is not JSON"), "{e}");
    let e = error_of(conn.ask(b"{\"cmd\":\"fly\"}\n"));
    assert!(
        e.starts_with("unknown command \"fly\"; known commands: toggle, start"),
        "{e}"
    );
    let e = error_of(conn.ask(b"\n"));
    assert!(e.starts_with("empty request line"), "{e}");
    let e = error_of(conn.ask(b"{\"cmd\":\"st\xffp\"}\n"));
    assert!(e.starts_with("request is not valid UTF-8"), "{e}");
    let e = error_of(conn.ask(b"{\"command\":\"status\"}\n"));
    assert!(e.contains("no \"cmd\" field"), "{e}");
    let e = error_of(conn.ask(b"[\"status\"]\n"));
    assert!(e.contains("not a JSON object"), "{e}");
    // Same connection, still answering.
    assert_eq!(
        conn.ask(b"{\"cmd\":\"toggle\"}\n"),
        r#"{"ok":true,"state":"toggle"}"#
    );
    assert_eq!(*seen.lock().unwrap(), vec![Request::Toggle]);

    // A line over the cap is answered, then the connection is closed (the
    // rest of that line was never read, so the framing is lost).
    let mut long = server.connect();
    let mut line = vec![b' '; MAX_LINE_BYTES + 100];
    line.push(b'\n');
    let e = error_of(long.ask(&line));
    assert_eq!(
        e,
        format!("request line longer than {MAX_LINE_BYTES} bytes; closing the connection")
    );
    assert_eq!(long.read_line(), "", "the connection is closed after it");

    // A line exactly at the cap is read (and is merely not JSON).
    let mut at_cap = server.connect();
    let mut line = vec![b'x'; MAX_LINE_BYTES];
    line.push(b'\n');
    assert!(error_of(at_cap.ask(&line)).starts_with("request is not JSON"));

    // A last line without a newline is still answered.
    let mut last = server.connect();
    last.send_raw(b"{\"cmd\":\"cancel\"}");
    last.writer.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(last.read_line(), r#"{"ok":true,"state":"cancel"}"#);
    assert_eq!(last.read_line(), "");

    // The server is fine.
    assert_eq!(
        send(&server.path, &Request::Status).unwrap(),
        Response::Status(example_status())
    );
}

#[test]
fn a_panicking_handler_is_answered_and_the_server_goes_on() {
    let server = TestServer::start(|request| match request {
        Request::Cancel => panic!("handler bug (this panic is expected by the test)"),
        other => Response::done(other.name()),
    });
    assert_eq!(
        send(&server.path, &Request::Cancel).unwrap(),
        Response::Error {
            error: "internal error: EZ Flow failed while handling \"cancel\"".into()
        }
    );
    assert_eq!(
        send(&server.path, &Request::Start).unwrap(),
        Response::done("start")
    );
}

#[test]
fn socket_is_0600_and_its_new_directory_0700() {
    let dir = tempfile::tempdir().unwrap();
    // Two missing levels: both are created private.
    let path = dir.path().join("a").join("b").join("control.sock");
    let server = ControlServer::bind(&path).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(path.parent().unwrap()), 0o700);
    assert_eq!(mode_of(&dir.path().join("a")), 0o700);
    assert_eq!(mode_of(&lock_path(&path)), 0o600);
    drop(server);
}

#[test]
fn a_second_bind_while_the_first_serves_is_already_running() {
    let (_, handler) = recording_handler();
    let server = TestServer::start(handler);
    let err = ControlServer::bind(&server.path).err().unwrap();
    assert!(
        matches!(&err, ControlError::AlreadyRunning { path } if *path == server.path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("EZ Flow is already running"),
        "{message}"
    );
    assert!(
        message.contains(&server.path.display().to_string()),
        "{message}"
    );
    // The loser touched nothing: the first still serves.
    assert_eq!(
        send(&server.path, &Request::Toggle).unwrap(),
        Response::done("toggle")
    );
    // A bound server that does not serve yet holds the claim too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let first = ControlServer::bind(&path).unwrap();
    assert!(matches!(
        ControlServer::bind(&path),
        Err(ControlError::AlreadyRunning { .. })
    ));
    drop(first);
    assert!(
        !path.exists(),
        "dropping an unserved server removes the socket"
    );
    ControlServer::bind(&path).unwrap();
}

#[test]
fn racing_binds_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A stale socket makes the race harder: every contender may try to
    // clear it.
    drop(UnixListener::bind(&path).unwrap());
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(8));
        let contenders: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    ControlServer::bind(&path)
                })
            })
            .collect();
        let results: Vec<_> = contenders.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, ControlError::AlreadyRunning { .. }),
                    "round {round}: {e}"
                );
            }
        }
        // The winner works.
        let winner = results.into_iter().find_map(Result::ok).unwrap();
        let handle = winner.serve(|r| Response::done(r.name())).unwrap();
        assert_eq!(
            send(&path, &Request::Start).unwrap(),
            Response::done("start")
        );
        handle.shutdown();
    }
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A listener dropped without unlinking leaves a socket file no one
    // listens on, as a crash would.
    drop(UnixListener::bind(&path).unwrap());
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_socket());
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");

    let handle = ControlServer::bind(&path)
        .unwrap()
        .serve(|r| Response::done(r.name()))
        .unwrap();
    assert_eq!(
        send(&path, &Request::Status).unwrap(),
        Response::done("status")
    );
    assert_eq!(mode_of(&path), 0o600);
    handle.shutdown();
}

#[test]
fn a_path_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    std::fs::write(&path, "precious").unwrap();
    let err = ControlServer::bind(&path).err().unwrap();
    assert!(matches!(err, ControlError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    // It did not keep the lock.
    std::fs::remove_file(&path).unwrap();
    ControlServer::bind(&path).unwrap();
}

#[test]
fn send_without_a_server_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("control.sock");
    let err = send(&path, &Request::Toggle).unwrap_err();
    assert!(
        matches!(&err, ControlError::NotRunning { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "EZ Flow is not running (no one listens on {}); start it with `ezflow`",
            path.display()
        )
    );
    assert!(
        !path.parent().unwrap().exists(),
        "the client creates nothing"
    );
}

#[test]
fn a_slow_answer_times_out() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let server = TestServer::start(move |request| {
        if request == Request::Stop {
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
        }
        Response::done("idle")
    });
    let started = Instant::now();
    let err =
        send_with_timeout(&server.path, &Request::Stop, Duration::from_millis(300)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ControlError::Timeout { .. }), "{err}");
    assert!(err.to_string().ends_with("within 300ms"), "{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    release_tx.send(()).unwrap();
    assert_eq!(
        send(&server.path, &Request::Start).unwrap(),
        Response::done("idle")
    );
}

#[test]
fn bad_servers_give_clear_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let fake = thread::spawn(move || {
        let replies: [&[u8]; 3] = [b"garbage\n", b"", b"{\"ok\":true}\n"];
        for reply in replies {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            assert_eq!(request, "{\"cmd\":\"status\"}\n");
            stream.write_all(reply).unwrap();
        }
    });
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(
        matches!(err, ControlError::MalformedResponse { .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "EZ Flow sent a malformed response on {}: ",
            path.display()
        )),
        "{err}"
    );
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ControlError::Closed { .. }), "{err}");
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"without "state", "status", "stats""#),
        "{err}"
    );
    fake.join().unwrap();
}

#[test]
fn too_many_connections_are_refused_politely() {
    let (_, handler) = recording_handler();
    let server = TestServer::start(handler);
    // Each connection is answered once, so the server has taken it.
    let mut open: Vec<Conn> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut c = server.connect();
            assert_eq!(
                c.ask(b"{\"cmd\":\"start\"}\n"),
                r#"{"ok":true,"state":"start"}"#
            );
            c
        })
        .collect();
    // One more waits for a slot (2 s), then is refused with a reason.
    let started = Instant::now();
    let err = match send(&server.path, &Request::Status).unwrap() {
        Response::Error { error } => error,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        err,
        format!("refused: too many connections ({MAX_CONNECTIONS} open); try again later")
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for a slot first"
    );
    // Those already open still work.
    assert_eq!(
        open[1].ask(b"{\"cmd\":\"stop\"}\n"),
        r#"{"ok":true,"state":"stop"}"#
    );
    // A waiting connection is let in as soon as another one ends.
    let mut waiting = server.connect();
    waiting.send_raw(b"{\"cmd\":\"cancel\"}\n");
    let started = Instant::now();
    drop(open.remove(0));
    assert_eq!(waiting.read_line(), r#"{"ok":true,"state":"cancel"}"#);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    open.clear();
}

#[test]
fn shutdown_removes_the_socket_and_a_new_bind_works() {
    let (_, handler) = recording_handler();
    let mut server = TestServer::start(handler);
    let path = server.path.clone();
    // An idle client connection must not keep shutdown waiting.
    let mut idle = server.connect();
    assert_eq!(
        idle.ask(b"{\"cmd\":\"start\"}\n"),
        r#"{"ok":true,"state":"start"}"#
    );

    let handle = server.handle.take().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        handle.shutdown();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("shutdown did not return within 10 s");
    assert!(!path.exists(), "the socket file is removed");
    assert_eq!(idle.read_line(), "", "open connections are closed");
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");

    // The lock is released: binding again works, and dropping that handle
    // cleans up the same way.
    let handle = ControlServer::bind(&path)
        .unwrap()
        .serve(|r| Response::done(r.name()))
        .unwrap();
    assert_eq!(
        send(&path, &Request::Unload).unwrap(),
        Response::done("unload")
    );
    drop(handle);
    assert!(!path.exists());
    drop(ControlServer::bind(&path).unwrap());
}

#[test]
fn the_uid_rule_is_same_user_only() {
    assert!(peer_allowed(1000, 1000));
    assert!(peer_allowed(0, 0));
    assert!(!peer_allowed(1001, 1000));
    assert!(!peer_allowed(0, 1000), "root gets no exception");
    assert!(!peer_allowed(65534, 0));
}

#[test]
fn path_too_long_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x".repeat(120)).join("control.sock");
    let err = ControlServer::bind(&path).err().unwrap();
    assert!(matches!(err, ControlError::PathTooLong { .. }), "{err}");
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ControlError::PathTooLong { .. }), "{err}");
}

/// The exchanges quoted in docs/control-socket.md, byte for byte.
#[test]
fn wire_examples_in_the_docs() {
    let server = TestServer::start(|request| match request {
        Request::Toggle | Request::Start => Response::done("recording"),
        Request::Stop | Request::Unload | Request::ReloadSettings => Response::done("idle"),
        Request::Cancel => Response::error("nothing to cancel: not recording"),
        Request::Status => Response::Status(example_status()),
        Request::Load => Response::done("idle"),
        Request::Stats => Response::Stats(example_stats()),
        _ => Response::error("not in this example"),
    });
    let mut conn = server.connect();
    let exchanges: &[(&str, &str)] = &[
        (r#"{"cmd":"toggle"}"#, r#"{"ok":true,"state":"recording"}"#),
        (r#"{"cmd":"stop"}"#, r#"{"ok":true,"state":"idle"}"#),
        (
            r#"{"cmd":"status"}"#,
            r#"{"ok":true,"status":{"state":"idle","model":"base.en","model_loaded":false,"pid":4242,"tray":true,"hotkey":"Ctrl+Alt+Space","last_error":null,"idle_unload":"5m"}}"#,
        ),
        (
            r#"{"cmd":"cancel"}"#,
            r#"{"ok":false,"error":"nothing to cancel: not recording"}"#,
        ),
        (r#"{"cmd":"load"}"#, r#"{"ok":true,"state":"idle"}"#),
        (
            r#"{"cmd":"stats"}"#,
            r#"{"ok":true,"stats":{"pss_bytes":11010048,"rss_bytes":13631488,"uptime_secs":3600,"model_loaded":true,"model_loaded_since":1795830000,"last_load_ms":271,"dictations_today":12,"recent_dictations":12,"median_latency_ms":412,"median_real_time_factor":0.094}}"#,
        ),
        (
            r#"{"cmd":"reload-settings"}"#,
            r#"{"ok":true,"state":"idle"}"#,
        ),
        (
            r#"{"cmd":"fly"}"#,
            r#"{"ok":false,"error":"unknown command \"fly\"; known commands: toggle, start, stop, cancel, status, unload, reload-settings, load, stats, settings, settings-check, settings-set, autostart-set, models, model-download, model-download-url, model-cancel, model-remove, model-activate, model-import, telemetry, telemetry-set, stats-history, microphones, level-meter, level-meter-stop, open-settings, watch"}"#,
        ),
        (
            "toggle",
            r#"{"ok":false,"error":"request is not JSON (expected ident at line 1 column 2)"}"#,
        ),
        (
            "",
            r#"{"ok":false,"error":"empty request line; send one JSON object per line, like {\"cmd\":\"status\"}"}"#,
        ),
    ];
    for (request, expected) in exchanges {
        let got = conn.ask(format!("{request}\n").as_bytes());
        println!("> {request}\n< {got}");
        assert_eq!(got, *expected);
    }
}

/// A server whose handler answers `watch` with `idle` (and everything else
/// with its name); the publisher of its watchers.
fn watch_server() -> (TestServer, ezflow_control::EventPublisher) {
    let server = TestServer::start(|request| match request {
        Request::Watch => Response::done("idle"),
        other => Response::done(other.name()),
    });
    let publisher = server.handle.as_ref().unwrap().publisher();
    (server, publisher)
}

fn download_event(done: u64) -> Event {
    Event::Download(DownloadEvent {
        id: "tiny.en".into(),
        done,
        total: 77_691_713,
        bytes_per_sec: 5_242_880,
    })
}

/// Waits (bounded) until `publisher` has `n` watchers.
fn wait_for_watchers(publisher: &ezflow_control::EventPublisher, n: usize) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while publisher.watchers() != n {
        assert!(
            Instant::now() < give_up,
            "{} watchers, expected {n}",
            publisher.watchers()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn watch_receives_events_in_order() {
    let (server, publisher) = watch_server();
    // Nothing to do without watchers.
    publisher.publish(&Event::Focus);
    let mut events = watch(&server.path).unwrap();
    assert_eq!(events.state(), "idle");
    assert_eq!(publisher.watchers(), 1, "registered before the answer");
    let second = watch(&server.path).unwrap();
    assert_eq!(publisher.watchers(), 2);
    drop(second);

    for done in 0..200 {
        publisher.publish(&download_event(done));
    }
    publisher.publish(&Event::Settings);
    for done in 0..200 {
        match events.next() {
            Some(Ok(event)) => assert_eq!(event, download_event(done)),
            other => panic!("event {done}: {other:?}"),
        }
    }
    assert_eq!(events.next().unwrap().unwrap(), Event::Settings);
    // Other requests still work beside a watch.
    assert_eq!(
        send(&server.path, &Request::Models).unwrap(),
        Response::done("models")
    );
    // The server stopping ends the stream.
    let closer = events.closer().unwrap();
    drop(server);
    assert!(events.next().is_none(), "the stream ends with the server");
    closer.close();
    publisher.publish(&Event::Focus);
}

#[test]
fn lines_sent_after_watch_are_ignored() {
    let (server, publisher) = watch_server();
    let mut conn = server.connect();
    assert_eq!(
        conn.ask(b"{\"cmd\":\"watch\"}\n"),
        r#"{"ok":true,"state":"idle"}"#
    );
    conn.send_raw(b"{\"cmd\":\"status\"}\nnot even json\n");
    publisher.publish(&Event::Models);
    assert_eq!(conn.read_line(), r#"{"event":"models"}"#);
}

#[test]
fn a_slow_watcher_is_dropped_without_blocking_the_publisher() {
    let (server, publisher) = watch_server();
    // A client that asks to watch and then never reads.
    let mut slow = server.connect();
    assert_eq!(
        slow.ask(b"{\"cmd\":\"watch\"}\n"),
        r#"{"ok":true,"state":"idle"}"#
    );
    let mut fast = watch(&server.path).unwrap();
    wait_for_watchers(&publisher, 2);
    let reader = thread::spawn(move || {
        let mut n = 0u64;
        for event in fast.by_ref() {
            match event.unwrap() {
                Event::Focus => return n,
                _ => n += 1,
            }
        }
        n
    });

    // Far more than the queue and the socket's buffer hold.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let total = 20_000u64;
    for done in 0..total {
        let t = Instant::now();
        publisher.publish(&download_event(done));
        slowest = slowest.max(t.elapsed());
        // Give the fast reader a chance to keep up.
        if done % (WATCH_QUEUE as u64 / 2) == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    let took = started.elapsed();
    assert_eq!(publisher.watchers(), 1, "the slow watcher was dropped");
    publisher.publish(&Event::Focus);
    assert!(
        slowest < Duration::from_millis(200),
        "one publish took {slowest:?}: it must never wait for a watcher"
    );
    println!("{total} events published in {took:?}, slowest {slowest:?}");
    assert_eq!(
        reader.join().unwrap(),
        total,
        "the fast watcher got every event"
    );

    // The slow client finds its stream ended after what was buffered.
    let mut rest = Vec::new();
    slow.reader.read_to_end(&mut rest).unwrap();
    let lines = rest
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(
        lines as u64 >= WATCH_QUEUE as u64 && (lines as u64) < total,
        "{lines} lines"
    );
}

#[test]
fn closing_a_watch_connection_unregisters_it() {
    let (server, publisher) = watch_server();
    let events = watch(&server.path).unwrap();
    let conn = {
        let mut conn = server.connect();
        conn.ask(b"{\"cmd\":\"watch\"}\n");
        conn
    };
    wait_for_watchers(&publisher, 2);
    drop(conn);
    wait_for_watchers(&publisher, 1);
    let closer = events.closer().unwrap();
    let waiting = thread::spawn(move || events.count());
    closer.close();
    assert_eq!(waiting.join().unwrap(), 0, "close ends a blocked iterator");
    wait_for_watchers(&publisher, 0);
    // Every connection slot is free again.
    for _ in 0..MAX_CONNECTIONS {
        assert_eq!(
            send(&server.path, &Request::Status).unwrap(),
            Response::done("status")
        );
    }
}

#[test]
fn a_refused_watch_is_an_error_and_registers_nothing() {
    let server = TestServer::start(|_| Response::error("EZ Flow is shutting down"));
    let publisher = server.handle.as_ref().unwrap().publisher();
    match watch(&server.path) {
        Err(e @ ControlError::Refused { .. }) => {
            assert!(e.to_string().contains("EZ Flow is shutting down"), "{e}")
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the watch was refused"),
    }
    assert_eq!(publisher.watchers(), 0);
}

/// The examples of docs/control-socket.md's section for the settings
/// window: a handler answering like the app would.
#[test]
fn settings_window_wire_examples_in_the_docs() {
    let server = TestServer::start(|request| match request {
        Request::Settings => Response::Settings(example_settings()),
        Request::SettingsSet { values } if values.contains_key("hotkey") => {
            let mut errors = std::collections::BTreeMap::new();
            errors.insert(
                "hotkey".to_owned(),
                "\"Ctrl+Foo\": unknown key \"Foo\"; accepted: keys joined by +, such as \"Ctrl+Alt+Space\", \"Super+H\" or \"F9\"".to_owned(),
            );
            Response::field_errors(errors)
        }
        Request::Models | Request::ModelDownload { .. } => Response::Models(example_models()),
        Request::ModelDownloadUrl { name, .. } if name == "base.en" => {
            // As the app words it (crates/ezflow/src/app/library.rs).
            let name = "base.en is a catalog model; use Download in the list";
            let sha256 = "this has 5 digits; a SHA-256 is 64 hex digits (0-9, a-f), as the model's publisher lists it";
            Response::FieldErrors {
                error: format!("download not started: name: {name}; sha256: {sha256}"),
                field_errors: [("name", name), ("sha256", sha256)]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            }
        }
        Request::ModelDownloadUrl { name, url, .. } => Response::Models(ModelsReport {
            downloads: vec![UrlDownload {
                id: name,
                url,
                done: 0,
                total: 0,
                bytes_per_sec: 0,
            }],
            ..example_models()
        }),
        Request::Telemetry => Response::Telemetry(TelemetryReport {
            enabled: false,
            endpoint: Some("https://telemetry.ezflow.example".into()),
            explanation: "When you turn this on, EZ Flow sends …".into(),
            next_batch: None,
            sent: vec![SentBatch {
                sent_at: "2026-12-03T10:00:00Z".into(),
                outcome: "delivered 3 events".into(),
                batch: None,
            }],
        }),
        Request::StatsHistory => Response::History(HistoryReport {
            dictations: vec![DictationPoint {
                at: 1_795_830_000,
                audio_ms: 4200,
                latency_ms: 412,
                real_time_factor: Some(0.094),
            }],
            memory: vec![MemoryPoint {
                at: 1_795_830_000,
                pss_bytes: Some(11_010_048),
                why: "dictation".into(),
            }],
        }),
        Request::Microphones => Response::Microphones(MicrophonesReport {
            selected: String::new(),
            devices: vec![MicrophoneDevice {
                name: "default".into(),
                is_default: true,
            }],
        }),
        Request::LevelMeter { .. } => Response::done("idle"),
        Request::Watch => Response::done("idle"),
        _ => Response::error("not in this example"),
    });
    let publisher = server.handle.as_ref().unwrap().publisher();
    let mut conn = server.connect();
    for request in [
        r#"{"cmd":"settings"}"#,
        r#"{"cmd":"settings-set","values":{"hotkey":"Ctrl+Foo","idle_unload":"30s"}}"#,
        r#"{"cmd":"model-download"}"#,
        r#"{"cmd":"model-download","id":"base.en"}"#,
        r#"{"cmd":"model-download-url","name":"base.en","url":"https://models.acme.example/ggml-acme-medical.bin","sha256":"12345"}"#,
        r#"{"cmd":"model-download-url","name":"acme-medical","url":"https://models.acme.example/ggml-acme-medical.bin","sha256":"3f0c5e0a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789"}"#,
        r#"{"cmd":"telemetry"}"#,
        r#"{"cmd":"stats-history"}"#,
        r#"{"cmd":"microphones"}"#,
        r#"{"cmd":"level-meter","device":""}"#,
        r#"{"cmd":"watch"}"#,
    ] {
        let got = conn.ask(format!("{request}\n").as_bytes());
        println!("> {request}\n< {got}");
        let response: Response = serde_json::from_str(&got).unwrap();
        assert_eq!(response.to_line().trim_end(), got, "a faithful round trip");
    }
    let events = [
        Event::State(StateEvent {
            state: "loading".into(),
            model: "base.en".into(),
            model_loaded: false,
        }),
        download_event(1_048_576),
        Event::DownloadFinished(FinishedEvent {
            id: "tiny.en".into(),
            error: None,
        }),
        Event::Level(LevelEvent {
            device: "default".into(),
            rms: 0.031,
            peak: 0.22,
        }),
        Event::Settings,
        Event::Focus,
    ];
    for event in &events {
        publisher.publish(event);
    }
    for event in &events {
        let got = conn.read_line();
        println!("< {got}");
        assert_eq!(serde_json::from_str::<Event>(&got).unwrap(), *event);
    }
}

fn example_settings() -> SettingsReport {
    let values = serde_json::from_str(
        r#"{"model":"base.en","idle_unload":"5m","threads":0,"telemetry":false}"#,
    )
    .unwrap();
    SettingsReport {
        values,
        fields: vec![SettingField {
            key: "idle_unload".into(),
            accepts: "\"never\", \"immediately\", or a duration such as \"30s\", \"5m\", \"1h30m\" (at most 24h)".into(),
            help: "When to unload the model after its last use, to give its memory back.".into(),
            default: serde_json::Value::String("5m".into()),
        }],
        start_at_login: false,
        path: "/home/u/.config/ezflow/settings.toml".into(),
    }
}

fn example_models() -> ModelsReport {
    ModelsReport {
        active: "base.en".into(),
        active_installed: false,
        loaded: false,
        recommended: "base.en".into(),
        dir: "/home/u/.local/share/ezflow/models".into(),
        catalog: vec![
            CatalogModel {
                id: "tiny.en".into(),
                description: "39 M parameters, full precision: fastest, least accurate".into(),
                size_bytes: 77_691_713,
                english_only: true,
                installed: true,
                active: false,
                download: None,
                partial_bytes: 0,
            },
            CatalogModel {
                id: "base.en".into(),
                description: "74 M parameters, full precision".into(),
                size_bytes: 147_964_211,
                english_only: true,
                installed: false,
                active: true,
                download: Some(DownloadProgress {
                    done: 1_048_576,
                    total: 147_964_211,
                    bytes_per_sec: 5_242_880,
                }),
                partial_bytes: 1_048_576,
            },
        ],
        other: vec![OtherModel {
            id: "my-model-q8_0".into(),
            name: "ggml-my-model-q8_0.bin".into(),
            path: "/home/u/.local/share/ezflow/models/ggml-my-model-q8_0.bin".into(),
            size_bytes: 43_550_778,
            active: false,
        }],
        downloads: Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Cross-process tests. This binary is run again as a helper process: the
// ignored test `helper_process` does what the environment variables say.

const HELPER_ENV: &str = "EZFLOW_CONTROL_TEST_HELPER";
const HELPER_SOCKET_ENV: &str = "EZFLOW_CONTROL_TEST_SOCKET";
const HELPER_MARK: &str = "HELPER-RESULT: ";

/// Not a test of its own: the body of the helper processes started by the
/// tests below (`client`: send `status` and print the result; `serve`: serve
/// until killed).
#[test]
#[ignore = "helper process for the cross-process tests; run by them"]
fn helper_process() {
    let (Ok(role), Some(path)) = (
        std::env::var(HELPER_ENV),
        std::env::var_os(HELPER_SOCKET_ENV),
    ) else {
        return;
    };
    let path = PathBuf::from(path);
    match role.as_str() {
        "client" => match send(&path, &Request::Status) {
            Ok(r) => println!("\n{HELPER_MARK}ok {}", r.to_line().trim_end()),
            Err(e) => println!("\n{HELPER_MARK}err {e}"),
        },
        "serve" => {
            let _handle = ControlServer::bind(&path)
                .unwrap()
                .serve(|_| Response::done("served by the helper"))
                .unwrap();
            println!("\n{HELPER_MARK}ready");
            // Serve until the parent kills us (or closes stdin).
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        }
        other => panic!("unknown helper role {other}"),
    }
}

fn helper_command(role: &str, path: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "helper_process",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(HELPER_ENV, role)
    .env(HELPER_SOCKET_ENV, path)
    .current_dir("/")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    cmd
}

/// Kills and reaps the helper however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The helper's result line, waiting at most `limit`.
fn helper_result(child: &mut ChildGuard, limit: Duration) -> String {
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(result) = line.strip_prefix(HELPER_MARK) {
                let _ = tx.send(result.to_owned());
                return;
            }
        }
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the helper printed no result within {limit:?}"))
}

#[test]
fn a_crashed_server_in_another_process_leaves_a_replaceable_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let mut child = ChildGuard(helper_command("serve", &path).spawn().unwrap());
    assert_eq!(helper_result(&mut child, Duration::from_secs(30)), "ready");

    // Another process serves: the lock refuses us, and it answers.
    assert!(matches!(
        ControlServer::bind(&path),
        Err(ControlError::AlreadyRunning { .. })
    ));
    assert_eq!(
        send(&path, &Request::Status).unwrap(),
        Response::done("served by the helper")
    );

    // SIGKILL: no cleanup runs. The kernel drops its lock; the file stays.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(path.exists(), "a killed server leaves its socket file");
    let err = send(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");

    let handle = ControlServer::bind(&path)
        .unwrap()
        .serve(|r| Response::done(r.name()))
        .unwrap();
    assert_eq!(
        send(&path, &Request::Status).unwrap(),
        Response::done("status")
    );
    handle.shutdown();
}

/// A client running as another user (uid 65534, "nobody") is kept out by
/// each layer in turn. This needs root to start the client as another
/// user; the tests here run as root. As an ordinary user it returns early,
/// saying so, and only `the_uid_rule_is_same_user_only` covers the rule.
///
/// 1. As created (directory 0700): the client cannot even reach the socket.
/// 2. Directories opened to traversal (0711), socket still 0600: the file
///    mode refuses it.
/// 3. Socket made 0666 *by this test*, to get past the file permissions:
///    now only the server's SO_PEERCRED check stands in the way, and it
///    answers with an error line and closes without calling the handler.
#[test]
fn a_client_of_another_user_is_refused() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: starting a client as another user needs root");
        return;
    }
    let (seen, handler) = recording_handler();
    let server = TestServer::start(handler);
    let path = server.path.clone();
    let run_as_nobody = || {
        let mut cmd = helper_command("client", &path);
        cmd.uid(65534).gid(65534);
        let mut child = ChildGuard(cmd.spawn().unwrap());
        helper_result(&mut child, Duration::from_secs(30))
    };
    let denied = format!(
        "err permission denied connecting to {} (is it another user's EZ Flow?)",
        path.display()
    );

    assert_eq!(run_as_nobody(), denied, "stage 1: private directory");

    let traverse = std::fs::Permissions::from_mode(0o711);
    std::fs::set_permissions(server.dir.path(), traverse.clone()).unwrap();
    std::fs::set_permissions(path.parent().unwrap(), traverse).unwrap();
    assert_eq!(run_as_nobody(), denied, "stage 2: socket 0600");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        run_as_nobody(),
        r#"ok {"ok":false,"error":"refused: this EZ Flow belongs to uid 0, and uid 65534 may not control it"}"#,
        "stage 3: only the uid check is left"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the handler never saw the other user's request"
    );
    // The owner is still served.
    assert_eq!(
        send(&path, &Request::Toggle).unwrap(),
        Response::done("toggle")
    );
}
