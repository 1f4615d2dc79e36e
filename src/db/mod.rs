//! Data sources: run rendered SQL and return rows. One variant per
//! database, one file each; SQLite is the embedded default.
//!
//! **Boundary:** this layer never sees a query or a token, only SQL text from
//! the renderer and its bound parameters.
//! **Invariant:** connections are read-only; every statement has a deadline;
//! at most `max_concurrent_queries` run at once and the rest wait at most
//! `queue_timeout` before a 503.

mod pg_tls;
mod postgres;
mod router;
mod sqlite;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{DatabaseConfig, DatabaseKind};
use crate::query::SqlValue;
pub use postgres::PostgresSource;
pub use router::{Route, Router};
pub use sqlite::SqliteSource;

/// Milliseconds since the Unix epoch as `2024-03-05T14:22:01.000Z`
/// (civil-from-days, Howard Hinnant's algorithm; no date crate for this).
pub fn iso_utc_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

fn identity(cfg: &DatabaseConfig) -> String {
    match &cfg.kind {
        DatabaseKind::Sqlite { path, .. } => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("sqlite:{}", path.display())
        }
        DatabaseKind::Postgres(pg, _) => {
            let hosts: Vec<String> = pg
                .get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            format!(
                "postgres:{:?}:{:?}/{:?} user {:?}",
                hosts,
                pg.get_ports(),
                pg.get_dbname().unwrap_or(""),
                pg.get_user().unwrap_or("")
            )
        }
    }
}

/// One result value as the database returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    /// A PostgreSQL `int8` (`count(*)`, a sum of integers, a `bigint`
    /// column): Cube.js's driver (node-pg) answers it as a string, so
    /// `/load` writes it as one; kept apart from `Int` for that.
    Int8(i64),
    Float(f64),
    Bool(bool),
    /// Exact decimals and large integers arrive as text to keep precision.
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// The result's column names, as the database names them.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Why a statement did not produce rows. Who caused it picks the status:
/// `Busy`/`Timeout`/`Unavailable` are 503, `BadValue`/`Refused`/
/// `TooManyRows`/`ResultTooLarge` the client's 400, `Internal` ours (a
/// model whose SQL does not run).
///
/// **Invariant:** the `String`s of `Refused`, `Unavailable` and `Internal`
/// are the driver's text (host names, user names, the database's messages,
/// SQL): they go to the log, bounded, never into a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("too many queries are running; retry shortly")]
    Busy,
    #[error("the query ran longer than the statement timeout ({0:?})")]
    Timeout(Duration),
    /// Our own words about a client's value (safe to show).
    #[error("the database refused a value: {0}")]
    BadValue(String),
    /// The database refused a client's value (SQLSTATE class 22, SQLite's
    /// "too big"); `detail` is its message.
    #[error("the database refused a value of the query ({sqlstate}): {detail}")]
    Refused { sqlstate: String, detail: String },
    #[error("the result has more than {max} rows; lower the query's limit")]
    TooManyRows { max: usize },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database failed to run the query: {0}")]
    Internal(String),
}

impl DbError {
    pub fn code(&self) -> &'static str {
        match self {
            DbError::Busy | DbError::Unavailable(_) => "db_unavailable",
            DbError::Timeout(_) => "query_timeout",
            DbError::BadValue(_) | DbError::Refused { .. } => "invalid_value",
            DbError::TooManyRows { .. } => "result_too_large",
            DbError::Internal(_) => "internal_error",
        }
    }
}

/// A configured database.
pub struct DataSource {
    kind: Kind,
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    max_rows: usize,
    running: Arc<AtomicUsize>,
    identity: String,
}

enum Kind {
    Sqlite(SqliteSource),
    Postgres(PostgresSource),
}

/// A statement's claim on the data source: the concurrency permit and the
/// count of running statements. It moves with the statement (onto SQLite's
/// blocking thread, into PostgreSQL's statement task) and is released only
/// when the statement has ended, whoever still waits for it.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DataSource {
    /// Open the data source (SQLite: create it from the seed if configured
    /// and missing). Runs blocking file I/O; call at startup.
    pub fn open(cfg: &DatabaseConfig) -> Result<DataSource, DbError> {
        let kind = match &cfg.kind {
            DatabaseKind::Sqlite { path, seed } => Kind::Sqlite(SqliteSource::open(path, seed.as_deref(), cfg)?),
            DatabaseKind::Postgres(pg, tls) => Kind::Postgres(PostgresSource::open(
                (**pg).clone(),
                tls,
                cfg.max_concurrent_queries,
                cfg.queue_timeout,
                cfg.statement_timeout,
            )?),
        };
        // After opening: the SQLite file exists now, so its path resolves.
        let identity = identity(cfg);
        Ok(DataSource {
            kind,
            permits: Arc::new(Semaphore::new(cfg.max_concurrent_queries)),
            queue_timeout: cfg.queue_timeout,
            max_rows: cfg.max_rows,
            running: Arc::new(AtomicUsize::new(0)),
            identity,
        })
    }

    /// Which database this is, for cache keys: the SQLite file, or
    /// PostgreSQL's hosts, ports, database and user (never the password).
    /// Two sources with the same identity return the same rows for the same
    /// statement and settings.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// What `check-config` does instead of [`DataSource::open`]: the same
    /// checks, creating nothing (a missing SQLite file with a seed is fine
    /// if the seed can be read).
    pub fn check(cfg: &DatabaseConfig) -> Result<(), DbError> {
        match &cfg.kind {
            DatabaseKind::Sqlite { path, seed: Some(seed) } if !path.exists() => std::fs::metadata(seed)
                .map(drop)
                .map_err(|e| DbError::Unavailable(format!("cannot read seed {}: {e}", seed.display()))),
            _ => DataSource::open(cfg).map(drop),
        }
    }

    /// `sqlite` or `postgres`, for the audit log.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres(_) => "postgres",
        }
    }

    /// `[database] max_rows`: the most rows one statement may return.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Statements running now, abandoned ones included (`/metrics`).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Run one statement, reading at most `max_rows` rows (more is
    /// `TooManyRows { max: max_rows }`). Waits at most `queue_timeout` for a
    /// slot. `settings` are transaction-local `set_config` pairs
    /// (PostgreSQL; the configuration refuses them for SQLite).
    pub async fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
        settings: &[(String, String)],
        max_rows: usize,
    ) -> Result<Rows, DbError> {
        let permit = tokio::time::timeout(self.queue_timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| DbError::Busy)?
            .map_err(|_| DbError::Unavailable("shutting down".into()))?;
        self.running.fetch_add(1, Ordering::Relaxed);
        let slot = Slot { _permit: permit, running: Arc::clone(&self.running) };
        let max_rows = max_rows.min(self.max_rows);
        match &self.kind {
            Kind::Sqlite(s) => s.query(sql.to_string(), params.to_vec(), max_rows, slot).await,
            Kind::Postgres(p) => p.query(sql, params, settings, max_rows, slot).await,
        }
    }
}
