//! A Cube.js query (JSON) parsed and checked against the model. Every
//! member must exist; identifiers come only from the model; every value is
//! kept as data for a bound parameter.

use serde_json::{Map, Value, json};

use super::QueryError;
use super::model::{DimensionType, Model};
use super::time::Zone;

/// Cube.js's default row limit.
pub const DEFAULT_LIMIT: u64 = 10_000;
/// Above this, a query is refused (400).
pub const MAX_LIMIT: u64 = 50_000;
/// Bounds on a query's shape, so a hostile query costs little.
const MAX_MEMBERS: usize = 100;
const MAX_FILTERS: usize = 200;
const MAX_FILTER_DEPTH: usize = 8;
const MAX_VALUES: usize = 1000;
/// `contains`/`startsWith`/`endsWith` values per filter: each is one
/// `LIKE` term in an `OR` chain, and SQLite refuses expressions deeper than
/// 1000.
pub const MAX_LIKE_VALUES: usize = 100;
/// Bytes of one filter value. A `LIKE` pattern is at most twice this plus
/// two (escaping), well under SQLite's 50,000-byte pattern limit.
pub const MAX_VALUE_BYTES: usize = 10_000;
/// `order` entries; each names a member of the query, so more than the
/// members a query may name is never needed.
pub const MAX_ORDER: usize = MAX_MEMBERS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Granularity {
    pub(super) fn parse(s: &str) -> Option<Granularity> {
        Some(match s {
            "second" => Granularity::Second,
            "minute" => Granularity::Minute,
            "hour" => Granularity::Hour,
            "day" => Granularity::Day,
            "week" => Granularity::Week,
            "month" => Granularity::Month,
            "quarter" => Granularity::Quarter,
            "year" => Granularity::Year,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Quarter => "quarter",
            Granularity::Year => "year",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Set,
    NotSet,
    InDateRange,
    NotInDateRange,
    /// Cube.js's other name for `inDateRange` (the same two bounds).
    OnTheDate,
    BeforeDate,
    BeforeOrOnDate,
    AfterDate,
    AfterOrOnDate,
    /// Cube.js's drill-down filter on a measure: the measure's own
    /// `filters` as a WHERE condition (none: no condition).
    MeasureFilter,
}

impl Operator {
    /// The `LIKE` family: string dimensions only.
    pub fn is_like(self) -> bool {
        matches!(
            self,
            Operator::Contains
                | Operator::NotContains
                | Operator::StartsWith
                | Operator::NotStartsWith
                | Operator::EndsWith
                | Operator::NotEndsWith
        )
    }

    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "equals" => Operator::Equals,
            "notEquals" => Operator::NotEquals,
            "contains" => Operator::Contains,
            "notContains" => Operator::NotContains,
            "startsWith" => Operator::StartsWith,
            "notStartsWith" => Operator::NotStartsWith,
            "endsWith" => Operator::EndsWith,
            "notEndsWith" => Operator::NotEndsWith,
            "gt" => Operator::Gt,
            "gte" => Operator::Gte,
            "lt" => Operator::Lt,
            "lte" => Operator::Lte,
            "set" => Operator::Set,
            "notSet" => Operator::NotSet,
            "inDateRange" => Operator::InDateRange,
            "notInDateRange" => Operator::NotInDateRange,
            "onTheDate" => Operator::OnTheDate,
            "beforeDate" => Operator::BeforeDate,
            "beforeOrOnDate" => Operator::BeforeOrOnDate,
            "afterDate" => Operator::AfterDate,
            "afterOrOnDate" => Operator::AfterOrOnDate,
            "measureFilter" => Operator::MeasureFilter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "notEquals",
            Operator::Contains => "contains",
            Operator::NotContains => "notContains",
            Operator::StartsWith => "startsWith",
            Operator::NotStartsWith => "notStartsWith",
            Operator::EndsWith => "endsWith",
            Operator::NotEndsWith => "notEndsWith",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Set => "set",
            Operator::NotSet => "notSet",
            Operator::InDateRange => "inDateRange",
            Operator::NotInDateRange => "notInDateRange",
            Operator::OnTheDate => "onTheDate",
            Operator::BeforeDate => "beforeDate",
            Operator::BeforeOrOnDate => "beforeOrOnDate",
            Operator::AfterDate => "afterDate",
            Operator::AfterOrOnDate => "afterOrOnDate",
            Operator::MeasureFilter => "measureFilter",
        }
    }
}

pub use super::join::JoinTree;
use super::join::{self, Hint};
use super::model::MemberId;
pub use super::model::MemberRef;
pub use super::view::{Ref, ViewRef};

/// A member as the query names it: resolved, with the name the client used
/// (which answers in the result).
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub id: MemberId,
    pub name: String,
    /// The view member the client named, if it named one.
    pub view: Option<ViewRef>,
}

