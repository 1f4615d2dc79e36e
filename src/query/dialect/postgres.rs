//! PostgreSQL: `date_trunc` in UTC, rendered to the same ISO text shape as
//! SQLite so results do not depend on the database.

use crate::query::request::Granularity;

pub fn truncate(g: Granularity, expr: &str) -> String {
    format!(
        "to_char(date_trunc('{}', (({expr})::timestamptz AT TIME ZONE 'UTC')), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
        g.as_str()
    )
}
