//! Cumulative measures (`rolling_window`, `type: running_total`), rendered
//! as Cube.js 0.33 renders them (`BaseQuery`'s `overTimeSeriesQuery`,
//! `rollingWindowDateJoinCondition`, `runningTotalDateJoinCondition`).
//!
//! With a granular time dimension, each cumulative measure is one
//! subquery: the time series of the query's buckets (computed here and
//! bound, never client text) LEFT JOINed to a base query, which reads the
//! cubes as any query does (each cube's SQL with its security-context
//! filter, the rules, the filters and segments) but with the date range
//! replaced by the span of every window, grouped by the dimensions and the
//! time at the finer of the query's and the window's granularity (or, for
//! an aggregate that does not add up, `avg` and `count_distinct`, one row
//! per row). Each bucket then aggregates the base rows its window holds.
//! Without a granularity, the measure is aggregated over the one window of
//! the date range; without a time dimension, over every row, as Cube.js
//! does. Regular measures are one more subquery, and the subqueries are
//! joined on the dimensions (INNER JOIN, as Cube.js's
//! `joinFullKeyQueryAggregate`).

use super::*;
use crate::query::model::{Cumulative, Interval, Window};

/// Buckets of a time series: two bound values each, so with the rest of a
/// query it stays under [`MAX_BOUND_VALUES`].
pub const MAX_TIME_SERIES: usize = 4_000;

/// The measure's window, when it is cumulative and not answered as a mask.
fn window<'a>(cx: &Ctx<'a>, m: MemberId) -> Option<&'a Cumulative> {
    let model: &'a Model = cx.model;
    let MemberRef::Measure(i) = m.member else { return None };
    if cx.q.masks.iter().any(|(id, _)| *id == m) {
        return None;
    }
    model.cubes[m.cube].measures[i].cumulative.as_ref()
}

/// Cube.js's `granularityFromInterval`: the first of day, month, year,
/// week, hour the interval names (minutes and quarters name none).
fn interval_granularity(w: Option<&Window>) -> Option<Granularity> {
    use crate::query::model::IntervalUnit as U;
    match w {
        Some(Window::Interval(Interval { unit, .. })) => match unit {
            U::Day => Some(Granularity::Day),
            U::Month => Some(Granularity::Month),
            U::Year => Some(Granularity::Year),
            U::Week => Some(Granularity::Week),
            U::Hour => Some(Granularity::Hour),
            U::Minute | U::Quarter => None,
        },
        _ => None,
    }
}

/// Cube.js's `standardGranularitiesParents`, word for word (`year` lists
/// `month` twice).
fn parents(g: Granularity) -> &'static [Granularity] {
    use Granularity as G;
    match g {
        G::Year => &[G::Year, G::Quarter, G::Month, G::Month, G::Day, G::Hour, G::Minute, G::Second],
        G::Quarter => &[G::Quarter, G::Month, G::Day, G::Hour, G::Minute, G::Second],
        G::Month => &[G::Month, G::Day, G::Hour, G::Minute, G::Second],
        G::Week => &[G::Week, G::Day, G::Hour, G::Minute, G::Second],
        G::Day => &[G::Day, G::Hour, G::Minute, G::Second],
        G::Hour => &[G::Hour, G::Minute, G::Second],
        G::Minute => &[G::Minute, G::Second],
        G::Second => &[G::Second],
    }
}

/// Cube.js's `minGranularity`: the finest granularity both divide into.
fn min_granularity(a: Option<Granularity>, b: Option<Granularity>) -> Option<Granularity> {
    let (a, b) = match (a, b) {
        (None, x) | (x, None) => return x,
        (Some(a), Some(b)) if a == b => return Some(a),
        (Some(a), Some(b)) => (a, b),
    };
    let ah: Vec<Granularity> = parents(a).iter().rev().copied().collect();
    let bh: Vec<Granularity> = parents(b).iter().rev().copied().collect();
    let first_diff = |x: &[Granularity], y: &[Granularity]| x.iter().enumerate().position(|(i, g)| y.get(i) != Some(g));
    let last = match (first_diff(&ah, &bh), first_diff(&bh, &ah)) {
        (None, None) => ah.len().checked_sub(1),
        (x, y) => x.max(y),
    };
    // Every standard granularity shares `second`, so `last` is at least 1.
    last.and_then(|i| i.checked_sub(1)).and_then(|i| ah.get(i).copied()).or(Some(Granularity::Second))
}