impl Named {
    pub fn as_ref(&self) -> Ref {
        Ref { id: self.id, view: self.view }
    }
}

#[derive(Debug, Clone)]
pub struct TimeDimension {
    pub dimension: MemberId,
    pub name: String,
    pub view: Option<ViewRef>,
    pub granularity: Option<Granularity>,
    /// Already widened to full timestamps.
    pub date_range: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Filter {
    Member { member: MemberId, name: String, view: Option<ViewRef>, operator: Operator, values: Vec<Value> },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

impl Filter {
    /// Whether the filter names (measures, dimensions), at any depth: which
    /// of WHERE and HAVING it belongs to. A `measureFilter` is the measure's
    /// own row filters, a WHERE condition.
    pub fn references(&self) -> (bool, bool) {
        match self {
            Filter::Member { operator: Operator::MeasureFilter, .. } => (false, true),
            Filter::Member { member: MemberId { member: MemberRef::Measure(_), .. }, .. } => (true, false),
            Filter::Member { .. } => (false, true),
            Filter::And(list) | Filter::Or(list) => list.iter().fold((false, false), |acc, f| {
                let (m, d) = f.references();
                (acc.0 || m, acc.1 || d)
            }),
        }
    }

    /// Every member the filter names, in order.
    pub fn members(&self, out: &mut Vec<MemberId>) {
        let mut refs = Vec::new();
        self.refs(&mut refs);
        out.extend(refs.iter().map(|r| r.id));
    }

    /// Every member the filter names, as named (a view's or a cube's).
    pub fn refs(&self, out: &mut Vec<Ref>) {
        match self {
            Filter::Member { member, view, .. } => out.push(Ref { id: *member, view: *view }),
            Filter::And(l) | Filter::Or(l) => l.iter().for_each(|f| f.refs(out)),
        }
    }
}

/// A checked query over one join tree of cubes.
#[derive(Debug, Clone)]
pub struct Query {
    pub measures: Vec<Named>,
    pub dimensions: Vec<Named>,
    pub time_dimensions: Vec<TimeDimension>,
    pub filters: Vec<Filter>,
    pub segments: Vec<Named>,
    /// Filters forced in by `[[access.rules]]`, each on a cube of the tree;
    /// rendered with that cube, never judged by the caller's roles.
    pub forced: Vec<Filter>,
    /// Filters forced over the whole join tree: a view's access policies,
    /// on the view's members.
    pub forced_where: Vec<Filter>,
    /// A cube the query reads has access policies and none applies to the
    /// caller: the query answers no rows (`1 = 0`).
    pub deny: bool,
    /// Members answered as their mask (access policies' `member_masking`).
    pub masks: Vec<(MemberId, super::access::Mask)>,
    /// The cubes the query reads and how they are joined.
    pub join: JoinTree,
    /// (member name as in the query, descending)
    pub order: Vec<(String, bool)>,
    /// Members `order` names that the query does not select (Cube.js orders
    /// by them all the same); part of [`Query::refs`], so roles judge them.
    pub order_only: Vec<Named>,
    pub limit: u64,
    pub offset: u64,
    /// Cube.js's `total: true`: also count the rows without limit.
    pub total: bool,
    /// Cube.js's `ungrouped: true`: one row per row of the cube, no GROUP
    /// BY, each measure its row's value (a count is 1).
    pub ungrouped: bool,
    /// The query's `timezone` (`None`: UTC): buckets are local times there,
    /// and date ranges and date filters are local times turned into UTC
    /// instants when bound.
    pub timezone: Option<Zone>,
    /// The query as Cube.js reports it back (`query` in responses).
    pub normalized: Value,
}

impl Query {
    /// Parse and check `raw` against `model`.
    pub fn parse(raw: &Value, model: &Model) -> Result<Query, QueryError> {
        let Some(obj) = raw.as_object() else {
            return Err(QueryError::Invalid("the query must be a JSON object".into()));
        };
        for key in obj.keys() {
            const KNOWN: [&str; 14] = [
                "measures",
                "dimensions",
                "timeDimensions",
                "filters",
                "segments",
                "order",
                "limit",
                "offset",
                "timezone",
                "renewQuery",
                "ungrouped",
                "total",
                "responseFormat",
                "joinHints",
            ];
            if !KNOWN.contains(&key.as_str()) {
                return Err(QueryError::Invalid(format!("unknown query property {}", short(key))));
            }
        }
        let ungrouped = obj.get("ungrouped").and_then(Value::as_bool) == Some(true);
        let measures = names(obj, "measures")?;
        let dimensions = names(obj, "dimensions")?;
        let segments = names(obj, "segments")?;
        let raw_tds = match obj.get("timeDimensions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(QueryError::Invalid("timeDimensions must be an array".into())),
        };
        if measures.len() + dimensions.len() + segments.len() + raw_tds.len() > MAX_MEMBERS {
            return Err(QueryError::Invalid(format!("a query may name at most {MAX_MEMBERS} members")));
        }
        let has_granular_td = raw_tds.iter().any(|td| td.get("granularity").is_some_and(|g| !g.is_null()));
        if measures.is_empty() && dimensions.is_empty() && !has_granular_td {
            return Err(QueryError::Empty);
        }

        let measures_r =
            resolve_all(model, &measures, "a measure", Use::Column, |r| matches!(r, MemberRef::Measure(_)))?;
        let dimensions_r =
            resolve_all(model, &dimensions, "a dimension", Use::Column, |r| matches!(r, MemberRef::Dimension(_)))?;
        let segments_r =
            resolve_all(model, &segments, "a segment", Use::Condition, |r| matches!(r, MemberRef::Segment(_)))?;
        let time_dimensions = raw_tds.iter().map(|td| time_dimension(model, td)).collect::<Result<Vec<_>, _>>()?;

        let filters = match obj.get("filters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => {
                let mut count = 0;
                list.iter().map(|f| filter(model, f, 1, &mut count)).collect::<Result<Vec<_>, _>>()?
            }
            Some(_) => return Err(QueryError::Invalid("filters must be an array".into())),
        };

        // Cube.js's order of the cubes to join: the query's joinHints, then
        // the cubes of measures, dimensions, segments, dimension filters,
        // measure filters and time dimensions; a view member's cube by its
        // view's join path.
        let mut hints: Vec<Hint> = join_hints(model, obj.get("joinHints"))?;
        let mut refs: Vec<Ref> = Vec::new();
        refs.extend(measures_r.iter().chain(&dimensions_r).chain(&segments_r).map(Named::as_ref));
        let (measure_filters, dimension_filters): (Vec<&Filter>, Vec<&Filter>) =
            filters.iter().partition(|f| f.references().0);
        for f in dimension_filters.into_iter().chain(measure_filters) {
            f.refs(&mut refs);
        }
        refs.extend(time_dimensions.iter().map(|td| Ref { id: td.dimension, view: td.view }));
        for r in refs {
            let hint = model.ref_hint(r);
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        let join = join::build(model, &hints)?;
        // A cube the tree passes through is read as much as a queried one.
        for c in join.cubes() {
            if let Some(feature) = &model.cubes[c].unsupported {
                return Err(QueryError::MemberNotSupported {
                    member: model.cubes[c].name.clone(),
                    feature: feature.clone(),
                });
            }
        }

        if ungrouped {
            ungrouped_checks(model, &join, &measures_r, &dimensions_r, &filters)?;
        }

        let limit = match obj.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(v) => {
                let n = v.as_u64().ok_or_else(|| QueryError::Invalid("limit must be a non-negative integer".into()))?;
                if n > MAX_LIMIT {
                    return Err(QueryError::Invalid(format!("Limit of {n} is exceeded. Max limit is {MAX_LIMIT}")));
                }
                n
            }
        };
        let offset = match obj.get("offset") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= 1_000_000_000)
                .ok_or_else(|| QueryError::Invalid("offset must be a non-negative integer".into()))?,
        };
        let timezone = match obj.get("timezone") {
            None | Some(Value::Null) => None,
            Some(Value::String(tz)) => Zone::parse(tz)?,
            Some(_) => return Err(QueryError::Invalid("timezone must be a string".into())),
        };

