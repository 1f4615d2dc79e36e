//! The renderer: a pure function of (model, query, security context,
//! dialect) to SQL text and parameters. No I/O.
//!
//! The shape is Cube.js's: the cube's SQL as a subquery aliased by the
//! cube's snake-case name, members aliased `cube__member`:
//! `SELECT count(*) "orders__count" FROM (SELECT ...) AS "orders" LIMIT 10000`.

use serde_json::Value;

use super::model::{Cube, CubeSource, DimensionType, MeasureType, Model, snake_case};
use super::request::{Filter, Granularity, MemberRef, Operator, Query, short};
use super::template::{ContextOp, Piece};
use super::{Dialect, QueryError, SqlValue};
use crate::auth::{Resolved, SecurityContext};
use crate::context_path::ContextPath;

/// What the renderer may do beyond the safe defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Cube.js's `1 = 1` for a missing security-context value.
    pub missing_filter_allows_all: bool,
}

/// One output column: its SQL alias and the member name(s) it answers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub alias: String,
    pub member: String,
    /// A granular time dimension also answers to its plain name.
    pub also: Option<String>,
    pub kind: ColumnKind,
    /// Cube.js's annotation: `Orders Count` and `Count`.
    pub title: String,
    pub short_title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Measure(MeasureType),
    Dimension(DimensionType),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub sql: String,
    pub params: Vec<SqlValue>,
    pub columns: Vec<Column>,
    /// Cube.js's `total: true`: the same query without limit and offset,
    /// counted (same parameters).
    pub total_sql: String,
}

struct Ctx<'a> {
    cube: &'a Cube,
    dialect: Dialect,
    params: Vec<SqlValue>,
}

impl Ctx<'_> {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        self.dialect.placeholder(self.params.len())
    }

    fn alias(&self) -> String {
        self.dialect.quote(&self.cube.alias)
    }

    /// Member SQL with `{CUBE}` resolved; a bare column is qualified, and
    /// any other expression parenthesized so operators around it bind as
    /// written (`(x IS NOT NULL) = $1`).
    fn member_sql(&self, sql: &str) -> String {
        let alias = self.alias();
        if super::model::is_member_name(sql) {
            return format!("{alias}.{sql}");
        }
        let resolved = sql.replace("{CUBE.", &format!("{alias}.")).replace("{CUBE}", &alias).replace('}', "");
        let column = resolved.strip_prefix(&format!("{alias}.")).is_some_and(super::model::is_member_name);
        if column { resolved } else { format!("({resolved})") }
    }
}

/// Bound values per statement, below both databases' limits.
pub const MAX_BOUND_VALUES: usize = 10_000;

