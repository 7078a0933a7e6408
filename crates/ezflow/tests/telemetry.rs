//! Telemetry end to end: the real `ezflow` binary, real transcriptions with
//! the real model, and the real collector (`ezflow-collector`, started in
//! this process) on loopback with its SQLite file. What a user does —
//! enable, dictate, disable, go offline — and what arrives.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ezflow_collector::RunningCollector;
use ezflow_core::telemetry::PRINT_ENV;
use ezflow_testbed::assets::asset;
use ezflow_testbed::collector;
use ezflow_testbed::home::IsolatedHome;
use ezflow_testbed::http::unused_loopback_addr;

/// A user with their own config, data and models directories; the tiny.en
/// test model is installed under its catalog id.
struct User {
    home: IsolatedHome,
}

impl User {
    fn new() -> Self {
        let user = Self {
            home: IsolatedHome::new(),
        };
        let models = user.home.models_dir();
        std::fs::create_dir_all(&models).expect("models dir");
        std::os::unix::fs::symlink(asset("ggml-tiny.en.bin"), models.join("ggml-tiny.en.bin"))
            .expect("install the test model");
        user
    }

    fn data_dir(&self) -> PathBuf {
        self.home.data_dir()
    }

    fn telemetry_dir(&self) -> PathBuf {
        self.data_dir().join("telemetry")
    }