        let mut in_query: Vec<&str> = measures.iter().chain(&dimensions).map(String::as_str).collect();
        let td_names: Vec<String> = time_dimensions
            .iter()
            .filter_map(|td| td.granularity.map(|g| format!("{}.{}", td.name, g.as_str())))
            .collect();
        in_query.extend(time_dimensions.iter().filter(|td| td.granularity.is_some()).map(|td| td.name.as_str()));
        in_query.extend(td_names.iter().map(String::as_str));
        let (order, order_only) = order(model, obj.get("order"), &in_query)?;
        // A member ordered by but not selected is read from the query's own
        // cubes (Cube.js would join its cube in; tenantgate keeps the tree).
        if !order_only.is_empty() {
            // A grouped query orders by aggregates or its own columns only
            // (PostgreSQL 42803 otherwise).
            if let Some(n) = order_only.iter().find(|n| !ungrouped && matches!(n.id.member, MemberRef::Dimension(_))) {
                return Err(QueryError::Invalid(format!(
                    "{} is ordered by but not selected; a dimension must be selected to order by it",
                    short(&n.name)
                )));
            }
            if !join.edges.is_empty() {
                return Err(QueryError::Invalid(
                    "ordering by a member the query does not select is not supported over joined cubes".into(),
                ));
            }
            if let Some(n) = order_only.iter().find(|n| n.id.cube != join.root) {
                return Err(QueryError::Invalid(format!(
                    "{} is ordered by but its cube is not part of the query",
                    short(&n.name)
                )));
            }
        }