/// Whether Cube.js aggregates the base rows one by one
/// (`shouldUngroupForCumulative`: a rolling window over an aggregate that
/// does not add up).
fn ungrouped_base(c: &Cumulative, kind: MeasureType) -> bool {
    matches!(c, Cumulative::Rolling(_))
        && !matches!(kind, MeasureType::Sum | MeasureType::Count | MeasureType::Min | MeasureType::Max)
}

/// The window condition (Cube.js's `dateJoinCondition` functions): `field`
/// against a window from `date_from` to `date_to`; `range_from` is the
/// query's own start, where a running total begins. `whole` is Cube.js's
/// `isFromStartToEnd`: the span of every window at once.
fn condition(
    dialect: Dialect,
    c: &Cumulative,
    field: &str,
    date_from: &str,
    date_to: &str,
    range_from: &str,
    whole: bool,
) -> String {
    let w = match c {
        Cumulative::RunningTotal => return format!("{field} >= {range_from} AND {field} <= {date_to}"),
        Cumulative::Rolling(w) => w,
    };
    let shift = |at: &str, side: Option<&Window>, sign: i64| match side {
        Some(Window::Interval(i)) => dialect.shift_local(at, i.n.saturating_mul(sign), i.unit),
        _ => at.to_string(),
    };
    let mut parts = Vec::new();
    if w.trailing != Some(Window::Unbounded) {
        let start = if whole || w.offset_start { date_from } else { date_to };
        let sign = if w.offset_start { ">=" } else { ">" };
        parts.push(format!("{field} {sign} {}", shift(start, w.trailing.as_ref(), -1)));
    }
    if w.leading != Some(Window::Unbounded) {
        let end = if whole || !w.offset_start { date_to } else { date_from };
        let sign = if w.offset_start { "<" } else { "<=" };
        parts.push(format!("{field} {sign} {}", shift(end, w.leading.as_ref(), 1)));
    }
    if parts.is_empty() { "1 = 1".to_string() } else { parts.join(" AND ") }
}

