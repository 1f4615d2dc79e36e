//! Cube.js's "transformed query": what its pre-aggregation matcher reads of
//! a query, answered by `/dry-run` (`transformedQueries`) and `/sql`
//! (`canUseTransformedQuery`). A port of 0.33's
//! `PreAggregations.transformQueryToCanUseForm` (schema-compiler,
//! `adapter/PreAggregations.js`) and the `BaseQuery` helpers it calls
//! (`minGranularity`, `granularityFor`, `collectLeafMeasures`,
//! `fullKeyQueryAggregateMeasures`, `collectMemberNamesFor`), field by field;
//! tenantgate has no pre-aggregations, so nothing here decides any SQL.
//!
//! Pure: (model, checked query) -> JSON. What a measure contributes (its
//! type, the measures its SQL references, whether it is cumulative) is one
//! [`MeasureFacts`] per measure, from [`measure_facts`]; measures over
//! measures and `rolling_window`/`running_total` change only that function.

use serde_json::{Map, Value, json};

use super::model::{Cumulative, IntervalUnit, MeasureType, MemberId, MemberRef, Model, RollingWindow, Window};
use super::request::{Filter, Granularity, Operator, Query};

/// What the transformed query reads of one measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureFacts {
    /// Cube.js's type name (`count`, `countDistinct`, `sum`, ...).
    pub kind: &'static str,
    /// `{member}` references of its SQL that are measures, in order.
    pub references: Vec<MemberId>,
    pub cumulative: Option<Cumulative>,
    /// Whether its rows are counted once however a join repeats them
    /// (`count` without `sql`, `count_distinct`, a `number` that is
    /// `count(*)`): Cube.js's exemption in `renderSqlMeasure`.
    pub join_safe: bool,
}

impl MeasureFacts {
    /// `BaseMeasure.isAdditive`.
    fn additive(&self) -> bool {
        matches!(self.kind, "sum" | "count" | "countDistinctApprox" | "min" | "max")
    }
}

/// The facts of a model measure: a measure's references are read from its
/// SQL, its window from the model (`rolling_window`, `running_total`).
pub fn measure_facts(model: &Model, id: MemberId) -> MeasureFacts {
    let cube = &model.cubes[id.cube];
    let MemberRef::Measure(i) = id.member else {
        return MeasureFacts { kind: "number", references: Vec::new(), cumulative: None, join_safe: false };
    };
    let m = &cube.measures[i];
    let references = m
        .sql
        .as_deref()
        .map(|sql| references(model, id.cube, sql))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| matches!(r.member, MemberRef::Measure(_)))
        .collect();
    let count_star =
        m.kind == MeasureType::Number && m.sql.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case("count(*)"));
    let join_safe =
        (m.kind == MeasureType::Count && m.sql.is_none()) || m.kind == MeasureType::CountDistinct || count_star;
    MeasureFacts { kind: m.kind.as_str(), references, cumulative: m.cumulative.clone(), join_safe }
}

/// The members a member's SQL names: `{name}`, `{CUBE.name}` and
/// `{Cube.name}` that resolve to a member of the model (`{CUBE}` and
/// security-context templates do not).
fn references(model: &Model, cube: usize, sql: &str) -> Vec<MemberId> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let inner = after[..end].trim();
        rest = &after[end + 1..];
        let name = match inner.split_once('.') {
            Some(("CUBE", member)) => format!("{}.{member}", model.cubes[cube].name),
            Some(_) => inner.to_string(),
            None => format!("{}.{inner}", model.cubes[cube].name),
        };
        if let Ok(id) = model.cube_member(&name)
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

/// Cube.js's `transformQueryToCanUseForm(query)` for a checked query, as
/// its API answers it (a `Set` is written `{}`, an `undefined` member
/// left out).
pub fn transformed_query(model: &Model, q: &Query) -> Value {
    transform(model, q, &|id| measure_facts(model, id), &|id| member_references(model, id))
}

/// The members a member's SQL reads (`collectMemberNamesFor`): a measure
/// without `sql` reads its cube's primary keys, as Cube.js renders
/// `count(pk)`; a measure's `filters` are read too.
fn member_references(model: &Model, id: MemberId) -> Vec<MemberId> {
    let c = &model.cubes[id.cube];
    match id.member {
        MemberRef::Dimension(i) => references(model, id.cube, &c.dimensions[i].sql),
        MemberRef::Segment(i) => references(model, id.cube, &c.segments[i].sql),
        MemberRef::Measure(i) => {
            let m = &c.measures[i];
            let mut out = match &m.sql {
                Some(sql) => references(model, id.cube, sql),
                None => (0..c.dimensions.len())
                    .filter(|d| c.dimensions[*d].primary_key)
                    .map(|d| MemberId { cube: id.cube, member: MemberRef::Dimension(d) })
                    .collect(),
            };
            for f in &m.filters {
                out.extend(references(model, id.cube, f).into_iter().filter(|r| !out.contains(r)).collect::<Vec<_>>());
            }
            out
        }
    }
}