        let normalized = json!({
            "measures": measures,
            "dimensions": dimensions,
            "timeDimensions": raw_tds,
            "segments": segments,
            "filters": obj.get("filters").cloned().unwrap_or(json!([])),
            "order": order.iter().map(|(m, desc)| json!([m, if *desc { "desc" } else { "asc" }])).collect::<Vec<_>>(),
            "limit": limit,
            "offset": offset,
            "timezone": "UTC",
            "rowLimit": limit,
        });
        Ok(Query {
            measures: measures_r,
            dimensions: dimensions_r,
            time_dimensions,
            filters,
            segments: segments_r,
            forced: Vec::new(),
            forced_where: Vec::new(),
            deny: false,
            masks: Vec::new(),
            join,
            order,
            order_only,
            limit,
            offset,
            total: obj.get("total").and_then(Value::as_bool).unwrap_or(false),
            ungrouped,
            timezone,
            normalized,
        })
    }
}

impl Query {
    /// Every member the query names, in order: measures, dimensions, time
    /// dimensions, segments, filters (at any depth), members only ordered by. Forced filters are
    /// ours, not the client's, and are not listed.
    pub fn members(&self) -> Vec<MemberId> {
        self.refs().into_iter().map(|r| r.id).collect()
    }

    /// The same, as the client named them: a view member stays the view's.
    pub fn refs(&self) -> Vec<Ref> {
        let mut out: Vec<Ref> = self.measures.iter().map(Named::as_ref).collect();
        out.extend(self.dimensions.iter().map(Named::as_ref));
        out.extend(self.time_dimensions.iter().map(|td| Ref { id: td.dimension, view: td.view }));
        out.extend(self.segments.iter().map(Named::as_ref));
        self.filters.iter().for_each(|f| f.refs(&mut out));
        out.extend(self.order_only.iter().map(Named::as_ref));
        out
    }
}