pub fn render(
    model: &Model,
    q: &Query,
    ctx: &SecurityContext,
    dialect: Dialect,
    opts: RenderOptions,
) -> Result<Rendered, QueryError> {
    let cube = &model.cubes[q.cube];
    let mut cx = Ctx { cube, dialect, params: Vec::new() };
    let mut select = Vec::new();
    let mut columns = Vec::new();
    let mut group = 0;

    for (i, name) in &q.dimensions {
        let d = &cube.dimensions[*i];
        let alias = member_alias(cube, &d.name, None);
        select.push(format!("{} {}", cx.member_sql(&d.sql), dialect.quote(&alias)));
        columns.push(Column {
            alias,
            member: name.clone(),
            also: None,
            kind: ColumnKind::Dimension(d.kind),
            title: format!("{} {}", cube.title, d.title),
            short_title: d.title.clone(),
        });
        group += 1;
    }
    for td in &q.time_dimensions {
        let Some(g) = td.granularity else { continue };
        let d = &cube.dimensions[td.dimension];
        let alias = member_alias(cube, &d.name, Some(g));
        select.push(format!("{} {}", dialect.truncate(g, &cx.member_sql(&d.sql)), dialect.quote(&alias)));
        columns.push(Column {
            alias,
            member: format!("{}.{}", td.name, g.as_str()),
            also: Some(td.name.clone()),
            kind: ColumnKind::Dimension(DimensionType::Time),
            title: format!("{} {}", cube.title, d.title),
            short_title: d.title.clone(),
        });
        group += 1;
    }
    for (i, name) in &q.measures {
        let m = &cube.measures[*i];
        let alias = member_alias(cube, &m.name, None);
        select.push(format!("{} {}", measure_sql(&cx, *i), dialect.quote(&alias)));
        columns.push(Column {
            alias,
            member: name.clone(),
            also: None,
            kind: ColumnKind::Measure(m.kind),
            title: format!("{} {}", cube.title, m.title),
            short_title: m.title.clone(),
        });
    }

    // Parameters are numbered in text order: FROM, WHERE, HAVING.
    let from = from_sql(&mut cx, ctx, opts)?;
    let mut where_parts = Vec::new();
    for td in &q.time_dimensions {
        if let Some((a, b)) = &td.date_range {
            let d = &cube.dimensions[td.dimension];
            let col = dialect.time_operand(&cx.member_sql(&d.sql));
            let pa = cx.bind(SqlValue::Text(a.clone()));
            let pb = cx.bind(SqlValue::Text(b.clone()));
            where_parts.push(format!("{col} >= {} AND {col} <= {}", dialect.time_param(&pa), dialect.time_param(&pb)));
        }
    }
    for s in &q.segments {
        where_parts.push(cx.member_sql(&cube.segments[*s].sql));
    }
    let (dim_filters, measure_filters): (Vec<&Filter>, Vec<&Filter>) =
        q.filters.iter().partition(|f| !references_measure(f));
    for f in dim_filters {
        where_parts.push(filter_sql(&mut cx, f)?);
    }
    let mut having = Vec::new();
    for f in measure_filters {
        having.push(filter_sql(&mut cx, f)?);
    }

    let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
    if !where_parts.is_empty() {
        sql.push_str(&format!(" WHERE {}", where_parts.join(" AND ")));
    }
    if group > 0 {
        sql.push_str(&format!(" GROUP BY {}", (1..=group).map(|n| n.to_string()).collect::<Vec<_>>().join(", ")));
    }
    if !having.is_empty() {
        sql.push_str(&format!(" HAVING {}", having.join(" AND ")));
    }
    let order = order_by(q, &columns, group > 0);
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    // Both databases cap a statement's parameters (SQLite 32,766,
    // PostgreSQL 65,535, where going over also drops the connection):
    // refused here, before any SQL runs.
    if cx.params.len() > MAX_BOUND_VALUES {
        return Err(QueryError::Invalid(format!(
            "the query binds {} values; a query may bind {MAX_BOUND_VALUES} at most",
            cx.params.len()
        )));
    }
    let total_sql = format!("SELECT count(*) {} FROM ({sql}) AS {}", dialect.quote("total"), dialect.quote("q"));
    sql.push_str(&format!(" LIMIT {}", q.limit));
    if q.offset > 0 {
        sql.push_str(&format!(" OFFSET {}", q.offset));
    }
    Ok(Rendered { sql, params: cx.params, columns, total_sql })
}

/// `orders__total_amount`, `orders__created_at_day`.
pub fn member_alias(cube: &Cube, member: &str, g: Option<Granularity>) -> String {
    let mut a = format!("{}__{}", cube.alias, snake_case(member));
    if let Some(g) = g {
        a.push('_');
        a.push_str(g.as_str());
    }
    a
}

fn measure_sql(cx: &Ctx<'_>, i: usize) -> String {
    let m = &cx.cube.measures[i];
    let expr = m.sql.as_deref().map(|s| cx.member_sql(s));
    let cond =
        (!m.filters.is_empty()).then(|| m.filters.iter().map(|f| cx.member_sql(f)).collect::<Vec<_>>().join(" AND "));
    // Measure filters wrap the aggregated value in CASE, as Cube.js does.
    let wrap = |e: String| match &cond {
        Some(c) => format!("CASE WHEN {c} THEN {e} END"),
        None => e,
    };
    match m.kind {
        MeasureType::Count => match (&expr, &cond) {
            (None, None) => "count(*)".to_string(),
            (None, Some(_)) => format!("count({})", wrap("1".into())),
            (Some(e), _) => format!("count({})", wrap(e.clone())),
        },
        MeasureType::CountDistinct => format!("count(distinct {})", wrap(expr.unwrap_or_else(|| "1".into()))),
        MeasureType::Sum => format!("sum({})", wrap(expr.unwrap_or_default())),
        MeasureType::Avg => format!("avg({})", wrap(expr.unwrap_or_default())),
        MeasureType::Min => format!("min({})", wrap(expr.unwrap_or_default())),
        MeasureType::Max => format!("max({})", wrap(expr.unwrap_or_default())),
        MeasureType::Number => expr.unwrap_or_default(),
    }
}

