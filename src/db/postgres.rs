//! PostgreSQL through tokio-postgres and deadpool-postgres. Each query runs
//! in its own read-only transaction that first sets, with bound values only:
//! the statement timeout, `TimeZone = UTC`, the tenant's `search_path` when
//! it has its own schema, and every `[database.session]` entry (the values
//! row-level-security policies read with `current_setting`).
//!
//! Statements are prepared once per connection (keyed by text and
//! search_path), and each bound value is converted to the type
//! PostgreSQL inferred for its parameter (an i64 does not bind to an int4).
//! NUMERIC results keep their precision (exact text), int8 is `Cell::Int8`
//! (written as a string, as Cube.js's node-pg answers it), time values
//! are ISO-8601 in UTC.

use std::error::Error as _;
use std::time::Duration;

use bytes_shim::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};

use super::{Cell, DbError, Rows};
use crate::query::SqlValue;

/// tokio-postgres's buffer type, named once.
mod bytes_shim {
    pub use tokio_postgres::types::private::BytesMut;
}

pub struct PostgresSource {
    pool: Pool,
    statement_timeout: Duration,
    /// How a cancel request reaches the server: as the connections do.
    cancel_tls: Option<super::pg_tls::MakeRustlsConnect>,
}

impl PostgresSource {
    pub fn open(
        config: tokio_postgres::Config,
        tls: &crate::config::PgTls,
        max_connections: usize,
        queue_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<PostgresSource, DbError> {
        let mut config = config;
        config.application_name("tenantgate");
        config.connect_timeout(queue_timeout.max(Duration::from_secs(1)));
        let mgr_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        // `ssl = true`: TLS required and verified (webpki roots plus the
        // optional CA file); never a silent fallback to plain text.
        let (mgr, cancel_tls) = match tls {
            crate::config::PgTls::Off => (Manager::from_config(config, NoTls, mgr_config), None),
            crate::config::PgTls::Verified { ca_file } => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = super::pg_tls::MakeRustlsConnect::new(ca_file.as_deref()).map_err(DbError::Unavailable)?;
                (Manager::from_config(config, tls.clone(), mgr_config), Some(tls))
            }
        };
        let pool = Pool::builder(mgr)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(queue_timeout))
            .create_timeout(Some(queue_timeout.max(Duration::from_secs(1))))
            .recycle_timeout(Some(Duration::from_secs(1)))
            .build()
            .map_err(|e| DbError::Unavailable(format!("cannot build the connection pool: {e}")))?;
        Ok(PostgresSource { pool, statement_timeout, cancel_tls })
    }

    /// Run one statement in its own task, which owns `slot`: the slot is
    /// released when the statement has ended on the server. If the caller
    /// goes away first (the client disconnected), the task asks the server
    /// to cancel the statement and waits for it to stop.
    pub async fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
        settings: &[(String, String)],
        max_rows: usize,
        slot: super::Slot,
    ) -> Result<Rows, DbError> {
        let (pool, timeout, cancel_tls) = (self.pool.clone(), self.statement_timeout, self.cancel_tls.clone());
        let (sql, params, settings) = (sql.to_string(), params.to_vec(), settings.to_vec());
        let (abandoned_tx, abandoned) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let client = pool.get().await.map_err(|e| match e {
                deadpool_postgres::PoolError::Timeout(_) => DbError::Busy,
                other => DbError::Unavailable(crate::telemetry::error_chain(&other)),
            })?;
            let cancel = client.cancel_token();
            let mut client = client;
            let work = run(&mut client, &sql, &params, &settings, timeout, max_rows);
            tokio::pin!(work);
            let result = tokio::select! {
                r = &mut work => r,
                // The sender is dropped only when the caller is gone.
                _ = abandoned => {
                    let _ = match cancel_tls {
                        None => cancel.cancel_query(NoTls).await,
                        Some(tls) => cancel.cancel_query(tls).await,
                    };
                    work.await
                }
            };
            drop(slot);
            result
        });
        let joined = task.await;
        drop(abandoned_tx);
        joined.unwrap_or_else(|e| Err(DbError::Internal(format!("the query task failed: {e}"))))
    }
}

/// Prepared statements kept per connection before the cache is cleared.
const MAX_CACHED_STATEMENTS: usize = 256;

