//! Human durations: `"60s"`, `"10m"`, `"24h"`, `"30d"`, `"30 days"`, `"1h30m"`,
//! `"250ms"`.
//!
//! Shared by the configuration (`leeway = "60s"`) and the token CLI
//! (`--expiry 30d`, as `cubejs token` accepts). A bare number is seconds.

use std::time::Duration;

/// Parse a duration; the error says what was expected.
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("expected a duration such as \"60s\", \"10m\", \"24h\" or \"30d\"".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad(input));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad(input))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        // In milliseconds.
        let mult = match unit.to_ascii_lowercase().as_str() {
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 604_800_000,
            _ => return Err(bad(input)),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration \"{input}\" is too large"))?;
        rest = rest[unit_len..].trim_start();
    }
    Ok(Duration::from_millis(total))
}

fn bad(input: &str) -> String {
    format!(
        "invalid duration \"{input}\": expected a number and a unit (ms, s, m, h, d, w), such as \"60s\" or \"30 days\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_spelled_out_forms_parse() {
        let cases = [
            ("60s", 60),
            ("10m", 600),
            ("24h", 86_400),
            ("30d", 2_592_000),
            ("30 days", 2_592_000),
            ("1 day", 86_400),
            ("3600", 3600),
            ("0", 0),
            ("1h30m", 5400),
            ("2w", 1_209_600),
        ];
        for (input, secs) in cases {
            assert_eq!(parse(input), Ok(Duration::from_secs(secs)), "{input}");
        }
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn garbage_is_refused_with_the_expected_form() {
        for input in ["", "s", "10x", "-5s", "1.5h", "ten minutes"] {
            assert!(parse(input).is_err(), "{input} should be refused");
        }
        assert!(parse("99999999999999999999w").is_err());
    }
}
