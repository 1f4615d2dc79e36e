//! The parts of Cube.js's API gateway that shape a request and its answer,
//! not its data: `normalizeQuery`'s forgiving reading of a query (a numeric
//! string `limit`, a one-day `dateRange`), the echo of the query in
//! responses (`query`, `normalizedQueries`, `pivotQuery`), the default order
//! Cube.js reports, and the blending checks. Pure functions over JSON and the
//! parsed [`Query`]; `cube_api` calls them. Written against
//! `@cubejs-backend/api-gateway` 0.33 (`query.js`, `gateway.js`) and the
//! schema compiler's `BaseQuery.defaultOrder`; the conformance suite
//! (`scripts/cube-conformance/`) compares the results with the real thing.

use serde_json::{Map, Value, json};

use crate::query::time::{Zone, relative_range};
use crate::query::{Query, QueryError};

/// `/^\d\d\d\d-\d\d-\d\d$/`: a date without a time, which Cube.js widens to
/// the whole day.
fn is_plain_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// What Cube.js's `normalizeQuery` accepts before any member is looked at,
/// rewritten into the form tenantgate's parser reads:
/// - `limit` given as a numeric string is accepted by Cube.js's schema and
///   then ignored (`typeof limit === 'number' ? limit : default`), so it is
///   dropped; a `limit` below 1 is refused with Cube.js's message.
/// - a one-element `dateRange` is that day (`[d, d]`).
/// - a relative `dateRange` (`"last 7 days"`) is the `[from, to]` Cube.js's
///   `dateParser` makes of it in the query's `timezone` at `now`, so
///   everything after (the plan, the echo) sees the absolute range, as in
///   Cube.js.
pub fn prepare(raw: &Value, now: jiff::Timestamp) -> Result<Value, QueryError> {
    validate(raw)?;
    let Value::Object(obj) = raw else { return Ok(raw.clone()) };
    let mut obj = obj.clone();
    let zone = match obj.get("timezone") {
        Some(Value::String(tz)) => Zone::parse(tz)?,
        _ => None,
    };
    if let Some(Value::Array(tds)) = obj.get_mut("timeDimensions") {
        for td in tds.iter_mut() {
            if let Some(Value::String(text)) = td.get("dateRange") {
                let (from, to) = relative_range(text, zone.as_ref(), now)?;
                td["dateRange"] = json!([from, to]);
            }
        }
    }
    match obj.get("limit") {
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok_and(|n| n >= 1) => {
            obj.remove("limit");
        }
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => return Err(limit_below_one()),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|n| n < 1.0) => return Err(limit_below_one()),
        _ => {}
    }
    if let Some(Value::Array(tds)) = obj.get_mut("timeDimensions") {
        for td in tds.iter_mut() {
            if let Some(Value::Array(range)) = td.get_mut("dateRange")
                && range.len() == 1
            {
                let day = range[0].clone();
                range.push(day);
            }
        }
    }
    Ok(Value::Object(obj))
}

const ID_PATTERN: &str = r"/^[a-zA-Z0-9_]+\.[a-zA-Z0-9_]+$/";
const DIMENSION_PATTERN: &str = r"/^[a-zA-Z0-9_]+\.[a-zA-Z0-9_]+(\.(second|minute|hour|day|week|month|year))?$/";
const OPERATORS: [&str; 24] = [
    "equals",
    "notEquals",
    "contains",
    "notContains",
    "startsWith",
    "notStartsWith",
    "endsWith",
    "notEndsWith",
    "in",
    "notIn",
    "gt",
    "gte",
    "lt",
    "lte",
    "set",
    "notSet",
    "inDateRange",
    "notInDateRange",
    "onTheDate",
    "beforeDate",
    "beforeOrOnDate",
    "afterDate",
    "afterOrOnDate",
    "measureFilter",
];
const GRANULARITIES: &str = "[quarter, day, month, year, week, hour, minute, second, null]";

fn invalid(message: String) -> QueryError {
    QueryError::Invalid(format!("Invalid query format: {message}"))
}

/// `Cube.member`, as Cube.js's schema's `id` pattern reads it.
fn is_id(s: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    matches!(s.split_once('.'), Some((c, m)) if word(c) && word(m))
}