/// A filter as Cube.js's `extractFiltersAsTree` splits them: on
/// dimensions (`query.filters`, `measureFilter` included) or on measures
/// (`query.measureFilters`).
struct Split<'a> {
    /// (the filter, the dimension it is filed under: a group's first)
    filters: Vec<(&'a Filter, Option<String>)>,
    /// (the filter, the measure it is filed under: a group's first)
    measure_filters: Vec<(&'a Filter, String)>,
}

fn split<'a>(filters: impl Iterator<Item = &'a Filter>) -> Split<'a> {
    let mut out = Split { filters: Vec::new(), measure_filters: Vec::new() };
    for f in filters {
        match f {
            Filter::Member { operator: Operator::MeasureFilter, .. } => out.filters.push((f, None)),
            Filter::Member { member: MemberId { member: MemberRef::Measure(_), .. }, name, .. } => {
                out.measure_filters.push((f, name.clone()));
            }
            Filter::Member { name, .. } => out.filters.push((f, Some(name.clone()))),
            Filter::And(_) | Filter::Or(_) => {
                let mut leaves = Vec::new();
                leaf_filters(f, &mut leaves);
                let first = |measure: bool| {
                    leaves.iter().find_map(|(name, id, op)| {
                        let is_measure = matches!(id.member, MemberRef::Measure(_)) || *op == Operator::MeasureFilter;
                        (is_measure == measure).then(|| (*name).clone())
                    })
                };
                // A group of dimensions (the parser refuses a mixed one);
                // an empty group is neither and Cube.js drops it.
                match (first(false), first(true)) {
                    (Some(d), _) => out.filters.push((f, Some(d))),
                    (None, Some(m)) => out.measure_filters.push((f, m)),
                    (None, None) => {}
                }
            }
        }
    }
    out
}

fn leaf_filters<'a>(f: &'a Filter, out: &mut Vec<(&'a String, MemberId, Operator)>) {
    match f {
        Filter::Member { name, member, operator, .. } => out.push((name, *member, *operator)),
        Filter::And(l) | Filter::Or(l) => l.iter().for_each(|f| leaf_filters(f, out)),
    }
}

/// The members of a filter, in order, as (name as queried, id).
fn filter_members(f: &Filter) -> Vec<(String, MemberId)> {
    let mut leaves = Vec::new();
    leaf_filters(f, &mut leaves);
    leaves.into_iter().map(|(n, id, _)| (n.clone(), id)).collect()
}

/// A member as Cube.js's traversal reaches it: the view member as queried
/// (no id of its own), then the cube member it reads.
type Chain = Vec<(String, Option<MemberId>)>;

type Facts<'a> = dyn Fn(MemberId) -> MeasureFacts + 'a;
type Refs<'a> = dyn Fn(MemberId) -> Vec<MemberId> + 'a;

/// The longest reference chain followed: a model's references are acyclic,
/// this only bounds a mistake.
const MAX_DEPTH: usize = 32;

