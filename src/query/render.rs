//! The renderer: a pure function of (model, query, security context,
//! dialect) to SQL text and parameters. No I/O.
//!
//! The shape is Cube.js's: the cube's SQL as a subquery aliased by the
//! cube's snake-case name, members aliased `cube__member`:
//! `SELECT count(*) "orders__count" FROM (SELECT ...) AS "orders" LIMIT 10000`.

use serde_json::Value;

use super::access::Mask;
use super::join::Edge;
use super::model::{Cube, CubeSource, DimensionType, JoinPiece, MeasureType, MemberId, Model, snake_case};
use super::request::{Filter, Granularity, MemberRef, Operator, Query, Ref, short};
use super::template::{ContextOp, Piece};
use super::{Dialect, QueryError, SqlValue};
use crate::auth::{Resolved, SecurityContext};
use crate::context_path::ContextPath;

mod cumulative;

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
    model: &'a Model,
    q: &'a Query,
    sec: &'a SecurityContext,
    opts: RenderOptions,
    dialect: Dialect,
    params: Vec<SqlValue>,
    /// The query joins cubes: counts count primary keys (a LEFT JOIN leaves
    /// rows with no row of the counted cube), and forced filters go into
    /// their cube's own subquery.
    joined: bool,
    /// In the outer query of a fan-out, measures are columns of the
    /// subqueries: (measure, its alias).
    measure_refs: Option<Vec<(MemberId, String)>>,
}

impl Ctx<'_> {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        self.dialect.placeholder(self.params.len())
    }

    fn cube(&self, c: usize) -> &Cube {
        &self.model.cubes[c]
    }

    fn alias(&self, c: usize) -> String {
        self.dialect.quote(&self.cube(c).alias)
    }

    /// Member SQL with `{CUBE}` resolved to the member's cube; a bare
    /// column is qualified, and any other expression parenthesized so
    /// operators around it bind as written (`(x IS NOT NULL) = $1`).
    fn member_sql(&self, c: usize, sql: &str) -> String {
        let alias = self.alias(c);
        if super::model::is_member_name(sql) {
            return format!("{alias}.{sql}");
        }
        let resolved = sql.replace("{CUBE.", &format!("{alias}.")).replace("{CUBE}", &alias).replace('}', "");
        let column = resolved.strip_prefix(&format!("{alias}.")).is_some_and(super::model::is_member_name);
        if column { resolved } else { format!("({resolved})") }
    }

    fn dimension_sql(&self, c: usize, i: usize) -> String {
        self.member_sql(c, &self.cube(c).dimensions[i].sql)
    }

    /// The primary key's SQL and alias; the model guarantees one for every
    /// cube a join can multiply, this keeps the renderer total.
    fn primary_key(&self, c: usize) -> Result<(usize, String, String), QueryError> {
        let cube = self.cube(c);
        let i = cube.primary_key().ok_or_else(|| {
            QueryError::Invalid(format!("cube {} needs a primary_key dimension to be joined", cube.name))
        })?;
        Ok((i, self.dimension_sql(c, i), member_alias(cube, &cube.dimensions[i].name, None)))
    }
}

/// Bound values per statement, below both databases' limits.
pub const MAX_BOUND_VALUES: usize = 10_000;

/// A dimension column of the query: its SQL and its alias.
struct DimSelect {
    sql: String,
    alias: String,
}

