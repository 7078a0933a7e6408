//! `POST /v1/events` against a real collector on loopback with a real SQLite
//! file: what is refused and why, what is stored, duplicates, server-side
//! failures (503, never 4xx), `/health`, and unknown routes.

use std::time::Duration;

use ezflow_collector::retention::Cutoffs;
use ezflow_collector::stats::Aggregates;
use ezflow_collector::store::{EventStore, Inserted, Purged, StoreError};
use ezflow_collector::RunningCollector;
use ezflow_telemetry_schema::{Batch, Hour, MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH};
use ezflow_testbed::collector::*;
use serde_json::{json, Value};

type Case = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

/// `valid_batch(1)` changed by `edit`.
fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut batch = valid_batch(1);
    edit(&mut batch);
    batch.to_string().into_bytes()
}

#[test]
fn malformed_requests_are_refused_with_a_reason_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let base = base_url(&collector);
    let agent = agent();
    let json_type = Some("application/json");

    // (what is wrong, Content-Type, body, expected status, expected reason)
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            json_type,
            b"this is not json".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "truncated JSON",
            json_type,
            b"{\"schema\": 1, \"batch_id\"".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "wrong content type",
            Some("text/plain"),
            edited(|_| {}),
            415,
            "application/json",
        ),
        (
            "no content type",
            None,
            edited(|_| {}),
            415,
            "application/json",
        ),
        (
            "unknown top-level field",
            json_type,
            edited(|b| b["user_id"] = json!("abc")),
            400,
            "unknown field `user_id`",
        ),
        (
            "unknown event field",
            json_type,
            edited(|b| b["events"][0]["hostname"] = json!("box")),
            400,
            "events[0].hostname: unknown field `hostname`",
        ),
        (
            "unknown field inside the event kind",
            json_type,
            edited(|b| b["events"][1]["event"]["text"] = json!("hello")),
            400,
            "unknown field `text`",
        ),
        (
            "wrong type",
            json_type,
            edited(|b| b["events"][1]["event"]["gpu"] = json!("yes")),
            400,
            "events[1].event",
        ),
        (
            "wrong type at the top",
            json_type,
            edited(|b| b["schema"] = json!("1")),
            400,
            "schema: invalid type",
        ),
        (
            "missing field",
            json_type,
            edited(|b| {
                b["events"][0].as_object_mut().unwrap().remove("os");
            }),
            400,
            "missing field `os`",
        ),
        (
            "unknown event type",
            json_type,
            edited(|b| b["events"][0]["event"] = json!({"type": "keystroke"})),
            400,
            "unknown variant `keystroke`",
        ),
        (
            "bad batch id",
            json_type,
            edited(|b| b["batch_id"] = json!("0123456789ABCDEF0123456789ABCDEF")),
            422,
            "batch_id must be 32 lowercase hex digits",
        ),
        (
            "wrong schema version",
            json_type,
            edited(|b| b["schema"] = json!(2)),
            422,
            "schema version 2 is not supported",
        ),
        (
            "empty batch",
            json_type,
            edited(|b| b["events"] = json!([])),
            422,
            "at least one event",
        ),
        (
            "too many events",
            json_type,
            edited(|b| {
                let one = b["events"][0].clone();
                b["events"] = Value::Array(vec![one; MAX_EVENTS_PER_BATCH + 1]);
            }),
            422,
            "at most 100 events; this one has 101",
        ),
        (
            "oversized body",
            json_type,
            edited(|b| b["events"][0]["app_version"] = json!("9".repeat(MAX_BODY_BYTES))),
            413,
            "larger than 65536 bytes",
        ),
        (
            "future hour",
            json_type,
            edited(|b| b["events"][0]["hour"] = json!(hour(-1, 12))),
            422,
            "events[0].hour",
        ),
        (
            "ancient hour",
            json_type,
            edited(|b| b["events"][0]["hour"] = json!(hour(40, 0))),
            422,
            "older than 31 days",
        ),
        (
            "minute-precision hour",
            json_type,
            edited(|b| {
                let minute = hour(0, 0).replace(":00Z", ":13Z");
                b["events"][0]["hour"] = json!(minute);
            }),
            400,
            "is not an hour written as YYYY-MM-DDTHH:00Z",
        ),
        (
            "negative real-time factor",
            json_type,
            edited(|b| b["events"][1]["event"]["real_time_factor"] = json!(-0.5)),
            422,
            "events[1].event.real_time_factor: -0.5 is not between 0 and 100",
        ),
        (
            "real-time factor finer than two decimals",
            json_type,
            edited(|b| b["events"][1]["event"]["real_time_factor"] = json!(0.123)),
            422,
            "more than two decimal places",
        ),
        (
            "model id that is a path",
            json_type,
            edited(|b| b["events"][2]["event"]["model"] = json!("/home/ann/model.bin")),
            422,
            "events[2].event.model: character '/' is not allowed",
        ),
    ];

    for (name, content_type, body, status, reason) in &cases {
        let reply = post_raw(&agent, &base, *content_type, body);
        assert_eq!(reply.status, *status, "{name}: {reply:?}");
        let error = reply.error();
        println!("{name}: {} {error}", reply.status);
        assert!(error.contains(reason), "{name}: {error:?} lacks {reason:?}");
        assert!(!error.contains('\n'), "{name}: {error:?}");
        // The rest of a body refused early is read, so the connection stays
        // usable: every case here runs on the same keep-alive connection.
        assert_eq!(reply.connection, None, "{name}");
    }

    // Without a Content-Length (chunked), the size is found while reading.
    let big = edited(|b| b["events"][0]["app_version"] = json!("9".repeat(MAX_BODY_BYTES)));
    let reply = reply(
        agent
            .post(&format!("{base}/v1/events"))
            .set("Content-Type", "application/json")
            .send(std::io::Cursor::new(big)),
    );
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(reply.error().contains("larger than 65536 bytes"));

    assert_eq!(total_events(&agent, &base), 0);
    let db = database(dir.path());
    assert_eq!(count_rows(&db, "events"), 0);
    assert_eq!(count_rows(&db, "batches"), 0, "no refused batch id is kept");

    // The same batch, unbroken, is accepted: the refusals were about the
    // breakage, not about batch 1.
    let reply = post(&agent, &base, &valid_batch(1));
    assert_eq!(reply.status, 200, "{reply:?}");
    collector.shutdown().unwrap();
}

