//! Durations as written in the settings file: `90s`, `5m`, `1h30m`,
//! `2 minutes`.

/// Parses `1h30m`, `90s`, `5 min`, ...: numbers each followed by a unit,
/// largest unit first, each unit once. Returns whole seconds, saturating
/// (the caller rejects anything that large anyway).
pub(super) fn parse_duration_secs(t: &str) -> Result<u64, String> {
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    let mut total: u64 = 0;
    // Seconds per unit of the last component; each must be smaller.
    let mut last_unit: Option<u64> = None;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(match chars[i] {
                '-' => "a negative delay makes no sense".to_owned(),
                '+' => "write the number without a sign".to_owned(),
                '.' => {
                    "fractions are not accepted; write \"1h30m\" rather than \"1.5h\"".to_owned()
                }
                c => format!("expected a number where {c:?} is"),
            });
        }
        let digits: String = chars[start..i].iter().collect();
        if i < chars.len() && (chars[i] == '.' || chars[i] == ',') {
            return Err(
                "fractions are not accepted; write \"1h30m\" rather than \"1.5h\"".to_owned(),
            );
        }
        // Too many digits to fit is far beyond the cap; saturate.
        let n: u64 = digits.parse().unwrap_or(u64::MAX);
        skip_ws(&mut i);
        let unit_start = i;
        while i < chars.len() && chars[i].is_alphabetic() {
            i += 1;
        }
        let unit: String = chars[unit_start..i].iter().collect();
        let per_unit = match unit.as_str() {
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "" => {
                return Err(format!(
                    "{digits} has no unit; add s, m or h, such as \"{digits}s\""
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?}; use s (seconds), m (minutes) or h (hours)"
                ))
            }
        };
        if last_unit.is_some_and(|last| per_unit >= last) {
            return Err("each unit may appear once, largest first, such as \"1h30m\"".to_owned());
        }
        last_unit = Some(per_unit);
        total = total.saturating_add(n.saturating_mul(per_unit));
        skip_ws(&mut i);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<u64, String> {
        parse_duration_secs(s)
    }

    #[test]
    fn duration_components_add_up() {
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("1h 30m 15s"), Ok(5415));
        assert_eq!(secs("2 minutes"), Ok(120));
        assert_eq!(secs("0s"), Ok(0));
    }

    #[test]
    fn duration_rejects_malformed_input_with_a_reason() {
        assert!(secs("5").unwrap_err().contains("no unit"));
        assert!(secs("-5m").unwrap_err().contains("negative"));
        assert!(secs("1.5h").unwrap_err().contains("fractions"));
        assert!(secs("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(secs("30m1h").unwrap_err().contains("largest first"));
        assert!(secs("5m5m").unwrap_err().contains("once"));
        assert!(secs("m").unwrap_err().contains("expected a number"));
    }

    #[test]
    fn duration_saturates_instead_of_overflowing() {
        assert_eq!(secs("99999999999999999999999h"), Ok(u64::MAX));
        assert_eq!(secs("18446744073709551615h"), Ok(u64::MAX));
    }
}
