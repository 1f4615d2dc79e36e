//! Data sources: run rendered SQL and return rows. One variant per
//! database, one file each; SQLite is the embedded default.
//!
//! **Boundary:** this layer never sees a query or a token, only SQL text from
//! the renderer and its bound parameters.
//! **Invariant:** connections are read-only; every statement has a deadline;
//! at most `max_concurrent_queries` run at once and the rest wait at most
//! `queue_timeout` before a 503.

mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{DatabaseConfig, DatabaseKind};
use crate::query::{Dialect, SqlValue};
pub use sqlite::SqliteSource;

/// One result value as the database returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    /// Exact decimals and large integers arrive as text to keep precision.
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Why a statement did not produce rows. Who caused it picks the status:
/// `Busy`/`Timeout`/`Unavailable` are 503, `BadValue`/`TooManyRows` the
/// client's 400, `Internal` ours (a model whose SQL does not run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("too many queries are running; retry shortly")]
    Busy,
    #[error("the query ran longer than the statement timeout ({0:?})")]
    Timeout(Duration),
    #[error("the database refused a value: {0}")]
    BadValue(String),
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
            DbError::BadValue(_) => "invalid_value",
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
}

enum Kind {
    Sqlite(SqliteSource),
}

impl DataSource {
    /// Open the data source (SQLite: create it from the seed if configured
    /// and missing). Runs blocking file I/O; call at startup.
    pub fn open(cfg: &DatabaseConfig) -> Result<DataSource, DbError> {
        let kind = match &cfg.kind {
            DatabaseKind::Sqlite { path, seed } => Kind::Sqlite(SqliteSource::open(path, seed.as_deref(), cfg)?),
        };
        Ok(DataSource {
            kind,
            permits: Arc::new(Semaphore::new(cfg.max_concurrent_queries)),
            queue_timeout: cfg.queue_timeout,
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.kind {
            Kind::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Cube.js's `dbType`.
    pub fn db_type(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite(_) => "sqlite",
        }
    }

    /// Run one statement. Waits at most `queue_timeout` for a slot.
    pub async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, DbError> {
        let permit = tokio::time::timeout(self.queue_timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| DbError::Busy)?
            .map_err(|_| DbError::Unavailable("shutting down".into()))?;
        let result = match &self.kind {
            Kind::Sqlite(s) => s.query(sql.to_string(), params.to_vec()).await,
        };
        drop(permit);
        result
    }
}