fn is_dimension_path(s: &str) -> bool {
    const GRAINS: [&str; 7] = ["second", "minute", "hour", "day", "week", "month", "year"];
    is_id(s) || s.rsplit_once('.').is_some_and(|(head, g)| is_id(head) && GRAINS.contains(&g))
}

fn one_filter(f: &Value) -> bool {
    let Some(obj) = f.as_object() else { return false };
    let ids = ["dimension", "member"].iter().filter(|k| obj.contains_key(**k)).count();
    ids == 1
        && obj.iter().all(|(k, v)| match k.as_str() {
            "dimension" | "member" => v.as_str().is_some_and(is_id),
            "operator" => v.as_str().is_some_and(|o| OPERATORS.contains(&o)),
            "values" => v.as_array().is_some_and(|l| l.iter().all(|x| !x.is_object())),
            _ => false,
        })
        && obj.contains_key("operator")
}

fn one_condition(f: &Value) -> bool {
    let Some(obj) = f.as_object() else { return false };
    obj.len() == 1
        && obj.iter().all(|(k, v)| {
            (k == "or" || k == "and")
                && v.as_array().is_some_and(|l| l.iter().all(|x| one_filter(x) || one_condition(x)))
        })
}

/// The checks of Cube.js's query schema (Joi, in the API gateway) that
/// tenantgate's own parser words differently, with Cube.js's messages; and
/// `normalizeQueryFilters`' `Values required for filter`.
fn validate(raw: &Value) -> Result<(), QueryError> {
    let Some(obj) = raw.as_object() else {
        return Err(invalid("\"value\" must be of type object".into()));
    };
    let array = |key: &str| -> Result<Option<&Vec<Value>>, QueryError> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(invalid(format!("\"{key}\" must be an array"))),
        }
    };
    for (key, pattern, ok) in
        [("measures", ID_PATTERN, is_id as fn(&str) -> bool), ("dimensions", DIMENSION_PATTERN, is_dimension_path)]
    {
        for (i, m) in array(key)?.into_iter().flatten().enumerate() {
            if let Some(s) = m.as_str()
                && !ok(s)
            {
                return Err(QueryError::BadMemberName(format!(
                    "Invalid query format: \"{key}[{i}]\" with value {} fails to match the required pattern: {pattern}",
                    Value::String(s.into())
                )));
            }
        }
    }
    for (i, f) in array("filters")?.into_iter().flatten().enumerate() {
        if !one_filter(f) && !one_condition(f) {
            return Err(invalid(format!("\"filters[{i}]\" does not match any of the allowed types")));
        }
    }
    for (i, td) in array("timeDimensions")?.into_iter().flatten().enumerate() {
        match td.get("granularity") {
            None | Some(Value::Null) => {}
            Some(Value::String(g))
                if ["quarter", "day", "month", "year", "week", "hour", "minute", "second"].contains(&g.as_str()) => {}
            Some(_) => {
                return Err(invalid(format!("\"timeDimensions[{i}].granularity\" must be one of {GRANULARITIES}")));
            }
        }
    }
    if let Some(Value::Object(order)) = obj.get("order") {
        for (member, dir) in order {
            if !matches!(dir.as_str(), Some("asc" | "desc")) {
                return Err(invalid(format!("\"order.{member}\" must be one of [asc, desc]")));
            }
        }
    }
    array("segments")?;
    for key in ["total", "renewQuery", "ungrouped"] {
        if obj.get(key).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(format!("\"{key}\" must be a boolean")));
        }
    }
    if let Some(Value::String(s)) = obj.get("limit")
        && s.trim().parse::<f64>().is_err()
    {
        return Err(invalid("\"limit\" must be a number".into()));
    }
    if obj.get("offset").and_then(Value::as_f64).is_some_and(|n| n < 0.0) {
        return Err(invalid("\"offset\" must be greater than or equal to 0".into()));
    }
    const KEYS: [&str; 13] = [
        "measures",
        "dimensions",
        "filters",
        "timeDimensions",
        "order",
        "segments",
        "timezone",
        "limit",
        "offset",
        "total",
        "renewQuery",
        "ungrouped",
        "responseFormat",
    ];
    if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("{} is not allowed", Value::String(key.clone()))));
    }
    fn values_required(list: &[Value]) -> Result<(), QueryError> {
        for f in list {
            for key in ["or", "and"] {
                if let Some(Value::Array(inner)) = f.get(key) {
                    return values_required(inner);
                }
            }
            let op = f.get("operator").and_then(Value::as_str).unwrap_or_default();
            let empty = f.get("values").and_then(Value::as_array).is_none_or(Vec::is_empty);
            if empty && !["set", "notSet", "measureFilter"].contains(&op) {
                return Err(QueryError::Invalid(format!("Values required for filter: {f}")));
            }
        }
        Ok(())
    }
    values_required(array("filters")?.map_or(&[][..], Vec::as_slice))
}

