//! Cube.js's REST API: `/cubejs-api/v1/load`, `/sql`, `/dry-run`, `/meta`,
//! with Cube.js's request and response shapes, so its clients work as-is.
//! Out of scope for now (said so in the README): the WebSocket transport,
//! "Continue wait" polling, pre-aggregations.

use base64::Engine as _;
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use super::App;
use super::response::{ApiError, Body, bytes_response, json_response};
use crate::auth::Authenticated;
use crate::cache::{Fetched, Statement, Stored};
use crate::db::{Cell, DataSource, DbError, Rows};
use crate::query::render::ColumnKind;
use crate::query::{Plan, Planned, Query, QueryError, Rendered};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Load,
    Sql,
    DryRun,
    Meta,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path.strip_prefix("/cubejs-api/v1/")? {
            "load" => Endpoint::Load,
            "sql" => Endpoint::Sql,
            "dry-run" => Endpoint::DryRun,
            "meta" => Endpoint::Meta,
            _ => return None,
        })
    }
}

/// The query (or queries) of a request and whether the multi-result wrapper
/// was asked for (the official JS client always sends `queryType=multi`).
struct Request {
    queries: Vec<Value>,
    multi: bool,
}

/// Parse the request, plan it (`query::plan`: every policy step), then one
/// match on the endpoint that shapes or runs the plan.
pub async fn handle(
    app: &App,
    endpoint: Endpoint,
    parts: &Parts,
    body: Bytes,
    auth: &Authenticated,
) -> Result<Response<Body>, ApiError> {
    let planned = || -> Result<(Request, Plan), ApiError> {
        let req = parse_request(parts, &body)?;
        let plan = crate::query::plan(&app.model, &app.policy, &req.queries, &auth.context)?;
        Ok((req, plan))
    };
    match endpoint {
        Endpoint::Meta => {
            let grants = app.policy.grants(&auth.context);
            Ok(json_response(StatusCode::OK, &crate::query::meta::meta(&app.model, grants.as_ref())))
        }
        Endpoint::DryRun => {
            let (req, plan) = planned()?;
            let normalized: Vec<Value> = plan.queries.iter().map(|p| p.query.normalized.clone()).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "queryType": query_type(&req),
                    "normalizedQueries": normalized,
                    "queryOrder": plan.queries.iter().map(|p| order_object(&p.query.order)).collect::<Vec<_>>(),
                    "pivotQuery": normalized.first().cloned().unwrap_or(Value::Null),
                }),
            ))
        }
        Endpoint::Sql => {
            let (req, plan) = planned()?;
            let sqls: Vec<Value> = plan.queries.iter().map(sql_object).collect();
            let body = if req.multi || sqls.len() > 1 {
                json!({"queryType": query_type(&req), "sql": sqls})
            } else {
                json!({"sql": sqls.into_iter().next().unwrap_or(Value::Null)})
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        Endpoint::Load => {
            let (req, plan) = planned()?;
            load(app, &req, &plan).await
        }
    }
}