fn transform(model: &Model, q: &Query, facts: &Facts<'_>, refs: &Refs<'_>) -> Value {
    let path = |id: MemberId| model.member_name(id);
    // The query as Cube.js's compiler sees it after `queryRewrite`: the
    // client's filters and the ones the rules force in (echoed too).
    let split = split(q.filters.iter().chain(&q.forced));
    let dimensions: Vec<String> = q.dimensions.iter().map(|d| d.name.clone()).collect();
    let segments: Vec<String> = q.segments.iter().map(|s| s.name.clone()).collect();

    // squashDimensions: dimensions, the filters' dimensions, segments.
    let mut squashed: Vec<Option<String>> = dimensions.iter().cloned().map(Some).collect();
    squashed.extend(split.filters.iter().map(|(_, d)| d.clone()));
    squashed.extend(segments.iter().cloned().map(Some));
    let sorted_dimensions = sorted_unique(squashed);

    // Measures: the query's, then the measure filters'.
    let mut measure_paths: Vec<String> = Vec::new();
    let mut leaf_paths: Vec<String> = Vec::new();
    let mut to_leaves = Map::new();
    // Each member of a measure: the chain Cube.js's traversal follows (a
    // view member, then the cube member it reads).
    let chain = |name: &str, id: MemberId| {
        let own = path(id);
        if name == own { vec![(own, Some(id))] } else { vec![(name.to_string(), None), (own, Some(id))] }
    };
    let mut entries: Vec<(String, Vec<Chain>)> = Vec::new();
    for m in &q.measures {
        entries.push((m.name.clone(), vec![chain(&m.name, m.id)]));
    }
    for (f, name) in &split.measure_filters {
        let chains = filter_members(f)
            .into_iter()
            .filter(|(_, id)| matches!(id.member, MemberRef::Measure(_)))
            .map(|(n, id)| chain(&n, id))
            .collect();
        entries.push((name.clone(), chains));
    }
    for (name, chains) in &entries {
        push_unique(&mut measure_paths, name);
        let mut leaves: Vec<(String, MemberId)> = Vec::new();
        for c in chains {
            for leaf in leaf_measures(c, facts, &path) {
                if !leaves.contains(&leaf) {
                    leaves.push(leaf);
                }
            }
        }
        let described: Vec<Value> = leaves
            .iter()
            .map(|(p, id)| {
                let f = facts(*id);
                json!({"measure": p, "additive": f.additive(), "type": f.kind})
            })
            .collect();
        to_leaves.insert(name.clone(), Value::Array(described));
        for (p, _) in leaves {
            push_unique(&mut leaf_paths, &p);
        }
    }
    let leaf_ids: Vec<MemberId> = leaf_paths.iter().filter_map(|p| model.cube_member(p).ok()).collect();
    let leaf_measure_additive = leaf_ids.iter().all(|id| facts(*id).additive());
    // A view's measure is its own `type: number` over the cube's
    // (`generateIncludeMembers`), never additive.
    let is_additive = q.measures.iter().all(|m| m.view.is_none() && facts(m.id).additive());
    let cumulative: Vec<Cumulative> = leaf_ids.iter().filter_map(|id| facts(*id).cumulative).collect();
    let window = cumulative.iter().fold(Js::Null, |acc, c| min_granularity_js(acc, window_granularity(c)));

    // hasMultipliedMeasures: the query's measures, and the measure
    // filters' not among them, each as the measures it renders through.
    let mut roots: Vec<MemberId> = q.measures.iter().map(|m| m.id).collect();
    for (f, _) in &split.measure_filters {
        for (_, id) in filter_members(f) {
            if matches!(id.member, MemberRef::Measure(_)) && !roots.contains(&id) {
                roots.push(id);
            }
        }
    }
    let has_multiplied = roots.iter().any(|id| {
        rendered_measures(*id, facts, 0)
            .into_iter()
            .any(|m| facts(m).cumulative.is_none() && q.join.is_multiplied(m.cube) && !facts(m).join_safe)
    });

    // Time dimensions: as queried, with their rollup granularity, and by
    // the cube member they own.
    let time: Vec<Time> = q
        .time_dimensions
        .iter()
        .map(|td| {
            let owned = owned(td.dimension, refs, &path);
            let range = td.date_range.as_ref().and_then(|(from, to)| date_range_granularity(from, to));
            Time {
                name: td.name.clone(),
                granularity: td.granularity,
                rollup: min_granularity(td.granularity, range),
                owned: if owned.len() == 1 { owned[0].clone() } else { td.name.clone() },
            }
        })
        .collect();
    // `[dimension, granularity]` pairs, sorted by dimension (stably).
    let pairs = |f: &dyn Fn(&Time) -> (String, Option<Granularity>)| {
        let mut list: Vec<(String, Option<Granularity>)> = time.iter().map(f).collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Array(list.into_iter().map(|(d, g)| json!([d, g.map(Granularity::as_str)])).collect())
    };

    // ownedDimensions: every member the dimensions, filters and segments
    // read, by the cube that owns it.
    let mut owned_members: Vec<Option<String>> = Vec::new();
    for d in &q.dimensions {
        owned_members.extend(owned(d.id, refs, &path).into_iter().map(Some));
    }
    for (f, _) in &split.filters {
        for (_, id) in filter_members(f) {
            owned_members.extend(owned(id, refs, &path).into_iter().map(Some));
        }
    }
    for s in &q.segments {
        owned_members.extend(owned(s.id, refs, &path).into_iter().map(Some));
    }

    let all_within = split.filters.iter().all(|(_, d)| d.as_ref().is_some_and(|d| dimensions.contains(d)));
    let single_value_equal = single_value_equal(&split, &dimensions, &segments);

    let mut out = Map::new();
    out.insert("sortedDimensions".into(), json!(sorted_dimensions));
    out.insert("sortedTimeDimensions".into(), pairs(&|t| (t.name.clone(), t.rollup)));
    out.insert("timeDimensions".into(), pairs(&|t| (t.name.clone(), t.granularity)));
    out.insert("measures".into(), json!(measure_paths));
    out.insert("leafMeasureAdditive".into(), json!(leaf_measure_additive));
    out.insert("leafMeasures".into(), json!(leaf_paths));
    out.insert("measureToLeafMeasures".into(), Value::Object(to_leaves));
    out.insert("hasNoTimeDimensionsWithoutGranularity".into(), json!(time.iter().all(|t| t.granularity.is_some())));
    out.insert("allFiltersWithinSelectedDimensions".into(), json!(all_within));
    out.insert("isAdditive".into(), json!(is_additive));
    out.insert("granularityHierarchies".into(), granularity_hierarchies());
    out.insert("hasMultipliedMeasures".into(), json!(has_multiplied));
    out.insert("hasCumulativeMeasures".into(), json!(!cumulative.is_empty()));
    match window {
        Js::Null => {
            out.insert("windowGranularity".into(), Value::Null);
        }
        Js::Is(g) => {
            out.insert("windowGranularity".into(), json!(g.as_str()));
        }
        // `undefined` (a running total's): JSON.stringify leaves it out.
        Js::Undefined => {}
    }
    // A `Set` is written as `{}`.
    out.insert("filterDimensionsSingleValueEqual".into(), if single_value_equal { json!({}) } else { Value::Null });
    out.insert("ownedDimensions".into(), json!(sorted_unique(owned_members)));
    out.insert("ownedTimeDimensionsWithRollupGranularity".into(), pairs(&|t| (t.owned.clone(), t.rollup)));
    out.insert("ownedTimeDimensionsAsIs".into(), pairs(&|t| (t.owned.clone(), t.granularity)));
    Value::Object(out)
}

