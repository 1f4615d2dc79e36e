//! A query's time zone and its relative date ranges, pure: the IANA
//! database is compiled in (jiff's bundled tzdb), and "now" is an argument,
//! so the same inputs always give the same SQL parameters.
//!
//! Cube.js 0.33's reading is the model: `normalizeQuery` (API gateway)
//! parses a relative `dateRange` with `dateParser` in the query's zone, and
//! `BaseFilter`/`BaseTimeDimension` turn local bounds into UTC instants
//! (`inDbTimeZone`). Local times here are `YYYY-MM-DDTHH:MM:SS.mmm` text.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

use super::QueryError;
use super::request::Granularity;

/// The zone of a query: `None` is UTC (absent, `UTC`, `Etc/UTC`).
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    tz: TimeZone,
}

impl Zone {
    /// An IANA name from the compiled-in database; anything else is the
    /// client's 400 (Cube.js answers a 500 `Unknown timezone`).
    pub fn parse(name: &str) -> Result<Option<Zone>, QueryError> {
        if name == "UTC" || name == "Etc/UTC" {
            return Ok(None);
        }
        let tz = jiff::tz::db().get(name).map_err(|_| QueryError::UnknownTimezone(bounded(name)))?;
        Ok(Some(Zone { name: name.to_string(), tz }))
    }

    /// A local wall-clock time in this zone as the UTC instant it names
    /// (a time in a DST gap moves forward, a repeated one takes the
    /// earlier instant, as moment-timezone does).
    pub fn local_to_utc(&self, local: &str) -> Option<String> {
        let dt: DateTime = local.parse().ok()?;
        let zoned = dt.to_zoned(self.tz.clone()).ok()?;
        Some(format_local(&zoned.timestamp().to_zoned(TimeZone::UTC).datetime()))
    }
}

/// A UTC time (`YYYY-MM-DDTHH:MM:SS[.fff]`, as SQLite's strftime writes it)
/// as local wall-clock time in the named zone: SQLite's
/// `tenantgate_local_time`. `None` (SQL NULL) for text that is not a time
/// or a zone the database does not know.
pub fn utc_to_local(utc: &str, zone: &str) -> Option<String> {
    let dt: DateTime = utc.trim_end_matches('Z').parse().ok()?;
    let tz = jiff::tz::db().get(zone).ok()?;
    let ts = dt.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(format_local(&ts.to_zoned(tz).datetime()))
}

/// A client's text in a message, cut to 100 characters.
fn bounded(s: &str) -> String {
    s.chars().take(100).collect()
}

fn format_local(dt: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1_000_000
    )
}

/// A query's granularities are also the units Cube.js's `dateParser`
/// names, with moment's start-of rules (a week starts on Monday:
/// `isoWeek`).
impl Granularity {
    /// A unit as `dateParser` writes it: a granularity's name, singular or
    /// plural.
    fn from_unit(s: &str) -> Option<Granularity> {
        Granularity::parse(s.strip_suffix('s').unwrap_or(s))
    }

    fn span(self, n: i64) -> Option<Span> {
        let span = Span::new();
        match self {
            Granularity::Second => span.try_seconds(n),
            Granularity::Minute => span.try_minutes(n),
            Granularity::Hour => span.try_hours(n),
            Granularity::Day => span.try_days(n),
            Granularity::Week => span.try_weeks(n),
            Granularity::Month => span.try_months(n),
            Granularity::Quarter => n.checked_mul(3).map_or_else(|| span.try_months(i64::MAX), |m| span.try_months(m)),
            Granularity::Year => span.try_years(n),
        }
        .ok()
    }

    /// moment's `startOf`: the first instant of the period holding `t`.
    fn start(self, t: &Zoned) -> Option<Zoned> {
        let d = t.datetime();
        let day = |y: i16, m: i8, dd: i8| DateTime::new(y, m, dd, 0, 0, 0, 0).ok();
        let dt = match self {
            Granularity::Second => d.with().subsec_nanosecond(0).build().ok()?,
            Granularity::Minute => d.with().second(0).subsec_nanosecond(0).build().ok()?,
            Granularity::Hour => d.with().minute(0).second(0).subsec_nanosecond(0).build().ok()?,
            Granularity::Day => day(d.year(), d.month(), d.day())?,
            Granularity::Week => {
                let monday =
                    d.date().checked_sub(Span::new().days(i64::from(d.weekday().to_monday_zero_offset()))).ok()?;
                day(monday.year(), monday.month(), monday.day())?
            }
            Granularity::Month => day(d.year(), d.month(), 1)?,
            Granularity::Quarter => day(d.year(), (d.month() - 1) / 3 * 3 + 1, 1)?,
            Granularity::Year => day(d.year(), 1, 1)?,
        };
        dt.to_zoned(t.time_zone().clone()).ok()
    }

