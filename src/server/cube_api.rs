//! Cube.js's REST API: `/cubejs-api/v1/load`, `/sql`, `/dry-run`, `/meta`,
//! with Cube.js's request and response shapes, so its clients work as-is.
//! Out of scope for now (said so in the README): the WebSocket transport,
//! "Continue wait" polling, pre-aggregations.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use super::App;
use super::cube_shape as shape;
use super::response::{ApiError, Body, bytes_response, json_response};
use crate::auth::Authenticated;
use crate::db::{Cell, DbError, Rows};
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
        shape::check_blending(&req.queries)?;
        let plan =
            crate::query::plan(&app.model, &app.policy, &req.queries, &auth.context).map_err(|e| cube_error(app, e))?;
        Ok((req, plan))
    };
    match endpoint {
        Endpoint::Meta => {
            let grants = app.policy.grants(&auth.context);
            Ok(json_response(StatusCode::OK, &crate::query::meta::meta(&app.model, grants.as_ref())))
        }
        Endpoint::DryRun => {
            let (req, plan) = planned()?;
            let mut normalized = echoes(&req, &plan);
            let pivot = shape::pivot_query(&req.queries, &normalized);
            shape::mark_first(&mut normalized);
            let order =
                plan.queries.iter().map(|p| shape::order_object(&shape::effective_order(&p.query))).collect::<Vec<_>>();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "queryType": query_type(&req),
                    "normalizedQueries": normalized,
                    "queryOrder": order,
                    "pivotQuery": pivot,
                }),
            ))
        }
        Endpoint::Sql => {
            let (_, plan) = planned()?;
            // Cube.js: `{sql}` for one query, `[{sql}, ...]` for a blend,
            // whatever `queryType` says.
            let mut sqls: Vec<Value> = plan.queries.iter().map(|p| json!({"sql": sql_object(p)})).collect();
            let body = if sqls.len() > 1 { Value::Array(sqls) } else { sqls.pop().unwrap_or(Value::Null) };
            Ok(json_response(StatusCode::OK, &body))
        }
        Endpoint::Load => {
            let (req, plan) = planned()?;
            if !req.multi && req.queries.len() > 1 {
                return Err(QueryError::Invalid(
                    "'blendingQuery' query type is not supported by the client.Please update the client.".into(),
                )
                .into());
            }
            load(app, &req, &plan).await
        }
    }
}