fn limit_below_one() -> QueryError {
    QueryError::Invalid("Invalid query format: \"limit\" must be greater than or equal to 1".into())
}

/// A `dateRange` bound as Cube.js echoes it: `YYYY-MM-DD` widened to the
/// first or last millisecond of the day, a timestamp as given with
/// milliseconds (`.000` when it has none: not widened to `.999`).
fn echo_date(s: &str, end: bool) -> Value {
    if is_plain_date(s) {
        return json!(format!("{s}T{}", if end { "23:59:59.999" } else { "00:00:00.000" }));
    }
    match crate::query::request::widen_date(s, false) {
        Some(t) if t.len() == 19 => json!(format!("{t}.000")),
        Some(t) => json!(t),
        None => json!(s),
    }
}

/// Filters as Cube.js's `normalizeQueryFilters` echoes them: values as
/// strings (`null` kept), the legacy `dimension` key renamed `member`.
fn echo_filters(list: &Value) -> Value {
    let Some(list) = list.as_array() else { return json!([]) };
    Value::Array(
        list.iter()
            .map(|f| {
                let Some(obj) = f.as_object() else { return f.clone() };
                let mut out = obj.clone();
                for key in ["and", "or"] {
                    if let Some(inner) = obj.get(key) {
                        out.insert(key.into(), echo_filters(inner));
                        return Value::Object(out);
                    }
                }
                if let Some(Value::Array(values)) = obj.get("values") {
                    let values = values
                        .iter()
                        .map(|v| match v {
                            Value::Null | Value::String(_) => v.clone(),
                            other => json!(other.to_string()),
                        })
                        .collect();
                    out.insert("values".into(), Value::Array(values));
                }
                if let Some(d) = out.remove("dimension") {
                    out.insert("member".into(), d);
                }
                Value::Object(out)
            })
            .collect(),
    )
}

