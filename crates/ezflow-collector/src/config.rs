//! The settings a collector runs with: where it listens, where it stores,
//! how long it keeps events and how fast one client may send. Owns the
//! defaults (shared with the binary's flags) and the checks done before
//! anything starts.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::CollectorError;

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8787));
/// The database file the binary uses unless told otherwise.
pub const DEFAULT_DATABASE: &str = "ezflow-telemetry.sqlite3";
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 60;
/// Longest retention accepted: a century is a typo, not a policy.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How a collector runs. [`Config::new`] fills in the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port
    /// ([`RunningCollector::addr`](crate::RunningCollector::addr) says which).
    pub listen: SocketAddr,
    /// The SQLite database file, created on first start.
    pub database: PathBuf,
    /// Events whose hour is older than this many days are deleted, at start
    /// and then once an hour. 1 to [`MAX_RETENTION_DAYS`].
    pub retention_days: u32,
    /// Batches per minute one client (one IPv4 address, or one IPv6 /64)
    /// may post to `/v1/events`; 0 turns rate limiting off.
    pub rate_limit_per_minute: u32,
    /// How many batches a client may post at once before the per-minute rate
    /// applies; `None` means `rate_limit_per_minute`.
    pub rate_limit_burst: Option<u32>,
    /// How long a database write waits for a lock held by another process
    /// (a backup, an operator's `sqlite3` shell) before the request is
    /// answered 503.
    pub database_busy_timeout: Duration,
    /// How long a client may take to send its request body before it is
    /// answered 408.
    pub body_timeout: Duration,
    /// On shutdown, how long requests already in flight may take to finish
    /// before they are cut off.
    pub shutdown_grace: Duration,
}

impl Config {
    /// A configuration with every other setting at its default.
    pub fn new(listen: SocketAddr, database: PathBuf) -> Config {
        Config {
            listen,
            database,
            retention_days: DEFAULT_RETENTION_DAYS,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            rate_limit_burst: None,
            database_busy_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    /// The burst size actually used (only meaningful with a rate limit).
    pub fn effective_burst(&self) -> u32 {
        self.rate_limit_burst.unwrap_or(self.rate_limit_per_minute)
    }

    /// Refuses settings that cannot work, saying which and why.
    pub fn validate(&self) -> Result<(), CollectorError> {
        if !(1..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(CollectorError::Config(format!(
                "retention_days must be between 1 and {MAX_RETENTION_DAYS}, not {}",
                self.retention_days
            )));
        }
        if self.rate_limit_per_minute > 0 && self.effective_burst() == 0 {
            return Err(CollectorError::Config(
                "rate_limit_burst must be at least 1 while rate limiting is on".to_owned(),
            ));
        }
        if self.database.as_os_str().is_empty() {
            return Err(CollectorError::Config(
                "the database path is empty".to_owned(),
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new(DEFAULT_LISTEN, PathBuf::from(DEFAULT_DATABASE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Config::default().validate().is_ok());
        let c = Config {
            retention_days: 0,
            ..Config::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("retention_days"), "{err}");
        let mut c = Config {
            rate_limit_burst: Some(0),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        c.rate_limit_per_minute = 0;
        assert!(c.validate().is_ok(), "no burst needed without a limit");
    }
}
