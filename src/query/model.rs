//! The data model: Cube.js's YAML shape (`cubes:` with measures, dimensions
//! and segments), loaded and checked once at startup. Every problem in every
//! file is reported together, each with its file and cube.

use std::path::Path;

use serde_json::Value;

use super::QueryError;
use super::template::{self, ContextOp, Piece};

#[derive(Debug, Clone)]
pub struct Model {
    pub cubes: Vec<Cube>,
}

#[derive(Debug, Clone)]
pub struct Cube {
    pub name: String,
    pub title: String,
    /// The SQL alias: the name in snake case (`MyOrders` -> `my_orders`).
    pub alias: String,
    pub source: CubeSource,
    pub measures: Vec<Measure>,
    pub dimensions: Vec<Dimension>,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
pub enum CubeSource {
    /// `sql:`, with security-context templates.
    Sql(Vec<Piece>),
    /// `sql_table:`.
    Table(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureType {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionType {
    String,
    Number,
    Time,
    Boolean,
}

#[derive(Debug, Clone)]
pub struct Measure {
    pub name: String,
    pub title: String,
    pub kind: MeasureType,
    /// Raw member SQL (`{CUBE}` allowed); `None` only for `count`.
    pub sql: Option<String>,
    pub filters: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Dimension {
    pub name: String,
    pub title: String,
    pub kind: DimensionType,
    pub sql: String,
    pub primary_key: bool,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub name: String,
    pub title: String,
    pub sql: String,
}

/// What the model allows, from `[model]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelOptions {
    pub allow_unsafe_value: bool,
}

impl MeasureType {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureType::Count => "count",
            MeasureType::CountDistinct => "countDistinct",
            MeasureType::Sum => "sum",
            MeasureType::Avg => "avg",
            MeasureType::Min => "min",
            MeasureType::Max => "max",
            MeasureType::Number => "number",
        }
    }
}

impl DimensionType {
    pub fn as_str(self) -> &'static str {
        match self {
            DimensionType::String => "string",
            DimensionType::Number => "number",
            DimensionType::Time => "time",
            DimensionType::Boolean => "boolean",
        }
    }
}

impl Model {
    pub fn empty() -> Model {
        Model { cubes: Vec::new() }
    }

    pub fn cube(&self, name: &str) -> Option<&Cube> {
        self.cubes.iter().find(|c| c.name == name)
    }

    /// Resolve `Cube.member` to its id: the one member lookup, used by
    /// request parsing, access checks and the build step.
    pub fn member(&self, name: &str) -> Result<MemberId, QueryError> {
        let (cube_name, member) = match name.split_once('.') {
            Some((c, m)) if !c.is_empty() && !m.is_empty() => (c, m),
            _ => return Err(QueryError::UnknownMember(name.to_string())),
        };
        let cube = self
            .cubes
            .iter()
            .position(|c| c.name == cube_name)
            .ok_or_else(|| QueryError::UnknownMember(name.to_string()))?;
        let c = &self.cubes[cube];
        let kind = if let Some(i) = c.measures.iter().position(|m| m.name == member) {
            MemberRef::Measure(i)
        } else if let Some(i) = c.dimensions.iter().position(|d| d.name == member) {
            MemberRef::Dimension(i)
        } else if let Some(i) = c.segments.iter().position(|s| s.name == member) {
            MemberRef::Segment(i)
        } else {
            return Err(QueryError::UnknownMember(name.to_string()));
        };
        Ok(MemberId { cube, member: kind })
    }

    /// `Cube.member` as the model spells it.
    pub fn member_name(&self, id: MemberId) -> String {
        let c = &self.cubes[id.cube];
        let member = match id.member {
            MemberRef::Measure(i) => &c.measures[i].name,
            MemberRef::Dimension(i) => &c.dimensions[i].name,
            MemberRef::Segment(i) => &c.segments[i].name,
        };
        format!("{}.{member}", c.name)
    }
}

/// A member of a cube: measure, dimension or segment, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRef {
    Measure(usize),
    Dimension(usize),
    Segment(usize),
}

/// A member of the model: its cube (index into `Model::cubes`) and itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberId {
    pub cube: usize,
    pub member: MemberRef,
}