/// The query as Cube.js reports it back: the request's own keys (so
/// `offset`, `total`, `renewQuery`, `segments` appear exactly when sent),
/// then `limit`, `timezone`, `order` (as `{id, desc}`), `filters` (with the
/// ones the access rules added), `dimensions`, `timeDimensions` (date ranges
/// widened) and `rowLimit`.
pub fn echo(raw: &Value, q: &Query) -> Value {
    let mut out: Map<String, Value> = raw.as_object().cloned().unwrap_or_default();
    out.insert("limit".into(), json!(q.limit));
    let tz = raw.get("timezone").and_then(Value::as_str).unwrap_or("UTC");
    out.insert("timezone".into(), json!(tz));
    out.insert("order".into(), order_list(&q.order));
    out.insert("filters".into(), echo_filters(&q.normalized["filters"]));
    let dimensions: Vec<Value> = raw
        .get("dimensions")
        .and_then(Value::as_array)
        .map(|d| d.iter().filter(|d| d.as_str().is_none_or(|s| s.split('.').count() != 3)).cloned().collect())
        .unwrap_or_default();
    out.insert("dimensions".into(), Value::Array(dimensions));
    let tds: Vec<Value> = raw
        .get("timeDimensions")
        .and_then(Value::as_array)
        .map(|tds| {
            tds.iter()
                .map(|td| {
                    let mut td = td.clone();
                    if let Some(Value::Array(range)) = td.get("dateRange") {
                        let range: Vec<Value> = range
                            .iter()
                            .enumerate()
                            .map(|(i, d)| d.as_str().map_or(d.clone(), |s| echo_date(s, i > 0)))
                            .collect();
                        td["dateRange"] = Value::Array(range);
                    }
                    td
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert("timeDimensions".into(), Value::Array(tds));
    out.insert("rowLimit".into(), json!(q.limit));
    Value::Object(out)
}

fn order_list(order: &[(String, bool)]) -> Value {
    Value::Array(order.iter().map(|(m, desc)| json!({"id": m, "desc": desc})).collect())
}

/// The order the query runs with: the requested one, else Cube.js's
/// default (the first time dimension with a granularity ascending; else,
/// with measures and dimensions, the first measure descending; else the
/// first dimension ascending; else none).
pub fn effective_order(q: &Query) -> Vec<(String, bool)> {
    if !q.order.is_empty() {
        return q.order.clone();
    }
    if let Some(td) = q.time_dimensions.iter().find(|td| td.granularity.is_some()) {
        return vec![(td.name.clone(), false)];
    }
    match (q.measures.first(), q.dimensions.first()) {
        (Some(m), Some(_)) => vec![(m.name.clone(), true)],
        (None, Some(d)) => vec![(d.name.clone(), false)],
        _ => Vec::new(),
    }
}

/// `{member: "asc" | "desc"}`: `/sql`'s `order` and `/dry-run`'s
/// `queryOrder`.
pub fn order_object(order: &[(String, bool)]) -> Value {
    Value::Object(order.iter().map(|(m, d)| (m.clone(), json!(if *d { "desc" } else { "asc" }))).collect())
}

/// What Cube.js's `getNormalizedQueries` makes of a request: one query, a
/// blend (a list of queries), or one query with a `compareDateRange`,
/// expanded into one query per range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    Regular,
    Blending,
    CompareDateRange,
}

impl QueryType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryType::Regular => "regularQuery",
            QueryType::Blending => "blendingQuery",
            QueryType::CompareDateRange => "compareDateRangeQuery",
        }
    }
}

/// Cube.js's `compareDateRangeTransformer`: a query whose time dimension
/// has `compareDateRange` becomes one query per range, that time
/// dimension's `dateRange` set to the range (a relative one is read later,
/// by [`prepare`], as in Cube.js). `None` when the query has none.
pub fn expand_compare_date_range(raw: &Value) -> Result<Option<Vec<Value>>, QueryError> {
    let Some(tds) = raw.get("timeDimensions").and_then(Value::as_array) else { return Ok(None) };
    let mut found: Option<(usize, &Value)> = None;
    for (i, td) in tds.iter().enumerate() {
        if let Some(ranges) = td.get("compareDateRange").filter(|r| !r.is_null()) {
            if found.is_some() {
                return Err(QueryError::Invalid("compareDateRange can only exist for one timeDimension".into()));
            }
            found = Some((i, ranges));
        }
    }
    let Some((index, ranges)) = found else { return Ok(None) };
    let Some(ranges) = ranges.as_array().filter(|r| !r.is_empty() && r.len() <= MAX_COMPARE_RANGES) else {
        return Err(QueryError::Invalid(format!(
            "Invalid query format: \"compareDateRange\" must be an array of 1 to {MAX_COMPARE_RANGES} date ranges"
        )));
    };
    Ok(Some(
        ranges
            .iter()
            .map(|range| {
                let mut q = raw.clone();
                if let Some(Value::Object(td)) = q.get_mut("timeDimensions").and_then(|t| t.get_mut(index)) {
                    td.shift_remove("compareDateRange");
                    td.insert("dateRange".into(), range.clone());
                }
                q
            })
            .collect(),
    ))
}

/// Ranges in one `compareDateRange`: each is a query, and a request holds
/// at most 20.
pub const MAX_COMPARE_RANGES: usize = 20;

/// A compare query's rows are tagged with their range, as Cube.js's
/// `getDateRangeValue` writes it: the first time dimension's (echoed)
/// `dateRange`, joined by ` - `.
pub fn compare_date_range_value(echo: &Value) -> Option<String> {
    let range = echo.get("timeDimensions")?.get(0)?.get("dateRange")?.as_array()?;
    let parts: Option<Vec<&str>> = range.iter().map(Value::as_str).collect();
    Some(parts?.join(" - "))
}