fn from_sql(cx: &mut Ctx<'_>, ctx: &SecurityContext, opts: RenderOptions) -> Result<String, QueryError> {
    let alias = cx.alias();
    let pieces = match &cx.cube.source {
        CubeSource::Table(t) => return Ok(format!("{t} AS {alias}")),
        CubeSource::Sql(p) => p,
    };
    let mut sql = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => sql.push_str(t),
            Piece::Context { path, op } => sql.push_str(&context_sql(cx, ctx, path, op, opts)?),
        }
    }
    Ok(format!("({sql}) AS {alias}"))
}

/// A security-context template: `col = $n`, `col IN (...)`, `1 = 0` for an
/// empty array; missing or null fails closed unless configured otherwise.
/// Present values such as 0, false and "" are real values.
fn context_sql(
    cx: &mut Ctx<'_>,
    ctx: &SecurityContext,
    path: &ContextPath,
    op: &ContextOp,
    opts: RenderOptions,
) -> Result<String, QueryError> {
    let missing = || QueryError::MissingSecurityContext { path: path.to_string(), cube: cx.cube.name.clone() };
    let (column, required) = match op {
        ContextOp::Filter { column } => (column, false),
        ContextOp::RequiredFilter { column } => (column, true),
        ContextOp::UnsafeValue => {
            return match ctx.resolve(path) {
                Resolved::Missing => Err(missing()),
                Resolved::Scalar(v) => unsafe_literal(v, path),
                Resolved::List(_) | Resolved::Invalid(_) => Err(QueryError::InvalidSecurityContext(format!(
                    "security context value '{path}' must be a string, number or boolean for unsafeValue()"
                ))),
            };
        }
    };
    match ctx.resolve(path) {
        Resolved::Missing if !required && opts.missing_filter_allows_all => Ok("1 = 1".into()),
        Resolved::Missing => Err(missing()),
        Resolved::List([]) => Ok("1 = 0".into()),
        Resolved::List(items) => {
            let ph: Vec<String> = items.iter().map(|v| cx.bind(scalar(v))).collect();
            Ok(format!("{column} IN ({})", ph.join(", ")))
        }
        Resolved::Scalar(v) => {
            let p = cx.bind(scalar(v));
            Ok(format!("{column} = {p}"))
        }
        Resolved::Invalid(_) => Err(invalid_context(path)),
    }
}

/// The security context holds something no filter can use.
pub fn invalid_context(path: &ContextPath) -> QueryError {
    QueryError::InvalidSecurityContext(format!(
        "security context value '{path}' must be a string, number, boolean or an array of them"
    ))
}

/// A resolved scalar (string, number or boolean) as a bound value.
pub fn scalar(v: &Value) -> SqlValue {
    match v {
        Value::Bool(b) => SqlValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        _ => SqlValue::Null,
    }
}

/// `.unsafeValue()`: allowed only by `dangerous_allow_unsafe_value`. Even
/// then a string is quoted as a SQL literal, never pasted raw.
fn unsafe_literal(v: &Value, path: &ContextPath) -> Result<String, QueryError> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "TRUE".into() } else { "FALSE".into() }),
        Value::String(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
        _ => Err(QueryError::InvalidSecurityContext(format!(
            "security context value '{path}' must be a string, number or boolean for unsafeValue()"
        ))),
    }
}

fn references_measure(f: &Filter) -> bool {
    match f {
        Filter::Member { member, .. } => matches!(member, MemberRef::Measure(_)),
        Filter::And(list) | Filter::Or(list) => list.iter().any(references_measure),
    }
}

fn filter_sql(cx: &mut Ctx<'_>, f: &Filter) -> Result<String, QueryError> {
    match f {
        Filter::And(list) | Filter::Or(list) => {
            let joiner = if matches!(f, Filter::And(_)) { " AND " } else { " OR " };
            if list.is_empty() {
                return Ok(if matches!(f, Filter::And(_)) { "1 = 1".into() } else { "1 = 0".into() });
            }
            let parts = list.iter().map(|f| filter_sql(cx, f)).collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", parts.join(joiner)))
        }
        Filter::Member { member, name, operator, values } => {
            let (expr, kind) = match member {
                MemberRef::Dimension(i) => {
                    let d = &cx.cube.dimensions[*i];
                    (cx.member_sql(&d.sql), Some(d.kind))
                }
                MemberRef::Measure(i) => (measure_sql(cx, *i), None),
                MemberRef::Segment(_) => return Err(QueryError::Invalid(format!("{} is a segment", short(name)))),
            };
            member_filter(cx, &expr, kind, name, *operator, values)
        }
    }
}

