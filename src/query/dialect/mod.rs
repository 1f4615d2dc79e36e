//! SQL dialects: one variant per database, one file each. A dialect knows
//! placeholders, identifier quoting, time truncation and case-insensitive
//! matching; everything else is shared SQL.

mod postgres;
mod sqlite;

pub use sqlite::LOCAL_TIME_FUNCTION as SQLITE_LOCAL_TIME_FUNCTION;

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

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}
