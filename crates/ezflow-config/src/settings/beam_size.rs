//! The `beam_size` setting: how many candidate transcripts the decoder keeps.
//! 1 is greedy decoding; more trades decoding time for accuracy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::{expect_whole_number, parse_whole_number, BEAM_SIZE_ACCEPTS};
use super::{invalid, SettingsError};

/// The widest beam accepted (whisper.cpp's own limit).
pub const MAX_BEAM_SIZE: u32 = 8;

/// A beam width from 1 (greedy) to [`MAX_BEAM_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BeamSize(u32);

impl BeamSize {
    /// Greedy decoding: the most likely token at each step.
    pub const GREEDY: BeamSize = BeamSize(1);
    /// The first-run value: see `DEFAULT_BEAM_SIZE` in the settings module.
    pub const DEFAULT: BeamSize = BeamSize(super::DEFAULT_BEAM_SIZE);

    pub fn new(n: u32) -> Result<BeamSize, SettingsError> {
        check_beam_size(i64::from(n))
            .map_err(|r| invalid("beam_size", &n.to_string(), r, BEAM_SIZE_ACCEPTS))
    }

    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl Default for BeamSize {
    fn default() -> Self {
        BeamSize::DEFAULT
    }
}

pub(super) fn check_beam_size(n: i64) -> Result<BeamSize, String> {
    match n {
        n if n < 1 => Err("the beam needs at least 1 candidate (1 is greedy decoding)".to_owned()),
        n if n > i64::from(MAX_BEAM_SIZE) => Err(format!("wider than {MAX_BEAM_SIZE}")),
        n => Ok(BeamSize(n as u32)),
    }
}

pub(super) fn beam_size_from_toml(v: &toml::Value) -> Result<BeamSize, String> {
    check_beam_size(expect_whole_number(v, "beam_size")?)
}

/// For command-line flags: the same rule as the file.
impl FromStr for BeamSize {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        let reason = match parse_whole_number(s).and_then(check_beam_size) {
            Ok(b) => return Ok(b),
            Err(r) => r,
        };
        Err(invalid("beam_size", s, reason, BEAM_SIZE_ACCEPTS))
    }
}

impl fmt::Display for BeamSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for BeamSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for BeamSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        check_beam_size(n).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_eight_and_says_why_not() {
        assert_eq!("1".parse::<BeamSize>().unwrap().get(), 1);
        assert_eq!(" 8 ".parse::<BeamSize>().unwrap().get(), 8);
        for (bad, why) in [
            ("0", "at least 1"),
            ("9", "wider than 8"),
            ("-2", "at least 1"),
            ("two", "not a whole number"),
        ] {
            let message = bad.parse::<BeamSize>().unwrap_err().to_string();
            assert!(message.contains(why), "{bad}: {message}");
            assert!(message.contains("accepted: "), "{bad}: {message}");
        }
        assert!(beam_size_from_toml(&toml::Value::String("5".into()))
            .unwrap_err()
            .contains("without them"));
        assert!(beam_size_from_toml(&toml::Value::Float(2.0)).is_err());
    }
}
