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
use super::audit;
use super::cube_shape as shape;
use super::response::{ApiError, Body, bytes_response, json_response};
use crate::auth::Authenticated;
use crate::cache::{Fetched, Statement, Stored};
use crate::config::ApiScope;
use crate::db::{Cell, DataSource, DbError, Rows};
use crate::query::render::ColumnKind;
use crate::query::{Plan, Planned, Query, QueryError, Rendered};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Load,
    Sql,
    DryRun,
    Meta,
    /// `/tenantgate/v1/explain`: what the policies decide for a query, and
    /// its SQL, without running it.
    Explain,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Endpoint> {
        if path == "/tenantgate/v1/explain" {
            return Some(Endpoint::Explain);
        }
        Some(match path.strip_prefix("/cubejs-api/v1/")? {
            // Cube.js's HTTP `/subscribe` is `/load` (gateway.ts routes both
            // to `load`); its WebSocket transport is out of scope.
            "load" | "subscribe" => Endpoint::Load,
            "sql" => Endpoint::Sql,
            "dry-run" => Endpoint::DryRun,
            "meta" => Endpoint::Meta,
            _ => return None,
        })
    }

    /// The API scope the endpoint needs, as Cube.js's api-gateway asserts
    /// it (`assertApiScope` in `load`, `sql`, `dryRun`, `meta`): `/load`,
    /// `/subscribe` and `/dry-run` need `data`, `/sql` `sql`, `/meta` `meta`.
    pub fn scope(self) -> ApiScope {
        match self {
            Endpoint::Load | Endpoint::DryRun => ApiScope::Data,
            Endpoint::Sql => ApiScope::Sql,
            Endpoint::Meta => ApiScope::Meta,
            Endpoint::Explain => ApiScope::Explain,
        }
    }

    /// The name the audit log gives it; `None`: not a data request.
    pub fn audited(self) -> Option<&'static str> {
        match self {
            Endpoint::Load => Some("load"),
            Endpoint::Sql => Some("sql"),
            Endpoint::DryRun => Some("dry-run"),
            // It shows the SQL and what the policies decide: who asked is
            // worth a line.
            Endpoint::Explain => Some("explain"),
            Endpoint::Meta => None,
        }
    }
}

/// The query (or queries) of a request and whether the multi-result wrapper
/// was asked for (the official JS client always sends `queryType=multi`).
struct Request {
    queries: Vec<Value>,
    multi: bool,
    kind: shape::QueryType,
}

/// Parse the request, plan it (`query::plan`: every policy step), then one
/// match on the endpoint that shapes or runs the plan.
pub async fn handle(
    app: &App,
    endpoint: Endpoint,
    parts: &Parts,
    body: Bytes,
    auth: &Authenticated,
    audit: Option<&mut audit::Record>,
) -> Result<Response<Body>, ApiError> {
    let mut audit = audit;
    let mut planned = || -> Result<(Request, std::sync::Arc<Plan>), ApiError> {
        let req = parse_request(parts, &body)?;
        if req.kind == shape::QueryType::Blending {
            shape::check_blending(&req.queries)?;
        }
        let planned = app.plan(&req.queries, auth);
        if let Some(a) = audit.as_deref_mut() {
            match &planned {
                Ok(plan) => a.plan(app, plan),
                // Who tried to read what they may not is the point of an
                // audit line: the refused member is named.
                Err(QueryError::MemberNotAllowed(member)) => a.members.push(member.clone()),
                Err(_) => {}
            }
        }
        let plan = planned.map_err(|e| cube_error(app, e))?;
        Ok((req, plan))
    };
    match endpoint {
        Endpoint::Meta => {
            let grants = app.policy.grants(&auth.context);
            let caller = app.policy.caller(&app.model, &auth.context);
            Ok(json_response(StatusCode::OK, &crate::query::meta::meta(&app.model, grants.as_ref(), &caller)))
        }
        Endpoint::DryRun => {
            let (req, plan) = planned()?;
            let mut normalized = echoes(&req, &plan);
            let pivot = shape::pivot_query(&req.queries, &normalized, req.kind);
            shape::mark_first(&mut normalized, req.kind);
            let order =
                plan.queries.iter().map(|p| shape::order_object(&shape::effective_order(&p.query))).collect::<Vec<_>>();
            let transformed = plan
                .queries
                .iter()
                .map(|p| crate::query::transformed::transformed_query(&app.model, &p.query))
                .collect::<Vec<_>>();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "queryType": query_type(&req),
                    "normalizedQueries": normalized,
                    "queryOrder": order,
                    "transformedQueries": transformed,
                    "pivotQuery": pivot,
                }),
            ))
        }
        Endpoint::Explain => {
            let (_, plan) = planned()?;
            Ok(json_response(StatusCode::OK, &explain(app, &plan, &auth.context)))
        }
        Endpoint::Sql => {
            let (req, plan) = planned()?;
            // Cube.js: `{sql}` for a regular query, `[{sql}, ...]` for a
            // blend or a compare query, whatever `queryType` says.
            let mut sqls: Vec<Value> = plan.queries.iter().map(|p| json!({"sql": sql_object(app, p)})).collect();
            let body = if req.kind == shape::QueryType::Regular {
                sqls.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(sqls)
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        Endpoint::Load => {
            let (req, plan) = planned()?;
            if !req.multi && req.kind != shape::QueryType::Regular {
                return Err(QueryError::Invalid(format!(
                    "'{}' query type is not supported by the client.Please update the client.",
                    req.kind.as_str()
                ))
                .into());
            }
            load(app, &req, &plan, audit).await
        }
    }
}