/// A filter value typed by its member: numbers for number dimensions and
/// measures, booleans for boolean dimensions, text otherwise.
fn typed(v: &Value, kind: Option<DimensionType>, member: &str) -> Result<SqlValue, QueryError> {
    let bad = || QueryError::Invalid(format!("{} is not a valid value for {}", short(&v.to_string()), short(member)));
    match kind {
        None | Some(DimensionType::Number) => match v {
            Value::Number(n) => {
                Ok(n.as_i64().map_or_else(|| SqlValue::Float(n.as_f64().unwrap_or(f64::NAN)), SqlValue::Int))
            }
            Value::String(s) => {
                let s = s.trim();
                if let Ok(i) = s.parse::<i64>() {
                    Ok(SqlValue::Int(i))
                } else {
                    s.parse::<f64>().ok().filter(|f| f.is_finite()).map(SqlValue::Float).ok_or_else(bad)
                }
            }
            _ => Err(bad()),
        },
        Some(DimensionType::Boolean) => match v {
            Value::Bool(b) => Ok(SqlValue::Bool(*b)),
            Value::String(s) if s == "true" || s == "false" => Ok(SqlValue::Bool(s == "true")),
            _ => Err(bad()),
        },
        Some(DimensionType::Time) => {
            let s = v.as_str().ok_or_else(bad)?;
            super::request::widen_date(s, false).map(SqlValue::Text).ok_or_else(bad)
        }
        Some(DimensionType::String) => match v {
            Value::String(s) => Ok(SqlValue::Text(s.clone())),
            Value::Number(n) => Ok(SqlValue::Text(n.to_string())),
            Value::Bool(b) => Ok(SqlValue::Text(b.to_string())),
            _ => Err(bad()),
        },
    }
}

/// The n-th filter value; the request check guarantees the count, this keeps
/// the renderer total for any `Query` it is given.
fn nth(values: &[Value], n: usize) -> Result<&Value, QueryError> {
    values.get(n).ok_or_else(|| QueryError::Invalid("the filter has too few values".into()))
}

fn like_pattern(v: &Value, prefix: bool, suffix: bool) -> SqlValue {
    let raw = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // Wildcards in the value are literal characters.
    let escaped = raw.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    SqlValue::Text(format!("{}{escaped}{}", if prefix { "%" } else { "" }, if suffix { "%" } else { "" }))
}

fn member_filter(
    cx: &mut Ctx<'_>,
    expr: &str,
    kind: Option<DimensionType>,
    member: &str,
    op: Operator,
    values: &[Value],
) -> Result<String, QueryError> {
    let dialect = cx.dialect;
    let is_time = kind == Some(DimensionType::Time);
    let col = if is_time { dialect.time_operand(expr) } else { expr.to_string() };
    let one = |cx: &mut Ctx<'_>, v: &Value| -> Result<String, QueryError> {
        let p = cx.bind(typed(v, kind, member)?);
        Ok(if is_time { dialect.time_param(&p) } else { p })
    };
    Ok(match op {
        Operator::Equals | Operator::NotEquals => {
            let ph = values.iter().map(|v| one(cx, v)).collect::<Result<Vec<_>, _>>()?;
            let positive = match ph.as_slice() {
                [one] => format!("{col} = {one}"),
                [] => return Err(QueryError::Invalid("the filter has no values".into())),
                many => format!("{col} IN ({})", many.join(", ")),
            };
            if op == Operator::Equals {
                positive
            } else if let [one] = ph.as_slice() {
                format!("({col} <> {one} OR {col} IS NULL)")
            } else {
                format!("({col} NOT IN ({}) OR {col} IS NULL)", ph.join(", "))
            }
        }
        Operator::Contains | Operator::NotContains | Operator::StartsWith | Operator::EndsWith => {
            let (prefix, suffix) = match op {
                Operator::StartsWith => (false, true),
                Operator::EndsWith => (true, false),
                _ => (true, true),
            };
            let negate = op == Operator::NotContains;
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    let p = cx.bind(like_pattern(v, prefix, suffix));
                    format!("{col} {} {p} ESCAPE '\\'", dialect.like(negate))
                })
                .collect();
            if negate {
                format!("(({}) OR {col} IS NULL)", parts.join(" AND "))
            } else {
                format!("({})", parts.join(" OR "))
            }
        }
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
            let sym = match op {
                Operator::Gt => ">",
                Operator::Gte => ">=",
                Operator::Lt => "<",
                _ => "<=",
            };
            format!("{col} {sym} {}", one(cx, nth(values, 0)?)?)
        }
        Operator::Set => format!("{col} IS NOT NULL"),
        Operator::NotSet => format!("{col} IS NULL"),
        Operator::InDateRange | Operator::NotInDateRange | Operator::BeforeDate | Operator::AfterDate => {
            if !is_time {
                return Err(QueryError::Invalid(format!(
                    "date operators need a time dimension, not {}",
                    short(member)
                )));
            }
            let date = |cx: &mut Ctx<'_>, v: &Value, end: bool| -> Result<String, QueryError> {
                let s = v
                    .as_str()
                    .and_then(|s| super::request::widen_date(s, end))
                    .ok_or_else(|| QueryError::Invalid(format!("{} is not a date", short(&v.to_string()))))?;
                let p = cx.bind(SqlValue::Text(s));
                Ok(dialect.time_param(&p))
            };
            match op {
                Operator::InDateRange => {
                    let (a, b) = (date(cx, nth(values, 0)?, false)?, date(cx, nth(values, 1)?, true)?);
                    format!("({col} >= {a} AND {col} <= {b})")
                }
                Operator::NotInDateRange => {
                    let (a, b) = (date(cx, nth(values, 0)?, false)?, date(cx, nth(values, 1)?, true)?);
                    format!("({col} < {a} OR {col} > {b})")
                }
                Operator::BeforeDate => format!("{col} < {}", date(cx, nth(values, 0)?, false)?),
                _ => format!("{col} > {}", date(cx, nth(values, 0)?, true)?),
            }
        }
    })
}