/// The first time dimension's granularity of each query, as Cube.js's
/// `getQueryGranularity` reads them: distinct, absent ones left out.
fn granularities(raw: &[Value]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for q in raw {
        let g =
            q.get("timeDimensions").and_then(|t| t.get(0)).and_then(|t| t.get("granularity")).and_then(Value::as_str);
        if let Some(g) = g
            && !out.contains(&g)
        {
            out.push(g);
        }
    }
    out
}

/// Cube.js's checks on a blending request (several queries), made before
/// any query is compiled.
pub fn check_blending(raw: &[Value]) -> Result<(), QueryError> {
    if raw.len() < 2 {
        return Ok(());
    }
    match granularities(raw).len() {
        0 => Err(QueryError::Invalid("Data blending query without granularity is not supported".into())),
        1 => Ok(()),
        _ => Err(QueryError::Invalid("Data blending query granularities must match".into())),
    }
}

/// `pivotQuery`, as Cube.js's `getPivotQuery` builds it: for one query, that
/// query's echo with `queryType`; for a blend, the measures and dimensions
/// of all queries and one `time` dimension at their granularity; for a
/// compare query, the first query's echo with a `compareDateRange`
/// dimension first.
pub fn pivot_query(raw: &[Value], echoes: &[Value], qt: QueryType) -> Value {
    if qt == QueryType::Blending {
        let mut pivot = Map::new();
        for key in ["measures", "dimensions"] {
            let mut all: Vec<Value> = Vec::new();
            for e in echoes {
                for m in e.get(key).and_then(Value::as_array).into_iter().flatten() {
                    if !all.contains(m) {
                        all.push(m.clone());
                    }
                }
            }
            pivot.insert(key.into(), Value::Array(all));
        }
        let granularity = granularities(raw).first().map_or(Value::Null, |g| json!(g));
        pivot.insert("timeDimensions".into(), json!([{"dimension": "time", "granularity": granularity}]));
        pivot.insert("queryType".into(), json!(qt.as_str()));
        return Value::Object(pivot);
    }
    let mut pivot = echoes.first().cloned().unwrap_or_else(|| json!({}));
    mark(&mut pivot, qt);
    pivot
}

/// What `getPivotQuery` sets on the query it pivots on: `queryType`, and
/// for a compare query the `compareDateRange` dimension.
fn mark(q: &mut Value, qt: QueryType) {
    let Value::Object(obj) = q else { return };
    if qt == QueryType::CompareDateRange {
        let mut dims = vec![json!("compareDateRange")];
        dims.extend(obj.get("dimensions").and_then(Value::as_array).cloned().unwrap_or_default());
        obj.insert("dimensions".into(), Value::Array(dims));
    }
    obj.insert("queryType".into(), json!(qt.as_str()));
}

/// Cube.js's `getPivotQuery` changes the first normalized query itself
/// (unless it blends, when it builds a new one), so `/dry-run`'s
/// `normalizedQueries` and a multi `/load`'s first `query` carry the marks.
pub fn mark_first(echoes: &mut [Value], qt: QueryType) {
    if qt != QueryType::Blending
        && let Some(first) = echoes.first_mut()
    {
        mark(first, qt);
    }
}