#[test]
fn a_valid_batch_is_stored_once_however_often_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let base = base_url(&collector);
    let agent = agent();

    let reply = post(&agent, &base, &valid_batch(7));
    assert_eq!((reply.status, reply.json()), (200, json!({"stored": 3})));
    for _ in 0..3 {
        let reply = post(&agent, &base, &valid_batch(7));
        assert_eq!(
            (reply.status, reply.json()),
            (200, json!({"stored": 0, "duplicate": true}))
        );
    }
    // A different body under the same id is still that batch's retry.
    let mut changed = valid_batch(7);
    changed["events"] = json!([event(&Hour::now().to_string(), launched())]);
    assert_eq!(post(&agent, &base, &changed).json()["duplicate"], true);
    // Content-Type parameters are fine.
    let reply = post_raw(
        &agent,
        &base,
        Some("application/json; charset=utf-8"),
        valid_batch(8).to_string().as_bytes(),
    );
    assert_eq!(reply.json(), json!({"stored": 3}));

    assert_eq!(total_events(&agent, &base), 6);
    let db = database(dir.path());
    assert_eq!(count_rows(&db, "events"), 6);
    assert_eq!(count_rows(&db, "batches"), 2);
    collector.shutdown().unwrap();
}

#[test]
fn nothing_but_event_fields_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let reply = reply(
        agent()
            .post(&format!("{}/v1/events", base_url(&collector)))
            .set("Content-Type", "application/json")
            .set("User-Agent", "marker-user-agent")
            .set("X-Forwarded-For", "203.0.113.77")
            .send_string(&valid_batch(3).to_string()),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    collector.shutdown().unwrap();

    let db = database(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let columns = |table: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(columns("batches"), ["batch_id", "received_hour"]);
    assert_eq!(
        columns("events"),
        [
            "id",
            "hour",
            "app_version",
            "os",
            "os_version",
            "arch",
            "type",
            "surface",
            "audio",
            "model",
            "gpu",
            "real_time_factor"
        ]
    );
    drop(conn);
    let bytes = std::fs::read(&db).unwrap();
    for marker in ["127.0.0.1", "203.0.113.77", "marker-user-agent"] {
        let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
        assert!(!found, "{marker} is in the database file");
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let base = base_url(&collector);
    let agent = agent();
    for path in ["/v1/event", "/v2/events", "/admin", "/health/x"] {
        let reply = get(&agent, &format!("{base}{path}"));
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.error(), "no such endpoint");
    }
    let r = get(&agent, &format!("{base}/v1/events"));
    assert_eq!(r.status, 405, "{r:?}");
    assert!(!r.error().is_empty());
    for path in ["/v1/stats", "/health", "/"] {
        let r = reply(agent.post(&format!("{base}{path}")).send_string("{}"));
        assert_eq!(r.status, 405, "{path}: {r:?}");
    }
    let r = reply(agent.put(&format!("{base}/v1/events")).send_string("{}"));
    assert_eq!(r.status, 405, "{r:?}");
    collector.shutdown().unwrap();
}

#[test]
fn health_is_ok_while_the_database_answers() {
    let dir = tempfile::tempdir().unwrap();
    let collector = RunningCollector::start(config(dir.path())).unwrap();
    let reply = get(&agent(), &format!("{}/health", base_url(&collector)));
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    collector.shutdown().unwrap();
}

/// A backend whose every query fails, as a full disk or a vanished database
/// server would.
struct BrokenStore;

fn broken() -> StoreError {
    StoreError::Failed {
        location: "broken-store".into(),
        reason: "disk I/O error".into(),
    }
}

impl EventStore for BrokenStore {
    fn insert_batch(&mut self, _: &Batch, _: Hour) -> Result<Inserted, StoreError> {
        Err(broken())
    }
    fn aggregates(&mut self, _: Hour) -> Result<Aggregates, StoreError> {
        Err(broken())
    }
    fn purge(&mut self, _: Cutoffs) -> Result<Purged, StoreError> {
        Ok(Purged::default())
    }
    fn check(&mut self) -> Result<(), StoreError> {
        Err(broken())
    }
    fn close(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

#[test]
fn a_failing_store_gives_503_with_retry_after_never_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let collector =
        RunningCollector::start_with_store(config(dir.path()), Box::new(BrokenStore)).unwrap();
    let base = base_url(&collector);
    let agent = agent();

    let reply = post(&agent, &base, &valid_batch(1));
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.retry_after.as_deref(), Some("60"));
    assert!(reply.error().contains("retry later"), "{reply:?}");
    assert!(
        !reply.body.contains("disk I/O"),
        "internals stay in the log"
    );

    let reply = get(&agent, &format!("{base}/health"));
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(get(&agent, &format!("{base}/v1/stats")).status, 503);
    assert_eq!(get(&agent, &format!("{base}/")).status, 503);
    collector.shutdown().unwrap();
}

#[test]
fn a_locked_database_gives_503_and_the_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.database_busy_timeout = Duration::from_millis(200);
    let collector = RunningCollector::start(config).unwrap();
    let base = base_url(&collector);
    let agent = agent();

    // Another process (an operator's sqlite3 shell, a backup) holds the
    // write lock.
    let other = rusqlite::Connection::open(database(dir.path())).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let reply = post(&agent, &base, &valid_batch(1));
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(reply.retry_after.is_some());
    // Readers are not blocked in WAL mode.
    assert_eq!(get(&agent, &format!("{base}/health")).status, 200);
    other.execute_batch("COMMIT").unwrap();

    let reply = post(&agent, &base, &valid_batch(1));
    assert_eq!((reply.status, reply.json()), (200, json!({"stored": 3})));
    drop(other);
    collector.shutdown().unwrap();
    assert_eq!(count_rows(&database(dir.path()), "events"), 3);
}

/// Sends a request whose body stops short of its Content-Length, and returns
/// everything the server answers until it closes the connection.
fn post_partial_body(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: collector\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"schema\":",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_body_that_stops_arriving_gets_408_and_the_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.body_timeout = Duration::from_millis(300);
    let collector = RunningCollector::start(config).unwrap();
    let answer = post_partial_body(collector.addr());
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
    collector.shutdown().unwrap();
    assert_eq!(count_rows(&database(dir.path()), "batches"), 0);
}