/// A time dimension of the query: as queried, its rollup granularity
/// (`rollupGranularity`: its own and its date range's finest common one),
/// and the cube member it owns.
struct Time {
    name: String,
    granularity: Option<Granularity>,
    rollup: Option<Granularity>,
    owned: String,
}

fn push_unique(list: &mut Vec<String>, s: &str) {
    if !list.iter().any(|x| x == s) {
        list.push(s.to_string());
    }
}

/// `R.uniq` then `R.sortBy(R.identity)`. A `null` (the dimension of a
/// `measureFilter` filter) compares equal to everything in JavaScript;
/// it is kept first.
fn sorted_unique(list: Vec<Option<String>>) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out.sort();
    out
}

/// `collectLeafMeasures` of one member, from `chain` (the measure as
/// queried, then, for a view member, the cube member it reads): the
/// measures reached that reference no other measure, in the order Cube.js's
/// context object first holds them.
fn leaf_measures(chain: &Chain, facts: &Facts<'_>, path: &dyn Fn(MemberId) -> String) -> Vec<(String, MemberId)> {
    type Seen = Vec<(String, bool, Option<MemberId>)>;
    fn mark(seen: &mut Seen, p: &str, leaf: bool, id: Option<MemberId>) {
        match seen.iter_mut().find(|e| e.0 == p) {
            Some(e) => {
                e.1 = leaf;
                e.2 = e.2.or(id);
            }
            None => seen.push((p.to_string(), leaf, id)),
        }
    }
    fn visit(p: &str, id: MemberId, depth: usize, cx: (&Facts<'_>, &dyn Fn(MemberId) -> String), seen: &mut Seen) {
        mark(seen, p, true, Some(id));
        if depth >= MAX_DEPTH {
            return;
        }
        for r in (cx.0)(id).references {
            mark(seen, p, false, None);
            visit(&(cx.1)(r), r, depth + 1, cx, seen);
        }
    }
    let mut seen: Seen = Vec::new();
    let mut parent: Option<&str> = None;
    for (p, id) in chain {
        if let Some(parent) = parent {
            mark(&mut seen, parent, false, None);
        }
        match id {
            Some(id) => visit(p, *id, 0, (facts, path), &mut seen),
            None => mark(&mut seen, p, true, None),
        }
        parent = Some(p);
    }
    seen.into_iter().filter(|e| e.1).filter_map(|(p, _, id)| id.map(|id| (p, id))).collect()
}

/// The measures a query measure renders through (`collectMultipliedMeasures`):
/// itself, unless it references a measure of another cube or a cumulative
/// one, then those it references.
fn rendered_measures(id: MemberId, facts: &Facts<'_>, depth: usize) -> Vec<MemberId> {
    let f = facts(id);
    let composite = f.references.iter().any(|r| r.cube != id.cube || facts(*r).cumulative.is_some());
    if !composite || depth >= MAX_DEPTH {
        return vec![id];
    }
    f.references.iter().flat_map(|r| rendered_measures(*r, facts, depth + 1)).collect()
}

/// `ownedMembers` of one member: it and every member its SQL reads, each
/// as its cube's path (a view member is no cube's own), sorted.
fn owned(id: MemberId, refs: &Refs<'_>, path: &dyn Fn(MemberId) -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut todo = vec![(id, 0)];
    while let Some((m, depth)) = todo.pop() {
        push_unique(&mut out, &path(m));
        if depth < MAX_DEPTH {
            todo.extend(refs(m).into_iter().rev().map(|r| (r, depth + 1)));
        }
    }
    out.sort();
    out
}

/// `collectFilterDimensionsWithSingleValueEqual`, then `allValuesEq1`:
/// whether every filter is an `equals` (or an `and` of them) with one
/// value, and no selected dimension or segment is filtered otherwise.
fn single_value_equal(split: &Split<'_>, dimensions: &[String], segments: &[String]) -> bool {
    let mut map: Vec<(Option<String>, usize)> =
        dimensions.iter().chain(segments).map(|d| (Some(d.clone()), 1)).collect();
    fn collect(f: &Filter, map: &mut Vec<(Option<String>, usize)>) -> bool {
        match f {
            Filter::Member { operator: Operator::Equals, values, name, .. } => {
                let key = Some(name.clone());
                let entry = map.iter().position(|e| e.0 == key);
                let current = entry.map_or(2, |i| if map[i].1 == 0 { 2 } else { map[i].1 });
                let value = current.min(values.len());
                match entry {
                    Some(i) => map[i].1 = value,
                    None => map.push((key, value)),
                }
                true
            }
            Filter::And(list) => list.iter().all(|f| collect(f, map)),
            _ => false,
        }
    }
    for (f, _) in &split.filters {
        if !collect(f, &mut map) {
            return false;
        }
    }
    map.iter().all(|e| e.1 == 1)
}

/// Cube.js's `standardGranularitiesParents`, `year`'s doubled `month`
/// included: `minGranularity` reads these lists.
fn parents(g: Granularity) -> &'static [Granularity] {
    use Granularity::*;
    match g {
        Year => &[Year, Quarter, Month, Month, Day, Hour, Minute, Second],
        Quarter => &[Quarter, Month, Day, Hour, Minute, Second],
        Month => &[Month, Day, Hour, Minute, Second],
        Week => &[Week, Day, Hour, Minute, Second],
        Day => &[Day, Hour, Minute, Second],
        Hour => &[Hour, Minute, Second],
        Minute => &[Minute, Second],
        Second => &[Second],
    }
}

