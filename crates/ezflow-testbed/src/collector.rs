//! The telemetry collector for tests: a real collector on loopback with its
//! SQLite file in a temporary directory, a blocking HTTP client and what it
//! reads of the answers, and builders for batches as JSON (so tests can
//! also break them). Used by the collector's tests and the app's telemetry
//! tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ezflow_collector::{Config, RunningCollector};
use ezflow_telemetry_schema::Hour;
use serde_json::{json, Value};

/// A collector's settings for a test: any free loopback port, a database in
/// `dir`, no rate limit.
pub fn config(dir: &Path) -> Config {
    config_on("127.0.0.1:0".parse().expect("a literal address"), dir)
}

/// [`config`] listening on `listen`.
pub fn config_on(listen: SocketAddr, dir: &Path) -> Config {
    let mut config = Config::new(listen, database(dir));
    config.rate_limit_per_minute = 0;
    config
}

/// The database file in `dir`.
pub fn database(dir: &Path) -> PathBuf {
    dir.join("events.sqlite3")
}

/// `http://ADDR` of a running collector.
pub fn base_url(collector: &RunningCollector) -> String {
    format!("http://{}", collector.addr())
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    /// The `Connection` header.
    pub connection: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The reason in a `{"error": ...}` body.
    pub fn error(&self) -> String {
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        match self.json() {
            Value::Object(map) if map.len() == 1 => match &map["error"] {
                Value::String(reason) => reason.clone(),
                other => panic!("error is not a string: {other}"),
            },
            other => panic!("not an error body: {other}"),
        }
    }
}

/// A blocking HTTP client with a generous timeout.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// Any answer as a [`Reply`]; a transport error fails the test.
pub fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("transport error: {error}"),
    };
    Reply {
        status: response.status(),
        content_type: response.content_type().to_owned(),
        retry_after: response.header("Retry-After").map(str::to_owned),
        connection: response.header("Connection").map(str::to_owned),
        body: response.into_string().expect("a readable body"),
    }
}

/// Posts `body` to `/v1/events` with `content_type` (none if `None`).
pub fn post_raw(agent: &ureq::Agent, base: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    let mut request = agent.post(&format!("{base}/v1/events"));
    if let Some(content_type) = content_type {
        request = request.set("Content-Type", content_type);
    }
    reply(request.send_bytes(body))
}

/// Posts `batch` as JSON to `/v1/events`.
pub fn post(agent: &ureq::Agent, base: &str, batch: &Value) -> Reply {
    post_raw(
        agent,
        base,
        Some("application/json"),
        batch.to_string().as_bytes(),
    )
}

/// GETs `url`.
pub fn get(agent: &ureq::Agent, url: &str) -> Reply {
    reply(agent.get(url).call())
}

/// `/v1/stats?days=DAYS`, checked to be 200.
pub fn stats(agent: &ureq::Agent, base: &str, days: u32) -> Value {
    let reply = get(agent, &format!("{base}/v1/stats?days={days}"));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

/// Events stored in the last year, by `/v1/stats`.
pub fn total_events(agent: &ureq::Agent, base: &str) -> u64 {
    stats(agent, base, 365)["total_events"]
        .as_u64()
        .expect("total_events is a number")
}

/// Rows in a table, read straight from the SQLite file.
pub fn count_rows(database: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(database).expect("the database opens");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .expect("the table can be counted")
}

/// Midnight UTC of today, in Unix seconds.
pub fn today() -> i64 {
    Hour::now().unix().div_euclid(86_400) * 86_400
}

/// An hour `days` days before today's midnight, at `hour_of_day`.
pub fn hour(days_ago: i64, hour_of_day: i64) -> String {
    Hour::containing(today() - days_ago * 86_400 + hour_of_day * 3600).to_string()
}

/// The batch id for test batch number `n`.
pub fn batch_id(n: u64) -> String {
    format!("{n:032x}")
}

/// Batch number `n` with `events`.
pub fn batch(n: u64, events: Vec<Value>) -> Value {
    json!({ "schema": 1, "batch_id": batch_id(n), "events": events })
}

/// An event at `hour` from a Linux 12 x86-64 machine running 0.1.0.
pub fn event(hour: &str, kind: Value) -> Value {
    json!({
        "hour": hour,
        "app_version": "0.1.0",
        "os": "linux",
        "os_version": "12",
        "arch": "x86_64",
        "event": kind,
    })
}

/// An `app_launched` event kind.
pub fn launched() -> Value {
    json!({ "type": "app_launched", "surface": "app" })
}

/// A `transcription_completed` event kind.
pub fn transcribed(model: &str, gpu: bool, rtf: f64) -> Value {
    json!({
        "type": "transcription_completed",
        "audio": "5s_to_15s",
        "model": model,
        "gpu": gpu,
        "real_time_factor": rtf,
    })
}

/// A `model_downloaded` event kind.
pub fn downloaded(model: &str) -> Value {
    json!({ "type": "model_downloaded", "model": model })
}

/// A valid batch of three events, one of each type, this hour.
pub fn valid_batch(n: u64) -> Value {
    let now = Hour::now().to_string();
    batch(
        n,
        vec![
            event(&now, launched()),
            event(&now, transcribed("base.en", false, 0.06)),
            event(&now, downloaded("tiny.en-q8_0")),
        ],
    )
}
