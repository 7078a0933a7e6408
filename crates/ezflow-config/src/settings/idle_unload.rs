//! The `idle_unload` setting: never, immediately, or after a delay. What it
//! does is the model lifecycle's business; this only parses and writes it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::parse_duration_secs;
use super::fields::{type_name, IDLE_UNLOAD_ACCEPTS};
use super::{invalid, SettingsError, DEFAULT_IDLE_UNLOAD, MAX_IDLE_UNLOAD};

/// When to unload the model after its last use. Written as `"never"`,
/// `"immediately"` or a duration such as `"5m"` or `"1h30m"`.
///
/// `After` holds whole seconds, from 1 s to [`MAX_IDLE_UNLOAD`]; when written,
/// sub-second parts are dropped and `After(Duration::ZERO)` is written as
/// `"immediately"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleUnload {
    /// Keep the model loaded until the process exits.
    Never,
    /// Unload as soon as each transcription finishes.
    Immediately,
    /// Unload this long after the last use.
    After(Duration),
}

impl Default for IdleUnload {
    fn default() -> Self {
        IdleUnload::After(DEFAULT_IDLE_UNLOAD)
    }
}

impl IdleUnload {
    /// The delay before unloading: `None` for never, zero for immediately.
    pub fn delay(self) -> Option<Duration> {
        match self {
            IdleUnload::Never => None,
            IdleUnload::Immediately => Some(Duration::ZERO),
            IdleUnload::After(d) => Some(d),
        }
    }
}

pub(super) fn idle_unload_from_toml(v: &toml::Value) -> Result<IdleUnload, String> {
    match v {
        toml::Value::String(s) => parse_idle_unload(s),
        toml::Value::Integer(n) => Err(format!(
            "a bare number has no unit; write it in quotes with one, such as \"{n}s\""
        )),
        other => Err(format!(
            "expected text in quotes such as \"5m\", found {}",
            type_name(other)
        )),
    }
}

pub(super) fn parse_idle_unload(s: &str) -> Result<IdleUnload, String> {
    let t = s.trim().to_lowercase();
    match t.as_str() {
        "never" => return Ok(IdleUnload::Never),
        "immediately" => return Ok(IdleUnload::Immediately),
        "" => return Err("it is empty".to_owned()),
        _ => {}
    }
    let secs = parse_duration_secs(&t)?;
    if secs == 0 {
        return Err(
            "a zero delay; write \"immediately\" to unload right after each use".to_owned(),
        );
    }
    if secs > MAX_IDLE_UNLOAD.as_secs() {
        return Err(
            "longer than 24h, the longest delay accepted; write \"never\" to keep the model loaded"
                .to_owned(),
        );
    }
    Ok(IdleUnload::After(Duration::from_secs(secs)))
}

impl FromStr for IdleUnload {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        parse_idle_unload(s).map_err(|r| invalid("idle_unload", s, r, IDLE_UNLOAD_ACCEPTS))
    }
}

impl fmt::Display for IdleUnload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self {
            IdleUnload::Never => return f.write_str("never"),
            IdleUnload::Immediately => return f.write_str("immediately"),
            IdleUnload::After(d) => d.as_secs(),
        };
        if d == 0 {
            return f.write_str("immediately");
        }
        let (h, m, s) = (d / 3600, d / 60 % 60, d % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for IdleUnload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IdleUnload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
