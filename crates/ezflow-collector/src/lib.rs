//! `ezflow-collector`: the HTTP service an operator runs to receive EZ Flow's
//! opt-in anonymous usage events, validate them against
//! [`ezflow_telemetry_schema`], store them, and summarise them as JSON
//! (`/v1/stats`) and as an HTML performance dashboard (`/`).
//!
//! This file only wires the modules together and re-exports the public API;
//! `docs/collector.md` is the operator's guide.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the settings a collector runs with, their defaults and limits |
//! | [`error`] | [`CollectorError`], what can stop a collector from starting or stopping cleanly |
//! | [`server`] | [`RunningCollector`]: its runtime thread, listener, hourly purge timer and graceful shutdown |
//! | `api` | the HTTP routes, request checks and the status code of every answer |
//! | [`rate_limit`] | per-client token buckets keyed by a keyed hash of the peer address |
//! | [`stats`] | the aggregates `/v1/stats` returns and how percentiles are defined |
//! | `dashboard` | the server-rendered HTML page of those aggregates |
//! | [`retention`] | what counts as old, for events and for remembered batch ids |
//! | [`store`] | the [`store::EventStore`] trait, the thread that runs it, and the SQLite backend |
//!
//! Library use, for example from a test that needs a real collector:
//!
//! ```no_run
//! use ezflow_collector::{Config, RunningCollector};
//!
//! let mut config = Config::new("127.0.0.1:0".parse().unwrap(), "/tmp/events.sqlite3".into());
//! config.rate_limit_per_minute = 0; // no rate limit
//! let collector = RunningCollector::start(config).unwrap();
//! println!("http://{}/v1/events", collector.addr());
//! collector.shutdown().unwrap();
//! ```

mod api;
pub mod config;
mod dashboard;
pub mod error;
pub mod rate_limit;
pub mod retention;
pub mod server;
pub mod stats;
pub mod store;

pub use config::Config;
pub use error::CollectorError;
pub use server::RunningCollector;