/// Load every `.yml`/`.yaml` file under `dir` (sorted, so errors come in a
/// stable order). A missing folder is an empty model.
pub fn load_dir(dir: &Path, opts: ModelOptions) -> Result<Model, Vec<String>> {
    let mut files = Vec::new();
    if dir.is_dir() {
        collect(dir, &mut files).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
    }
    files.sort();
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => sources.push((f.display().to_string(), text)),
            Err(e) => errors.push(format!("{}: cannot read: {e}", f.display())),
        }
    }
    match load_sources(&sources, opts) {
        Ok(m) if errors.is_empty() => Ok(m),
        Ok(_) => Err(errors),
        Err(mut e) => {
            errors.append(&mut e);
            Err(errors)
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Load from `(file name, YAML text)` pairs.
pub fn load_sources(sources: &[(String, String)], opts: ModelOptions) -> Result<Model, Vec<String>> {
    let mut errors = Vec::new();
    let mut cubes: Vec<Cube> = Vec::new();
    for (file, text) in sources {
        let doc: Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{file}: invalid YAML: {}", e.to_string().lines().next().unwrap_or_default()));
                continue;
            }
        };
        let Some(list) = doc.get("cubes").and_then(Value::as_array) else {
            errors.push(format!("{file}: expected a top-level `cubes:` list"));
            continue;
        };
        for (i, raw) in list.iter().enumerate() {
            let mut cx = CubeCx { file, cube: format!("#{i}"), errors: &mut errors };
            if let Some(cube) = cube(&mut cx, raw, opts) {
                if cubes.iter().any(|c| c.name == cube.name) {
                    cx.err(format!("a cube named {} is already defined", cube.name));
                } else {
                    cubes.push(cube);
                }
            }
        }
    }
    if errors.is_empty() { Ok(Model { cubes }) } else { Err(errors) }
}

struct CubeCx<'a> {
    file: &'a str,
    cube: String,
    errors: &'a mut Vec<String>,
}

impl CubeCx<'_> {
    fn err(&mut self, msg: impl AsRef<str>) {
        self.errors.push(format!("{}: cube {}: {}", self.file, self.cube, msg.as_ref()));
    }
}

/// Cube keys we accept and ignore (documented Cube.js features that do not
/// change what a query returns here).
const IGNORED_CUBE_KEYS: [&str; 8] =
    ["description", "meta", "public", "shown", "data_source", "refresh_key", "pre_aggregations", "sql_alias"];

fn cube(cx: &mut CubeCx<'_>, raw: &Value, opts: ModelOptions) -> Option<Cube> {
    let Some(obj) = raw.as_object() else {
        cx.err("expected a mapping");
        return None;
    };
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if is_member_name(n) => n.to_string(),
        Some(n) => {
            cx.err(format!("{n:?} is not a valid cube name (letters, digits and _)"));
            return None;
        }
        None => {
            cx.err("has no name");
            return None;
        }
    };
    cx.cube = name.clone();
    for key in obj.keys() {
        let known = ["name", "title", "sql", "sql_table", "measures", "dimensions", "segments", "joins"];
        if !known.contains(&key.as_str()) && !IGNORED_CUBE_KEYS.contains(&key.as_str()) {
            cx.err(format!("unknown key {key:?}"));
        }
    }
    if obj.get("joins").is_some_and(|j| j.as_array().is_some_and(|a| !a.is_empty())) {
        cx.err("joins are not supported yet; query each cube on its own");
    }
    let source = match (obj.get("sql"), obj.get("sql_table")) {
        (Some(Value::String(sql)), None) => match template::parse(sql) {
            Ok(pieces) => {
                if !opts.allow_unsafe_value
                    && pieces.iter().any(|p| matches!(p, Piece::Context { op: ContextOp::UnsafeValue, .. }))
                {
                    cx.err(
                        "uses .unsafeValue(), which inlines a token's value into SQL; \
                         set [model] dangerous_allow_unsafe_value = true to allow it",
                    );
                }
                CubeSource::Sql(pieces)
            }
            Err(e) => {
                cx.err(format!("sql: {e}"));
                CubeSource::Sql(Vec::new())
            }
        },
        (None, Some(Value::String(t))) if is_table_name(t) => CubeSource::Table(t.clone()),
        (None, Some(t)) => {
            cx.err(format!("sql_table {t} is not a table name"));
            CubeSource::Table(String::new())
        }
        (Some(_), Some(_)) => {
            cx.err("set either sql or sql_table, not both");
            CubeSource::Table(String::new())
        }
        _ => {
            cx.err("needs sql or sql_table");
            CubeSource::Table(String::new())
        }
    };
    let title = obj.get("title").and_then(Value::as_str).map_or_else(|| titleize(&name), str::to_owned);
    let measures = members(cx, obj.get("measures"), "measure", measure);
    let dimensions = members(cx, obj.get("dimensions"), "dimension", dimension);
    let segments = members(cx, obj.get("segments"), "segment", |cx, name, m| {
        let sql = member_sql(cx, name, m.get("sql"), true)?;
        Some(Segment { name: name.to_string(), title: title_of(name, m), sql })
    });
    let mut seen = std::collections::HashSet::new();
    for n in measures
        .iter()
        .map(|m| &m.name)
        .chain(dimensions.iter().map(|d| &d.name))
        .chain(segments.iter().map(|s| &s.name))
    {
        if !seen.insert(n.clone()) {
            cx.err(format!("member {n} is defined twice"));
        }
    }
    Some(Cube { alias: snake_case(&name), name, title, source, measures, dimensions, segments })
}

