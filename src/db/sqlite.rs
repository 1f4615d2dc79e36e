//! SQLite through rusqlite (bundled), off the async runtime: each query runs
//! in `spawn_blocking` on a read-only connection from a small pool, with a
//! progress handler enforcing the statement timeout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value as SqlLite, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::{Cell, DbError, Rows};
use crate::config::DatabaseConfig;
use crate::query::SqlValue;

pub struct SqliteSource {
    path: PathBuf,
    pool: Arc<Mutex<Vec<Connection>>>,
    timeout: Duration,
}

impl SqliteSource {
    pub fn open(path: &Path, seed: Option<&Path>, cfg: &DatabaseConfig) -> Result<SqliteSource, DbError> {
        if !path.exists() {
            match seed {
                Some(seed) => create_from_seed(path, seed)?,
                None => {
                    return Err(DbError::Unavailable(format!(
                        "{} does not exist (and no seed is configured)",
                        path.display()
                    )));
                }
            }
        }
        let source = SqliteSource {
            path: path.to_path_buf(),
            pool: Arc::new(Mutex::new(Vec::new())),
            timeout: cfg.statement_timeout,
        };
        // Fail at startup, not on the first request, if it cannot be opened.
        let conn = source.connect()?;
        source.pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        Ok(source)
    }

    fn connect(&self) -> Result<Connection, DbError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", self.path.display())))?;
        // Belt and braces: the connection refuses writes even if the file
        // permissions would allow them.
        conn.pragma_update(None, "query_only", true).map_err(|e| DbError::Unavailable(e.to_string()))?;
        register_functions(&conn)?;
        Ok(conn)
    }

    /// Run one statement on a blocking thread. `slot` (the concurrency
    /// permit) and `running` travel with the statement, so both are released
    /// only when it has really ended; if the caller goes away first (the
    /// client disconnected), the statement is interrupted instead of running
    /// on, unseen, to its timeout.
    pub async fn query(
        &self,
        sql: String,
        params: Vec<SqlValue>,
        max_rows: usize,
        slot: super::Slot,
    ) -> Result<Rows, DbError> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let abandoned = Arc::new(AtomicBool::new(false));
        let interrupt = InterruptOnDrop(Some((conn.get_interrupt_handle(), Arc::clone(&abandoned))));
        let (pool, timeout) = (Arc::clone(&self.pool), self.timeout);
        let joined = tokio::task::spawn_blocking(move || {
            let result = run(&conn, &sql, &params, timeout, max_rows, &abandoned);
            conn.progress_handler(0, None::<fn() -> bool>);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            drop(slot);
            result
        })
        .await;
        interrupt.disarm();
        joined.unwrap_or_else(|e| Err(DbError::Internal(format!("the query task failed: {e}"))))
    }
}

/// Interrupts the connection's statement when dropped armed: the request
/// future was dropped while the statement ran. `sqlite3_interrupt` alone is
/// lost if it comes before the statement's first step, so the flag, which
/// the progress handler reads, covers that window.
struct InterruptOnDrop(Option<(rusqlite::InterruptHandle, Arc<AtomicBool>)>);

impl InterruptOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some((handle, abandoned)) = self.0.take() {
            abandoned.store(true, Ordering::Relaxed);
            handle.interrupt();
        }
    }
}

/// Build the database file from a SQL seed (the demo data), atomically:
/// written to a temporary file, then renamed.
fn create_from_seed(path: &Path, seed: &Path) -> Result<(), DbError> {
    let sql = std::fs::read_to_string(seed)
        .map_err(|e| DbError::Unavailable(format!("cannot read seed {}: {e}", seed.display())))?;
    let tmp = path.with_extension("seeding");
    let _ = std::fs::remove_file(&tmp);
    let conn =
        Connection::open(&tmp).map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", tmp.display())))?;
    conn.execute_batch(&sql).map_err(|e| DbError::Unavailable(format!("seed {} failed: {e}", seed.display())))?;
    drop(conn);
    std::fs::rename(&tmp, path).map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
    tracing::info!(database = %path.display(), seed = %seed.display(), "created the database from its seed");
    Ok(())
}

struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Null => ToSqlOutput::Owned(SqlLite::Null),
            SqlValue::Bool(b) => ToSqlOutput::Owned(SqlLite::Integer(i64::from(*b))),
            SqlValue::Int(i) => ToSqlOutput::Owned(SqlLite::Integer(*i)),
            SqlValue::Float(f) => ToSqlOutput::Owned(SqlLite::Real(*f)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn run(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
    timeout: Duration,
    max_rows: usize,
    abandoned: &Arc<AtomicBool>,
) -> Result<Rows, DbError> {
    let deadline = Instant::now() + timeout;
    let abandoned = Arc::clone(abandoned);
    // Checked every 10k VM steps: returning true interrupts the statement.
    conn.progress_handler(10_000, Some(move || abandoned.load(Ordering::Relaxed) || Instant::now() > deadline));
    let mut stmt = conn.prepare_cached(sql).map_err(|e| classify(e, timeout))?;
    let width = stmt.column_count();
    let columns = stmt.column_names().into_iter().map(str::to_owned).collect();
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(bound.iter())).map_err(|e| classify(e, timeout))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| classify(e, timeout))? {
        // Stop reading at the cap: the rest is never stepped or held.
        if out.len() == max_rows {
            return Err(DbError::TooManyRows { max: max_rows });
        }
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            let cell = match row.get_ref(i).map_err(|e| classify(e, timeout))? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Float(v),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
            };
            cells.push(cell);
        }
        out.push(cells);
    }
    Ok(Rows { columns, rows: out })
}

fn classify(e: rusqlite::Error, timeout: Duration) -> DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => DbError::Timeout(timeout),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => DbError::Busy,
        Some(rusqlite::ErrorCode::TooBig) => {
            DbError::Refused { sqlstate: "SQLITE_TOOBIG".into(), detail: e.to_string() }
        }
        Some(rusqlite::ErrorCode::CannotOpen) => DbError::Unavailable(e.to_string()),
        _ => DbError::Internal(e.to_string()),
    }
}

/// SQL functions the renderer's SQLite dialect uses: a query's `timezone`
/// (`tenantgate_local_time(utc_text, zone)`, NULL for a NULL or unreadable
/// time), backed by the time-zone database compiled in, DST included.
fn register_functions(conn: &Connection) -> Result<(), DbError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        crate::query::dialect::SQLITE_LOCAL_TIME_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let utc: Option<String> = ctx.get(0)?;
            let zone: Option<String> = ctx.get(1)?;
            Ok(utc.zip(zone).and_then(|(t, z)| crate::query::time::utc_to_local(&t, &z)))
        },
    )
    .map_err(|e| DbError::Unavailable(format!("cannot register SQL functions: {e}")))
}