/// One end of a window: SQL text, or a local time to bind.
#[derive(Clone, Copy)]
enum At<'s> {
    Sql(&'s str),
    Bind(&'s str),
}

/// [`condition`] with each bound value bound only if the window uses it
/// (PostgreSQL refuses a parameter the statement never names), the
/// column's SQL and each value put in after the condition is built.
fn bound_condition(
    cx: &mut Ctx<'_>,
    c: &Cumulative,
    field: &dyn Fn(&mut Ctx<'_>) -> String,
    ends: [At<'_>; 3],
    whole: bool,
) -> String {
    const TOKENS: [&str; 3] = ["\u{1}from\u{1}", "\u{1}to\u{1}", "\u{1}start\u{1}"];
    const FIELD: &str = "\u{1}field\u{1}";
    let mut sql = condition(cx.dialect, c, FIELD, TOKENS[0], TOKENS[1], TOKENS[2], whole);
    for (token, at) in TOKENS.iter().zip(ends) {
        if sql.contains(token) {
            let value = match at {
                At::Sql(s) => s.to_string(),
                At::Bind(v) => {
                    let p = cx.bind(SqlValue::Text(v.to_string()));
                    cx.dialect.local_param(&p)
                }
            };
            sql = sql.replace(token, &value);
        }
    }
    if sql.contains(FIELD) {
        let f = field(cx);
        sql = sql.replace(FIELD, &f);
    }
    sql
}

/// The query with its date range taken out: a cumulative measure's base
/// reads the span of its windows instead.
fn without_date_range<T>(
    cx: &mut Ctx<'_>,
    f: impl FnOnce(&mut Ctx<'_>) -> Result<T, QueryError>,
) -> Result<T, QueryError> {
    let mut q = cx.q.clone();
    for td in &mut q.time_dimensions {
        td.date_range = None;
    }
    let mut inner = Ctx {
        model: cx.model,
        q: &q,
        sec: cx.sec,
        opts: cx.opts,
        dialect: cx.dialect,
        params: std::mem::take(&mut cx.params),
        joined: cx.joined,
        measure_refs: None,
    };
    let out = f(&mut inner);
    cx.params = inner.params;
    out
}

/// The query's SQL when it has a cumulative measure and a time dimension;
/// `None` otherwise (the usual renderers then aggregate every measure as
/// it is, as Cube.js does without a time dimension).
pub(super) fn render(
    cx: &mut Ctx<'_>,
    tz_param: Option<&str>,
    dims: &[DimSelect],
    columns: &[Column],
    measures: &[MemberId],
    measure_filters: &[&Filter],
) -> Result<Option<String>, QueryError> {
    let q = cx.q;
    let dialect = cx.dialect;
    let mut unique: Vec<MemberId> = Vec::new();
    for m in measures {
        if !unique.contains(m) {
            unique.push(*m);
        }
    }
    if !unique.iter().any(|m| window(cx, *m).is_some()) || q.time_dimensions.is_empty() {
        return Ok(None);
    }
    if q.ungrouped {
        return Err(QueryError::Invalid(
            "a cumulative measure (rolling_window, running_total) cannot be queried ungrouped".into(),
        ));
    }
    if !measure_filters.is_empty() {
        return Err(QueryError::Invalid(
            "filters on measures are not supported in a query with a cumulative measure (rolling_window, running_total)"
                .into(),
        ));
    }
    if let Some(n) = q.order_only.first() {
        return Err(QueryError::Invalid(format!(
            "{} is ordered by but not selected, which a query with a cumulative measure does not support",
            short(&n.name)
        )));
    }
    if q.time_dimensions.len() > 1 {
        return Err(QueryError::Invalid(
            "a query with a cumulative measure (rolling_window, running_total) may have one time dimension".into(),
        ));
    }
    if let Some(m) = unique.iter().find(|m| needs_keys(cx, **m)) {
        return Err(QueryError::Invalid(format!(
            "{} is repeated by the query's joins, which a query with a cumulative measure does not support",
            cx.model.member_name(*m)
        )));
    }
    let td = &q.time_dimensions[0];
    let MemberRef::Dimension(di) = td.dimension.member else {
        return Err(QueryError::Invalid(format!("{} is not a time dimension", short(&td.name))));
    };
    // The windows group by the real time, which a mask would hide.
    if q.masks.iter().any(|(id, _)| *id == td.dimension) {
        return Err(QueryError::MaskedMember(td.name.clone()));
    }
    // Cube.js's `BaseTimeDimension.timeSeries`, which every window asks.
    let Some((range_from, range_to)) = td.date_range.clone() else {
        return Err(QueryError::Compiler("Time series queries without dateRange aren't supported".into()));
    };
    let buckets = match td.granularity {
        Some(g) => super::super::time::time_series(g, &range_from, &range_to, MAX_TIME_SERIES)?,
        None => vec![(range_from.clone(), range_to.clone())],
    };
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return Err(QueryError::Invalid(format!("the dateRange of {} ends before it starts", short(&td.name))));
    };
    // The dimensions other than the granular time dimension (the last of
    // `dims` when there is one).
    let plain_dims = if td.granularity.is_some() { &dims[..dims.len().saturating_sub(1)] } else { dims };

    // The zone: with a granularity, the one `render` bound for the
    // buckets; without, bound once the time column is used.
    let zone_cell = std::cell::RefCell::new(tz_param.map(str::to_string));
    let column = cx.dimension_sql(td.dimension.cube, di);
    let field = |cx: &mut Ctx<'_>| -> String {
        let mut zone = zone_cell.borrow_mut();
        if zone.is_none()
            && let Some(z) = &cx.q.timezone
        {
            *zone = Some(cx.bind(SqlValue::Text(z.name.clone())));
        }
        cx.dialect.local_time(&column, zone.as_deref())
    };
    let (first_from, last_to, start) = (first.0.as_str(), last.1.as_str(), range_from.as_str());
    let series = match td.granularity {
        Some(_) => {
            let mut placeholders = Vec::with_capacity(buckets.len());
            for (a, b) in &buckets {
                placeholders.push((cx.bind(SqlValue::Text(a.clone())), cx.bind(SqlValue::Text(b.clone()))));
            }
            Some(dialect.series(&placeholders))
        }
        None => None,
    };

    let (regular, cumulative): (Vec<MemberId>, Vec<MemberId>) = unique.iter().partition(|m| window(cx, **m).is_none());

    let mut subqueries = Vec::new();
    if !regular.is_empty() {
        subqueries.push(grouped_subquery(cx, dims, &regular, measure_sql)?);
    }
    for m in &cumulative {
        let Some(c) = window(cx, *m) else { continue };
        let MemberRef::Measure(mi) = m.member else { continue };
        let kind = cx.cube(m.cube).measures[mi].kind;
        let alias = dialect.quote(&subquery_alias(cx, *m));
        let sql = match (td.granularity, &series) {
            (Some(g), Some(series)) => {
                let ungrouped = ungrouped_base(c, kind);
                let td_alias = dims.last().map(|d| dialect.quote(&d.alias)).unwrap_or_default();
                let base_time = if ungrouped {
                    field(cx)
                } else {
                    let g = match c {
                        Cumulative::Rolling(w) => min_granularity(
                            min_granularity(
                                interval_granularity(w.leading.as_ref()),
                                interval_granularity(w.trailing.as_ref()),
                            ),
                            Some(g),
                        )
                        .unwrap_or(g),
                        Cumulative::RunningTotal => g,
                    };
                    dialect.truncate_local(g, &column, tz_param)
                };
                let value = if ungrouped { raw_value(cx, *m)? } else { measure_sql(cx, *m)? };
                let mut select: Vec<String> =
                    plain_dims.iter().map(|d| format!("{} {}", d.sql, dialect.quote(&d.alias))).collect();
                select.push(format!("{base_time} {td_alias}"));
                select.push(format!("{value} {alias}"));
                let span =
                    bound_condition(cx, c, &field, [At::Bind(first_from), At::Bind(last_to), At::Bind(start)], true);
                let base = without_date_range(cx, |cx| {
                    let from = tree_sql(cx)?;
                    let mut parts = where_parts(cx)?;
                    parts.push(span);
                    let mut sql = format!("SELECT {} FROM {from} WHERE {}", select.join(", "), parts.join(" AND "));
                    if !ungrouped {
                        sql.push_str(&group_by(plain_dims.len() + 1));
                    }
                    Ok(sql)
                })?;
                let (s, b) = (dialect.quote("series"), dialect.quote("base"));
                let (base_td, from, to) = (
                    format!("{b}.{td_alias}"),
                    format!("{s}.{}", dialect.quote("date_from")),
                    format!("{s}.{}", dialect.quote("date_to")),
                );
                let on = bound_condition(
                    cx,
                    c,
                    &|_: &mut Ctx<'_>| base_td.clone(),
                    [At::Sql(&from), At::Sql(&to), At::Bind(start)],
                    false,
                );
                let mut outer: Vec<String> = plain_dims
                    .iter()
                    .map(|d| format!("{b}.{} {}", dialect.quote(&d.alias), dialect.quote(&d.alias)))
                    .collect();
                outer
                    .push(format!("{} {td_alias}", dialect.local_text(&format!("{s}.{}", dialect.quote("date_from")))));
                outer.push(format!("{} {alias}", over_window(kind, &format!("{b}.{alias}"))));
                format!(
                    "SELECT {} FROM ({series}) AS {s} LEFT JOIN ({base}) AS {b} ON {on}{}",
                    outer.join(", "),
                    group_by(plain_dims.len() + 1)
                )
            }
            _ => {
                // No granularity: one window, the date range's, over the
                // measure aggregated as usual.
                let span = bound_condition(cx, c, &field, [At::Bind(start), At::Bind(last_to), At::Bind(start)], false);
                let mut select: Vec<String> =
                    dims.iter().map(|d| format!("{} {}", d.sql, dialect.quote(&d.alias))).collect();
                select.push(format!("{} {alias}", measure_sql(cx, *m)?));
                without_date_range(cx, |cx| {
                    let from = tree_sql(cx)?;
                    let mut parts = where_parts(cx)?;
                    parts.push(span);
                    let mut sql = format!("SELECT {} FROM {from} WHERE {}", select.join(", "), parts.join(" AND "));
                    if !dims.is_empty() {
                        sql.push_str(&group_by(dims.len()));
                    }
                    Ok(sql)
                })?
            }
        };
        subqueries.push(sql);
    }

    let distinct_measures = {
        let mut seen = std::collections::HashSet::new();
        q.measures.iter().all(|n| seen.insert(n.id))
    };
    if subqueries.len() == 1 && distinct_measures && unique.len() == q.measures.len() {
        let mut sql = subqueries.remove(0);
        let order = order_by(cx, columns, true)?;
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        return Ok(Some(sql));
    }
    let mut sql = combine(cx, dims, &subqueries);
    let order = order_by(cx, columns, true)?;
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    Ok(Some(sql))
}

/// A measure's value for one row (Cube.js's ungrouped context): its SQL,
/// inside its filters' CASE.
fn raw_value(cx: &Ctx<'_>, m: MemberId) -> Result<String, QueryError> {
    let MemberRef::Measure(i) = m.member else { return Err(QueryError::Invalid("not a measure".into())) };
    let measure = &cx.cube(m.cube).measures[i];
    let expr = match measure.sql.as_deref() {
        Some(s) if !measure.refs.is_empty() => with_refs(cx, m.cube, s, &measure.refs)?,
        Some(s) => cx.member_sql(m.cube, s),
        None => "1".to_string(),
    };
    if measure.filters.is_empty() {
        return Ok(expr);
    }
    let cond: Vec<String> = measure.filters.iter().map(|f| cx.member_sql(m.cube, f)).collect();
    Ok(format!("CASE WHEN {} THEN {expr} END", cond.join(" AND ")))
}

/// A bucket's aggregate over the base rows in its window (Cube.js's
/// `aggregateOnGroupedColumn`): counts and sums add up, the rest
/// aggregate again.
fn over_window(kind: MeasureType, column: &str) -> String {
    match kind {
        MeasureType::Count | MeasureType::Sum | MeasureType::RunningTotal => format!("sum({column})"),
        MeasureType::Min => format!("min({column})"),
        MeasureType::Max => format!("max({column})"),
        MeasureType::Avg => format!("avg({column})"),
        MeasureType::CountDistinct => format!("count(distinct {column})"),
        // Never cumulative (`rolling_window` needs an aggregate type).
        MeasureType::Number
        | MeasureType::String
        | MeasureType::Time
        | MeasureType::Boolean
        | MeasureType::CountDistinctApprox => column.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::query::access::Mask;
    use crate::query::model::{ModelOptions, load_sources};
    use Granularity as G;

    /// A masked rolling measure, even one whose base rows are read one by
    /// one (avg, count_distinct, its sql naming a dimension), is its mask:
    /// no window reads the values it hides.
    #[test]
    fn a_masked_measure_read_row_by_row_renders_its_mask() {
        let yaml = "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - {name: avgPrice, sql: unit_cost, type: avg, rolling_window: {trailing: 1 month}}\n      - {name: buyers, sql: \"{buyer}\", type: count_distinct, rolling_window: {trailing: 1 month}}\n    dimensions:\n      - {name: buyer, sql: buyer_id, type: number}\n      - {name: createdAt, sql: created_at, type: time}\n";
        let model = load_sources(&[("m.yml".into(), yaml.into())], ModelOptions::default()).expect("loads");
        let claims =
            crate::auth::provider::VerifiedClaims::dangerous_assume_verified(json!({"sub": "x"})).expect("object");
        let ctx = crate::auth::SecurityContext::from_verified(claims, None, &[]).expect("context");
        let query = json!({"measures": ["Orders.avgPrice", "Orders.buyers"], "timeDimensions": [
            {"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-03-31"]}]});
        let sql = |masked: bool| {
            let mut q = Query::parse(&query, &model).expect("parses");
            if masked {
                for m in ["Orders.avgPrice", "Orders.buyers"] {
                    q.masks.push((model.member(m).expect("member"), Mask::Literal(serde_json::Value::Null)));
                }
            }
            super::super::render(&model, &q, &ctx, Dialect::Sqlite, RenderOptions::default()).expect("renders").sql
        };
        let plain = sql(false);
        assert!(plain.contains("unit_cost") && plain.contains("(\"orders\".buyer_id)"), "{plain}");
        let masked = sql(true);
        assert!(!masked.contains("unit_cost") && !masked.contains("buyer_id"), "{masked}");
    }

    #[test]
    fn min_granularity_is_cube_js_common_parent() {
        assert_eq!(min_granularity(Some(G::Month), Some(G::Day)), Some(G::Day));
        assert_eq!(min_granularity(Some(G::Week), Some(G::Month)), Some(G::Day));
        assert_eq!(min_granularity(Some(G::Year), Some(G::Month)), Some(G::Month));
        assert_eq!(min_granularity(Some(G::Year), Some(G::Quarter)), Some(G::Month));
        assert_eq!(min_granularity(None, Some(G::Hour)), Some(G::Hour));
        assert_eq!(min_granularity(Some(G::Month), Some(G::Month)), Some(G::Month));
    }
}
