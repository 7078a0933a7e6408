//! The telemetry client's consent, queue bounds and delivery rules, with a
//! real queue directory on disk and a real HTTP server on loopback
//! (tiny_http answering with the status each test needs). The full run
//! against the real collector lives in `crates/ezflow/tests/telemetry.rs`.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use ezflow_config::settings::Settings;
use ezflow_core::telemetry::schema::{self, Batch, EventKind, Surface};
use ezflow_core::telemetry::{
    Context, Delivery, Limits, SendOutcome, SendPolicy, Sender, Telemetry,
};
use ezflow_testbed::http::{header, unused_loopback_addr, LoopbackServer};

fn settings(enabled: bool, endpoint: &str) -> Settings {
    Settings {
        telemetry: enabled,
        telemetry_endpoint: endpoint.to_owned(),
        ..Settings::default()
    }
}

fn context() -> Context {
    Context::detect("0.1.0-test")
}

fn open(dir: &Path, enabled: bool, endpoint: &str) -> Telemetry {
    Telemetry::open_in(dir, &settings(enabled, endpoint), context()).expect("open telemetry")
}

fn launch() -> EventKind {
    EventKind::AppLaunched {
        surface: Surface::Cli,
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".lock")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A loopback HTTP server that answers each request to `/v1/events` with the
/// next status from `statuses`; it records each request body.
fn collector_stub(statuses: Vec<(u16, Option<&'static str>)>) -> LoopbackServer {
    LoopbackServer::start(move |incoming| {
        assert_eq!(incoming.seen.path, "/v1/events");
        let Some(&(status, retry_after)) = statuses.get(incoming.index) else {
            panic!("the stub got more requests than it has answers for");
        };
        let mut response =
            tiny_http::Response::from_string(format!("{{\"error\":\"stub answered {status}\"}}"))
                .with_status_code(status);
        if let Some(secs) = retry_after {
            response.add_header(header("Retry-After", secs));
        }
        incoming.respond(response);
    })
}

/// The bodies the stub received, in order.
fn bodies(server: &LoopbackServer) -> Vec<String> {
    server.seen().into_iter().map(|r| r.body).collect()
}

fn batch_of(body: &str) -> Batch {
    serde_json::from_str(body).expect("the client sends a schema batch")
}

#[test]
fn nothing_is_recorded_or_written_while_consent_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("telemetry");
    let t = open(&queue_dir, false, "http://127.0.0.1:9");
    assert!(!t.record(launch()).unwrap());
    assert!(!t
        .record_transcription(
            Duration::from_secs(3),
            "tiny.en",
            false,
            Duration::from_millis(400)
        )
        .unwrap());
    assert!(
        !queue_dir.exists(),
        "no file may be created without consent"
    );
    assert_eq!(t.preview().unwrap(), None);
    assert_eq!(
        t.send_pending(&Delivery::new(Duration::from_secs(1)))
            .unwrap(),
        SendOutcome::Disabled
    );
}

#[test]
fn turning_consent_off_deletes_what_waits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), true, "");
    t.record(launch()).unwrap();
    t.record(launch()).unwrap();
    t.preview().unwrap(); // fixes a next batch too
    t.record(launch()).unwrap();
    assert_eq!(t.status().unwrap().queued, 3);

    // Another process (or the next start) sees consent off.
    let off = open(dir.path(), false, "");
    assert_eq!(off.status().unwrap().queued, 0);
    assert_eq!(files_in(dir.path()), Vec::<String>::new());

    // Events from before consent never come back once it is given again.
    let on = open(dir.path(), true, "");
    on.record(EventKind::ModelDownloaded {
        model: "tiny.en".into(),
    })
    .unwrap();
    let batch = on.preview().unwrap().expect("one event queued");
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].event.name(), "model_downloaded");
}

#[test]
fn events_carry_only_coarse_anonymous_fields() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), true, "");
    t.record_transcription(
        Duration::from_millis(2300),
        "/home/someone/secret-project/model.bin",
        false,
        Duration::from_millis(433),
    )
    .unwrap();
    t.record_download("base.en").unwrap();
    let batch = t.preview().unwrap().unwrap();
    let now = schema::unix_now();
    assert_eq!(batch.validate(now), Ok(()));
    assert!(schema::is_batch_id(&batch.batch_id));
    let json = serde_json::to_string(&batch).unwrap();
    assert!(
        !json.contains("someone") && !json.contains("secret"),
        "{json}"
    );
    match &batch.events[0].event {
        EventKind::TranscriptionCompleted {
            audio,
            model,
            real_time_factor,
            ..
        } => {
            assert_eq!(*audio, schema::AudioBucket::Under5s);
            assert_eq!(model, "custom", "a model path never leaves the machine");
            assert_eq!(*real_time_factor, 0.19);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        batch.events[1].event,
        EventKind::ModelDownloaded {
            model: "base.en".into()
        }
    );
    assert_eq!(batch.events[0].hour.unix() % 3600, 0, "hour precision only");
}

#[test]
fn the_queue_keeps_the_newest_events_within_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_events: 10,
        ..Limits::default()
    };
    let t = open(dir.path(), true, "").with_limits(limits);
    let ids: Vec<&str> = ezflow_core::catalog::all()
        .iter()
        .map(|e| e.id)
        .take(25)
        .collect();
    assert_eq!(ids.len(), 25);
    for id in &ids {
        t.record_download(id).unwrap();
    }
    let batch = t.preview().unwrap().unwrap();
    let models: Vec<String> = batch
        .events
        .iter()
        .map(|e| match &e.event {
            EventKind::ModelDownloaded { model } => model.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(models, ids[15..], "the ten newest, oldest first");

    // A byte bound: each event line is ~170 bytes, so 1 KiB holds a few.
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), true, "").with_limits(Limits {
        max_bytes: 1024,
        ..Limits::default()
    });
    for _ in 0..50 {
        t.record(launch()).unwrap();
    }
    let queued = t.status().unwrap().queued;
    assert!((1..=8).contains(&queued), "{queued} events in 1 KiB");
    assert!(fs::metadata(dir.path().join("queue.jsonl")).unwrap().len() <= 1024);
}