/// What Cube.js's `initUngrouped` requires of an ungrouped query (the
/// primary key among the dimensions, no measure filter), and what
/// tenantgate does not render ungrouped: joined cubes, measures with
/// `filters`.
fn ungrouped_checks(
    model: &Model,
    join: &JoinTree,
    measures: &[Named],
    dimensions: &[Named],
    filters: &[Filter],
) -> Result<(), QueryError> {
    if !join.edges.is_empty() {
        return Err(QueryError::Invalid("ungrouped queries over joined cubes are not supported".into()));
    }
    let cube = &model.cubes[join.root];
    if let Some(pk) = cube.primary_key()
        && !dimensions.iter().any(|d| d.id.cube == join.root && d.id.member == MemberRef::Dimension(pk))
    {
        return Err(QueryError::Compiler(format!(
            "Ungrouped query requires primary keys to be present in dimensions: '{}.{}'. Pass allowUngroupedWithoutPrimaryKey option to disable this check.",
            cube.name, cube.dimensions[pk].name
        )));
    }
    if filters.iter().any(|f| f.references().0) {
        return Err(QueryError::Compiler("Measure filters aren't allowed in ungrouped query".into()));
    }
    for m in measures {
        if let MemberRef::Measure(i) = m.id.member
            && !model.cubes[m.id.cube].measures[i].filters.is_empty()
        {
            return Err(QueryError::Invalid(format!(
                "{} has filters, which tenantgate does not render in an ungrouped query",
                short(&m.name)
            )));
        }
    }
    Ok(())
}

/// `joinHints: [["Orders", "Users"], ...]` (or a cube name): paths of cubes
/// to join, in that order.
fn join_hints(model: &Model, raw: Option<&Value>) -> Result<Vec<Hint>, QueryError> {
    let bad = || QueryError::Invalid("joinHints must be an array of cube names or arrays of them".into());
    let list = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) if list.len() <= MAX_MEMBERS => list,
        Some(_) => return Err(bad()),
    };
    let cube = |v: &Value| -> Result<usize, QueryError> {
        let name = v.as_str().ok_or_else(bad)?;
        model
            .cubes
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| QueryError::Invalid(format!("joinHints: no cube named {}", short(name))))
    };
    list.iter()
        .map(|h| match h {
            Value::Array(path) if !path.is_empty() && path.len() <= MAX_MEMBERS => path.iter().map(cube).collect(),
            Value::String(_) => Ok(vec![cube(h)?]),
            _ => Err(bad()),
        })
        .collect()
}

fn names(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, QueryError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| QueryError::Invalid(format!("{key} must be an array of member names")))
            })
            .collect(),
        Some(_) => Err(QueryError::Invalid(format!("{key} must be an array of member names"))),
    }
}

/// How a query names a member: as a column of the result (a measure, a
/// dimension, a time dimension with a granularity) or only as a condition
/// (a filter, a segment, a date range). Cube.js refuses hidden members as
/// columns only, so a hidden primary key can still be filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Column,
    Condition,
}

/// Resolve `Cube.member` or `View.member`, refusing what the query may not
/// name here.
fn resolve(model: &Model, member: &str, usage: Use) -> Result<Ref, QueryError> {
    let r = model.resolve(member)?;
    if let Some(feature) = model.ref_unsupported(r) {
        return Err(QueryError::MemberNotSupported { member: member.to_string(), feature: feature.to_string() });
    }
    if usage == Use::Column && !model.ref_is_public(r) {
        return Err(QueryError::HiddenMember(member.to_string()));
    }
    Ok(r)
}