/// Explicit order, else Cube.js's default for grouped queries: the first
/// granular time dimension ascending, else the first measure descending,
/// else the first dimension ascending.
fn order_by(q: &Query, columns: &[Column], grouped: bool) -> Vec<String> {
    let position = |member: &str| {
        columns.iter().position(|c| c.member == member || c.also.as_deref() == Some(member)).map(|i| i + 1)
    };
    if !q.order.is_empty() {
        return q
            .order
            .iter()
            .filter_map(|(m, desc)| position(m).map(|p| format!("{p} {}", if *desc { "DESC" } else { "ASC" })))
            .collect();
    }
    if !grouped {
        return Vec::new();
    }
    if let Some(i) = columns.iter().position(|c| c.also.is_some()) {
        return vec![format!("{} ASC", i + 1)];
    }
    if let Some(i) = columns.iter().position(|c| matches!(c.kind, ColumnKind::Measure(_))) {
        return vec![format!("{} DESC", i + 1)];
    }
    vec!["1 ASC".into()]
}

/// Data-driven golden tests: each `tests/golden/render/*.json` holds a
/// query, a security context and the expected SQL and parameters for both
/// dialects (or the expected error). `UPDATE_GOLDEN=1 cargo test golden`
/// rewrites the expectations; review the diff before committing it.
#[cfg(test)]
mod golden {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::query::model::{ModelOptions, load_dir};

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/render")
    }

    fn outcome(model: &Model, case: &Value, dialect: Dialect) -> Value {
        let opts = RenderOptions {
            missing_filter_allows_all: case["options"]["missing_filter_allows_all"].as_bool().unwrap_or(false),
        };
        let claims = crate::auth::provider::VerifiedClaims::dangerous_assume_verified(case["context"].clone())
            .expect("context is an object");
        let ctx = SecurityContext::from_verified(claims, None, &[]).expect("context");
        let result = Query::parse(&case["query"], model).and_then(|q| render(model, &q, &ctx, dialect, opts));
        match result {
            Ok(r) => json!({"sql": r.sql, "params": r.params.iter().map(SqlValue::to_json).collect::<Vec<_>>()}),
            Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
        }
    }

    #[test]
    fn rendered_sql_matches_the_golden_files_for_both_dialects() {
        let model = load_dir(&dir().join("model"), ModelOptions::default()).expect("golden model loads");
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let mut files: Vec<_> = std::fs::read_dir(dir())
            .expect("golden dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(files.len() >= 10, "golden cases missing");
        let mut failures = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            let mut case: Value = serde_json::from_str(&text).expect("golden JSON");
            for (key, dialect) in [("sqlite", Dialect::Sqlite), ("postgres", Dialect::Postgres)] {
                let got = outcome(&model, &case, dialect);
                if update {
                    case[key] = got;
                } else if case[key] != got {
                    failures.push(format!("{} [{key}]\n  want {}\n  got  {}", file.display(), case[key], got));
                }
            }
            if update {
                let pretty = serde_json::to_string_pretty(&case).expect("json") + "\n";
                std::fs::write(&file, pretty).expect("write golden");
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