/// Run a plan's queries on the tenant's data source (through the result
/// cache when enabled), within the request's budget, and answer in Cube.js's
/// `/load` shape.
async fn load(app: &App, req: &Request, plan: &Plan) -> Result<Response<Body>, ApiError> {
    let Some((route, data)) = app.router.route(plan.tenant.as_deref()) else {
        return Err(ApiError::Db(DbError::Unavailable("no [database] is configured".into())));
    };
    let limits = app
        .config
        .database
        .as_ref()
        .map_or((crate::config::DEFAULT_MAX_RESULT_CELLS, crate::config::DEFAULT_MAX_RESPONSE_BYTES), |d| {
            (d.max_result_cells, d.max_response_bytes)
        });
    let mut budget = Budget { cells_left: limits.0, max_cells: limits.0, max_bytes: limits.1, bytes: 0 };
    let mut results: Vec<Vec<u8>> = Vec::with_capacity(plan.queries.len());
    for (p, raw) in plan.queries.iter().zip(&req.queries) {
        let (q, r) = (&p.query, &p.rendered);
        // Cube.js's `renewQuery: true`: computed afresh, whatever is cached.
        let renew = raw.get("renewQuery").and_then(Value::as_bool) == Some(true);
        let columns = r.columns.len().max(1);
        // A statement reads at most what one request may hold, the same
        // for every request, so a result computed for one serves all; each
        // request then checks it against what its earlier queries left.
        let cap = data.max_rows().min(budget.max_cells / columns);
        let keys = column_keys(&r.columns);
        let mut shape = Vec::with_capacity(64);
        shape.extend_from_slice(&(cap as u64).to_le_bytes());
        shape.extend_from_slice(&(budget.max_bytes as u64).to_le_bytes());
        for (key, also) in &keys {
            for k in std::iter::once(key).chain(also) {
                shape.extend_from_slice(&(k.len() as u64).to_le_bytes());
                shape.extend_from_slice(k);
            }
            shape.push(u8::from(also.is_some()));
        }
        let stmt = Statement { route, sql: &r.sql, params: &r.params, settings: &p.settings, shape: &shape };
        let compute = compute_rows(data, &stmt, cap, keys, budget.max_bytes);
        let fetched = match cached(app, data, &stmt, &p.cube, renew, compute).await {
            Err(Computed::Db(DbError::TooManyRows { .. })) if cap < data.max_rows() => {
                return Err(budget.cells_exceeded().into());
            }
            other => other.map_err(|e| e.into_api(&budget))?,
        };
        let cells = fetched.stored.rows * columns;
        if cells > budget.cells_left {
            return Err(budget.cells_exceeded().into());
        }
        budget.cells_left -= cells;
        let total = if q.total {
            let stmt = Statement { sql: &r.total_sql, shape: b"total", ..stmt };
            let compute = compute_total(data, &stmt);
            let counted = cached(app, data, &stmt, &p.cube, renew, compute).await.map_err(|e| e.into_api(&budget))?;
            serde_json::from_slice(&counted.stored.bytes).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let envelope = load_envelope(q, r, plan.dialect.name(), total, fetched.stored.computed_at_ms);
        let bytes = write_result(&envelope, &fetched.stored.bytes);
        if budget.bytes + bytes.len() > budget.max_bytes {
            return Err(budget.bytes_exceeded().into());
        }
        budget.bytes += bytes.len();
        results.push(bytes);
    }
    let body = if req.multi || results.len() > 1 {
        let mut out = Vec::with_capacity(budget.bytes + 256);
        out.extend_from_slice(b"{\"queryType\":");
        write_json(&mut out, &json!(query_type(req)));
        out.extend_from_slice(b",\"results\":[");
        for (i, r) in results.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(r);
        }
        out.extend_from_slice(b"],\"pivotQuery\":");
        write_json(&mut out, &plan.queries.first().map(|p| pivot(&p.query, req)).unwrap_or(Value::Null));
        out.extend_from_slice(b",\"slowQuery\":false}");
        if out.len() > budget.max_bytes {
            return Err(budget.bytes_exceeded().into());
        }
        out
    } else {
        results.into_iter().next().unwrap_or_else(|| b"null".to_vec())
    };
    Ok(bytes_response(StatusCode::OK, body))
}

/// Why a statement's result could not be had; `Clone`, as every request
/// waiting on one computation gets its outcome.
#[derive(Debug, Clone)]
enum Computed {
    Db(DbError),
    /// The serialized rows passed `max_response_bytes`.
    TooManyBytes,
}

impl From<DbError> for Computed {
    fn from(e: DbError) -> Self {
        Computed::Db(e)
    }
}

impl Computed {
    fn into_api(self, budget: &Budget) -> ApiError {
        match self {
            Computed::Db(e) => ApiError::Db(e),
            Computed::TooManyBytes => budget.bytes_exceeded().into(),
        }
    }
}

/// The statement's result from the cache, or computed when the cache is
/// off.
async fn cached(
    app: &App,
    data: &DataSource,
    stmt: &Statement<'_>,
    cube: &str,
    renew: bool,
    compute: impl std::future::Future<Output = Result<Stored, Computed>>,
) -> Result<Fetched, Computed> {
    match &app.cache {
        Some(cache) => cache.get_or_compute(data, stmt, cube, renew, compute).await,
        None => Ok(Fetched { stored: std::sync::Arc::new(compute.await?), hit: false }),
    }
}

/// Run the statement (at most `cap` rows) and write its rows as `data`'s
/// JSON array.
async fn compute_rows(
    data: &DataSource,
    stmt: &Statement<'_>,
    cap: usize,
    keys: Vec<ColumnKey>,
    max_bytes: usize,
) -> Result<Stored, Computed> {
    let rows = data.query(stmt.sql, stmt.params, stmt.settings, cap).await?;
    let count = rows.rows.len();
    // Serializing up to tens of megabytes is CPU work: off the async
    // workers, so /livez and other requests keep answering.
    let written = tokio::task::spawn_blocking(move || write_rows(&keys, &rows, max_bytes))
        .await
        .map_err(|e| DbError::Internal(format!("the serialization task failed: {e}")))?;
    let bytes = written.ok_or(Computed::TooManyBytes)?;
    Ok(Stored::new(bytes, count))
}