/// Resolve names that must all be one kind of member (`want` picks it).
fn resolve_all(
    model: &Model,
    names: &[String],
    what: &str,
    usage: Use,
    want: impl Fn(MemberRef) -> bool,
) -> Result<Vec<Named>, QueryError> {
    names
        .iter()
        .map(|m| {
            let r = resolve(model, m, usage)?;
            match r.id.member {
                member if want(member) => Ok(Named { id: r.id, name: m.clone(), view: r.view }),
                // Cube.js looks a measure up among measures (a dimension
                // among dimensions): another kind is not found there.
                MemberRef::Measure(_) | MemberRef::Dimension(_) if what != "a segment" => {
                    Err(QueryError::UnknownMember(m.clone()))
                }
                _ => Err(QueryError::Invalid(format!("{} is not {what}", short(m)))),
            }
        })
        .collect()
}

fn time_dimension(model: &Model, td: &Value) -> Result<TimeDimension, QueryError> {
    let name = td
        .get("dimension")
        .and_then(Value::as_str)
        .ok_or_else(|| QueryError::Invalid("each time dimension needs a dimension".into()))?;
    let usage = if td.get("granularity").is_some_and(|g| !g.is_null()) { Use::Column } else { Use::Condition };
    let Ref { id, view } = resolve(model, name, usage)?;
    match id.member {
        MemberRef::Dimension(i) if model.cubes[id.cube].dimensions[i].kind == DimensionType::Time => {}
        _ => return Err(QueryError::Invalid(format!("{} is not a time dimension", short(name)))),
    }
    let granularity = match td.get("granularity") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => Some(Granularity::parse(g).ok_or_else(|| {
            QueryError::Invalid(format!(
                "granularity {} is not one of second, minute, hour, day, week, month, quarter, year",
                short(g)
            ))
        })?),
        Some(_) => return Err(QueryError::Invalid("granularity must be a string".into())),
    };
    let date_range = match td.get("dateRange") {
        None | Some(Value::Null) => None,
        Some(Value::Array(r)) if r.len() == 2 => {
            let from = r[0].as_str().and_then(|s| widen_date(s, false)).ok_or_else(bad_date)?;
            let to = r[1].as_str().and_then(|s| widen_date(s, true)).ok_or_else(bad_date)?;
            Some((from, to))
        }
        Some(Value::String(_)) => {
            return Err(QueryError::Invalid(
                "relative date ranges such as \"last week\" are not supported; send [from, to]".into(),
            ));
        }
        Some(_) => return Err(QueryError::Invalid("dateRange must be [from, to]".into())),
    };
    Ok(TimeDimension { dimension: id, name: name.to_string(), view, granularity, date_range })
}

fn bad_date() -> QueryError {
    QueryError::Invalid("dates must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.mmm]".into())
}

/// `2024-01-31` -> `2024-01-31T00:00:00.000` (from) or
/// `2024-01-31T23:59:59.999` (to); a timestamp is kept as given, checked,
/// with milliseconds (`.000` when it has none, either end), as Cube.js's
/// `formatFromDate`/`formatToDate` and the API gateway read them.
pub fn widen_date(s: &str, end: bool) -> Option<String> {
    let s = s.trim_end_matches('Z');
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let date_ok = b.len() >= 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    if !date_ok {
        return None;
    }
    if b.len() == 10 {
        return Some(format!("{s}T{}", if end { "23:59:59.999" } else { "00:00:00.000" }));
    }
    let time_ok = b.len() >= 19
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    // Checked only once the time part is known to be there: found by the
    // query fuzz target (`2024-01-01T1` indexed past its end).
    if !time_ok {
        return None;
    }
    let frac_ok = b.len() == 19 || (b[19] == b'.' && b.len() > 20 && b.len() <= 26 && digits(20..b.len()));
    if !frac_ok {
        return None;
    }
    let mut out = format!("{}T{}", &s[..10], &s[11..19]);
    if b.len() == 19 {
        out.push_str(".000");
    } else {
        out.push_str(&format!("{:0<4}", &s[19..23.min(s.len())]));
    }
    Some(out)
}

/// One filter in the query's REST format, checked as a query's would be
/// (access policies' row-level filters, once their values are resolved).
pub fn parse_filter(model: &Model, f: &Value) -> Result<Filter, QueryError> {
    filter(model, f, 1, &mut 0)
}