    /// Writes a settings file naming `endpoint` as the collector.
    fn use_endpoint(&self, endpoint: &str, telemetry: bool) {
        self.home.write_settings(&format!(
            "telemetry = {telemetry}\ntelemetry_endpoint = \"{endpoint}\"\n"
        ));
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("ezflow runs")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.home.command(env!("CARGO_BIN_EXE_ezflow"));
        command.args(args).env_remove(PRINT_ENV);
        command
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ezflow {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One dictation-sized transcription with the installed catalog model.
    fn transcribe(&self) -> String {
        let clip = asset("jfk-clips/jfk_a.wav");
        self.run_ok(&["transcribe", "--model", "tiny.en", s(&clip)])
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The real collector on `listen`, its database in `dir`.
fn start_collector(dir: &Path, listen: SocketAddr) -> RunningCollector {
    let mut config = collector::config_on(listen, dir);
    config.rate_limit_per_minute = 1000;
    RunningCollector::start(config).expect("collector starts")
}

fn stats(running: &RunningCollector) -> serde_json::Value {
    let url = format!("{}/v1/stats", collector::base_url(running));
    let reply = collector::get(&collector::agent(), &url);
    assert_eq!(reply.status, 200, "stats answer: {reply:?}");
    reply.json()
}

/// Events stored per type, summed over all days.
fn stored(stats: &serde_json::Value, event_type: &str) -> u64 {
    stats["events_per_day"]
        .as_array()
        .expect("events_per_day")
        .iter()
        .filter(|row| row["type"] == event_type)
        .map(|row| row["count"].as_u64().expect("count"))
        .sum()
}

#[test]
fn enabled_dictations_reach_the_collector_and_show_in_its_stats() {
    let db = tempfile::tempdir().expect("tempdir");
    let collector = start_collector(db.path(), unused_loopback_addr());
    let user = User::new();
    user.use_endpoint(&format!("http://{}", collector.addr()), false);

    let enabled = user.run_ok(&["telemetry", "enable"]);
    assert!(enabled.contains("statistics are on"), "{enabled}");
    let text = user.transcribe();
    assert!(!text.trim().is_empty());
    user.transcribe();

    let stats = stats(&collector);
    assert_eq!(stored(&stats, "app_launched"), 2, "{stats}");
    assert_eq!(stored(&stats, "transcription_completed"), 2, "{stats}");
    let by_model = stats["transcriptions"].as_array().expect("transcriptions");
    assert_eq!(by_model.len(), 1, "{stats}");
    assert_eq!(by_model[0]["model"], "tiny.en");
    assert_eq!(by_model[0]["gpu"], false);
    assert_eq!(by_model[0]["count"], 2);

    let status = user.run_ok(&["telemetry", "status"]);
    assert!(status.contains("queued:      0 events"), "{status}");
    assert!(status.contains("delivered"), "{status}");
    let sent = user.run_ok(&["telemetry", "sent"]);
    assert_eq!(
        sent.matches("\"transcription_completed\"").count(),
        2,
        "{sent}"
    );
    collector.shutdown().expect("collector stops");
}

#[test]
fn while_disabled_not_a_single_connection_is_made() {
    // A listener that counts connections: the endpoint the settings name.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let user = User::new();
    user.use_endpoint(&format!("http://{}", listener.local_addr().unwrap()), false);

    user.transcribe();
    user.run_ok(&["telemetry", "status"]);
    user.run_ok(&["telemetry", "preview"]);
    user.run_ok(&["telemetry", "send"]);
    user.transcribe();

    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a connection was made while telemetry was off: {other:?}"),
    }
    assert!(
        !user.telemetry_dir().exists(),
        "nothing may be recorded on disk while telemetry is off"
    );
}

#[test]
fn events_from_before_consent_never_reach_the_collector() {
    let db = tempfile::tempdir().expect("tempdir");
    let collector = start_collector(db.path(), unused_loopback_addr());
    let user = User::new();
    user.use_endpoint(&format!("http://{}", collector.addr()), false);

    // Used while off: three dictations.
    user.transcribe();
    user.transcribe();
    user.transcribe();
    // A queue left behind by an earlier consent (a crash before disabling
    // could leave one): enabling must not send it either.
    std::fs::create_dir_all(user.telemetry_dir()).unwrap();
    let hour = ezflow_core::telemetry::schema::Hour::now();
    std::fs::write(
        user.telemetry_dir().join("queue.jsonl"),
        format!(
            "{{\"hour\":\"{hour}\",\"app_version\":\"0.0.1\",\"os\":\"linux\",\"os_version\":\"old\",\"arch\":\"x86_64\",\"event\":{{\"type\":\"model_downloaded\",\"model\":\"tiny\"}}}}\n"
        ),
    )
    .unwrap();

    user.run_ok(&["telemetry", "enable"]);
    let preview = user.run_ok(&["telemetry", "preview"]);
    assert!(preview.contains("Nothing is queued"), "{preview}");
    user.transcribe();

    let stats = stats(&collector);
    assert_eq!(stored(&stats, "transcription_completed"), 1, "{stats}");
    assert_eq!(stored(&stats, "app_launched"), 1, "{stats}");
    assert_eq!(stored(&stats, "model_downloaded"), 0, "{stats}");
    collector.shutdown().expect("collector stops");
}

#[test]
fn offline_events_wait_and_are_delivered_exactly_once_when_the_collector_is_back() {
    let addr = unused_loopback_addr(); // nothing listens there yet
    let user = User::new();
    user.use_endpoint(&format!("http://{addr}"), true);

    // Offline: dictation works as always; the events wait.
    user.transcribe();
    user.transcribe();
    let status = user.run_ok(&["telemetry", "status"]);
    assert!(status.contains("queued:      4 events"), "{status}");
    assert!(status.contains("will retry"), "{status}");
    let failed = user.run(&["telemetry", "send"]);
    assert!(
        !failed.status.success(),
        "send reports that it could not deliver"
    );

    let db = tempfile::tempdir().expect("tempdir");
    let collector = start_collector(db.path(), addr);
    let sent = user.run_ok(&["telemetry", "send"]);
    // The first run's batch was fixed (with its id) when its send failed;
    // the second run's events follow in a batch of their own.
    assert!(sent.contains("Sent 4 events in 2 batches"), "{sent}");
    let again = user.run_ok(&["telemetry", "send"]);
    assert!(again.contains("Sent 0 events"), "{again}");
    user.run_ok(&["telemetry", "status"]);

    let stats = stats(&collector);
    assert_eq!(stored(&stats, "transcription_completed"), 2, "{stats}");
    assert_eq!(stored(&stats, "app_launched"), 2, "{stats}");
    collector.shutdown().expect("collector stops");
}

#[test]
fn disabling_deletes_what_waits_and_a_broken_queue_never_fails_a_dictation() {
    let user = User::new();
    let addr = unused_loopback_addr();
    user.use_endpoint(&format!("http://{addr}"), true);
    user.transcribe();
    let out = user.run_ok(&["telemetry", "disable"]);
    assert!(out.contains("Deleted 2 events"), "{out}");
    let status = user.run_ok(&["telemetry", "status"]);
    assert!(status.contains("queued:      0 events"), "{status}");
    assert!(!user.telemetry_dir().join("queue.jsonl").exists());

    // The telemetry directory cannot be created (a file is in its place):
    // the dictation still succeeds.
    user.use_endpoint(&format!("http://{addr}"), true);
    std::fs::remove_dir_all(user.telemetry_dir()).unwrap();
    std::fs::write(user.telemetry_dir(), b"not a directory").unwrap();
    let text = user.transcribe();
    assert!(!text.trim().is_empty());
}

#[test]
fn the_print_variable_shows_batches_instead_of_sending_them() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let user = User::new();
    user.use_endpoint(&format!("http://{}", listener.local_addr().unwrap()), true);

    let clip = asset("jfk-clips/jfk_a.wav");
    let out = user
        .command(&["transcribe", "--model", "tiny.en", s(&clip)])
        .env(PRINT_ENV, "1")
        .output()
        .expect("ezflow runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json_line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no batch printed: {stderr}"));
    let batch: ezflow_core::telemetry::schema::Batch =
        serde_json::from_str(json_line).expect("the printed batch is a schema batch");
    assert_eq!(batch.events.len(), 2);
    assert_eq!(batch.events[1].event.name(), "transcription_completed");

    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("printing must not connect: {other:?}"),
    }
    let sent = user.run_ok(&["telemetry", "sent"]);
    assert!(sent.contains("printed 2 events"), "{sent}");
}