/// One statement in a read-only transaction, reading at most `max_rows`
/// rows through a portal (the rest is never sent).
async fn run(
    client: &mut deadpool_postgres::Object,
    sql: &str,
    params: &[SqlValue],
    settings: &[(String, String)],
    statement_timeout: Duration,
    max_rows: usize,
) -> Result<Rows, DbError> {
    let classify = |e| classify(e, statement_timeout);
    // Prepared once per connection, keyed by the statement's text under
    // the search_path it runs with (a comment naming the schema, which is
    // an identifier from configuration): a tenant schema's statement is
    // never reused under another schema, whose tables and column types may
    // differ. Bounded, since query texts are as many as clients make them.
    if client.statement_cache.size() >= MAX_CACHED_STATEMENTS {
        client.statement_cache.clear();
    }
    let keyed;
    let sql = match settings.iter().find(|(name, _)| name == "search_path") {
        Some((_, schema)) => {
            keyed = format!("/* search_path={schema} */ {sql}");
            keyed.as_str()
        }
        None => sql,
    };
    let cache = client.statement_cache.clone();
    let tx = client.build_transaction().read_only(true).start().await.map_err(classify)?;
    // Every setting in one statement, cached per connection (its text
    // depends only on how many settings there are): one round trip.
    let timeout = format!("{}ms", statement_timeout.as_millis().max(1));
    let mut set_sql =
        String::from("SELECT set_config('statement_timeout', $1, true), set_config('TimeZone', 'UTC', true)");
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&timeout];
    for (i, (name, value)) in settings.iter().enumerate() {
        set_sql.push_str(&format!(", set_config(${}, ${}, true)", 2 * i + 2, 2 * i + 3));
        values.push(name);
        values.push(value);
    }
    let set_stmt = tx.prepare_cached(&set_sql).await.map_err(classify)?;
    tx.execute(&set_stmt, &values).await.map_err(classify)?;
    let stmt = tx.prepare_cached(sql).await.map_err(classify)?;
    let bound = stmt.params().iter().zip(params).map(|(ty, v)| convert(v, ty)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
    let portal = match tx.bind(&stmt, &refs).await {
        Ok(p) => p,
        Err(e) => {
            // A table changed under a cached statement ("cached plan must
            // not change result type"): forget this connection's
            // statements, so the next query prepares afresh.
            if e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) {
                cache.clear();
            }
            return Err(classify(e));
        }
    };
    let fetch = i32::try_from(max_rows.saturating_add(1)).unwrap_or(i32::MAX);
    let rows = tx.query_portal(&portal, fetch).await.map_err(classify)?;
    if rows.len() > max_rows {
        return Err(DbError::TooManyRows { max: max_rows });
    }
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    let columns = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let out = rows.iter().map(|r| decode_row(r, &types)).collect::<Result<Vec<_>, _>>()?;
    // Read-only: nothing to commit; ending the transaction is enough.
    tx.rollback().await.map_err(classify)?;
    Ok(Rows { columns, rows: out })
}

/// Who caused it: a client's value (SQLSTATE class 22) is a 400, a timeout
/// or a lost connection a 503, anything else (a model whose SQL does not run,
/// a policy refusing) ours.
fn classify(e: tokio_postgres::Error, statement_timeout: Duration) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if code == &SqlState::QUERY_CANCELED {
            return DbError::Timeout(statement_timeout);
        }
        if code.code().starts_with("22") {
            return DbError::Refused { sqlstate: code.code().to_string(), detail: db.message().to_string() };
        }
        if code.code().starts_with("08") || code.code().starts_with("57P") || code == &SqlState::TOO_MANY_CONNECTIONS {
            return DbError::Unavailable(db.message().to_string());
        }
        return DbError::Internal(format!("{}: {}", code.code(), db.message()));
    }
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return DbError::Unavailable(crate::telemetry::error_chain(&e));
    }
    DbError::Internal(crate::telemetry::error_chain(&e))
}

type Param = Box<dyn ToSql + Sync + Send>;