fn granularity_hierarchies() -> Value {
    use Granularity::*;
    let mut out = Map::new();
    for g in [Year, Quarter, Month, Week, Day, Hour, Minute, Second] {
        out.insert(g.as_str().into(), json!(parents(g).iter().map(|p| p.as_str()).collect::<Vec<_>>()));
    }
    Value::Object(out)
}

/// `BaseQuery.minGranularity`: the finest granularity both roll up from,
/// found as Cube.js finds it (so `minGranularity('year', 'quarter')` is
/// `month`, as there).
pub fn min_granularity(a: Option<Granularity>, b: Option<Granularity>) -> Option<Granularity> {
    let (Some(a), Some(b)) = (a, b) else { return a.or(b) };
    if a == b {
        return Some(a);
    }
    let ah: Vec<Granularity> = parents(a).iter().rev().copied().collect();
    let bh: Vec<Granularity> = parents(b).iter().rev().copied().collect();
    let first_difference = |x: &[Granularity], y: &[Granularity]| {
        x.iter().enumerate().position(|(i, g)| y.get(i) != Some(g)).map_or(-1, |i| i as i64)
    };
    let mut last = first_difference(&ah, &bh).max(first_difference(&bh, &ah));
    if last == -1 && ah.len() == bh.len() {
        last = ah.len() as i64 - 1;
    }
    // Every list ends in `second`, so `last` is at least 1.
    usize::try_from(last - 1).ok().and_then(|i| ah.get(i).copied())
}

/// A JavaScript granularity value: `null`, `undefined` or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Js {
    Null,
    Undefined,
    Is(Granularity),
}

fn min_granularity_js(a: Js, b: Js) -> Js {
    match (a, b) {
        (Js::Is(a), Js::Is(b)) => min_granularity(Some(a), Some(b)).map_or(Js::Null, Js::Is),
        (Js::Null | Js::Undefined, b) => b,
        (a, _) => a,
    }
}

/// `BaseMeasure.windowGranularity`.
fn window_granularity(c: &Cumulative) -> Js {
    match c {
        Cumulative::RunningTotal => Js::Undefined,
        Cumulative::Rolling(RollingWindow { leading, trailing, .. }) => {
            let of = |w: &Option<Window>| match w {
                Some(Window::Interval(i)) => granularity_from_interval(i.unit),
                _ => Js::Undefined,
            };
            min_granularity_js(of(leading), of(trailing))
        }
    }
}