/// Cube.js's `total`: the count statement's one cell, as JSON.
async fn compute_total(data: &DataSource, stmt: &Statement<'_>) -> Result<Stored, Computed> {
    let counted = data.query(stmt.sql, stmt.params, stmt.settings, 1).await?;
    let total = counted.rows.first().and_then(|row| row.first()).map_or(Value::Null, cell_json);
    Ok(Stored::new(serde_json::to_vec(&total).unwrap_or_else(|_| b"null".to_vec()), 0))
}

/// What one request may still return: cells (rows x columns) and bytes.
struct Budget {
    cells_left: usize,
    max_cells: usize,
    max_bytes: usize,
    bytes: usize,
}

impl Budget {
    fn cells_exceeded(&self) -> QueryError {
        QueryError::ResultTooLarge(format!(
            "the request's results exceed {} cells (rows x columns across its queries, [database] max_result_cells); lower the limits or split the request",
            self.max_cells
        ))
    }

    fn bytes_exceeded(&self) -> QueryError {
        QueryError::ResultTooLarge(format!(
            "the response would exceed {} bytes ([database] max_response_bytes); lower the limits or split the request",
            self.max_bytes
        ))
    }
}

fn query_type(req: &Request) -> &'static str {
    if req.queries.len() > 1 { "blendingQuery" } else { "regularQuery" }
}

fn pivot(q: &Query, req: &Request) -> Value {
    let mut p = q.normalized.clone();
    p["queryType"] = json!(query_type(req));
    p
}

/// The query from `?query=` (GET) or the JSON body's `query` (POST).
fn parse_request(parts: &Parts, body: &Bytes) -> Result<Request, ApiError> {
    let params = super::url::query_pairs(parts.uri.query().unwrap_or(""));
    let (raw, mut multi) = if parts.method == http::Method::POST {
        let v: Value = serde_json::from_slice(body).map_err(|e| QueryError::BadJson(e.to_string()))?;
        let multi = v.get("queryType").and_then(Value::as_str) == Some("multi");
        (v.get("query").cloned().ok_or(QueryError::MissingQuery)?, multi)
    } else {
        let text =
            params.iter().find(|(k, _)| k == "query").map(|(_, v)| v.as_str()).ok_or(QueryError::MissingQuery)?;
        let v: Value = serde_json::from_str(text).map_err(|e| QueryError::BadJson(e.to_string()))?;
        (v, false)
    };
    multi |= params.iter().any(|(k, v)| k == "queryType" && v == "multi");
    let queries = match raw {
        Value::Array(list) if list.is_empty() => return Err(QueryError::Empty.into()),
        Value::Array(list) if list.len() > 20 => {
            return Err(QueryError::Invalid("at most 20 queries per request".into()).into());
        }
        Value::Array(list) => list,
        Value::String(s) => {
            vec![serde_json::from_str(&s).map_err(|e: serde_json::Error| QueryError::BadJson(e.to_string()))?]
        }
        other => vec![other],
    };
    Ok(Request { queries, multi })
}

fn order_object(order: &[(String, bool)]) -> Value {
    Value::Object(order.iter().map(|(m, d)| (m.clone(), json!(if *d { "desc" } else { "asc" }))).collect())
}

fn sql_object(p: &Planned) -> Value {
    let r = &p.rendered;
    let alias_to_member: Map<String, Value> = r.columns.iter().map(|c| (c.alias.clone(), json!(c.member))).collect();
    json!({
        "sql": [r.sql, r.params.iter().map(crate::query::SqlValue::to_json).collect::<Vec<_>>()],
        "timeDimensionAlias": Value::Null,
        "timeDimensionField": Value::Null,
        "order": p.query.order.iter().map(|(m, d)| json!({"id": m, "desc": d})).collect::<Vec<_>>(),
        "cacheKeyQueries": [],
        "dataSource": "default",
        "aliasNameToMember": alias_to_member,
        "rollupMatchResults": [],
        "canUseTransformedQuery": {"allowed": false},
        "external": false,
        "preAggregations": [],
        "cube": p.cube,
    })
}

/// A `/load` result without its `data`, which [`write_result`] adds.
/// `lastRefreshTime` is when the rows were computed (a cached result's
/// time, not the request's).
fn load_envelope(q: &Query, r: &Rendered, db_type: &str, total: Value, computed_at_ms: i64) -> Value {
    json!({
        "query": q.normalized,
        "annotation": annotation(r),
        "lastRefreshTime": crate::db::iso_utc_millis(computed_at_ms),
        "dataSource": "default",
        "dbType": db_type,
        "extDbType": "cubestore",
        "external": false,
        "slowQuery": false,
        "total": total,
    })
}

/// A column's key in `data`, escaped once (`"Orders.count":`), and the
/// plain name a granular time dimension also answers to.
type ColumnKey = (Vec<u8>, Option<Vec<u8>>);