#[test]
fn events_older_than_the_age_bound_and_unreadable_lines_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), true, "");
    t.record(launch()).unwrap();
    // An event from 20 days ago (past the 14-day bound) and a torn line, as
    // a crash or a full disk elsewhere might leave them.
    let mut old: serde_json::Value = serde_json::from_str(
        fs::read_to_string(dir.path().join("queue.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let twenty_days_ago = schema::Hour::containing(schema::unix_now() - 20 * 86_400);
    old["hour"] = serde_json::Value::String(twenty_days_ago.to_string());
    let text = format!("{old}\n{{\"hour\": \"2026-\n");
    fs::write(dir.path().join("queue.jsonl"), text).unwrap();

    t.record(launch()).unwrap();
    assert_eq!(t.status().unwrap().queued, 1);
    let batch = t.preview().unwrap().unwrap();
    assert!(batch.events[0].hour.unix() > twenty_days_ago.unix());
}

#[test]
fn server_errors_keep_the_batch_and_its_id_until_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let server = collector_stub(vec![(503, None), (429, Some("7")), (200, None)]);
    let t = open(dir.path(), true, server.base_url());
    t.record(launch()).unwrap();
    t.record(launch()).unwrap();
    let delivery = Delivery::new(Duration::from_secs(5));

    let first = t.send_pending(&delivery).unwrap();
    assert!(
        matches!(&first, SendOutcome::RetryLater { reason, .. } if reason.contains("503")),
        "{first:?}"
    );
    let second = t.send_pending(&delivery).unwrap();
    assert!(
        matches!(second, SendOutcome::RetryLater { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{second:?}"
    );
    assert_eq!(t.status().unwrap().queued, 2, "nothing lost while failing");
    let third = t.send_pending(&delivery).unwrap();
    assert_eq!(
        third,
        SendOutcome::Done {
            batches: 1,
            events: 2,
            dropped: 0
        }
    );
    let bodies = bodies(&server);
    server.stop();

    let ids: Vec<String> = bodies.iter().map(|b| batch_of(b).batch_id).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "a retry resends the same batch id: {ids:?}"
    );
    let status = t.status().unwrap();
    assert_eq!(status.queued, 0);
    assert!(status.last_send.unwrap().delivered);
    let sent = t.sent_log().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].batch.as_ref().unwrap().batch_id, ids[0]);
}

#[test]
fn a_refused_batch_is_dropped_and_the_next_one_still_goes() {
    let dir = tempfile::tempdir().unwrap();
    let server = collector_stub(vec![(422, None), (200, None)]);
    let t = open(dir.path(), true, server.base_url());
    t.record(launch()).unwrap();
    t.preview().unwrap(); // first batch: one event
    t.record(launch()).unwrap();
    let outcome = t
        .send_pending(&Delivery::new(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        outcome,
        SendOutcome::Done {
            batches: 1,
            events: 1,
            dropped: 1
        }
    );
    let bodies = bodies(&server);
    server.stop();
    assert_eq!(bodies.len(), 2);
    assert_eq!(t.status().unwrap().queued, 0);
    assert_eq!(
        t.sent_log().unwrap().len(),
        1,
        "only delivered batches are in the sent log"
    );
}

#[test]
fn without_an_endpoint_nothing_leaves_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), true, "");
    if t.endpoint().is_some() {
        // Built with EZFLOW_TELEMETRY_ENDPOINT: this case cannot happen.
        return;
    }
    t.record(launch()).unwrap();
    assert_eq!(
        t.send_pending(&Delivery::new(Duration::from_secs(1)))
            .unwrap(),
        SendOutcome::NoEndpoint { queued: 1 }
    );
    assert_eq!(t.status().unwrap().queued, 1);
}

#[test]
fn the_background_sender_retries_until_the_collector_is_back_then_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening: connections are refused (offline).
    let port = unused_loopback_addr().port();
    let url = format!("http://127.0.0.1:{port}");
    let t = open(dir.path(), true, &url);
    let policy = SendPolicy {
        gather: Duration::from_millis(20),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    };
    let sender = Sender::spawn(t.clone(), Delivery::new(Duration::from_secs(2)), policy);
    t.record(launch()).unwrap();
    sender.recorded();
    t.record(launch()).unwrap();
    sender.recorded();

    // Wait (bounded) until a failed attempt has been recorded.
    let mut waited = 0;
    while t.status().unwrap().last_send.is_none() {
        assert!(waited < 500, "the sender never tried");
        thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert!(!t.status().unwrap().last_send.unwrap().delivered);
    assert_eq!(t.status().unwrap().queued, 2);

    // The collector comes back on the same port.
    let server = tiny_http::Server::http(("127.0.0.1", port)).expect("rebind the port");
    let request = server
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("the sender delivers once the collector is back");
    let mut request = request;
    let mut body = String::new();
    request.as_reader().read_to_string(&mut body).unwrap();
    request
        .respond(tiny_http::Response::from_string("{\"stored\":2}"))
        .unwrap();
    assert_eq!(batch_of(&body).events.len(), 2);

    let mut waited = 0;
    while t.status().unwrap().queued != 0 {
        assert!(waited < 500, "delivered batch still queued");
        thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    // Nothing more to send: the sender sleeps and makes no second request.
    assert!(server
        .recv_timeout(Duration::from_millis(300))
        .unwrap()
        .is_none());
    sender.stop();
}