/// `BaseMeasure.granularityFromInterval`: the interval's text holds `day`,
/// `month`, `year`, `week` or `hour`; `minute`, `quarter` and `unbounded`
/// give none.
fn granularity_from_interval(unit: IntervalUnit) -> Js {
    match unit {
        IntervalUnit::Day => Js::Is(Granularity::Day),
        IntervalUnit::Month => Js::Is(Granularity::Month),
        IntervalUnit::Year => Js::Is(Granularity::Year),
        IntervalUnit::Week => Js::Is(Granularity::Week),
        IntervalUnit::Hour => Js::Is(Granularity::Hour),
        IntervalUnit::Minute | IntervalUnit::Quarter => Js::Undefined,
    }
}

/// `BaseTimeDimension.dateRangeGranularity`: the coarsest granularity both
/// the range's start and the instant after its end fall on.
fn date_range_granularity(from: &str, to: &str) -> Option<Granularity> {
    let from: jiff::civil::DateTime = from.parse().ok()?;
    let to: jiff::civil::DateTime = to.parse().ok()?;
    let to = to.checked_add(jiff::Span::new().milliseconds(1)).ok()?;
    min_granularity(Some(granularity_for(from)), Some(granularity_for(to)))
}

/// `BaseQuery.granularityFor`.
fn granularity_for(t: jiff::civil::DateTime) -> Granularity {
    let midnight = t.hour() == 0 && t.minute() == 0 && t.second() == 0 && t.subsec_nanosecond() == 0;
    if midnight && t.month() == 1 && t.day() == 1 {
        Granularity::Year
    } else if midnight && t.day() == 1 {
        Granularity::Month
    } else if midnight && t.weekday() == jiff::civil::Weekday::Monday {
        Granularity::Week
    } else if midnight {
        Granularity::Day
    } else if t.minute() == 0 && t.second() == 0 && t.subsec_nanosecond() == 0 {
        Granularity::Hour
    } else if t.second() == 0 && t.subsec_nanosecond() == 0 {
        Granularity::Minute
    } else {
        Granularity::Second
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::model::{Interval, ModelOptions, load_sources};
    use Granularity::*;

    const MODEL: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    joins:
      - name: Users
        relationship: many_to_one
        sql: "{CUBE}.user_id = {Users}.id"
    measures:
      - {name: count, type: count}
      - {name: total, sql: amount, type: sum}
      - {name: average, sql: amount, type: avg}
      - {name: done, type: count, filters: [{sql: "{CUBE}.status = 'done'"}]}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: status, sql: status, type: string}
      - {name: coupon, sql: coupon, type: string}
      - {name: createdAt, sql: created_at, type: time}
    segments:
      - {name: big, sql: "{CUBE}.amount > 100"}
  - name: Users
    sql_table: users
    measures:
      - {name: count, type: count}
      - {name: total, sql: credit, type: sum}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: city, sql: city, type: string}