/// Convert a value to the parameter's inferred type; a value that cannot be
/// that type is the client's 400.
fn convert(v: &SqlValue, ty: &Type) -> Result<Param, DbError> {
    let bad = || DbError::BadValue(format!("{} is not a valid {}", describe(v), ty.name()));
    let int = |v: &SqlValue| -> Option<i64> {
        match v {
            SqlValue::Int(i) => Some(*i),
            SqlValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            SqlValue::Float(_) => None,
            SqlValue::Text(s) => s.trim().parse().ok(),
            SqlValue::Bool(b) => Some(i64::from(*b)),
            SqlValue::Null => None,
        }
    };
    if matches!(v, SqlValue::Null) {
        return Ok(Box::new(Option::<String>::None));
    }
    Ok(match *ty {
        Type::INT2 => Box::new(int(v).and_then(|i| i16::try_from(i).ok()).ok_or_else(bad)?),
        Type::INT4 => Box::new(int(v).and_then(|i| i32::try_from(i).ok()).ok_or_else(bad)?),
        Type::INT8 => Box::new(int(v).ok_or_else(bad)?),
        Type::FLOAT4 | Type::FLOAT8 => {
            let f = match v {
                SqlValue::Int(i) => *i as f64,
                SqlValue::Float(f) => *f,
                SqlValue::Text(s) => s.trim().parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            if *ty == Type::FLOAT4 { Box::new(f as f32) } else { Box::new(f) }
        }
        Type::NUMERIC => {
            let text = match v {
                SqlValue::Int(i) => i.to_string(),
                SqlValue::Float(f) if f.is_finite() => format!("{f}"),
                SqlValue::Text(s) => s.trim().to_string(),
                _ => return Err(bad()),
            };
            Box::new(Numeric::parse(&text).ok_or_else(bad)?)
        }
        Type::BOOL => Box::new(match v {
            SqlValue::Bool(b) => *b,
            SqlValue::Int(i) => *i != 0,
            SqlValue::Text(s) if s == "true" || s == "false" => s == "true",
            _ => return Err(bad()),
        }),
        // Text-like and anything else PostgreSQL can read from text.
        _ => Box::new(AsText(match v {
            SqlValue::Text(s) => s.clone(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Float(f) => format!("{f}"),
            SqlValue::Bool(b) => b.to_string(),
            SqlValue::Null => String::new(),
        })),
    })
}

fn describe(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(s) => crate::text::quoted(s),
        other => format!("{:?}", other.to_json()),
    }
}

/// A string sent for text-like types (text, varchar, name, bpchar, unknown).
#[derive(Debug)]
struct AsText(String);

impl ToSql for AsText {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN)
    }

    to_sql_checked!();
}

/// PostgreSQL's NUMERIC in its binary form: base-10000 digit groups.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Numeric {
    negative: bool,
    weight: i16,
    dscale: u16,
    digits: Vec<i16>,
}

