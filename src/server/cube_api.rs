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
use super::response::{ApiError, Body, bytes_response, json_response};
use crate::auth::Authenticated;
use crate::config::SessionValue;
use crate::db::{Cell, DbError, Rows};
use crate::query::model::{Cube, Model};
use crate::query::render::{ColumnKind, RenderOptions};
use crate::query::{Query, QueryError, Rendered, access, render};

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

pub async fn handle(
    app: &App,
    endpoint: Endpoint,
    parts: &Parts,
    body: Bytes,
    auth: &Authenticated,
) -> Result<Response<Body>, ApiError> {
    let model = &app.config.model.model;
    if endpoint == Endpoint::Meta {
        let grants = access::grants(&app.config.access, &auth.context);
        return Ok(json_response(StatusCode::OK, &meta(model, grants.as_ref())));
    }
    let req = parse_request(parts, &body)?;
    let missing_allows_all = app.config.model.dangerous_missing_filter_allows_all;
    let access = &app.config.access;
    // Tenant first: a token whose tenant is invalid or unknown goes no
    // further, whatever it asks.
    let tenancy = &app.config.tenancy;
    let tenant = match &tenancy.tenant_key {
        Some(key) => {
            let id = access::tenant_id(&auth.context, key)?;
            if tenancy.require_known_tenant && !tenancy.tenants.iter().any(|(t, _)| *t == id) {
                return Err(QueryError::UnknownTenant(id).into());
            }
            Some(id)
        }
        None => None,
    };
    let mut checked = Vec::with_capacity(req.queries.len());
    for raw in &req.queries {
        let first = Query::parse(raw, model)?;
        // Roles judge what the client asked for; the filters that rules
        // force in afterwards are ours and are not the caller's to be
        // granted.
        access::check_roles(access, &auth.context, &first, model)?;
        let cube = &model.cubes[first.cube].name;
        // Rules add filters; the rewritten query is checked again whole.
        let q = if access.rules.iter().any(|r| &r.cube == cube) {
            Query::parse(&access::apply_rules(access, cube, &auth.context, raw, missing_allows_all)?, model)?
        } else {
            first
        };
        checked.push(q);
    }
    let (data, tenant_settings) = match app.data_for(tenant.as_deref()) {
        Ok(found) => (Some(found.0), found.1),
        // /sql and /dry-run need no database.
        Err(e) if endpoint == Endpoint::Load => return Err(e.into()),
        Err(_) => (None, Vec::new()),
    };
    let dialect = data.as_ref().map_or(crate::query::Dialect::Sqlite, |d| d.dialect());
    let opts = RenderOptions { missing_filter_allows_all: missing_allows_all };
    let rendered =
        checked.iter().map(|q| render(model, q, &auth.context, dialect, opts)).collect::<Result<Vec<_>, _>>()?;

    match endpoint {
        // Answered above, before any query is parsed.
        Endpoint::Meta => {
            Ok(json_response(StatusCode::OK, &meta(model, access::grants(access, &auth.context).as_ref())))
        }
        Endpoint::DryRun => {
            let normalized: Vec<Value> = checked.iter().map(|q| q.normalized.clone()).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "queryType": query_type(&req),
                    "normalizedQueries": normalized,
                    "queryOrder": checked.iter().map(|q| order_object(&q.order)).collect::<Vec<_>>(),
                    "pivotQuery": normalized.first().cloned().unwrap_or(Value::Null),
                }),
            ))
        }
        Endpoint::Sql => {
            let sqls: Vec<Value> = checked.iter().zip(&rendered).map(|(q, r)| sql_object(model, q, r)).collect();
            let body = if req.multi || sqls.len() > 1 {
                json!({"queryType": query_type(&req), "sql": sqls})
            } else {
                json!({"sql": sqls.into_iter().next().unwrap_or(Value::Null)})
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        Endpoint::Load => {
            let Some(data) = data.as_ref() else {
                return Err(ApiError::Db(DbError::Unavailable("no [database] is configured".into())));
            };
            let limits =
                app.config.database.as_ref().map_or(
                    (crate::config::DEFAULT_MAX_RESULT_CELLS, crate::config::DEFAULT_MAX_RESPONSE_BYTES),
                    |d| (d.max_result_cells, d.max_response_bytes),
                );
            let mut budget = Budget { cells_left: limits.0, max_cells: limits.0, max_bytes: limits.1, bytes: 0 };
            let mut results: Vec<Vec<u8>> = Vec::with_capacity(rendered.len());
            for (q, r) in checked.iter().zip(&rendered) {
                let mut settings = tenant_settings.clone();
                settings.extend(session_settings(app, &model.cubes[q.cube].name, &auth.context)?);
                // Rows x columns across the request's queries: this query may
                // read what the earlier ones left of the budget.
                let columns = r.columns.len().max(1);
                let by_budget = budget.cells_left / columns;
                let max_rows = data.max_rows().min(by_budget);
                let rows = match data.query(&r.sql, &r.params, &settings, max_rows).await {
                    Err(DbError::TooManyRows { .. }) if by_budget < data.max_rows() => {
                        return Err(budget.cells_exceeded().into());
                    }
                    other => other?,
                };
                budget.cells_left -= rows.rows.len() * columns;
                let total = if q.total {
                    let counted = data.query(&r.total_sql, &r.params, &settings, 1).await?;
                    counted.rows.first().and_then(|row| row.first()).map_or(Value::Null, cell_json)
                } else {
                    Value::Null
                };
                let envelope = load_envelope(model, q, r, data.db_type(), total);
                let columns = r.columns.clone();
                let max_bytes = budget.max_bytes - budget.bytes;
                // Serializing up to tens of megabytes is CPU work: off the
                // async workers, so /livez and other requests keep answering.
                let written = tokio::task::spawn_blocking(move || write_result(envelope, &columns, &rows, max_bytes))
                    .await
                    .map_err(|e| DbError::Internal(format!("the serialization task failed: {e}")))?;
                let bytes = written.ok_or_else(|| budget.bytes_exceeded())?;
                budget.bytes += bytes.len();
                results.push(bytes);
            }
            let body = if req.multi || results.len() > 1 {
                let mut out = Vec::with_capacity(budget.bytes + 256);
                out.extend_from_slice(b"{\"queryType\":");
                write_json(&mut out, &json!(query_type(&req)));
                out.extend_from_slice(b",\"results\":[");
                for (i, r) in results.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(r);
                }
                out.extend_from_slice(b"],\"pivotQuery\":");
                write_json(&mut out, &checked.first().map(|q| pivot(q, &req)).unwrap_or(Value::Null));
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
    }
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

/// `[database.session]` resolved for this caller: the values the database's
/// row-level-security policies read. A missing value fails closed, as a
/// missing filter does.
fn session_settings(
    app: &App,
    cube: &str,
    ctx: &crate::auth::SecurityContext,
) -> Result<Vec<(String, String)>, QueryError> {
    let Some(db) = &app.config.database else { return Ok(Vec::new()) };
    db.session
        .iter()
        .map(|(name, value)| {
            let v = match value {
                SessionValue::Literal(l) => l.clone(),
                SessionValue::Context(path) => {
                    let dotted = path.join(".");
                    match ctx.get(&dotted) {
                        None | Some(Value::Null) => {
                            return Err(QueryError::MissingSecurityContext { path: dotted, cube: cube.to_string() });
                        }
                        Some(Value::String(s)) => s.clone(),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                        Some(_) => {
                            return Err(QueryError::InvalidSecurityContext(format!(
                                "security context value '{dotted}' must be a string, number or boolean for database.session"
                            )));
                        }
                    }
                }
            };
            Ok((name.clone(), v))
        })
        .collect()
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

fn sql_object(model: &Model, q: &Query, r: &Rendered) -> Value {
    let cube = &model.cubes[q.cube];
    let alias_to_member: Map<String, Value> = r.columns.iter().map(|c| (c.alias.clone(), json!(c.member))).collect();
    json!({
        "sql": [r.sql, r.params.iter().map(crate::query::SqlValue::to_json).collect::<Vec<_>>()],
        "timeDimensionAlias": Value::Null,
        "timeDimensionField": Value::Null,
        "order": q.order.iter().map(|(m, d)| json!({"id": m, "desc": d})).collect::<Vec<_>>(),
        "cacheKeyQueries": [],
        "dataSource": "default",
        "aliasNameToMember": alias_to_member,
        "rollupMatchResults": [],
        "canUseTransformedQuery": {"allowed": false},
        "external": false,
        "preAggregations": [],
        "cube": cube.name,
    })
}

/// A `/load` result without its `data`, which [`write_result`] adds.
fn load_envelope(model: &Model, q: &Query, r: &Rendered, db_type: &str, total: Value) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    json!({
        "query": q.normalized,
        "annotation": annotation(&model.cubes[q.cube], r),
        "lastRefreshTime": crate::db::iso_utc_millis(now),
        "dataSource": "default",
        "dbType": db_type,
        "extDbType": "cubestore",
        "external": false,
        "slowQuery": false,
        "total": total,
    })
}

/// One result as JSON bytes: the envelope's fields, then `data` written
/// straight from the driver's cells, each key escaped once per column (no
/// map per row, no name copied per cell). `None` once the bytes would pass
/// `max_bytes`.
fn write_result(envelope: Value, columns: &[crate::query::Column], rows: &Rows, max_bytes: usize) -> Option<Vec<u8>> {
    let keys: Vec<(Vec<u8>, Option<Vec<u8>>)> = columns
        .iter()
        .map(|c| {
            let key = |name: &str| {
                let mut k = serde_json::to_vec(name).unwrap_or_default();
                k.push(b':');
                k
            };
            (key(&c.member), c.also.as_deref().map(key))
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

fn annotation(cube: &Cube, r: &Rendered) -> Value {
    let mut measures = Map::new();
    let mut dimensions = Map::new();
    let mut time_dimensions = Map::new();
    for col in &r.columns {
        // `Orders.createdAt.month` -> `createdAt`: the member's model title.
        let name = col.member.split('.').nth(1).unwrap_or(&col.member);
        let short = cube
            .measures
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.title.clone())
            .or_else(|| cube.dimensions.iter().find(|d| d.name == name).map(|d| d.title.clone()))
            .unwrap_or_else(|| name.to_string());
        let title = format!("{} {short}", cube.title);
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

/// `/meta`: every cube with its members, in Cube.js's shape; with roles,
/// only what the token's roles grant.
fn meta(model: &Model, grants: Option<&access::Grants>) -> Value {
    let shown = |member: &str| grants.is_none_or(|g| g.allows(member));
    let cubes: Vec<Value> = model
        .cubes
        .iter()
        .filter(|c| grants.is_none_or(|g| g.allows_cube(&c.name)))
        .map(|c| {
            json!({
                "name": c.name,
                "title": c.title,
                "type": "cube",
                "isVisible": true,
                "public": true,
                "connectedComponent": 1,
                "measures": c.measures.iter().filter(|m| shown(&format!("{}.{}", c.name, m.name))).map(|m| json!({
                    "name": format!("{}.{}", c.name, m.name),
                    "title": format!("{} {}", c.title, m.title),
                    "shortTitle": m.title,
                    "type": "number",
                    "aggType": m.kind.as_str(),
                    "cumulative": false,
                    "cumulativeTotal": false,
                    "drillMembers": [],
                    "drillMembersGrouped": {"measures": [], "dimensions": []},
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "dimensions": c.dimensions.iter().filter(|d| shown(&format!("{}.{}", c.name, d.name))).map(|d| json!({
                    "name": format!("{}.{}", c.name, d.name),
                    "title": format!("{} {}", c.title, d.title),
                    "shortTitle": d.title,
                    "type": d.kind.as_str(),
                    "suggestFilterValues": true,
                    "primaryKey": d.primary_key,
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "segments": c.segments.iter().filter(|s| shown(&format!("{}.{}", c.name, s.name))).map(|s| json!({
                    "name": format!("{}.{}", c.name, s.name),
                    "title": format!("{} {}", c.title, s.title),
                    "shortTitle": s.title,
                    "isVisible": true,
                    "public": true,
                })).collect::<Vec<_>>(),
                "hierarchies": [],
                "folders": [],
                "nestedFolders": [],
            })
        })
        .collect();
    json!({"cubes": cubes})
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