"#;

    fn model() -> Model {
        load_sources(&[("m.yml".into(), MODEL.into())], ModelOptions::default()).expect("model loads")
    }

    fn transformed(query: Value) -> Value {
        let model = model();
        let q = Query::parse(&query, &model).expect("query parses");
        transformed_query(&model, &q)
    }

    #[test]
    fn min_granularity_finds_the_common_parent_as_cube_js_does() {
        let cases = [
            (Some(Year), Some(Month), Some(Month)),
            (Some(Week), Some(Month), Some(Day)),
            (Some(Day), Some(Hour), Some(Hour)),
            (Some(Quarter), Some(Quarter), Some(Quarter)),
            // `year`'s list doubles `month`: Cube.js answers `month`, and so do we.
            (Some(Year), Some(Quarter), Some(Month)),
            (None, Some(Week), Some(Week)),
            (Some(Second), None, Some(Second)),
            (None, None, None),
        ];
        for (a, b, want) in cases {
            assert_eq!(min_granularity(a, b), want, "{a:?} {b:?}");
        }
    }

    #[test]
    fn a_date_range_rolls_up_to_what_its_bounds_fall_on() {
        let cases = [
            ("2024-01-01T00:00:00.000", "2024-06-30T23:59:59.999", Some(Month)),
            ("2024-01-01T00:00:00.000", "2024-12-31T23:59:59.999", Some(Year)),
            // 2024-03-04 is a Monday.
            ("2024-03-04T00:00:00.000", "2024-03-17T23:59:59.999", Some(Week)),
            ("2024-03-05T00:00:00.000", "2024-03-07T23:59:59.999", Some(Day)),
            ("2024-03-10T14:00:00.000", "2024-03-10T14:59:59.999", Some(Hour)),
            ("2024-03-10T14:00:07.000", "2024-03-10T14:59:59.999", Some(Second)),
            ("not a date", "2024-03-10T14:59:59.999", None),
        ];
        for (from, to, want) in cases {
            assert_eq!(date_range_granularity(from, to), want, "{from} {to}");
        }
    }

    /// Cube.js 0.33's answer for the same query (the conformance suite's
    /// `sql / filters and time dimension`), field for field.
    #[test]
    fn a_query_with_a_time_dimension_and_a_filter_reads_as_cube_js_answers_it() {
        let got = transformed(json!({
            "measures": ["Orders.total"],
            "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-06-30"]}],
            "filters": [{"member": "Orders.status", "operator": "equals", "values": ["done", "open"]}],
            "limit": 5,
        }));
        let want = json!({
            "sortedDimensions": ["Orders.status"],
            "sortedTimeDimensions": [["Orders.createdAt", "month"]],
            "timeDimensions": [["Orders.createdAt", "month"]],
            "measures": ["Orders.total"],
            "leafMeasureAdditive": true,
            "leafMeasures": ["Orders.total"],
            "measureToLeafMeasures": {"Orders.total": [{"measure": "Orders.total", "additive": true, "type": "sum"}]},
            "hasNoTimeDimensionsWithoutGranularity": true,
            "allFiltersWithinSelectedDimensions": false,
            "isAdditive": true,
            "granularityHierarchies": {
                "year": ["year", "quarter", "month", "month", "day", "hour", "minute", "second"],
                "quarter": ["quarter", "month", "day", "hour", "minute", "second"],
                "month": ["month", "day", "hour", "minute", "second"],
                "week": ["week", "day", "hour", "minute", "second"],
                "day": ["day", "hour", "minute", "second"],
                "hour": ["hour", "minute", "second"],
                "minute": ["minute", "second"],
                "second": ["second"],
            },
            "hasMultipliedMeasures": false,
            "hasCumulativeMeasures": false,
            "windowGranularity": null,
            "filterDimensionsSingleValueEqual": null,
            "ownedDimensions": ["Orders.status"],
            "ownedTimeDimensionsWithRollupGranularity": [["Orders.createdAt", "month"]],
            "ownedTimeDimensionsAsIs": [["Orders.createdAt", "month"]],
        });
        assert_eq!(got, want);
        let keys: Vec<&String> = got.as_object().expect("object").keys().collect();
        let want_keys: Vec<&String> = want.as_object().expect("object").keys().collect();
        assert_eq!(keys, want_keys, "Cube.js's key order");
    }

    #[test]
    fn filters_decide_the_single_value_set_and_whether_they_stay_within_the_dimensions() {
        let t = transformed(json!({
            "measures": ["Orders.count"],
            "dimensions": ["Orders.status"],
            "filters": [{"and": [
                {"member": "Orders.status", "operator": "equals", "values": ["done"]},
                {"member": "Orders.coupon", "operator": "equals", "values": ["VIP"]},
            ]}],
        }));
        assert_eq!(t["filterDimensionsSingleValueEqual"], json!({}), "a Set is written {{}}");
        assert_eq!(t["sortedDimensions"], json!(["Orders.status"]), "a group is filed under its first dimension");
        assert_eq!(t["allFiltersWithinSelectedDimensions"], json!(true));
        assert_eq!(t["ownedDimensions"], json!(["Orders.coupon", "Orders.status"]), "every member of the group");

        let t = transformed(json!({
            "measures": ["Orders.count"],
            "filters": [{"or": [
                {"member": "Orders.status", "operator": "equals", "values": ["done"]},
                {"member": "Orders.coupon", "operator": "set"},
            ]}],
            "segments": ["Orders.big"],
        }));
        assert_eq!(t["filterDimensionsSingleValueEqual"], Value::Null);
        assert_eq!(t["allFiltersWithinSelectedDimensions"], json!(false));
        assert_eq!(t["sortedDimensions"], json!(["Orders.big", "Orders.status"]));

        // A `measureFilter` is filed under no dimension; the measure it
        // applies reads the primary key (`count(pk)`).
        let t = transformed(json!({
            "measures": ["Orders.count"],
            "filters": [{"member": "Orders.done", "operator": "measureFilter"}],
        }));
        assert_eq!(t["sortedDimensions"], json!([null]));
        assert_eq!(t["allFiltersWithinSelectedDimensions"], json!(false));
        assert_eq!(t["ownedDimensions"], json!(["Orders.done", "Orders.id"]));
    }

    #[test]
    fn a_measure_filter_joins_the_measures_but_not_additivity() {
        let t = transformed(json!({
            "measures": ["Orders.count"],
            "dimensions": ["Orders.status"],
            "filters": [{"member": "Orders.average", "operator": "gt", "values": ["10"]}],
        }));
        assert_eq!(t["measures"], json!(["Orders.count", "Orders.average"]));
        assert_eq!(t["isAdditive"], json!(true), "only the query's measures");
        assert_eq!(t["leafMeasureAdditive"], json!(false), "avg is not additive");
        assert_eq!(t["measureToLeafMeasures"]["Orders.average"][0]["type"], json!("avg"));
    }

    #[test]
    fn a_measure_of_a_cube_the_join_multiplies_is_a_multiplied_measure_unless_it_counts_keys() {
        let sum = transformed(json!({"measures": ["Users.total"], "dimensions": ["Orders.status"]}));
        assert_eq!(sum["hasMultipliedMeasures"], json!(true));
        let count = transformed(json!({"measures": ["Users.count"], "dimensions": ["Orders.status"]}));
        assert_eq!(count["hasMultipliedMeasures"], json!(false));
        let own = transformed(json!({"measures": ["Orders.total"], "dimensions": ["Users.city"]}));
        assert_eq!(own["hasMultipliedMeasures"], json!(false));
    }

    #[test]
    fn time_dimensions_without_granularity_roll_up_to_their_range() {
        let t = transformed(json!({
            "measures": ["Orders.count"],
            "timeDimensions": [
                {"dimension": "Orders.createdAt", "dateRange": ["2024-01-01", "2024-03-31"]},
                {"dimension": "Orders.createdAt"},
            ],
        }));
        assert_eq!(t["hasNoTimeDimensionsWithoutGranularity"], json!(false));
        assert_eq!(t["timeDimensions"], json!([["Orders.createdAt", null], ["Orders.createdAt", null]]));
        assert_eq!(t["sortedTimeDimensions"], json!([["Orders.createdAt", "month"], ["Orders.createdAt", null]]));
    }

    /// Measures over measures and cumulative measures come in as facts.
    #[test]
    fn leaf_measures_and_cumulative_facts_follow_the_references() {
        let model = model();
        let id = |name: &str| model.cube_member(name).expect("member");
        let (count, total, average) = (id("Orders.count"), id("Orders.total"), id("Orders.average"));
        // Orders.average := {total} / {count}; Orders.total rolls a
        // window of one month back; Orders.count is a running total.
        let facts = |m: MemberId| {
            let mut f = measure_facts(&model, m);
            if m == average {
                f.kind = "number";
                f.references = vec![total, count];
            } else if m == total {
                let month = Interval { n: 1, unit: IntervalUnit::Month };
                let window =
                    RollingWindow { trailing: Some(Window::Interval(month)), leading: None, offset_start: false };
                f.cumulative = Some(Cumulative::Rolling(window));
            } else if m == count {
                f.cumulative = Some(Cumulative::RunningTotal);
            }
            f
        };
        let q = Query::parse(&json!({"measures": ["Orders.average"]}), &model).expect("parses");
        let t = transform(&model, &q, &facts, &|m| member_references(&model, m));
        assert_eq!(t["leafMeasures"], json!(["Orders.total", "Orders.count"]));
        assert_eq!(
            t["measureToLeafMeasures"],
            json!({"Orders.average": [
                {"measure": "Orders.total", "additive": true, "type": "sum"},
                {"measure": "Orders.count", "additive": true, "type": "count"},
            ]})
        );
        assert_eq!(t["isAdditive"], json!(false));
        assert_eq!(t["leafMeasureAdditive"], json!(true));
        assert_eq!(t["hasCumulativeMeasures"], json!(true));
        assert_eq!(t["windowGranularity"], json!("month"), "a running total's undefined gives way");

        let q = Query::parse(&json!({"measures": ["Orders.count"]}), &model).expect("parses");
        let t = transform(&model, &q, &facts, &|m| member_references(&model, m));
        assert!(t.get("windowGranularity").is_none(), "undefined: JSON.stringify leaves it out");
        assert_eq!(transformed(json!({"measures": ["Orders.count"]}))["windowGranularity"], Value::Null);
    }

    #[test]
    fn references_are_members_of_the_model_and_nothing_else() {
        let model = model();
        let id = |name: &str| model.cube_member(name).expect("member");
        let orders = id("Orders.count").cube;
        let sql = "{CUBE}.x + {CUBE.status} + {coupon} + {Users.city} + {SECURITY_CONTEXT.tenant.filter('t')} + {nope}";
        assert_eq!(references(&model, orders, sql), vec![id("Orders.status"), id("Orders.coupon"), id("Users.city")]);
        assert_eq!(references(&model, orders, "{unclosed"), Vec::new());
    }
}
