//! SQL dialects: one variant per database, one file each. A dialect knows
//! placeholders, identifier quoting, time truncation and case-insensitive
//! matching; everything else is shared SQL.

mod postgres;
mod sqlite;

pub use sqlite::LOCAL_TIME_FUNCTION as SQLITE_LOCAL_TIME_FUNCTION;

use super::model::IntervalUnit;
use super::request::Granularity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `?N` placeholders; time columns are ISO-8601 text.
    Sqlite,
    /// `$N` placeholders; `date_trunc`, `ILIKE`, `timestamptz`.
    Postgres,
}

impl Dialect {
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// Identifiers come only from the model and are checked to be plain
    /// names, so quoting never needs escaping; it is done anyway.
    pub fn quote(self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// The expression truncated to a granularity, as the same text shape in
    /// both dialects' results (`2024-03-01T00:00:00.000`): in UTC, or in the
    /// zone whose name is bound at `zone` (a placeholder), as local time.
    pub fn truncate(self, granularity: Granularity, expr: &str, zone: Option<&str>) -> String {
        match self {
            Dialect::Sqlite => sqlite::truncate(granularity, &sqlite::local(expr, zone)),
            Dialect::Postgres => postgres::truncate(granularity, expr, zone),
        }
    }

    /// A time dimension selected as it is (no granularity), in the shape
    /// Cube.js's API answers it (`transformValue`: `YYYY-MM-DDTHH:MM:SS.mmm`,
    /// UTC). SQLite's text is normalized by strftime (it reads `Z` and
    /// offsets); PostgreSQL's driver decodes times in that shape already.
    pub fn time_value(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%f', {expr})"),
            Dialect::Postgres => expr.to_string(),
        }
    }

    /// A time column compared with a bound ISO-8601 value.
    pub fn time_operand(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => expr.to_string(),
            Dialect::Postgres => format!("({expr})::timestamptz"),
        }
    }

    /// A bound ISO-8601 value compared with a time column. On PostgreSQL
    /// the parameter is text, cast in SQL, so it binds as sent (the
    /// transaction's time zone is UTC).
    pub fn time_param(self, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => placeholder.to_string(),
            Dialect::Postgres => format!("{placeholder}::text::timestamptz"),
        }
    }

    /// Case-insensitive LIKE with `\` as the escape character.
    pub fn like(self, negate: bool) -> &'static str {
        match (self, negate) {
            (Dialect::Sqlite, false) => "LIKE",
            (Dialect::Sqlite, true) => "NOT LIKE",
            (Dialect::Postgres, false) => "ILIKE",
            (Dialect::Postgres, true) => "NOT ILIKE",
        }
    }

    /// A time column as local wall-clock time in UTC or the zone bound at
    /// `zone`, comparable with [`Dialect::local_param`] and
    /// [`Dialect::truncate_local`] (cumulative measures' windows): SQLite
    /// text normalized by strftime, a PostgreSQL `timestamp`.
    pub fn local_time(self, expr: &str, zone: Option<&str>) -> String {
        match self {
            Dialect::Sqlite if zone.is_none() => format!("strftime('%Y-%m-%dT%H:%M:%f', {expr})"),
            Dialect::Sqlite => sqlite::local(expr, zone),
            Dialect::Postgres => postgres::local(expr, zone),
        }
    }

    /// [`Dialect::local_time`] truncated to a granularity, still comparable
    /// (a PostgreSQL `timestamp`, not the text [`Dialect::truncate`] gives).
    pub fn truncate_local(self, granularity: Granularity, expr: &str, zone: Option<&str>) -> String {
        match self {
            Dialect::Sqlite => self.truncate(granularity, expr, zone),
            Dialect::Postgres => format!("date_trunc('{}', {})", granularity.as_str(), postgres::local(expr, zone)),
        }
    }

    /// A bound local time (`2024-01-31T23:59:59.999`) as a value
    /// [`Dialect::local_time`] compares with.
    pub fn local_param(self, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => placeholder.to_string(),
            Dialect::Postgres => format!("{placeholder}::text::timestamp"),
        }
    }

    /// A local time moved by `n` units of a rolling window (Cube.js's
    /// `addInterval`/`subtractInterval`: SQLite's strftime modifiers,
    /// PostgreSQL's interval arithmetic). Weeks and quarters, which SQLite's
    /// modifiers lack, are days and months.
    pub fn shift_local(self, expr: &str, n: i64, unit: IntervalUnit) -> String {
        let (n, unit) = match unit {
            IntervalUnit::Minute => (n, "minute"),
            IntervalUnit::Hour => (n, "hour"),
            IntervalUnit::Day => (n, "day"),
            IntervalUnit::Week if self == Dialect::Sqlite => (n.saturating_mul(7), "day"),
            IntervalUnit::Week => (n, "week"),
            IntervalUnit::Month => (n, "month"),
            IntervalUnit::Quarter => (n.saturating_mul(3), "month"),
            IntervalUnit::Year => (n, "year"),
        };
        match self {
            Dialect::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%f', {expr}, '{n:+} {unit}')"),
            Dialect::Postgres if n < 0 => format!("({expr} - interval '{} {unit}')", n.unsigned_abs()),
            Dialect::Postgres => format!("({expr} + interval '{n} {unit}')"),
        }
    }

    /// A time series as a relation of `"date_from"`, `"date_to"` local
    /// times, from bound `(start, end)` placeholders.
    pub fn series(self, buckets: &[(String, String)]) -> String {
        match self {
            Dialect::Sqlite => {
                let rows: Vec<String> = buckets.iter().map(|(a, b)| format!("({a}, {b})")).collect();
                format!(
                    "SELECT \"column1\" AS \"date_from\", \"column2\" AS \"date_to\" FROM (VALUES {})",
                    rows.join(", ")
                )
            }
            Dialect::Postgres => {
                let rows: Vec<String> = buckets.iter().map(|(a, b)| format!("({a}::text, {b}::text)")).collect();
                format!(
                    "SELECT \"date_from\"::timestamp AS \"date_from\", \"date_to\"::timestamp AS \"date_to\" FROM (VALUES {}) AS \"dates\" (\"date_from\", \"date_to\")",
                    rows.join(", ")
                )
            }
        }
    }

    /// A series' local time as the text shape buckets answer in.
    pub fn local_text(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => expr.to_string(),
            Dialect::Postgres => format!("to_char({expr}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}