fn filter(model: &Model, f: &Value, depth: usize, count: &mut usize) -> Result<Filter, QueryError> {
    *count += 1;
    if depth > MAX_FILTER_DEPTH || *count > MAX_FILTERS {
        return Err(QueryError::Invalid(format!(
            "filters may nest {MAX_FILTER_DEPTH} levels and hold {MAX_FILTERS} conditions at most"
        )));
    }
    let Some(obj) = f.as_object() else { return Err(QueryError::Invalid("each filter must be an object".into())) };
    for (key, make) in [("and", Filter::And as fn(Vec<Filter>) -> Filter), ("or", Filter::Or)] {
        if let Some(list) = obj.get(key) {
            let list =
                list.as_array().ok_or_else(|| QueryError::Invalid(format!("{key} must be an array of filters")))?;
            if obj.len() != 1 {
                return Err(QueryError::Invalid(format!("a filter with {key} may hold nothing else")));
            }
            let list = list.iter().map(|f| filter(model, f, depth + 1, count)).collect::<Result<Vec<_>, _>>()?;
            // A group is either WHERE (dimensions) or HAVING (measures); a
            // group with both has no SQL (PostgreSQL 42803), as in Cube.js.
            let (measures, dimensions) = list.iter().fold((false, false), |acc, f| {
                let (m, d) = f.references();
                (acc.0 || m, acc.1 || d)
            });
            if measures && dimensions {
                // Cube.js names the group as JSON (bounded here).
                let group: String = f.to_string().chars().take(2000).collect();
                return Err(QueryError::Compiler(format!(
                    "You cannot use dimension and measure in same condition: {group}"
                )));
            }
            return Ok(make(list));
        }
    }
    let name = obj
        .get("member")
        .or_else(|| obj.get("dimension"))
        .and_then(Value::as_str)
        .ok_or_else(|| QueryError::Invalid("each filter needs a member".into()))?;
    let Ref { id: member, view } = resolve(model, name, Use::Condition)?;
    if matches!(member.member, MemberRef::Segment(_)) {
        return Err(QueryError::Invalid(format!("{} is a segment; use segments", short(name))));
    }
    let op_name = obj.get("operator").and_then(Value::as_str).unwrap_or("");
    let operator = Operator::parse(op_name).ok_or_else(|| {
        QueryError::Invalid(format!("unknown operator {} in the filter on {}", short(op_name), short(name)))
    })?;
    let values = match obj.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(v)) if v.len() <= MAX_VALUES => v.clone(),
        Some(Value::Array(_)) => {
            return Err(QueryError::Invalid(format!("a filter may hold {MAX_VALUES} values at most")));
        }
        Some(_) => return Err(QueryError::Invalid("filter values must be an array".into())),
    };
    let need = match operator {
        Operator::Set | Operator::NotSet | Operator::MeasureFilter => Some(0),
        // Cube.js takes one value too and ends the range at the end of today
        // by its clock: an answer that changes with the day it is asked.
        Operator::InDateRange | Operator::NotInDateRange | Operator::OnTheDate => Some(2),
        Operator::BeforeDate
        | Operator::BeforeOrOnDate
        | Operator::AfterDate
        | Operator::AfterOrOnDate
        | Operator::Gt
        | Operator::Gte
        | Operator::Lt
        | Operator::Lte => Some(1),
        _ => None,
    };
    match need {
        Some(0) if !values.is_empty() => {
            return Err(QueryError::Invalid(format!("{op_name} takes no values")));
        }
        Some(n) if n > 0 && values.len() != n => {
            return Err(QueryError::Invalid(format!("{op_name} takes exactly {n} value(s)")));
        }
        None if values.is_empty() => {
            return Err(QueryError::Invalid(format!("{op_name} needs at least one value")));
        }
        _ => {}
    }
    // `null` is a value of the (not) equals and the LIKE family, as in
    // Cube.js: `equals [null]` is IS NULL, `notEquals [null]` IS NOT NULL.
    let null_ok = need.is_none();
    if values.iter().any(|v| !(v.is_string() || v.is_number() || v.is_boolean() || (null_ok && v.is_null()))) {
        return Err(QueryError::Invalid(if null_ok {
            "filter values must be strings, numbers, booleans or null".into()
        } else {
            format!("{op_name} takes strings, numbers or booleans")
        }));
    }
    if values.iter().any(|v| v.as_str().is_some_and(|s| s.len() > MAX_VALUE_BYTES)) {
        return Err(QueryError::Invalid(format!("a filter value may be {MAX_VALUE_BYTES} bytes at most")));
    }
    if operator == Operator::MeasureFilter && !matches!(member.member, MemberRef::Measure(_)) {
        return Err(QueryError::Invalid(format!("measureFilter applies to measures only, not to {}", short(name))));
    }
    if operator.is_like() {
        let string_dimension = matches!(member.member,
            MemberRef::Dimension(i) if model.cubes[member.cube].dimensions[i].kind == DimensionType::String);
        if !string_dimension {
            return Err(QueryError::Invalid(format!(
                "{op_name} applies to string dimensions only, not to {}",
                short(name)
            )));
        }
        if values.len() > MAX_LIKE_VALUES {
            return Err(QueryError::Invalid(format!("{op_name} may hold {MAX_LIKE_VALUES} values at most")));
        }
    }
    Ok(Filter::Member { member, name: name.to_string(), view, operator, values })
}