fn members<T>(
    cx: &mut CubeCx<'_>,
    raw: Option<&Value>,
    what: &str,
    mut f: impl FnMut(&mut CubeCx<'_>, &str, &serde_json::Map<String, Value>) -> Option<T>,
) -> Vec<T> {
    let Some(raw) = raw else { return Vec::new() };
    let Some(list) = raw.as_array() else {
        cx.err(format!("{what}s must be a list"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in list {
        let Some(obj) = m.as_object() else {
            cx.err(format!("each {what} must be a mapping"));
            continue;
        };
        let name = match obj.get("name").and_then(Value::as_str) {
            Some(n) if is_member_name(n) => n,
            other => {
                cx.err(format!("{what} {} has no valid name", other.unwrap_or("?")));
                continue;
            }
        };
        if let Some(v) = f(cx, name, obj) {
            out.push(v);
        }
    }
    out
}

fn measure(cx: &mut CubeCx<'_>, name: &str, m: &serde_json::Map<String, Value>) -> Option<Measure> {
    let kind = match m.get("type").and_then(Value::as_str) {
        Some("count") => MeasureType::Count,
        Some("count_distinct" | "countDistinct") => MeasureType::CountDistinct,
        Some("sum") => MeasureType::Sum,
        Some("avg") => MeasureType::Avg,
        Some("min") => MeasureType::Min,
        Some("max") => MeasureType::Max,
        Some("number") => MeasureType::Number,
        other => {
            cx.err(format!(
                "measure {name}: type {} is not one of count, count_distinct, sum, avg, min, max, number",
                other.map_or("(missing)".to_string(), |t| format!("{t:?}"))
            ));
            return None;
        }
    };
    let sql = match m.get("sql") {
        None if kind == MeasureType::Count => None,
        raw => Some(member_sql(cx, name, raw, true)?),
    };
    let mut filters = Vec::new();
    if let Some(list) = m.get("filters") {
        for f in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(sql) = member_sql(cx, name, f.get("sql"), true) {
                filters.push(sql);
            }
        }
        if !list.is_array() {
            cx.err(format!("measure {name}: filters must be a list of {{sql: ...}}"));
        }
    }
    Some(Measure { name: name.into(), title: title_of(name, m), kind, sql, filters })
}

fn dimension(cx: &mut CubeCx<'_>, name: &str, m: &serde_json::Map<String, Value>) -> Option<Dimension> {
    let kind = match m.get("type").and_then(Value::as_str) {
        Some("string") => DimensionType::String,
        Some("number") => DimensionType::Number,
        Some("time") => DimensionType::Time,
        Some("boolean") => DimensionType::Boolean,
        other => {
            cx.err(format!(
                "dimension {name}: type {} is not one of string, number, time, boolean",
                other.map_or("(missing)".to_string(), |t| format!("{t:?}"))
            ));
            return None;
        }
    };
    let sql = member_sql(cx, name, m.get("sql"), true)?;
    let primary_key = m.get("primary_key").or_else(|| m.get("primaryKey")).and_then(Value::as_bool).unwrap_or(false);
    Some(Dimension { name: name.into(), title: title_of(name, m), kind, sql, primary_key })
}

/// Member SQL may reference only `{CUBE}` / `{CUBE.column}`; the security
/// context belongs in the cube's `sql`.
fn member_sql(cx: &mut CubeCx<'_>, name: &str, raw: Option<&Value>, required: bool) -> Option<String> {
    let sql = match raw {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        None if !required => return None,
        _ => {
            cx.err(format!("member {name}: needs sql"));
            return None;
        }
    };
    let mut rest = sql.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            cx.err(format!("member {name}: unclosed {{ in sql"));
            return None;
        };
        let inner = &rest[open + 1..open + close];
        let ok = inner == "CUBE" || inner.strip_prefix("CUBE.").is_some_and(is_member_name);
        if !ok {
            cx.err(format!(
                "member {name}: {{{inner}}} is not supported in member sql (use {{CUBE}}; the security context belongs in the cube's sql)"
            ));
            return None;
        }
        rest = &rest[open + close + 1..];
    }
    Some(sql)
}

fn title_of(name: &str, m: &serde_json::Map<String, Value>) -> String {
    m.get("title").and_then(Value::as_str).map_or_else(|| titleize(name), str::to_owned)
}

pub use crate::text::is_identifier as is_member_name;

fn is_table_name(t: &str) -> bool {
    !t.is_empty() && t.split('.').all(is_member_name)
}

/// `totalAmount` -> `total_amount`, `MyOrders` -> `my_orders`.
pub fn snake_case(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `totalAmount` -> `Total Amount` (Cube's default titles).
fn titleize(s: &str) -> String {
    snake_case(s)
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Model, Vec<String>> {
        load_sources(&[("model/orders.yml".to_string(), yaml.to_string())], ModelOptions::default())
    }

    #[test]
    fn a_cube_in_cube_js_yaml_shape_loads() {
        let m = load(
            r#"
cubes:
  - name: MyOrders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.id.filter('user_id')}
    measures:
      - name: count
        type: count
      - name: totalAmount
        sql: amount
        type: sum
        filters:
          - sql: "{CUBE}.status = 'completed'"
    dimensions:
      - name: createdAt
        sql: created_at
        type: time
    segments:
      - name: completed
        sql: "{CUBE}.status = 'completed'"
"#,
        )
        .expect("valid");
        let c = &m.cubes[0];
        assert_eq!((c.name.as_str(), c.alias.as_str(), c.title.as_str()), ("MyOrders", "my_orders", "My Orders"));
        assert_eq!(c.measures[1].title, "Total Amount");
        assert_eq!(c.measures[1].filters, vec!["{CUBE}.status = 'completed'"]);
    }

    #[test]
    fn every_model_error_is_reported_with_file_and_cube() {
        let errs = load(
            r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.id}
    colour: blue
    measures:
      - name: count
        type: tally
      - name: total
        type: sum
    dimensions:
      - name: status
        sql: "{SECURITY_CONTEXT.tenant}"
        type: string
      - name: when
        sql: created_at
        type: date
  - name: Unsafe
    sql: SELECT * FROM t WHERE plan = {SECURITY_CONTEXT.plan.unsafeValue()}
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "model/orders.yml: cube Orders: unknown key \"colour\"",
                "model/orders.yml: cube Orders: sql: template {SECURITY_CONTEXT.id} must end in .filter('column'), .requiredFilter('column') or .unsafeValue()",
                "model/orders.yml: cube Orders: measure count: type \"tally\" is not one of count, count_distinct, sum, avg, min, max, number",
                "model/orders.yml: cube Orders: member total: needs sql",
                "model/orders.yml: cube Orders: member status: {SECURITY_CONTEXT.tenant} is not supported in member sql (use {CUBE}; the security context belongs in the cube's sql)",
                "model/orders.yml: cube Orders: dimension when: type \"date\" is not one of string, number, time, boolean",
                "model/orders.yml: cube Unsafe: uses .unsafeValue(), which inlines a token's value into SQL; set [model] dangerous_allow_unsafe_value = true to allow it",
            ]
        );
    }
}