    /// moment's `endOf`: the last millisecond of the period holding `t`.
    fn end(self, t: &Zoned) -> Option<Zoned> {
        let next = self.start(t)?.checked_add(self.span(1)?).ok()?;
        next.checked_sub(Span::new().milliseconds(1)).ok()
    }
}

/// A relative `dateRange` as Cube.js 0.33's `dateParser` reads it, in
/// `zone` (UTC when `None`) at `now`: `[from, to]` as local times.
/// `today`, `yesterday`, `tomorrow`; `this|last|next <unit>`;
/// `last|next N <unit>s`; `from N <unit>s ago to now` (and `now`,
/// `today`, `yesterday`, `tomorrow`, `N <unit>s from now` on either side,
/// the day-or-finer bound rule of Cube.js: days unless the text names
/// hours, minutes or seconds). Anything else is Cube.js's
/// `Can't parse date: '...'`.
pub fn relative_range(text: &str, zone: Option<&Zone>, now: Timestamp) -> Result<(String, String), QueryError> {
    let bad = || QueryError::Invalid(format!("Can't parse date: '{}'", bounded(text)));
    let tz = zone.map_or(TimeZone::UTC, |z| z.tz.clone());
    let now = now.to_zoned(tz);
    let lower = text.trim().to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let range = |from: Option<Zoned>, to: Option<Zoned>| -> Result<(String, String), QueryError> {
        match (from, to) {
            (Some(f), Some(t)) => Ok((format_local(&f.datetime()), format_local(&t.datetime()))),
            _ => Err(bad()),
        }
    };
    let shift = |t: &Zoned, p: Granularity, n: i64| p.span(n).and_then(|s| t.checked_add(s).ok());
    match words.as_slice() {
        [which @ ("this" | "last" | "next"), unit] => {
            let p = Granularity::from_unit(unit).filter(|_| !unit.ends_with('s')).ok_or_else(bad)?;
            let n = match *which {
                "last" => -1,
                "next" => 1,
                _ => 0,
            };
            let at = shift(&now, p, n);
            range(at.as_ref().and_then(|t| p.start(t)), at.as_ref().and_then(|t| p.end(t)))
        }
        [which @ ("last" | "next"), n, unit] => {
            let n: i64 = n.parse().map_err(|_| bad())?;
            let p = Granularity::from_unit(unit).ok_or_else(bad)?;
            // Cube.js: last N is [now - N, now - 1] and next N [now + 1, now + N],
            // each widened to whole periods.
            let (a, b) = if *which == "last" { (-n, -1) } else { (1, n) };
            let from = shift(&now, p, a).and_then(|t| p.start(&t));
            let to = shift(&now, p, b).and_then(|t| p.end(&t));
            range(from, to)
        }
        ["today"] | ["yesterday"] | ["tomorrow"] => {
            let n = match words[0] {
                "yesterday" => -1,
                "tomorrow" => 1,
                _ => 0,
            };
            let at = shift(&now, Granularity::Day, n);
            range(
                at.as_ref().and_then(|t| Granularity::Day.start(t)),
                at.as_ref().and_then(|t| Granularity::Day.end(t)),
            )
        }
        ["from", rest @ ..] => {
            let to_at = rest.iter().position(|w| *w == "to").ok_or_else(bad)?;
            let (from, to) = (&rest[..to_at], &rest[to_at + 1..]);
            let exact = [("second", Granularity::Second), ("minute", Granularity::Minute), ("hour", Granularity::Hour)]
                .into_iter()
                .find(|(g, _)| lower.contains(g))
                .map_or(Granularity::Day, |(_, p)| p);
            let from = point(from, &now).and_then(|t| exact.start(&t));
            let to = point(to, &now).and_then(|t| exact.end(&t));
            range(from, to)
        }
        _ => Err(bad()),
    }
}

