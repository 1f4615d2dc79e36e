//! PostgreSQL: `date_trunc` in UTC or the query's zone (its name a bound
//! parameter), rendered to the same ISO text shape as SQLite so results do
//! not depend on the database.

use crate::query::request::Granularity;

pub fn truncate(g: Granularity, expr: &str, zone: Option<&str>) -> String {
    let zone = zone.map_or_else(|| "'UTC'".to_string(), |p| format!("{p}::text"));
    format!(
        "to_char(date_trunc('{}', (({expr})::timestamptz AT TIME ZONE {zone})), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
        g.as_str()
    )
}

/// The expression as local time (a `timestamp`) in UTC or the zone bound
/// at `zone`.
pub fn local(expr: &str, zone: Option<&str>) -> String {
    let zone = zone.map_or_else(|| "'UTC'".to_string(), |p| format!("{p}::text"));
    format!("(({expr})::timestamptz AT TIME ZONE {zone})")
}