type Order = (Vec<(String, bool)>, Vec<Named>);

fn order(model: &Model, raw: Option<&Value>, in_query: &[&str]) -> Result<Order, QueryError> {
    let pairs: Vec<(String, Value)> = match raw {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::String(m), d]) => Ok((m.clone(), d.clone())),
                _ => Err(QueryError::Invalid(
                    "order must be an object or an array of [member, \"asc\"|\"desc\"] pairs".into(),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(QueryError::Invalid("order must be an object or an array of pairs".into())),
    };
    if pairs.len() > MAX_ORDER {
        return Err(QueryError::Invalid(format!("order may hold {MAX_ORDER} entries at most")));
    }
    let mut only: Vec<Named> = Vec::new();
    let order = pairs
        .into_iter()
        .map(|(m, d)| {
            let desc = match d.as_str() {
                Some("desc") => true,
                Some("asc") => false,
                _ => return Err(QueryError::Invalid(format!("order of {} must be \"asc\" or \"desc\"", short(&m)))),
            };
            if !in_query.contains(&m.as_str()) && !only.iter().any(|n| n.name == m) {
                // Ordering reveals as much as selecting: a column's checks.
                let r = resolve(model, &m, Use::Column)?;
                if matches!(r.id.member, MemberRef::Segment(_)) {
                    return Err(QueryError::Invalid(format!("{} is a segment and cannot be ordered by", short(&m))));
                }
                only.push(Named { id: r.id, name: m.clone(), view: r.view });
            }
            Ok((m, desc))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((order, only))
}

/// A client's string, bounded and quoted for an error message.
pub fn short(s: &str) -> String {
    crate::text::quoted(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_widen_to_timestamps_and_anything_else_is_refused_without_panicking() {
        assert_eq!(widen_date("2024-01-31", false).as_deref(), Some("2024-01-31T00:00:00.000"));
        assert_eq!(widen_date("2024-01-31", true).as_deref(), Some("2024-01-31T23:59:59.999"));
        assert_eq!(widen_date("2024-01-31T10:20:30Z", true).as_deref(), Some("2024-01-31T10:20:30.000"));
        assert_eq!(widen_date("2024-01-31 10:20:30.5", false).as_deref(), Some("2024-01-31T10:20:30.500"));
        // Every prefix and a few corruptions of a full timestamp: refused, never
        // a panic (the fuzz finding was a prefix like "2024-01-31T1").
        let full = "2024-01-31T10:20:30.123456";
        for end in 0..=full.len() {
            let _ = widen_date(&full[..end], false);
        }
        for bad in [
            "2024-01-31T",
            "2024-01-31Tx",
            "2024-01-31T10:20:30.",
            "2024-01-31T10:20:30.1234567",
            "2024-1-31",
            "ünïcødé-10",
        ] {
            assert_eq!(widen_date(bad, false), None, "{bad}");
        }
    }
}