/// One side of `from ... to ...`: `now`, `today`, `yesterday`, `tomorrow`,
/// `N <unit>s ago`, `N <unit>s from now`.
fn point(words: &[&str], now: &Zoned) -> Option<Zoned> {
    let shift = |p: Granularity, n: i64| p.span(n).and_then(|s| now.checked_add(s).ok());
    match words {
        ["now"] | ["today"] => Some(now.clone()),
        ["yesterday"] => shift(Granularity::Day, -1),
        ["tomorrow"] => shift(Granularity::Day, 1),
        [n, unit, "ago"] => shift(Granularity::from_unit(unit)?, -n.parse::<i64>().ok()?),
        [n, unit, "from", "now"] => shift(Granularity::from_unit(unit)?, n.parse::<i64>().ok()?),
        _ => None,
    }
}

/// Cube.js's time series (`@cubejs-backend/shared`'s `timeSeries`, moment's
/// `range.snapTo(unit).by(unit)`): the buckets of `granularity` from the one
/// holding `from` to the one holding `to`, each `[start, end]` as local
/// wall-clock text (`2024-01-01T00:00:00.000`, `2024-01-31T23:59:59.999`).
/// Weeks start on Monday. More than `max` buckets is the client's 400,
/// found without making them all.
pub fn time_series(
    granularity: Granularity,
    from: &str,
    to: &str,
    max: usize,
) -> Result<Vec<(String, String)>, QueryError> {
    let parse = |s: &str| -> Result<DateTime, QueryError> {
        s.parse().map_err(|_| QueryError::Invalid(format!("{} is not a date", bounded(s))))
    };
    let (from, to) = (parse(from)?, parse(to)?);
    let bad =
        || QueryError::Invalid(format!("the dateRange of a {} time series is out of range", granularity.as_str()));
    let start = granularity.start(&from.to_zoned(TimeZone::UTC).map_err(|_| bad())?).ok_or_else(bad)?.datetime();
    let mut out = Vec::new();
    for n in 0.. {
        let at = start.checked_add(granularity.span(n).ok_or_else(bad)?).map_err(|_| bad())?;
        if at > to {
            break;
        }
        if out.len() == max {
            return Err(QueryError::Invalid(format!(
                "the time series of this query has more than {max} {}s; a query with a cumulative measure may span {max} at most",
                granularity.as_str()
            )));
        }
        let next = start.checked_add(granularity.span(n + 1).ok_or_else(bad)?).map_err(|_| bad())?;
        let end = next.checked_sub(Span::new().milliseconds(1)).map_err(|_| bad())?;
        out.push((format_local(&at), format_local(&end)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn rel(text: &str, zone: Option<&str>, now: &str) -> Result<(String, String), String> {
        let zone = zone.map(|z| Zone::parse(z).expect("zone").expect("not UTC"));
        relative_range(text, zone.as_ref(), at(now)).map_err(|e| e.to_string())
    }

    fn pair(a: &str, b: &str) -> Result<(String, String), String> {
        Ok((a.to_string(), b.to_string()))
    }

    #[test]
    fn relative_ranges_read_as_cube_js_date_parser_reads_them() {
        let now = "2024-03-13T15:30:00Z"; // a Wednesday
        assert_eq!(rel("today", None, now), pair("2024-03-13T00:00:00.000", "2024-03-13T23:59:59.999"));
        assert_eq!(rel("yesterday", None, now), pair("2024-03-12T00:00:00.000", "2024-03-12T23:59:59.999"));
        assert_eq!(rel("this week", None, now), pair("2024-03-11T00:00:00.000", "2024-03-17T23:59:59.999"));
        assert_eq!(rel("last week", None, now), pair("2024-03-04T00:00:00.000", "2024-03-10T23:59:59.999"));
        assert_eq!(rel("next week", None, now), pair("2024-03-18T00:00:00.000", "2024-03-24T23:59:59.999"));
        assert_eq!(rel("this month", None, now), pair("2024-03-01T00:00:00.000", "2024-03-31T23:59:59.999"));
        assert_eq!(rel("last month", None, now), pair("2024-02-01T00:00:00.000", "2024-02-29T23:59:59.999"));
        assert_eq!(rel("this quarter", None, now), pair("2024-01-01T00:00:00.000", "2024-03-31T23:59:59.999"));
        assert_eq!(rel("last year", None, now), pair("2023-01-01T00:00:00.000", "2023-12-31T23:59:59.999"));
        assert_eq!(rel("last 7 days", None, now), pair("2024-03-06T00:00:00.000", "2024-03-12T23:59:59.999"));
        assert_eq!(rel("Last 12 months", None, now), pair("2023-03-01T00:00:00.000", "2024-02-29T23:59:59.999"));
        assert_eq!(rel("next 2 quarters", None, now), pair("2024-04-01T00:00:00.000", "2024-09-30T23:59:59.999"));
        assert_eq!(
            rel("from 7 days ago to now", None, now),
            pair("2024-03-06T00:00:00.000", "2024-03-13T23:59:59.999")
        );
        assert_eq!(
            rel("from 2 hours ago to now", None, now),
            pair("2024-03-13T13:00:00.000", "2024-03-13T15:59:59.999")
        );
        for bad in ["soon", "last fortnight", "this weeks", "last x days", "from then to now", ""] {
            assert!(rel(bad, None, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_series_snaps_both_ends_to_whole_buckets_as_cube_js_does() {
        use crate::query::request::Granularity as G;
        let s = |g, a: &str, b: &str| time_series(g, a, b, 100).expect("series");
        assert_eq!(
            s(G::Month, "2024-01-15T10:00:00.000", "2024-03-01T00:00:00.000"),
            vec![
                ("2024-01-01T00:00:00.000".to_string(), "2024-01-31T23:59:59.999".to_string()),
                ("2024-02-01T00:00:00.000".to_string(), "2024-02-29T23:59:59.999".to_string()),
                ("2024-03-01T00:00:00.000".to_string(), "2024-03-31T23:59:59.999".to_string()),
            ]
        );
        // 2024-02-01 is a Thursday: the first week starts on Monday the 29th.
        let weeks = s(G::Week, "2024-02-01T00:00:00.000", "2024-02-12T23:59:59.999");
        assert_eq!(weeks.first().map(|w| w.0.as_str()), Some("2024-01-29T00:00:00.000"));
        assert_eq!(weeks.last().map(|w| w.1.as_str()), Some("2024-02-18T23:59:59.999"));
        assert_eq!(weeks.len(), 3);
        let quarters = s(G::Quarter, "2024-02-01T00:00:00.000", "2024-12-31T23:59:59.999");
        assert_eq!(quarters[1], ("2024-04-01T00:00:00.000".to_string(), "2024-06-30T23:59:59.999".to_string()));
        assert_eq!(quarters.len(), 4);
        assert_eq!(s(G::Day, "2024-03-02T00:00:00.000", "2024-03-01T23:59:59.999"), vec![]);
        let hours = s(G::Hour, "2024-03-10T01:30:00.000", "2024-03-10T02:00:00.000");
        assert_eq!(hours[1], ("2024-03-10T02:00:00.000".to_string(), "2024-03-10T02:59:59.999".to_string()));
        // A decade by the second stops at the bound, without making the rest.
        let err =
            time_series(G::Second, "2015-01-01T00:00:00.000", "2024-12-31T23:59:59.999", 4000).expect_err("too many");
        assert!(err.to_string().contains("more than 4000 seconds"), "{err}");
    }

    #[test]
    fn a_zone_moves_now_and_the_bounds_with_dst() {
        // 2024-03-31 is the EU switch to summer time: 23:30 UTC on the 30th
        // is already the 31st in Berlin.
        let now = "2024-03-30T23:30:00Z";
        assert_eq!(
            rel("today", Some("Europe/Berlin"), now),
            pair("2024-03-31T00:00:00.000", "2024-03-31T23:59:59.999")
        );
        let berlin = Zone::parse("Europe/Berlin").expect("zone").expect("zone");
        assert_eq!(berlin.local_to_utc("2024-03-31T00:00:00.000").as_deref(), Some("2024-03-30T23:00:00.000"));
        assert_eq!(berlin.local_to_utc("2024-03-31T23:59:59.999").as_deref(), Some("2024-03-31T21:59:59.999"));
        let la = Zone::parse("America/Los_Angeles").expect("zone").expect("zone");
        assert_eq!(la.local_to_utc("2024-03-10T00:00:00.000").as_deref(), Some("2024-03-10T08:00:00.000"));
        assert_eq!(la.local_to_utc("2024-03-11T00:00:00.000").as_deref(), Some("2024-03-11T07:00:00.000"));
        assert_eq!(
            utc_to_local("2024-07-01T12:00:00.000", "Europe/Berlin").as_deref(),
            Some("2024-07-01T14:00:00.000")
        );
        assert_eq!(utc_to_local("2024-01-01T12:00:00", "Asia/Kolkata").as_deref(), Some("2024-01-01T17:30:00.000"));
        assert_eq!(utc_to_local("not a time", "Europe/Berlin"), None);
        assert!(Zone::parse("Not/AZone").is_err());
        assert!(Zone::parse("UTC").expect("utc").is_none());
    }
}