fn column_keys(columns: &[crate::query::Column]) -> Vec<ColumnKey> {
    let key = |name: &str| {
        let mut k = serde_json::to_vec(name).unwrap_or_default();
        k.push(b':');
        k
    };
    columns.iter().map(|c| (key(&c.member), c.also.as_deref().map(key))).collect()
}

/// One result as JSON bytes: the envelope's fields, then `data`, the rows
/// [`write_rows`] wrote.
fn write_result(envelope: &Value, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    out.push(b'{');
    if let Value::Object(fields) = envelope {
        for (name, value) in fields {
            write_json(&mut out, &Value::String(name.clone()));
            out.push(b':');
            write_json(&mut out, value);
            out.push(b',');
        }
    }
    out.extend_from_slice(b"\"data\":");
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

/// `data` as a JSON array written straight from the driver's cells, each
/// key escaped once per column (no map per row, no name copied per cell).
/// `None` once the bytes would pass `max_bytes`.
fn write_rows(keys: &[ColumnKey], rows: &Rows, max_bytes: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.push(b'[');
    for (i, row) in rows.rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut first = true;
        for (cell, (key, also)) in row.iter().zip(keys) {
            for k in also.iter().chain(std::iter::once(key)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(k);
                write_cell(&mut out, cell);
            }
        }
        out.push(b'}');
        if out.len() > max_bytes {
            return None;
        }
    }
    out.push(b']');
    (out.len() <= max_bytes).then_some(out)
}

fn write_json(out: &mut Vec<u8>, v: &Value) {
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// [`cell_json`], written without building a `Value`.
fn write_cell(out: &mut Vec<u8>, cell: &Cell) {
    const SAFE: i64 = 1 << 53;
    let _ = match cell {
        Cell::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Cell::Int(i) if (-SAFE..=SAFE).contains(i) => serde_json::to_writer(&mut *out, i),
        Cell::Int(i) => serde_json::to_writer(&mut *out, &i.to_string()),
        Cell::Float(f) if f.is_finite() => serde_json::to_writer(&mut *out, f),
        Cell::Float(_) => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Cell::Bool(b) => serde_json::to_writer(&mut *out, b),
        Cell::Text(s) => serde_json::to_writer(&mut *out, s),
        Cell::Bytes(b) => serde_json::to_writer(&mut *out, &base64::engine::general_purpose::STANDARD.encode(b)),
    };
}

/// Integers within +-2^53 and finite floats are JSON numbers; larger
/// integers and exact decimals (text) stay strings, so nothing loses
/// precision silently.
pub fn cell_json(cell: &Cell) -> Value {
    const SAFE: i64 = 1 << 53;
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) if (-SAFE..=SAFE).contains(i) => json!(i),
        Cell::Int(i) => json!(i.to_string()),
        Cell::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => json!(b),
        Cell::Text(s) => json!(s),
        Cell::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

fn annotation(r: &Rendered) -> Value {
    let mut measures = Map::new();
    let mut dimensions = Map::new();
    let mut time_dimensions = Map::new();
    for col in &r.columns {
        let (title, short) = (&col.title, &col.short_title);
        match col.kind {
            ColumnKind::Measure(_) => {
                let entry = json!({
                    "title": title, "shortTitle": short, "type": "number",
                    "drillMembers": [], "drillMembersGrouped": {"measures": [], "dimensions": []},
                });
                measures.insert(col.member.clone(), entry);
            }
            ColumnKind::Dimension(kind) => {
                let entry = json!({"title": title, "shortTitle": short, "type": kind.as_str()});
                match &col.also {
                    Some(also) => {
                        time_dimensions.insert(col.member.clone(), entry.clone());
                        time_dimensions.insert(also.clone(), entry);
                    }
                    None => {
                        dimensions.insert(col.member.clone(), entry);
                    }
                }
            }
        }
    }
    json!({"measures": measures, "dimensions": dimensions, "segments": {}, "timeDimensions": time_dimensions})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_cube_js_does() {
        assert_eq!(crate::db::iso_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(crate::db::iso_utc_millis(1_709_648_521_123), "2024-03-05T14:22:01.123Z");
        assert_eq!(crate::db::iso_utc_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn large_integers_stay_strings_and_safe_ones_are_numbers() {
        assert_eq!(cell_json(&Cell::Int(9_007_199_254_740_992)), json!(9_007_199_254_740_992_i64));
        assert_eq!(cell_json(&Cell::Int(9_007_199_254_740_993)), json!("9007199254740993"));
        assert_eq!(cell_json(&Cell::Float(1.5)), json!(1.5));
        assert_eq!(cell_json(&Cell::Text("12.30".into())), json!("12.30"));
    }
}