pub fn render(
    model: &Model,
    q: &Query,
    ctx: &SecurityContext,
    dialect: Dialect,
    opts: RenderOptions,
) -> Result<Rendered, QueryError> {
    let joined = !q.join.edges.is_empty();
    let mut cx = Ctx { model, q, sec: ctx, opts, dialect, params: Vec::new(), joined, measure_refs: None };
    let mut columns = Vec::new();
    let mut dims = Vec::new();

    for n in &q.dimensions {
        let MemberRef::Dimension(i) = n.id.member else { continue };
        let d = &cx.cube(n.id.cube).dimensions[i];
        let (alias, title, short_title) = labels(model, n.as_ref(), None);
        columns.push(Column {
            alias: alias.clone(),
            member: n.name.clone(),
            also: None,
            kind: ColumnKind::Dimension(d.kind),
            title,
            short_title,
        });
        let sql = match mask_sql(&cx, n.id) {
            Some(mask) => mask,
            None => {
                let sql = cx.dimension_sql(n.id.cube, i);
                if d.kind == DimensionType::Time { dialect.time_value(&sql) } else { sql }
            }
        };
        dims.push(DimSelect { sql, alias });
    }
    // The zone's name, bound once, for every bucket (never SQL text).
    let mut tz_param: Option<String> = None;
    for td in &q.time_dimensions {
        let (Some(g), MemberRef::Dimension(i)) = (td.granularity, td.dimension.member) else { continue };
        if tz_param.is_none()
            && let Some(z) = &q.timezone
        {
            tz_param = Some(cx.bind(SqlValue::Text(z.name.clone())));
        }
        let (alias, title, short_title) = labels(model, Ref { id: td.dimension, view: td.view }, Some(g));
        columns.push(Column {
            alias: alias.clone(),
            member: format!("{}.{}", td.name, g.as_str()),
            also: Some(td.name.clone()),
            kind: ColumnKind::Dimension(DimensionType::Time),
            title,
            short_title,
        });
        let sql = mask_sql(&cx, td.dimension)
            .unwrap_or_else(|| dialect.truncate(g, &cx.dimension_sql(td.dimension.cube, i), tz_param.as_deref()));
        dims.push(DimSelect { sql, alias });
    }
    for n in &q.measures {
        let MemberRef::Measure(i) = n.id.member else { continue };
        let m = &cx.cube(n.id.cube).measures[i];
        let (alias, title, short_title) = labels(model, n.as_ref(), None);
        columns.push(Column {
            alias,
            member: n.name.clone(),
            also: None,
            kind: ColumnKind::Measure(m.kind),
            title,
            short_title,
        });
    }

    let measure_filters: Vec<&Filter> = q.filters.iter().chain(&q.forced).filter(|f| references_measure(f)).collect();
    let mut measures: Vec<MemberId> = q.measures.iter().map(|n| n.id).collect();
    for f in &measure_filters {
        let mut ids = Vec::new();
        f.members(&mut ids);
        for id in ids {
            if !measures.contains(&id) {
                measures.push(id);
            }
        }
    }
    let mut sql = if let Some(sql) =
        cumulative::render(&mut cx, tz_param.as_deref(), &dims, &columns, &measures, &measure_filters)?
    {
        sql
    } else if measures.iter().any(|m| needs_keys(&cx, *m)) {
        fan_out(&mut cx, &dims, &columns, &measures, &measure_filters)?
    } else {
        simple(&mut cx, &dims, &columns, &measure_filters)?
    };
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

/// One statement over the join tree: `SELECT dims, measures FROM tree
/// WHERE ... GROUP BY ... HAVING ... ORDER BY ...`. Parameters are numbered
/// in text order: FROM, WHERE, HAVING.
fn simple(
    cx: &mut Ctx<'_>,
    dims: &[DimSelect],
    columns: &[Column],
    measure_filters: &[&Filter],
) -> Result<String, QueryError> {
    let q = cx.q;
    let mut select: Vec<String> = dims.iter().map(|d| format!("{} {}", d.sql, cx.dialect.quote(&d.alias))).collect();
    for n in &q.measures {
        let alias = columns.iter().find(|c| c.member == n.name).map_or_else(String::new, |c| c.alias.clone());
        select.push(format!("{} {}", measure_select(cx, n.id)?, cx.dialect.quote(&alias)));
    }
    let from = tree_sql(cx)?;
    let where_parts = where_parts(cx)?;
    let mut having = Vec::new();
    for f in measure_filters {
        having.push(filter_sql(cx, f)?);
    }
    let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
    push_where(&mut sql, &where_parts);
    if !dims.is_empty() && !q.ungrouped {
        sql.push_str(&group_by(dims.len()));
    }
    if !having.is_empty() {
        sql.push_str(&format!(" HAVING {}", having.join(" AND ")));
    }
    // No default order for an ungrouped query, as in Cube.js.
    let order = order_by(cx, columns, !dims.is_empty() && !q.ungrouped)?;
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Ok(sql)
}

fn group_by(n: usize) -> String {
    format!(" GROUP BY {}", (1..=n).map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
}

/// Cube.js's fan-out shape (`fullKeyQueryAggregate`): the measures a join
/// does not repeat are aggregated over the tree in one subquery; those of
/// each multiplied cube over that cube's own rows, reached through the
/// distinct (dimensions, primary key) pairs of the tree (a keys subquery
/// joined back on the primary key). The subqueries are joined on the
/// dimensions, NULL matching NULL.
fn fan_out(
    cx: &mut Ctx<'_>,
    dims: &[DimSelect],
    columns: &[Column],
    measures: &[MemberId],
    measure_filters: &[&Filter],
) -> Result<String, QueryError> {
    let q = cx.q;
    let dialect = cx.dialect;
    let mut seen = std::collections::HashSet::new();
    if !dims.iter().all(|d| seen.insert(d.alias.as_str())) {
        return Err(QueryError::Invalid("a query over multiplied cubes may name each dimension once".into()));
    }
    let mut unique = Vec::new();
    for m in measures {
        if !unique.contains(m) {
            unique.push(*m);
        }
    }
    let (regular, multiplied): (Vec<MemberId>, Vec<MemberId>) = unique.iter().partition(|m| !needs_keys(cx, **m));
    let sorted_cubes = |ms: &[MemberId]| {
        let mut c: Vec<usize> = ms.iter().map(|m| m.cube).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let mut groups: Vec<(usize, Vec<MemberId>)> = Vec::new();
    let mut main = None;
    // Cube.js: when the regular measures come from the multiplied cubes
    // only, each cube is read once, all its measures through its keys (in
    // the query's order, so a lone subquery's columns are the result's).
    let keyed: Vec<MemberId> = if !regular.is_empty() && sorted_cubes(&regular) == sorted_cubes(&multiplied) {
        unique.clone()
    } else {
        if !regular.is_empty() {
            main = Some(regular.clone());
        }
        multiplied.clone()
    };
    for m in keyed {
        match groups.iter_mut().find(|(c, _)| *c == m.cube) {
            Some((_, list)) => list.push(m),
            None => groups.push((m.cube, vec![m])),
        }
    }
    let mut subqueries = Vec::new();
    if let Some(list) = main {
        subqueries.push(grouped_subquery(cx, dims, &list, measure_select)?);
    }
    for (cube, list) in &groups {
        subqueries.push(keyed_subquery(cx, dims, *cube, list)?);
    }

    let distinct_measures = {
        let mut seen = std::collections::HashSet::new();
        q.measures.iter().all(|n| seen.insert(n.id))
    };
    if subqueries.len() == 1 && measure_filters.is_empty() && distinct_measures && unique.len() == q.measures.len() {
        let mut sql = subqueries.remove(0);
        let order = order_by(cx, columns, !dims.is_empty())?;
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        return Ok(sql);
    }
    let mut sql = combine(cx, dims, &subqueries);
    if !measure_filters.is_empty() {
        cx.measure_refs = Some(unique.iter().map(|m| (*m, dialect.quote(&subquery_alias(cx, *m)))).collect());
        let mut parts = Vec::new();
        for f in measure_filters {
            parts.push(filter_sql(cx, f)?);
        }
        cx.measure_refs = None;
        sql.push_str(&format!(" WHERE {}", parts.join(" AND ")));
    }
    let order = order_by(cx, columns, !dims.is_empty())?;
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Ok(sql)
}

/// A measure's column in the subqueries: as the query first names it (a
/// view member answers under the view's alias), or its own.
fn subquery_alias(cx: &Ctx<'_>, m: MemberId) -> String {
    if let Some(n) = cx.q.measures.iter().find(|n| n.id == m) {
        return labels(cx.model, n.as_ref(), None).0;
    }
    let cube = cx.cube(m.cube);
    let MemberRef::Measure(i) = m.member else { return String::new() };
    member_alias(cube, &cube.measures[i].name, None)
}

/// `measures` over the query's tree, grouped by the dimensions: one of the
/// subqueries [`combine`] puts side by side.
fn grouped_subquery(
    cx: &mut Ctx<'_>,
    dims: &[DimSelect],
    measures: &[MemberId],
    measure: fn(&Ctx<'_>, MemberId) -> Result<String, QueryError>,
) -> Result<String, QueryError> {
    let dialect = cx.dialect;
    let mut select: Vec<String> = dims.iter().map(|d| format!("{} {}", d.sql, dialect.quote(&d.alias))).collect();
    for m in measures {
        select.push(format!("{} {}", measure(cx, *m)?, dialect.quote(&subquery_alias(cx, *m))));
    }
    let from = tree_sql(cx)?;
    let where_parts = where_parts(cx)?;
    let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
    push_where(&mut sql, &where_parts);
    if !dims.is_empty() {
        sql.push_str(&group_by(dims.len()));
    }
    Ok(sql)
}

/// Subqueries that each answer some of the query's measures by the same
/// dimensions, side by side: `SELECT q_0.dims, measures FROM (q_0) INNER
/// JOIN (q_1) ON the dimensions (NULL matching NULL) ...`, or a cross join
/// of single rows without dimensions.
fn combine(cx: &Ctx<'_>, dims: &[DimSelect], subqueries: &[String]) -> String {
    let dialect = cx.dialect;
    let sub = |i: usize| dialect.quote(&format!("q_{i}"));
    let mut select: Vec<String> = dims.iter().map(|d| format!("{}.{}", sub(0), dialect.quote(&d.alias))).collect();
    select.extend(cx.q.measures.iter().map(|n| {
        let inner = dialect.quote(&subquery_alias(cx, n.id));
        let outer = dialect.quote(&labels(cx.model, n.as_ref(), None).0);
        format!("{inner} {outer}")
    }));
    let mut sql = format!("SELECT {} FROM ", select.join(", "));
    for (i, s) in subqueries.iter().enumerate() {
        if i == 0 {
            sql.push_str(&format!("({s}) AS {}", sub(0)));
        } else if dims.is_empty() {
            sql.push_str(&format!(", ({s}) AS {}", sub(i)));
        } else {
            let on: Vec<String> = dims
                .iter()
                .map(|d| {
                    let (l, r) = (
                        format!("{}.{}", sub(i - 1), dialect.quote(&d.alias)),
                        format!("{}.{}", sub(i), dialect.quote(&d.alias)),
                    );
                    format!("({l} = {r} OR ({l} IS NULL AND {r} IS NULL))")
                })
                .collect();
            sql.push_str(&format!(" INNER JOIN ({s}) AS {} ON {}", sub(i), on.join(" AND ")));
        }
    }
    sql
}

/// The measures of one multiplied cube over its own rows: the distinct
/// (dimensions, primary key) pairs of the filtered tree, joined back to the
/// cube on its primary key, grouped by the dimensions.
fn keyed_subquery(
    cx: &mut Ctx<'_>,
    dims: &[DimSelect],
    cube: usize,
    measures: &[MemberId],
) -> Result<String, QueryError> {
    let dialect = cx.dialect;
    let keys = dialect.quote("keys");
    let (_, pk_sql, pk_alias) = cx.primary_key(cube)?;
    let mut key_cols: Vec<String> = dims.iter().map(|d| format!("{} {}", d.sql, dialect.quote(&d.alias))).collect();
    if !dims.iter().any(|d| d.alias == pk_alias) {
        key_cols.push(format!("{pk_sql} {}", dialect.quote(&pk_alias)));
    }
    let mut select: Vec<String> = dims.iter().map(|d| format!("{keys}.{}", dialect.quote(&d.alias))).collect();
    for m in measures {
        select.push(format!("{} {}", measure_select(cx, *m)?, dialect.quote(&subquery_alias(cx, *m))));
    }
    let tree = tree_sql(cx)?;
    let where_parts = where_parts(cx)?;
    let mut inner = format!("SELECT DISTINCT {} FROM {tree}", key_cols.join(", "));
    push_where(&mut inner, &where_parts);
    let from = cube_from(cx, cube)?;
    let mut sql = format!(
        "SELECT {} FROM ({inner}) AS {keys} LEFT JOIN {from} ON {keys}.{} = {pk_sql}",
        select.join(", "),
        dialect.quote(&pk_alias)
    );
    if !dims.is_empty() {
        sql.push_str(&group_by(dims.len()));
    }
    Ok(sql)
}

/// ` WHERE a AND b` after `sql`, when there are conditions.
fn push_where(sql: &mut String, conditions: &[String]) {
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
}

/// The query's WHERE conditions: date ranges, segments, the client's
/// dimension filters and, for a single cube, the forced ones.
fn where_parts(cx: &mut Ctx<'_>) -> Result<Vec<String>, QueryError> {
    let q = cx.q;
    let dialect = cx.dialect;
    let mut parts = Vec::new();
    for td in &q.time_dimensions {
        if let (Some((a, b)), MemberRef::Dimension(i)) = (&td.date_range, td.dimension.member) {
            let col = dialect.time_operand(&cx.dimension_sql(td.dimension.cube, i));
            let pa = cx.bind(SqlValue::Text(utc(q, a)?));
            let pb = cx.bind(SqlValue::Text(utc(q, b)?));
            parts.push(format!("{col} >= {} AND {col} <= {}", dialect.time_param(&pa), dialect.time_param(&pb)));
        }
    }
    for s in &q.segments {
        if let MemberRef::Segment(i) = s.id.member {
            parts.push(cx.member_sql(s.id.cube, &cx.cube(s.id.cube).segments[i].sql));
        }
    }
    let forced: &[Filter] = if cx.joined { &[] } else { &q.forced };
    for f in q.filters.iter().chain(forced).chain(&q.forced_where).filter(|f| !references_measure(f)) {
        parts.push(filter_sql(cx, f)?);
    }
    // A cube whose access policies none apply to the caller: no rows, as
    // Cube.js answers (`rlsAccessDenied`).
    if q.deny {
        parts.push("1 = 0".to_string());
    }
    Ok(parts)
}

/// A local time of the query's zone as the UTC instant to bind (Cube.js's
/// `inDbTimeZone`); unchanged in UTC.
fn utc(q: &Query, local: &str) -> Result<String, QueryError> {
    match &q.timezone {
        None => Ok(local.to_string()),
        Some(z) => z
            .local_to_utc(local)
            .ok_or_else(|| QueryError::Invalid(format!("{} is not a time in {}", short(local), short(&z.name)))),
    }
}

/// Whether a measure must be aggregated through its cube's keys: its cube
/// is multiplied and its aggregate would count repeated rows (Cube.js
/// exempts counts of rows and distinct counts, which count distinct keys).
fn needs_keys(cx: &Ctx<'_>, m: MemberId) -> bool {
    let MemberRef::Measure(i) = m.member else { return false };
    if !cx.q.join.is_multiplied(m.cube) {
        return false;
    }
    let measure = &cx.cube(m.cube).measures[i];
    !(matches!((measure.kind, &measure.sql), (MeasureType::Count, None))
        || measure.kind == MeasureType::CountDistinct
        || is_count_star(measure.kind, measure.sql.as_deref()))
}

fn is_count_star(kind: MeasureType, sql: Option<&str>) -> bool {
    kind == MeasureType::Number && sql.is_some_and(|s| s.trim().eq_ignore_ascii_case("count(*)"))
}

/// The join tree: the root cube, then each join as a LEFT JOIN with its
/// declaring cube on the left.
fn tree_sql(cx: &mut Ctx<'_>) -> Result<String, QueryError> {
    let q = cx.q;
    let mut sql = cube_from(cx, q.join.root)?;
    for e in &q.join.edges {
        let from = cube_from(cx, e.to)?;
        let on = on_sql(cx, e);
        sql.push_str(&format!(" LEFT JOIN {from} ON {on}"));
    }
    Ok(sql)
}

fn on_sql(cx: &Ctx<'_>, e: &Edge) -> String {
    cx.cube(e.from).joins[e.join]
        .on
        .iter()
        .map(|p| match p {
            JoinPiece::Text(t) => t.clone(),
            JoinPiece::Alias(c) => cx.alias(*c),
            JoinPiece::Dimension(c, d) => cx.dimension_sql(*c, *d),
        })
        .collect()
}

/// Cube.js's `unescapedAliasName` of a time dimension (`/sql`'s
/// `timeDimensionAlias`): its column's alias, by `day` when it has no
/// granularity.
pub fn time_dimension_alias(model: &Model, td: &super::request::TimeDimension) -> String {
    labels(model, Ref { id: td.dimension, view: td.view }, Some(td.granularity.unwrap_or(Granularity::Day))).0
}

/// The column of a member as the query names it: its alias
/// (`orders__count`, `sales__count` through view `Sales`), title and short
/// title.
fn labels(model: &Model, r: Ref, g: Option<Granularity>) -> (String, String, String) {
    let (alias, title, name, member_title) = model.ref_labels(r);
    let mut a = format!("{alias}__{}", snake_case(name));
    if let Some(g) = g {
        a.push('_');
        a.push_str(g.as_str());
    }
    (a, format!("{title} {member_title}"), member_title.to_string())
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

/// A masked member's SQL (access policies' `member_masking`): its `mask:`
/// as an SQL literal or its `{sql: ...}`, else NULL. The literal comes
/// from the model, never from a client or a token.
fn mask_sql(cx: &Ctx<'_>, id: MemberId) -> Option<String> {
    let (_, mask) = cx.q.masks.iter().find(|(m, _)| *m == id)?;
    Some(match mask {
        Mask::Sql(sql) => cx.member_sql(id.cube, sql),
        Mask::Literal(Value::Bool(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Mask::Literal(Value::Number(n)) => n.to_string(),
        Mask::Literal(Value::String(s)) => format!("'{}'", s.replace('\'', "''")),
        Mask::Literal(_) => "NULL".to_string(),
    })
}

/// A measure as a result column: a `time` measure's value in the shape
/// Cube.js's API gives every `time` member (`transformValue`).
fn measure_select(cx: &Ctx<'_>, id: MemberId) -> Result<String, QueryError> {
    let sql = measure_sql(cx, id)?;
    let time = match id.member {
        MemberRef::Measure(i) => cx.cube(id.cube).measures[i].kind == MeasureType::Time,
        _ => false,
    };
    Ok(if time { cx.dialect.time_value(&sql) } else { sql })
}

fn measure_sql(cx: &Ctx<'_>, id: MemberId) -> Result<String, QueryError> {
    let MemberRef::Measure(i) = id.member else {
        return Err(QueryError::Invalid("not a measure".into()));
    };
    if let Some((_, alias)) = cx.measure_refs.as_ref().and_then(|refs| refs.iter().find(|(m, _)| *m == id)) {
        return Ok(alias.clone());
    }
    if let Some(mask) = mask_sql(cx, id) {
        return Ok(mask);
    }
    let c = id.cube;
    let m = &cx.cube(c).measures[i];
    let expr = match m.sql.as_deref() {
        Some(s) if !m.refs.is_empty() => Some(with_refs(cx, c, s, &m.refs)?),
        Some(s) => Some(cx.member_sql(c, s)),
        None => None,
    };
    // Cube.js's ungrouped measure: the row's value, a count's is 1 (the
    // request check refuses measures with `filters` here).
    if cx.q.ungrouped {
        return Ok(match (m.kind, expr) {
            (MeasureType::Count | MeasureType::CountDistinct | MeasureType::CountDistinctApprox, _) | (_, None) => {
                "1".to_string()
            }
            (_, Some(e)) => e,
        });
    }
    let cond = (!m.filters.is_empty())
        .then(|| m.filters.iter().map(|f| cx.member_sql(c, f)).collect::<Vec<_>>().join(" AND "));
    // Measure filters wrap the aggregated value in CASE, as Cube.js does.
    let wrap = |e: String| match &cond {
        Some(c) => format!("CASE WHEN {c} THEN {e} END"),
        None => e,
    };
    let multiplied = cx.q.join.is_multiplied(c);
    let distinct = if multiplied { "distinct " } else { "" };
    Ok(match m.kind {
        // In a join, a count counts the cube's primary keys (distinct when
        // the join repeats them): a LEFT JOIN leaves rows without the cube.
        MeasureType::Count if cx.joined && expr.is_none() => {
            let (_, pk, _) = cx.primary_key(c)?;
            format!("count({distinct}{})", wrap(pk))
        }
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
        MeasureType::RunningTotal => format!("sum({})", wrap(expr.unwrap_or_default())),
        MeasureType::Number if multiplied && is_count_star(m.kind, m.sql.as_deref()) => {
            let (_, pk, _) = cx.primary_key(c)?;
            format!("count(distinct {pk})")
        }
        // Already an aggregate, as Cube.js renders it (its measure filters
        // wrap it in CASE too).
        MeasureType::Number | MeasureType::String | MeasureType::Time | MeasureType::Boolean => {
            wrap(expr.unwrap_or_default())
        }
        // Cube.js's SQLite query has no HyperLogLog and says so; its
        // PostgreSQL query calls the `hll` extension's functions, which a
        // database without it refuses. Refused here on both: never an
        // exact count in its place.
        MeasureType::CountDistinctApprox => return Err(QueryError::NotSupportedByDb(APPROX_NOT_SUPPORTED)),
    })
}

/// Cube.js's words (`BaseQuery.countDistinctApprox`).
pub const APPROX_NOT_SUPPORTED: &str = "Approximate distinct count is not supported by this DB";

/// A measure's sql with the members it names rendered in place, as Cube.js
/// evaluates them: a measure as its own aggregate (its filters and mask
/// included), a dimension as its sql; `{CUBE}` and `{CUBE.column}` as in
/// any member sql. Parenthesized, so operators around it bind as written.
fn with_refs(cx: &Ctx<'_>, c: usize, sql: &str, refs: &[super::model::SqlRef]) -> Result<String, QueryError> {
    let alias = cx.alias(c);
    let mut out = String::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&rest[..open]);
        let token = &rest[open..=open + close];
        let inner = &token[1..token.len() - 1];
        match refs.iter().find(|r| r.text == token).map(|r| r.member) {
            Some(MemberRef::Measure(j)) => {
                out.push_str(&measure_sql(cx, MemberId { cube: c, member: MemberRef::Measure(j) })?)
            }
            Some(MemberRef::Dimension(j)) => out.push_str(&cx.dimension_sql(c, j)),
            Some(MemberRef::Segment(_)) => return Err(QueryError::Invalid("a measure's sql names a segment".into())),
            None if inner == "CUBE" => out.push_str(&alias),
            None => out.push_str(&format!("{alias}.{}", inner.strip_prefix("CUBE.").unwrap_or(inner))),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(format!("({out})"))
}

/// A cube's relation in FROM: `table AS "alias"` or `(sql) AS "alias"`,
/// its security-context templates bound. In a join, the rules forced on the
/// cube go inside, so they restrict this cube's rows wherever it is read
/// (the tree, a keys subquery, the join back on the primary key).
fn cube_from(cx: &mut Ctx<'_>, c: usize) -> Result<String, QueryError> {
    let alias = cx.alias(c);
    let model = cx.model;
    let base = match &model.cubes[c].source {
        CubeSource::Table(t) => format!("{t} AS {alias}"),
        CubeSource::Sql(pieces) => {
            let mut sql = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => sql.push_str(t),
                    Piece::Context { path, op } => sql.push_str(&context_sql(cx, c, path, op)?),
                }
            }
            format!("({sql}) AS {alias}")
        }
    };
    if !cx.joined {
        return Ok(base);
    }
    let q = cx.q;
    let mut conditions = Vec::new();
    for f in q.forced.iter().filter(|f| !references_measure(f) && filter_cube(f) == Some(c)) {
        conditions.push(filter_sql(cx, f)?);
    }
    if conditions.is_empty() {
        return Ok(base);
    }
    Ok(format!("(SELECT * FROM {base} WHERE {}) AS {alias}", conditions.join(" AND ")))
}

/// The cube a (forced) filter is about.
fn filter_cube(f: &Filter) -> Option<usize> {
    match f {
        Filter::Member { member, .. } => Some(member.cube),
        Filter::And(l) | Filter::Or(l) => l.first().and_then(filter_cube),
    }
}

/// A security-context template: `col = $n`, `col IN (...)`, `1 = 0` for an
/// empty array; missing or null fails closed unless configured otherwise.
/// Present values such as 0, false and "" are real values.
fn context_sql(cx: &mut Ctx<'_>, cube: usize, path: &ContextPath, op: &ContextOp) -> Result<String, QueryError> {
    let (ctx, opts) = (cx.sec, cx.opts);
    let missing = || QueryError::MissingSecurityContext { path: path.to_string(), cube: cx.cube(cube).name.clone() };
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
        Filter::Member { operator: Operator::MeasureFilter, .. } => false,
        Filter::Member { member, .. } => matches!(member.member, MemberRef::Measure(_)),
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
        Filter::Member { member, operator: Operator::MeasureFilter, .. } => {
            // The measure's own row filters, as Cube.js's
            // measureFilterToWhere: none is no condition.
            let MemberRef::Measure(i) = member.member else {
                return Err(QueryError::Invalid("measureFilter applies to measures only".into()));
            };
            let m = &cx.cube(member.cube).measures[i];
            if m.filters.is_empty() {
                return Ok("1 = 1".into());
            }
            let parts: Vec<String> = m.filters.iter().map(|f| cx.member_sql(member.cube, f)).collect();
            Ok(format!("({})", parts.join(" AND ")))
        }
        Filter::Member { member, name, operator, values, .. } => {
            let (expr, kind) = match member.member {
                MemberRef::Dimension(i) => {
                    (cx.dimension_sql(member.cube, i), Some(cx.cube(member.cube).dimensions[i].kind))
                }
                // Values of a calculated measure are typed as its type says.
                MemberRef::Measure(i) => (
                    measure_sql(cx, *member)?,
                    match cx.cube(member.cube).measures[i].kind {
                        MeasureType::String => Some(DimensionType::String),
                        MeasureType::Time => Some(DimensionType::Time),
                        MeasureType::Boolean => Some(DimensionType::Boolean),
                        _ => None,
                    },
                ),
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
            // Cube.js's equalsWhere/notEqualsWhere: `null` among the values
            // is IS NULL (IS NOT NULL), the others are bound.
            let has_null = values.iter().any(Value::is_null);
            let ph = values.iter().filter(|v| !v.is_null()).map(|v| one(cx, v)).collect::<Result<Vec<_>, _>>()?;
            let positive = op == Operator::Equals;
            match (ph.as_slice(), has_null, positive) {
                ([], false, _) => return Err(QueryError::Invalid("the filter has no values".into())),
                ([], true, true) => format!("{col} IS NULL"),
                ([], true, false) => format!("{col} IS NOT NULL"),
                ([one], false, true) => format!("{col} = {one}"),
                (many, false, true) => format!("{col} IN ({})", many.join(", ")),
                (many, true, true) => format!("({col} IN ({}) OR {col} IS NULL)", many.join(", ")),
                ([one], false, false) => format!("({col} <> {one} OR {col} IS NULL)"),
                (many, false, false) => format!("({col} NOT IN ({}) OR {col} IS NULL)", many.join(", ")),
                (many, true, false) => format!("{col} NOT IN ({})", many.join(", ")),
            }
        }
        Operator::Contains
        | Operator::NotContains
        | Operator::StartsWith
        | Operator::NotStartsWith
        | Operator::EndsWith
        | Operator::NotEndsWith => {
            let (prefix, suffix) = match op {
                Operator::StartsWith | Operator::NotStartsWith => (false, true),
                Operator::EndsWith | Operator::NotEndsWith => (true, false),
                _ => (true, true),
            };
            let negate = matches!(op, Operator::NotContains | Operator::NotStartsWith | Operator::NotEndsWith);
            // Cube.js's likeOr: a `null` value adds `OR col IS NULL` to the
            // positive forms and drops it from the negative ones.
            let has_null = values.iter().any(Value::is_null);
            let parts: Vec<String> = values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| {
                    let p = cx.bind(like_pattern(v, prefix, suffix));
                    format!("{col} {} {p} ESCAPE '\\'", dialect.like(negate))
                })
                .collect();
            match (parts.is_empty(), negate, has_null) {
                (true, false, _) => format!("{col} IS NULL"),
                (true, true, _) => format!("{col} IS NOT NULL"),
                (false, true, false) => format!("(({}) OR {col} IS NULL)", parts.join(" AND ")),
                (false, true, true) => format!("({})", parts.join(" AND ")),
                (false, false, true) => format!("(({}) OR {col} IS NULL)", parts.join(" OR ")),
                (false, false, false) => format!("({})", parts.join(" OR ")),
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
        Operator::InDateRange
        | Operator::NotInDateRange
        | Operator::OnTheDate
        | Operator::BeforeDate
        | Operator::BeforeOrOnDate
        | Operator::AfterDate
        | Operator::AfterOrOnDate => {
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
                let p = cx.bind(SqlValue::Text(utc(cx.q, &s)?));
                Ok(dialect.time_param(&p))
            };
            // Cube.js's BaseFilter: a range is [start of its first value,
            // end of its second]; the one-value operators compare with the
            // start of their value (`afterDate ["2024-06-20"]` is after
            // 2024-06-20T00:00:00.000).
            match op {
                Operator::InDateRange | Operator::OnTheDate => {
                    let (a, b) = (date(cx, nth(values, 0)?, false)?, date(cx, nth(values, 1)?, true)?);
                    format!("({col} >= {a} AND {col} <= {b})")
                }
                Operator::NotInDateRange => {
                    let (a, b) = (date(cx, nth(values, 0)?, false)?, date(cx, nth(values, 1)?, true)?);
                    format!("({col} < {a} OR {col} > {b})")
                }
                Operator::BeforeDate => format!("{col} < {}", date(cx, nth(values, 0)?, false)?),
                Operator::BeforeOrOnDate => format!("{col} <= {}", date(cx, nth(values, 0)?, false)?),
                Operator::AfterDate => format!("{col} > {}", date(cx, nth(values, 0)?, false)?),
                _ => format!("{col} >= {}", date(cx, nth(values, 0)?, false)?),
            }
        }
        Operator::MeasureFilter => return Err(QueryError::Invalid("measureFilter is a measure's own filters".into())),
    })
}

/// Explicit order, else Cube.js's default for grouped queries: the first
/// granular time dimension ascending, else the first measure descending,
/// else the first dimension ascending.
fn order_by(cx: &Ctx<'_>, columns: &[Column], grouped: bool) -> Result<Vec<String>, QueryError> {
    let q = cx.q;
    let position = |member: &str| {
        columns.iter().position(|c| c.member == member || c.also.as_deref() == Some(member)).map(|i| i + 1)
    };
    if !q.order.is_empty() {
        let mut out = Vec::with_capacity(q.order.len());
        for (m, desc) in &q.order {
            let dir = if *desc { "DESC" } else { "ASC" };
            if let Some(p) = position(m) {
                out.push(format!("{p} {dir}"));
            } else if let Some(n) = q.order_only.iter().find(|n| n.name == *m) {
                // Not selected: ordered by its expression (model SQL only).
                let expr = match n.id.member {
                    MemberRef::Measure(_) => measure_sql(cx, n.id)?,
                    MemberRef::Dimension(i) => cx.dimension_sql(n.id.cube, i),
                    MemberRef::Segment(_) => continue,
                };
                out.push(format!("{expr} {dir}"));
            }
        }
        return Ok(out);
    }
    if !grouped {
        return Ok(Vec::new());
    }
    if let Some(i) = columns.iter().position(|c| c.also.is_some()) {
        return Ok(vec![format!("{} ASC", i + 1)]);
    }
    if let Some(i) = columns.iter().position(|c| matches!(c.kind, ColumnKind::Measure(_))) {
        return Ok(vec![format!("{} DESC", i + 1)]);
    }
    Ok(vec!["1 ASC".into()])
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
            Ok(r) => json!({"params": r.params.iter().map(SqlValue::to_json).collect::<Vec<_>>(), "sql": r.sql}),
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