/// Run a plan's queries on the tenant's data source, within the request's
/// budget, and answer in Cube.js's `/load` shape.
async fn load(app: &App, req: &Request, plan: &Plan) -> Result<Response<Body>, ApiError> {
    let Some(data) = app.router.source(plan.tenant.as_deref()) else {
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
    let mut echoes = echoes(req, plan);
    let pivot = shape::pivot_query(&req.queries, &echoes);
    if req.multi {
        shape::mark_first(&mut echoes);
    }
    let blending = plan.queries.len() > 1;
    for (i, p) in plan.queries.iter().enumerate() {
        let (q, r) = (&p.query, &p.rendered);
        // Rows x columns across the request's queries: this query may read
        // what the earlier ones left of the budget.
        let columns = r.columns.len().max(1);
        let by_budget = budget.cells_left / columns;
        let max_rows = data.max_rows().min(by_budget);
        let rows = match data.query(&r.sql, &r.params, &p.settings, max_rows).await {
            Err(DbError::TooManyRows { .. }) if by_budget < data.max_rows() => {
                return Err(budget.cells_exceeded().into());
            }
            other => other?,
        };
        budget.cells_left -= rows.rows.len() * columns;
        let total = if q.total {
            let counted = data.query(&r.total_sql, &r.params, &p.settings, 1).await?;
            counted.rows.first().and_then(|row| row.first()).map_or(Value::Null, cell_json)
        } else {
            Value::Null
        };
        let echo = echoes.get(i).cloned().unwrap_or(Value::Null);
        let envelope = load_envelope(echo, annotation(app, q, r), plan.dialect.name(), total);
        let columns = r.columns.clone();
        let blend_key = if blending { req.queries.get(i).and_then(shape::blending_time_key) } else { None };
        let max_bytes = budget.max_bytes - budget.bytes;
        // Serializing up to tens of megabytes is CPU work: off the async
        // workers, so /livez and other requests keep answering.
        let written =
            tokio::task::spawn_blocking(move || write_result(envelope, &columns, blend_key.as_ref(), &rows, max_bytes))
                .await
                .map_err(|e| DbError::Internal(format!("the serialization task failed: {e}")))?;
        let bytes = written.ok_or_else(|| budget.bytes_exceeded())?;
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
        write_json(&mut out, &pivot);
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
    shape::query_type(req.queries.len())
}

/// Each query as Cube.js echoes it back.
fn echoes(req: &Request, plan: &Plan) -> Vec<Value> {
    req.queries.iter().zip(&plan.queries).map(|(raw, p)| shape::echo(raw, &p.query)).collect()
}

/// Cube.js's compiler names the part of a path it could not find: the
/// member (`'nope' not found for path 'Orders.nope'`) or the cube
/// (`Cube 'Nope' not found for path 'Nope.count'`).
fn cube_error(app: &App, e: QueryError) -> ApiError {
    match e {
        QueryError::UnknownMember(path) => match path.split_once('.') {
            Some((cube, _)) if !app.model.cubes.iter().any(|c| c.name == cube) => QueryError::UnknownCube(path).into(),
            _ => QueryError::UnknownMember(path).into(),
        },
        other => other.into(),
    }
}

/// The query from `?query=` (GET) or the JSON body's `query` (POST).
fn parse_request(parts: &Parts, body: &Bytes) -> Result<Request, ApiError> {
    let params = super::url::query_pairs(parts.uri.query().unwrap_or(""));
    let (raw, mut multi) = if parts.method == http::Method::POST {
        let v: Value = serde_json::from_slice(body).map_err(|e| QueryError::BadJson(e.to_string()))?;
        let multi = v.get("queryType").and_then(Value::as_str) == Some("multi");
        (v.get("query").cloned().ok_or(QueryError::MissingQuery)?, multi)
    } else {
        // Cube.js: an empty `query` is no query.
        let text = params
            .iter()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or(QueryError::MissingQuery)?;
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
    let queries = queries.iter().map(shape::prepare).collect::<Result<Vec<_>, _>>()?;
    Ok(Request { queries, multi })
}

fn sql_object(p: &Planned) -> Value {
    let r = &p.rendered;
    let alias_to_member: Map<String, Value> = r.columns.iter().map(|c| (c.alias.clone(), json!(c.member))).collect();
    let mut sql = json!({
        "sql": [r.sql, r.params.iter().map(crate::query::SqlValue::to_json).collect::<Vec<_>>()],
        "lambdaQueries": {},
        "order": shape::order_object(&shape::effective_order(&p.query)),
        "cacheKeyQueries": [],
        "dataSource": "default",
        "aliasNameToMember": alias_to_member,
        "canUseTransformedQuery": {"allowed": false},
        "external": false,
        "preAggregations": [],
    });
    // Cube.js names the first time dimension with a granularity.
    if let Some(c) = r.columns.iter().find(|c| c.also.is_some()) {
        sql["timeDimensionAlias"] = json!(c.alias);
        sql["timeDimensionField"] = json!(c.also);
    }
    sql
}

/// A `/load` result without its `data`, which [`write_result`] adds.
/// No `extDbType`: Cube.js sends it only with an external database.
fn load_envelope(echo: Value, annotation: Value, db_type: &str, total: Value) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    json!({
        "query": echo,
        "annotation": annotation,
        "lastRefreshTime": crate::db::iso_utc_millis(now),
        "dataSource": "default",
        "dbType": db_type,
        "external": false,
        "slowQuery": false,
        "total": total,
    })
}

/// One result as JSON bytes: the envelope's fields, then `data` written
/// straight from the driver's cells, each key escaped once per column (no
/// map per row, no name copied per cell). `None` once the bytes would pass
/// `max_bytes`. `blend_key` (a blend's `(member, "time.<granularity>")`)
/// writes that member's column once more under the blend's key.
fn write_result(
    envelope: Value,
    columns: &[crate::query::Column],
    blend_key: Option<&(String, String)>,
    rows: &Rows,
    max_bytes: usize,
) -> Option<Vec<u8>> {
    let keys: Vec<(Vec<u8>, Vec<Vec<u8>>)> = columns
        .iter()
        .map(|c| {
            let key = |name: &str| {
                let mut k = serde_json::to_vec(name).unwrap_or_default();
                k.push(b':');
                k
            };
            let mut also: Vec<Vec<u8>> = c.also.as_deref().map(key).into_iter().collect();
            if let Some((member, time)) = blend_key
                && *member == c.member
            {
                also.push(key(time));
            }
            (key(&c.member), also)
        })
        .collect();
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    if let Value::Object(fields) = &envelope {
        for (name, value) in fields {
            write_json(&mut out, &Value::String(name.clone()));
            out.push(b':');
            write_json(&mut out, value);
            out.push(b',');
        }
    }
    out.extend_from_slice(b"\"data\":[");
    for (i, row) in rows.rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut first = true;
        for (cell, (key, also)) in row.iter().zip(&keys) {
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
    out.extend_from_slice(b"]}");
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

fn annotation(app: &App, q: &Query, r: &Rendered) -> Value {
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
    let mut segments = Map::new();
    if let Some(cube) = app.model.cubes.get(q.cube) {
        for (i, name) in q.segments.iter().zip(q.normalized["segments"].as_array().into_iter().flatten()) {
            if let (Some(s), Some(name)) = (cube.segments.get(*i), name.as_str()) {
                let entry = json!({"title": format!("{} {}", cube.title, s.title), "shortTitle": s.title});
                segments.insert(name.to_string(), entry);
            }
        }
    }
    json!({"measures": measures, "dimensions": dimensions, "segments": segments, "timeDimensions": time_dimensions})
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
