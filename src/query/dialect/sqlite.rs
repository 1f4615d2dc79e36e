//! SQLite: time columns are ISO-8601 text; truncation through `strftime`.

use crate::query::request::Granularity;

/// The SQL function (registered on every connection by `db::sqlite`) that
/// turns a UTC time into local time in a named zone, from the time-zone
/// database compiled in: `tenantgate_local_time(utc_text, zone)`.
pub const LOCAL_TIME_FUNCTION: &str = "tenantgate_local_time";

/// The expression as local time in the zone bound at `zone`, normalized
/// to UTC by strftime first (it reads `Z` and offsets); unchanged in UTC.
pub fn local(expr: &str, zone: Option<&str>) -> String {
    match zone {
        None => expr.to_string(),
        Some(p) => format!("{LOCAL_TIME_FUNCTION}(strftime('%Y-%m-%dT%H:%M:%f', {expr}), {p})"),
    }
}

pub fn truncate(g: Granularity, expr: &str) -> String {
    match g {
        Granularity::Second => format!("strftime('%Y-%m-%dT%H:%M:%S.000', {expr})"),
        Granularity::Minute => format!("strftime('%Y-%m-%dT%H:%M:00.000', {expr})"),
        Granularity::Hour => format!("strftime('%Y-%m-%dT%H:00:00.000', {expr})"),
        Granularity::Day => format!("strftime('%Y-%m-%dT00:00:00.000', {expr})"),
        // Monday of the week: step back six days, then forward to a Monday.
        Granularity::Week => format!("strftime('%Y-%m-%dT00:00:00.000', {expr}, '-6 days', 'weekday 1')"),
        Granularity::Month => format!("strftime('%Y-%m-01T00:00:00.000', {expr})"),
        Granularity::Quarter => format!(
            "(strftime('%Y-', {expr}) || printf('%02d', ((CAST(strftime('%m', {expr}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01T00:00:00.000')"
        ),
        Granularity::Year => format!("strftime('%Y-01-01T00:00:00.000', {expr})"),
    }
}