/// Blending rows carry the time bucket under `time.<granularity>` too.
pub fn blending_time_key(raw: &Value) -> Option<(String, String)> {
    let td = raw.get("timeDimensions")?.get(0)?;
    let dimension = td.get("dimension")?.as_str()?;
    let granularity = td.get("granularity")?.as_str()?;
    Some((format!("{dimension}.{granularity}"), format!("time.{granularity}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_string_limit_is_dropped_and_a_limit_below_one_refused() {
        assert_eq!(prepare(&json!({"limit": "2"}), jiff::Timestamp::UNIX_EPOCH).ok(), Some(json!({})));
        assert!(prepare(&json!({"limit": 0}), jiff::Timestamp::UNIX_EPOCH).is_err());
        assert!(prepare(&json!({"limit": "-1"}), jiff::Timestamp::UNIX_EPOCH).is_err());
        assert_eq!(prepare(&json!({"limit": 5}), jiff::Timestamp::UNIX_EPOCH).ok(), Some(json!({"limit": 5})));
    }

    #[test]
    fn a_one_day_date_range_becomes_that_day() {
        let q = prepare(
            &json!({"timeDimensions": [{"dimension": "A.t", "dateRange": ["2024-03-10"]}]}),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .ok();
        assert_eq!(
            q,
            Some(json!({"timeDimensions": [{"dimension": "A.t", "dateRange": ["2024-03-10", "2024-03-10"]}]}))
        );
    }

    #[test]
    fn a_relative_date_range_becomes_absolute_in_the_querys_zone() {
        let now: jiff::Timestamp = "2024-03-13T23:30:00Z".parse().expect("now");
        let td = |tz: &str| json!({"timezone": tz, "timeDimensions": [{"dimension": "A.t", "granularity": "day", "dateRange": "yesterday"}]});
        let q = prepare(&td("UTC"), now).expect("prepared");
        assert_eq!(q["timeDimensions"][0]["dateRange"], json!(["2024-03-12T00:00:00.000", "2024-03-12T23:59:59.999"]));
        let q = prepare(&td("Asia/Kolkata"), now).expect("prepared");
        assert_eq!(q["timeDimensions"][0]["dateRange"], json!(["2024-03-13T00:00:00.000", "2024-03-13T23:59:59.999"]));
        assert_eq!(prepare(&td("Not/AZone"), now).map_err(|e| e.code()).err(), Some("unknown_timezone"));
    }

    #[test]
    fn dates_echo_as_cube_js_widens_them() {
        assert_eq!(echo_date("2024-03-10", false), json!("2024-03-10T00:00:00.000"));
        assert_eq!(echo_date("2024-03-10", true), json!("2024-03-10T23:59:59.999"));
        assert_eq!(echo_date("2024-03-10T14:59:59", true), json!("2024-03-10T14:59:59.000"));
        assert_eq!(echo_date("2024-12-31T23:59:59.999Z", true), json!("2024-12-31T23:59:59.999"));
    }

    #[test]
    fn filter_values_echo_as_strings_and_dimension_becomes_member() {
        let f = echo_filters(&json!([{"dimension": "A.n", "operator": "equals", "values": [3, true, null]}]));
        assert_eq!(f, json!([{"member": "A.n", "operator": "equals", "values": ["3", "true", null]}]));
    }

    #[test]
    fn malformed_queries_get_cube_js_schema_messages() {
        let msg = |q: Value| validate(&q).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(msg(json!(5)), "Invalid query format: \"value\" must be of type object");
        assert_eq!(msg(json!({"measures": "A.b"})), "Invalid query format: \"measures\" must be an array");
        assert_eq!(
            msg(json!({"measures": ["count"]})),
            "Invalid query format: \"measures[0]\" with value \"count\" fails to match the required pattern: /^[a-zA-Z0-9_]+\\.[a-zA-Z0-9_]+$/"
        );
        assert_eq!(msg(json!({"measures": ["A.b"], "colour": 1})), "Invalid query format: \"colour\" is not allowed");
        assert_eq!(
            msg(json!({"filters": [{"member": "A.b", "operator": "like", "values": ["x"]}]})),
            "Invalid query format: \"filters[0]\" does not match any of the allowed types"
        );
        assert_eq!(
            msg(json!({"filters": [{"member": "A.b", "operator": "equals"}]})),
            "Values required for filter: {\"member\":\"A.b\",\"operator\":\"equals\"}"
        );
        assert_eq!(
            msg(json!({"timeDimensions": [{"dimension": "A.t", "granularity": "fortnight"}]})),
            "Invalid query format: \"timeDimensions[0].granularity\" must be one of [quarter, day, month, year, week, hour, minute, second, null]"
        );
        assert_eq!(
            msg(json!({"order": {"A.b": "up"}})),
            "Invalid query format: \"order.A.b\" must be one of [asc, desc]"
        );
        assert_eq!(msg(json!({"measures": ["A.b"], "filters": [{"or": [{"member": "A.b", "operator": "set"}]}]})), "");
    }

    #[test]
    fn blending_needs_one_granularity() {
        let td = |g: &str| json!({"timeDimensions": [{"dimension": "A.t", "granularity": g}]});
        assert!(check_blending(&[json!({}), json!({})]).is_err());
        assert!(check_blending(&[td("month"), td("week")]).is_err());
        assert!(check_blending(&[td("month"), td("month")]).is_ok());
        assert!(check_blending(&[json!({})]).is_ok());
    }
}
