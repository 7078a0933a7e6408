//! Starting and stopping: data survives a restart of the library and of the
//! real binary (stopped with SIGTERM), shutdown under load keeps every
//! acknowledged batch, and an unusable database file stops `start` with an
//! error naming it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use ezflow_collector::{CollectorError, RunningCollector};
use ezflow_testbed::collector::*;
use serde_json::json;

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let reply = post(&agent(), &base_url(&collector), &valid_batch(1));
    assert_eq!(reply.json(), json!({"stored": 3}));
    collector.shutdown().unwrap();

    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let base = base_url(&collector);
    let agent = agent();
    assert_eq!(total_events(&agent, &base), 3);
    // The batch id is remembered across the restart too.
    assert_eq!(
        post(&agent, &base, &valid_batch(1)).json()["duplicate"],
        true
    );
    collector.shutdown().unwrap();
    assert_eq!(count_rows(&database(dir.path()), "events"), 3);
}

#[test]
fn the_binary_stops_cleanly_on_sigterm_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_ezflow-collector"))
        .args(["--listen", "127.0.0.1:0", "--retention-days", "30"])
        .env("EZFLOW_COLLECTOR_DATABASE", &db)
        .env("EZFLOW_COLLECTOR_RATE_LIMIT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let agent = agent();
    assert_eq!(
        post(&agent, &base, &valid_batch(1)).json(),
        json!({"stored": 3})
    );
    let reply = get(&agent, &format!("{base}/health"));
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}\n{log}", output.status);
    assert!(log.contains("SIGTERM: shutting down"), "{log}");

    let collector = RunningCollector::start(config(dir.path())).unwrap();
    assert_eq!(total_events(&agent, &base_url(&collector)), 3);
    collector.shutdown().unwrap();
}

#[test]
fn shutdown_under_load_keeps_every_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let base = base_url(&collector);
    let (acked, acks) = mpsc::channel::<u64>();
    let senders: Vec<_> = (0..8u64)
        .map(|t| {
            let (base, acked) = (base.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut stored = 0;
                for i in 0..5_000u64 {
                    let request = agent
                        .post(&format!("{base}/v1/events"))
                        .set("Content-Type", "application/json")
                        .send_string(&valid_batch(t * 10_000 + i).to_string());
                    match request {
                        Ok(response) => {
                            assert_eq!(response.status(), 200);
                            let body: serde_json::Value =
                                serde_json::from_str(&response.into_string().unwrap()).unwrap();
                            stored += body["stored"].as_u64().unwrap();
                            let _ = acked.send(1);
                        }
                        // The collector stopped: connection refused or reset.
                        Err(ureq::Error::Transport(_)) => return stored,
                        Err(other) => panic!("{other}"),
                    }
                }
                stored
            })
        })
        .collect();
    drop(acked);
    // Shut down while all eight are busy.
    for _ in 0..40 {
        acks.recv().unwrap();
    }
    collector.shutdown().unwrap();
    let stored: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
    assert!(stored >= 40 * 3, "{stored}");
    assert_eq!(count_rows(&database(dir.path()), "events") as u64, stored);
}

#[test]
fn an_unusable_database_file_fails_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, "this is not a database, just text. ".repeat(200)).unwrap();
    let foreign = dir.path().join("foreign.sqlite3");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT)")
        .unwrap();
    let cases = [
        (dir.path().to_path_buf(), "it is a directory"),
        (garbage, "file is not a database"),
        (
            dir.path().join("missing").join("events.sqlite3"),
            "unable to open",
        ),
        (foreign, "another program's database"),
    ];
    for (path, reason) in cases {
        let mut config = config(dir.path());
        config.database = path.clone();
        let error = match RunningCollector::start(config) {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(error) => error,
        };
        assert!(matches!(error, CollectorError::Store(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn the_binary_reports_an_unusable_database_and_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ezflow-collector"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "ezflow-collector: cannot open the database {}",
            dir.path().display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "never said it was listening");
}

#[test]
fn shutdown_cuts_off_a_request_that_outlasts_the_grace_period() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.body_timeout = Duration::from_secs(600);
    config.shutdown_grace = Duration::from_millis(200);
    let collector = RunningCollector::start(config).unwrap();

    // A request whose body never finishes arriving: in flight until cut off.
    let mut stream = std::net::TcpStream::connect(collector.addr()).unwrap();
    stream
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: collector\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .unwrap();
    // A complete request on another connection shows the server has taken
    // the first one in (connections are accepted in order).
    let base = base_url(&collector);
    assert_eq!(get(&agent(), &format!("{base}/health")).status, 200);

    let started = Instant::now();
    collector.shutdown().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    // Closed without an answer (a reset is as good as an end of stream).
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}