impl Numeric {
    /// `-123.4500` and the like; no exponents.
    fn parse(s: &str) -> Option<Numeric> {
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || body.len() > 1000
        {
            return None;
        }
        let int = int.trim_start_matches('0');
        let int_pad = (4 - int.len() % 4) % 4;
        let frac_pad = (4 - frac.len() % 4) % 4;
        let int_digits = format!("{}{int}", "0".repeat(int_pad));
        let frac_digits = format!("{frac}{}", "0".repeat(frac_pad));
        let group = |s: &str| -> Vec<i16> {
            s.as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).ok().and_then(|g| g.parse().ok()).unwrap_or(0))
                .collect()
        };
        let int_groups = group(&int_digits);
        let mut digits: Vec<i16> = int_groups.iter().copied().chain(group(&frac_digits)).collect();
        let mut weight = int_groups.len() as i16 - 1;
        while digits.first() == Some(&0) {
            digits.remove(0);
            weight -= 1;
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        Some(Numeric { negative: negative && !digits.is_empty(), weight, dscale: frac.len() as u16, digits })
    }

    fn to_text(&self) -> String {
        let mut int = String::new();
        if self.weight < 0 {
            int.push('0');
        } else {
            for i in 0..=self.weight as usize {
                let g = self.digits.get(i).copied().unwrap_or(0);
                if i == 0 { int.push_str(&g.to_string()) } else { int.push_str(&format!("{g:04}")) }
            }
        }
        let mut frac = String::new();
        let mut idx = i32::from(self.weight) + 1;
        while frac.len() < usize::from(self.dscale) {
            let g = usize::try_from(idx).ok().and_then(|i| self.digits.get(i)).copied().unwrap_or(0);
            frac.push_str(&format!("{g:04}"));
            idx += 1;
        }
        frac.truncate(usize::from(self.dscale));
        let sign = if self.negative { "-" } else { "" };
        if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") }
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&(self.digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&self.weight.to_be_bytes());
        out.extend_from_slice(&(if self.negative { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&self.dscale.to_be_bytes());
        for d in &self.digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// A NUMERIC result as exact decimal text.
struct NumericText(String);

impl<'a> FromSql<'a> for NumericText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> Result<u16, Box<dyn std::error::Error + Sync + Send>> {
            raw.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "short numeric".into())
        };
        let ndigits = word(0)? as usize;
        let weight = word(2)? as i16;
        let sign = word(4)?;
        let dscale = word(6)?;
        match sign {
            0xC000 => return Ok(NumericText("NaN".into())),
            0xD000 => return Ok(NumericText("Infinity".into())),
            0xF000 => return Ok(NumericText("-Infinity".into())),
            _ => {}
        }
        let digits = (0..ndigits).map(|i| word(8 + 2 * i).map(|d| d as i16)).collect::<Result<Vec<_>, _>>()?;
        Ok(NumericText(Numeric { negative: sign == 0x4000, weight, dscale, digits }.to_text()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Microseconds since 2000-01-01 (timestamp, timestamptz) or days (date).
struct PgTime(String);

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        const PG_EPOCH_MS: i64 = 946_684_800_000;
        let ms = if *ty == Type::DATE {
            let days = i32::from_sql(&Type::INT4, raw)?;
            PG_EPOCH_MS + i64::from(days) * 86_400_000
        } else {
            let micros = i64::from_sql(&Type::INT8, raw)?;
            PG_EPOCH_MS + micros.div_euclid(1000)
        };
        let iso = super::iso_utc_millis(ms);
        Ok(PgTime(iso.trim_end_matches('Z').to_string()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE)
    }
}

fn decode_row(row: &Row, types: &[Type]) -> Result<Vec<Cell>, DbError> {
    let fail = |e: tokio_postgres::Error| DbError::Internal(format!("cannot decode a result: {e}"));
    types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            Ok(match *ty {
                Type::INT2 => {
                    row.try_get::<_, Option<i16>>(i).map_err(fail)?.map_or(Cell::Null, |v| Cell::Int(v.into()))
                }
                Type::INT4 => {
                    row.try_get::<_, Option<i32>>(i).map_err(fail)?.map_or(Cell::Null, |v| Cell::Int(v.into()))
                }
                Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(fail)?.map_or(Cell::Null, Cell::Int8),
                Type::FLOAT4 => {
                    row.try_get::<_, Option<f32>>(i).map_err(fail)?.map_or(Cell::Null, |v| Cell::Float(v.into()))
                }
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(fail)?.map_or(Cell::Null, Cell::Float),
                Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(fail)?.map_or(Cell::Null, Cell::Bool),
                Type::NUMERIC => {
                    row.try_get::<_, Option<NumericText>>(i).map_err(fail)?.map_or(Cell::Null, |n| Cell::Text(n.0))
                }
                Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE => {
                    row.try_get::<_, Option<PgTime>>(i).map_err(fail)?.map_or(Cell::Null, |t| Cell::Text(t.0))
                }
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(i).map_err(fail)?.map_or(Cell::Null, Cell::Text)
                }
                ref other => {
                    return Err(DbError::Internal(format!("result column of type {} is not supported", other.name())));
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_round_trip_through_the_binary_form_exactly() {
        for s in [
            "0",
            "1",
            "-1",
            "12.30",
            "0.0001",
            "-0.5",
            "10000",
            "123456789012345678901234567890.123456789",
            "0.00000001",
            "9999.9999",
        ] {
            let n = Numeric::parse(s).unwrap_or_else(|| panic!("{s} parses"));
            let expect = if s == "-0.5" { "-0.5".to_string() } else { s.to_string() };
            assert_eq!(n.to_text(), expect, "{s}");
        }
        for bad in ["", "1e5", "abc", "1.2.3", "--1", "."] {
            assert!(Numeric::parse(bad).is_none(), "{bad}");
        }
    }
}