/// `explain`: the caller's groups, every access policy judged for them (on
/// the cubes and views the queries read), the members those hide or mask,
/// the row filters injected, the tenant and its data source, and the SQL
/// with its parameters: everything `/load` would decide, nothing run.
fn explain(app: &App, plan: &Plan, ctx: &crate::auth::SecurityContext) -> Value {
    use crate::query::access::Entity;
    let model = &app.model;
    let mut entities: Vec<Entity> = Vec::new();
    for p in &plan.queries {
        entities.extend(p.query.join.cubes().into_iter().map(Entity::Cube));
        entities.extend(p.query.refs().iter().filter_map(|r| r.view.map(|v| Entity::View(v.view))));
    }
    let mut seen = Vec::new();
    entities.retain(|e| {
        let fresh = !seen.contains(e);
        seen.push(*e);
        fresh
    });
    let policies: Vec<Value> = plan
        .judged
        .iter()
        .filter(|j| entities.contains(&j.entity))
        .map(|j| {
            json!({
                "on": j.entity.name(model),
                "type": match j.entity { Entity::Cube(_) => "cube", Entity::View(_) => "view" },
                "policy": j.index,
                "groups": j.groups,
                "matched": j.applies,
                "reason": j.reason,
            })
        })
        .collect();
    let caller = app.policy.caller(model, ctx);
    let hidden: Vec<String> = entities.iter().flat_map(|e| caller.hidden_members(*e)).collect();
    let mut masked = Vec::new();
    let mut filters = Vec::new();
    let mut denied = Vec::new();
    for p in &plan.queries {
        masked.extend(p.applied.masked.iter().cloned());
        filters.extend(p.applied.filters.iter().map(|(on, f)| json!({"on": on, "filter": f})));
        denied.extend(p.applied.denied.iter().cloned());
    }
    let data_source = match app.router.route(plan.tenant.as_deref()) {
        Some((crate::db::Route::Tenant(id), _)) => json!(format!("tenant:{id}")),
        Some((crate::db::Route::Default, _)) => json!("default"),
        None => Value::Null,
    };
    let mut sqls: Vec<Value> = plan
        .queries
        .iter()
        .map(|p| {
            json!({
                "sql": p.rendered.sql,
                "params": p.rendered.params.iter().map(crate::query::SqlValue::to_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sql = if sqls.len() > 1 { Value::Array(sqls) } else { sqls.pop().unwrap_or(Value::Null) };
    json!({
        "groups": plan.groups,
        "policies": policies,
        "hidden": hidden,
        "masked": masked,
        "filters": filters,
        "denied": denied,
        "tenant": plan.tenant,
        "data_source": data_source,
        "dialect": plan.dialect.name(),
        "sql": sql,
    })
}

/// Run a plan's queries on the tenant's data source (through the result
/// cache when enabled), within the request's budget, and answer in Cube.js's
/// `/load` shape.
async fn load(
    app: &App,
    req: &Request,
    plan: &Plan,
    mut audit: Option<&mut audit::Record>,
) -> Result<Response<Body>, ApiError> {
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
    let mut echoes = echoes(req, plan);
    let pivot = shape::pivot_query(&req.queries, &echoes, req.kind);
    if req.multi {
        shape::mark_first(&mut echoes, req.kind);
    }
    let blending = req.kind == shape::QueryType::Blending;
    for (i, (p, raw)) in plan.queries.iter().zip(&req.queries).enumerate() {
        let (q, r) = (&p.query, &p.rendered);
        // Cube.js's `renewQuery: true`: computed afresh, whatever is cached.
        let renew = raw.get("renewQuery").and_then(Value::as_bool) == Some(true);
        let columns = r.columns.len().max(1);
        // A statement reads at most what one request may hold, the same
        // for every request, so a result computed for one serves all; each
        // request then checks it against what its earlier queries left.
        let cap = data.max_rows().min(budget.max_cells / columns);
        // A blend's rows also carry `time.<granularity>` (Cube.js's
        // blending key); it is part of the written rows, so of the shape.
        let blend_key = if blending { shape::blending_time_key(raw) } else { None };
        let keys = column_keys(&r.columns, blend_key.as_ref());
        // A compare query's rows carry their range (`compareDateRange`),
        // written after the columns; part of the shape too.
        let tag = if req.kind == shape::QueryType::CompareDateRange {
            let value = echoes.get(i).and_then(shape::compare_date_range_value).unwrap_or_default();
            let mut t = b",\"compareDateRange\":".to_vec();
            write_str(&mut t, &value);
            t
        } else {
            Vec::new()
        };
        let mut shape = Vec::with_capacity(64);
        // How cells are written (2: a PostgreSQL int8 as a string), so a
        // shared cache never serves rows another version wrote differently.
        shape.push(ROWS_FORMAT);
        shape.extend_from_slice(&(cap as u64).to_le_bytes());
        shape.extend_from_slice(&(budget.max_bytes as u64).to_le_bytes());
        for (key, also) in &keys {
            for k in std::iter::once(key).chain(also) {
                shape.extend_from_slice(&(k.len() as u64).to_le_bytes());
                shape.extend_from_slice(k);
            }
            shape.extend_from_slice(&(also.len() as u64).to_le_bytes());
        }
        shape.extend_from_slice(&(tag.len() as u64).to_le_bytes());
        shape.extend_from_slice(&tag);
        // `responseFormat: "compact"` (not for a blend, as in Cube.js):
        // `data` is `{members, dataset}`.
        let layout = if !blending && raw.get("responseFormat").and_then(Value::as_str) == Some("compact") {
            let compare = (req.kind == shape::QueryType::CompareDateRange).then(|| {
                let value = echoes.get(i).and_then(shape::compare_date_range_value).unwrap_or_default();
                serde_json::to_vec(&value).unwrap_or_default()
            });
            let layout = compact_layout(&r.columns, compare);
            shape.push(b'c');
            shape.extend_from_slice(&layout.members);
            Layout::Compact(layout)
        } else {
            Layout::Rows { keys, tag }
        };
        let stmt = Statement { route, sql: &r.sql, params: &r.params, settings: &p.settings, shape: &shape };
        let compute = compute_rows(data, &stmt, cap, layout, budget.max_bytes);
        let fetched = match cached(app, data, &stmt, &p.cube, renew, compute).await {
            Err(Computed::Db(DbError::TooManyRows { .. })) if cap < data.max_rows() => {
                return Err(budget.cells_exceeded().into());
            }
            other => other.map_err(|e| e.into_api(&budget))?,
        };
        if let Some(a) = audit.as_deref_mut() {
            a.add_rows(fetched.stored.rows);
        }
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
        let echo = echoes.get(i).cloned().unwrap_or(Value::Null);
        let bytes = write_result(
            &echo,
            r,
            &segment_annotations(app, q),
            plan.dialect.name(),
            &total,
            fetched.stored.computed_at_ms,
            &fetched.stored.bytes,
        );
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

/// The version of [`write_cell`]'s output, part of a cached result's shape.
const ROWS_FORMAT: u8 = 2;

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
    layout: Layout,
    max_bytes: usize,
) -> Result<Stored, Computed> {
    let rows = data.query(stmt.sql, stmt.params, stmt.settings, cap).await?;
    let count = rows.rows.len();
    // Serializing up to tens of megabytes is CPU work: off the async
    // workers, so /livez and other requests keep answering.
    let written = tokio::task::spawn_blocking(move || match &layout {
        Layout::Rows { keys, tag } => write_rows(keys, tag, &rows, max_bytes),
        Layout::Compact(c) => write_compact(c, &rows, max_bytes),
    })
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
    req.kind.as_str()
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
    let mut kind = if raw.is_array() { shape::QueryType::Blending } else { shape::QueryType::Regular };
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
    // Cube.js expands a (single) query's compareDateRange before anything
    // else reads it.
    let queries = match queries.as_slice() {
        [one] if kind == shape::QueryType::Regular => match shape::expand_compare_date_range(one)? {
            Some(list) => {
                kind = shape::QueryType::CompareDateRange;
                list
            }
            None => queries,
        },
        _ => queries,
    };
    // One "now" for the request's relative date ranges.
    let now = jiff::Timestamp::now();
    let queries = queries.iter().map(|q| shape::prepare(q, now)).collect::<Result<Vec<_>, _>>()?;
    Ok(Request { queries, multi, kind })
}

/// Cube.js's `/sql` answer for one query (`CompilerApi.getSql`): the SQL
/// and its parameters are tenantgate's own; the rest is derived as Cube.js
/// derives it.
fn sql_object(app: &App, p: &Planned) -> Value {
    let r = &p.rendered;
    let alias_to_member: Map<String, Value> = r.columns.iter().map(|c| (c.alias.clone(), json!(c.member))).collect();
    let mut sql = json!({
        "sql": [r.sql, r.params.iter().map(crate::query::SqlValue::to_json).collect::<Vec<_>>()],
        "lambdaQueries": {},
        "order": shape::order_object(&shape::effective_order(&p.query)),
        "cacheKeyQueries": cache_key_queries(app, p),
        "dataSource": "default",
        "aliasNameToMember": alias_to_member,
        "canUseTransformedQuery": crate::query::transformed::transformed_query(&app.model, &p.query),
        "external": false,
        "preAggregations": [],
    });
    // Cube.js names the query's first time dimension, with a granularity
    // or not (`timeDimensions[0].unescapedAliasName()`).
    if let Some(td) = p.query.time_dimensions.first() {
        sql["timeDimensionAlias"] = json!(crate::query::render::time_dimension_alias(&app.model, td));
        sql["timeDimensionField"] = json!(td.name);
    }
    sql
}

/// Cube.js's `cacheKeyQueries` (`[sql, params, {external,
/// renewalThreshold}]` per refresh key) as tenantgate runs them: with the
/// result cache on, the query's cube's `sql` refresh key, checked every
/// `renewalThreshold` seconds. An `every` key (and the default) is a time to
/// live that runs no query, and without the cache nothing runs: no entry.
fn cache_key_queries(app: &App, p: &Planned) -> Value {
    use crate::cache::refresh_key::RefreshKey;
    let Some(cache) = &app.cache else { return json!([]) };
    match cache.refresh_key(&p.cube) {
        Some(RefreshKey::Sql { sql, check }) => {
            json!([[sql, [], {"external": false, "renewalThreshold": check.as_secs().max(1)}]])
        }
        Some(RefreshKey::Every(_)) | None => json!([]),
    }
}

/// A column's key in `data`, escaped once (`"Orders.count":`), and the
/// other names it also answers to: the plain name of a granular time
/// dimension, and a blend's `time.<granularity>`.
type ColumnKey = (Vec<u8>, Vec<Vec<u8>>);

/// `blend_key` is a blend's `(member, "time.<granularity>")`: that
/// member's column is written once more under the blend's key.
fn column_keys(columns: &[crate::query::Column], blend_key: Option<&(String, String)>) -> Vec<ColumnKey> {
    let key = |name: &str| {
        let mut k = serde_json::to_vec(name).unwrap_or_default();
        k.push(b':');
        k
    };
    columns
        .iter()
        .map(|c| {
            let mut also: Vec<Vec<u8>> = c.also.as_deref().map(key).into_iter().collect();
            if let Some((member, time)) = blend_key
                && *member == c.member
            {
                also.push(key(time));
            }
            (key(&c.member), also)
        })
        .collect()
}

/// One `/load` result as JSON bytes, written straight from the query, the
/// rendered columns and the stored rows, with no `Value` built on the way
/// (the envelope and its annotation were most of a cached request's time).
/// The keys come in the order a `serde_json::Map` sorts them, `data` last,
/// as before. `lastRefreshTime` is when the rows were computed (a cached
/// result's time, not the request's).
fn write_result(
    query: &Value,
    r: &Rendered,
    segments: &Value,
    db_type: &str,
    total: &Value,
    computed_at_ms: i64,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    out.extend_from_slice(b"{\"annotation\":");
    write_annotation(&mut out, r, segments);
    out.extend_from_slice(b",\"dataSource\":\"default\",\"dbType\":");
    write_str(&mut out, db_type);
    // No `extDbType`: Cube.js sends it only with an external database.
    out.extend_from_slice(b",\"external\":false,\"lastRefreshTime\":");
    write_str(&mut out, &crate::db::iso_utc_millis(computed_at_ms));
    out.extend_from_slice(b",\"query\":");
    write_json(&mut out, query);
    out.extend_from_slice(b",\"slowQuery\":false,\"total\":");
    write_json(&mut out, total);
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

/// `annotation.segments`: each segment the query names, under that name,
/// with Cube.js's titles (`Orders Completed`, `Completed`).
fn segment_annotations(app: &App, q: &Query) -> Value {
    let mut segments = Map::new();
    for named in &q.segments {
        let Some(cube) = app.model.cubes.get(named.id.cube) else { continue };
        if let crate::query::model::MemberRef::Segment(i) = named.id.member
            && let Some(s) = cube.segments.get(i)
        {
            let entry = json!({"title": format!("{} {}", cube.title, s.title), "shortTitle": s.title});
            segments.insert(named.name.clone(), entry);
        }
    }
    Value::Object(segments)
}

/// Cube.js's `annotation`: measures, dimensions and time dimensions (a
/// granular one under both its names) by member name, sorted and each name
/// once, as a map would hold them.
fn write_annotation(out: &mut Vec<u8>, r: &Rendered, segments: &Value) {
    let mut measures = Vec::new();
    let mut dimensions = Vec::new();
    let mut time_dimensions = Vec::new();
    for col in &r.columns {
        match (col.kind, &col.also) {
            (ColumnKind::Measure(kind), _) => measures.push((col.member.as_str(), col, kind.reported_type())),
            (ColumnKind::Dimension(kind), None) => dimensions.push((col.member.as_str(), col, kind.as_str())),
            (ColumnKind::Dimension(kind), Some(also)) => {
                time_dimensions.push((col.member.as_str(), col, kind.as_str()));
                time_dimensions.push((also.as_str(), col, kind.as_str()));
            }
        }
    }
    let section = |out: &mut Vec<u8>, entries: &mut Vec<(&str, &crate::query::Column, &str)>, measure: bool| {
        // A map keeps the last value under a name.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut kept: Vec<&(&str, &crate::query::Column, &str)> = Vec::with_capacity(entries.len());
        for e in entries.iter() {
            match kept.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => kept.push(e),
            }
        }
        out.push(b'{');
        for (i, (name, col, kind)) in kept.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, name);
            out.extend_from_slice(b":{");
            if measure {
                out.extend_from_slice(
                    b"\"drillMembers\":[],\"drillMembersGrouped\":{\"dimensions\":[],\"measures\":[]},",
                );
            }
            out.extend_from_slice(b"\"shortTitle\":");
            write_str(out, &col.short_title);
            out.extend_from_slice(b",\"title\":");
            write_str(out, &col.title);
            out.extend_from_slice(b",\"type\":");
            write_str(out, kind);
            out.push(b'}');
        }
        out.push(b'}');
    };
    out.extend_from_slice(b"{\"dimensions\":");
    section(out, &mut dimensions, false);
    out.extend_from_slice(b",\"measures\":");
    section(out, &mut measures, true);
    out.extend_from_slice(b",\"segments\":");
    write_json(out, segments);
    out.extend_from_slice(b",\"timeDimensions\":");
    section(out, &mut time_dimensions, false);
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// How `data` is written: Cube.js's rows (objects, each key escaped once
/// per column, and a compare query's tag) or its compact form.
enum Layout {
    Rows { keys: Vec<ColumnKey>, tag: Vec<u8> },
    Compact(Compact),
}

/// `responseFormat: "compact"` as Cube.js's `getMembers`/`getCompactRow`
/// write it: `members` names each column (a granular time dimension under
/// both its names), then `compareDateRange`; each row the values in that
/// order.
struct Compact {
    /// The JSON array of member names.
    members: Vec<u8>,
    /// How many names each column has (its value is written that often).
    repeats: Vec<usize>,
    /// A compare query's range, as JSON, after the columns.
    compare: Option<Vec<u8>>,
}

fn compact_layout(columns: &[crate::query::Column], compare: Option<Vec<u8>>) -> Compact {
    let mut names: Vec<&str> = Vec::new();
    let mut repeats = Vec::with_capacity(columns.len());
    for c in columns {
        names.push(&c.member);
        names.extend(c.also.as_deref());
        repeats.push(1 + usize::from(c.also.is_some()));
    }
    if compare.is_some() {
        names.push("compareDateRange");
    }
    Compact { members: serde_json::to_vec(&names).unwrap_or_default(), repeats, compare }
}

/// `{members, dataset}`, written straight from the cells; no members
/// without rows, as in Cube.js. `None` once past `max_bytes`.
fn write_compact(c: &Compact, rows: &Rows, max_bytes: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"members\":");
    if rows.rows.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.extend_from_slice(&c.members);
    }
    out.extend_from_slice(b",\"dataset\":[");
    for (i, row) in rows.rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        let mut first = true;
        for (cell, n) in row.iter().zip(&c.repeats) {
            for _ in 0..*n {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_cell(&mut out, cell);
            }
        }
        if let Some(tag) = &c.compare {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(tag);
        }
        out.push(b']');
        if out.len() > max_bytes {
            return None;
        }
    }
    out.extend_from_slice(b"]}");
    (out.len() <= max_bytes).then_some(out)
}

/// `data` as a JSON array written straight from the driver's cells, each
/// key escaped once per column (no map per row, no name copied per cell).
/// `None` once the bytes would pass `max_bytes`.
fn write_rows(keys: &[ColumnKey], tag: &[u8], rows: &Rows, max_bytes: usize) -> Option<Vec<u8>> {
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
        // `tag` starts with a comma: a compare query always has a column.
        out.extend_from_slice(tag);
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

/// A row's cell as Cube.js's driver returns it: [`cell_json`], except that
/// a PostgreSQL `int8` is always a string (node-pg's), as exact decimals
/// (`numeric`) are. Written without building a `Value`.
fn write_cell(out: &mut Vec<u8>, cell: &Cell) {
    const SAFE: i64 = 1 << 53;
    let _ = match cell {
        Cell::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Cell::Int(i) if (-SAFE..=SAFE).contains(i) => serde_json::to_writer(&mut *out, i),
        Cell::Int(i) | Cell::Int8(i) => serde_json::to_writer(&mut *out, &i.to_string()),
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
/// precision silently. (Rows are written by [`write_cell`].)
pub fn cell_json(cell: &Cell) -> Value {
    const SAFE: i64 = 1 << 53;
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) if (-SAFE..=SAFE).contains(i) => json!(i),
        Cell::Int(i) => json!(i.to_string()),
        // Cube.js's `total` is a number whatever the driver returns.
        Cell::Int8(i) => cell_json(&Cell::Int(*i)),
        Cell::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => json!(b),
        Cell::Text(s) => json!(s),
        Cell::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope as it was built before `write_result` wrote it
    /// directly, its keys sorted by the map and `data` added last: the
    /// bytes must be the same.
    fn reference_envelope(
        query: &Value,
        r: &Rendered,
        segments: &Value,
        db_type: &str,
        total: Value,
        computed_at_ms: i64,
    ) -> Value {
        // In the order a sorted map held them (objects keep insertion
        // order: serde_json's `preserve_order`).
        json!({
            "annotation": sorted(annotation(r, segments)),
            "dataSource": "default",
            "dbType": db_type,
            "external": false,
            "lastRefreshTime": crate::db::iso_utc_millis(computed_at_ms),
            "query": query,
            "slowQuery": false,
            "total": total,
        })
    }

    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            other => other,
        }
    }

    fn reference_bytes(envelope: &Value, data: &[u8]) -> Vec<u8> {
        let mut out = serde_json::to_vec(envelope).expect("JSON");
        out.pop();
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data);
        out.push(b'}');
        out
    }

    fn annotation(r: &Rendered, segments: &Value) -> Value {
        let mut measures = Map::new();
        let mut dimensions = Map::new();
        let mut time_dimensions = Map::new();
        for col in &r.columns {
            let (title, short) = (&col.title, &col.short_title);
            match col.kind {
                ColumnKind::Measure(kind) => {
                    let entry = json!({
                        "title": title, "shortTitle": short, "type": kind.reported_type(),
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
        json!({"measures": measures, "dimensions": dimensions, "segments": segments, "timeDimensions": time_dimensions})
    }

    #[test]
    fn a_result_written_directly_is_the_envelope_it_replaced() {
        use crate::query::Column;
        use crate::query::model::{DimensionType, MeasureType};
        let col = |member: &str, also: Option<&str>, kind, title: &str| Column {
            alias: format!("a_{member}"),
            member: member.into(),
            also: also.map(str::to_owned),
            kind,
            title: title.into(),
            short_title: format!("short \"{title}\""),
        };
        let r = Rendered {
            sql: "SELECT 1".into(),
            params: Vec::new(),
            columns: vec![
                col("Orders.status", None, ColumnKind::Dimension(DimensionType::String), "Orders Status"),
                col("Orders.count", None, ColumnKind::Measure(MeasureType::Count), "Orders Count"),
                col("Orders.amount", None, ColumnKind::Measure(MeasureType::Sum), "Orders \\ Amount é"),
                col(
                    "Orders.createdAt.day",
                    Some("Orders.createdAt"),
                    ColumnKind::Dimension(DimensionType::Time),
                    "Orders Created at",
                ),
                col("Orders.count", None, ColumnKind::Measure(MeasureType::Count), "Orders Count again"),
            ],
            total_sql: String::new(),
        };
        let query = json!({"measures": ["Orders.count"], "limit": 10});
        let data = br#"[{"Orders.count":1}]"#;
        for total in [Value::Null, json!(42)] {
            let segments = json!({"Orders.done": {"shortTitle": "Done", "title": "Orders Done"}});
            let bytes = write_result(&query, &r, &segments, "postgres", &total, 1_709_648_521_123, data);
            let want = reference_envelope(&query, &r, &segments, "postgres", total.clone(), 1_709_648_521_123);
            assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&reference_bytes(&want, data)));
        }
        let empty = Rendered { columns: Vec::new(), ..r };
        let none = json!({});
        let bytes = write_result(&query, &empty, &none, "sqlite", &Value::Null, 0, b"[]");
        let want = reference_envelope(&query, &empty, &none, "sqlite", Value::Null, 0);
        assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&reference_bytes(&want, b"[]")));
    }

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

    #[test]
    fn a_postgres_int8_is_written_as_a_string_as_node_pg_returns_it() {
        let written = |c: Cell| {
            let mut out = Vec::new();
            write_cell(&mut out, &c);
            String::from_utf8(out).unwrap_or_default()
        };
        assert_eq!(written(Cell::Int8(30)), "\"30\"");
        assert_eq!(written(Cell::Int8(-5)), "\"-5\"");
        assert_eq!(written(Cell::Int(30)), "30");
        assert_eq!(cell_json(&Cell::Int8(30)), json!(30), "total stays a number");
    }
}
