//! The data model: Cube.js's YAML shape (`cubes:` with measures, dimensions,
//! segments and joins; `views:`, resolved in [`super::view`]), loaded and
//! checked once at startup. A JavaScript file becomes the same document
//! through [`super::js_model`] first. Every problem in every file is
//! reported together, each with its file and cube or view.

use std::path::Path;

use serde_json::Value;

use super::QueryError;
use super::template::{self, ContextOp, Piece};

#[derive(Debug, Clone)]
pub struct Model {
    pub cubes: Vec<Cube>,
    /// `views:`, resolved against the cubes (see [`super::view`]).
    pub views: Vec<super::view::View>,
    /// Every cube's and view's `access_policy`, and members' `mask:`.
    pub access: super::access::ModelAccess,
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
    /// `public` (or the older `shown`); a hidden cube hides every member.
    pub public: bool,
    pub docs: Docs,
    /// A Cube.js feature of the whole cube that tenantgate does not
    /// implement (`extends`, a `data_source` of its own): every member refuses.
    pub unsupported: Option<String>,
    /// The file that defines the cube, for errors found after loading.
    pub file: String,
    /// `joins:`, directed as declared: this cube on the left of a LEFT JOIN.
    pub joins: Vec<Join>,
    /// The raw `joins:` entries, resolved once every cube is loaded.
    raw_joins: Vec<Obj>,
}

/// One declared join, from the cube that declares it to `to`.
#[derive(Debug, Clone)]
pub struct Join {
    /// The target cube (index into `Model::cubes`).
    pub to: usize,
    pub relationship: Relationship,
    /// The ON clause, references resolved.
    pub on: Vec<JoinPiece>,
}

/// Cube.js's three relationships, under all their spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// `one_to_one`, `has_one`, `hasOne`.
    OneToOne,
    /// `one_to_many`, `has_many`, `hasMany`: the declaring cube's rows are
    /// repeated once per target row.
    OneToMany,
    /// `many_to_one`, `belongs_to`, `belongsTo`: the target's rows are
    /// repeated once per declaring row.
    ManyToOne,
}

/// A piece of a join's ON clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinPiece {
    Text(String),
    /// `{CUBE}` or `{Name}`: that cube's alias.
    Alias(usize),
    /// `{CUBE.member}` or `{Name.member}`: that dimension's SQL.
    Dimension(usize, usize),
}

/// What a cube or member carries to `/meta` and nowhere else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Docs {
    pub description: Option<String>,
    pub meta: Option<Value>,
    pub format: Option<Value>,
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
    /// Cube.js's `running_total`: a sum over the query's date range up to
    /// each bucket (rendered by `render::cumulative`).
    RunningTotal,
    Number,
    /// Cube.js's `count_distinct_approx`: a refusal on both databases here
    /// (SQLite has no HyperLogLog; PostgreSQL's needs the `hll` extension).
    CountDistinctApprox,
    /// `string`, `time`, `boolean`: like `number`, the sql is already an
    /// aggregate and is rendered as it is; only the type Cube.js reports
    /// (and, for `time`, the value's shape) differs.
    String,
    Time,
    Boolean,
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
    pub public: bool,
    pub docs: Docs,
    /// `drill_members`, resolved to `Cube.member` names.
    pub drill_members: Vec<String>,
    pub unsupported: Option<String>,
    /// `rolling_window` (or `type: running_total`): aggregated per bucket of
    /// the query's time series over a window of rows.
    pub cumulative: Option<Cumulative>,
    /// `cumulative: true`, which only `/meta` shows.
    pub cumulative_flag: bool,
    /// The members of its own cube that `sql` names (`{count}`,
    /// `{CUBE.count}`, `{Orders.count}`), resolved once every cube is
    /// loaded; Cube.js renders each in place, a measure as its aggregate.
    pub refs: Vec<SqlRef>,
}

/// One `{...}` of a measure's `sql` that names a member of its cube.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRef {
    /// The reference as written, braces included.
    pub text: String,
    /// A measure or a dimension of the same cube.
    pub member: MemberRef,
}

/// A cumulative measure, as Cube.js 0.33's `dateJoinCondition` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cumulative {
    /// `type: running_total`: the rows from the start of the query's date
    /// range to the end of each bucket.
    RunningTotal,
    Rolling(RollingWindow),
}

/// `rolling_window: {trailing, leading, offset}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingWindow {
    /// `None`: not set (the window starts at the offset's date).
    pub trailing: Option<Window>,
    pub leading: Option<Window>,
    /// `offset: start`; the default is `end`.
    pub offset_start: bool,
}

/// One side of a rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Unbounded,
    Interval(Interval),
}

/// `N unit`, as Cube.js's schema allows it (`/^(-?\d+) (minute|hour|day|week|month|quarter|year)$/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub n: i64,
    pub unit: IntervalUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Interval {
    fn parse(s: &str) -> Option<Interval> {
        let (n, unit) = s.split_once(' ')?;
        let digits = n.strip_prefix('-').unwrap_or(n);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let unit = match unit {
            "minute" => IntervalUnit::Minute,
            "hour" => IntervalUnit::Hour,
            "day" => IntervalUnit::Day,
            "week" => IntervalUnit::Week,
            "month" => IntervalUnit::Month,
            "quarter" => IntervalUnit::Quarter,
            "year" => IntervalUnit::Year,
            _ => return None,
        };
        Some(Interval { n: n.parse().ok()?, unit })
    }
}

#[derive(Debug, Clone)]
pub struct Dimension {
    pub name: String,
    pub title: String,
    pub kind: DimensionType,
    pub sql: String,
    pub primary_key: bool,
    /// Cube.js's default: public unless it is the primary key.
    pub public: bool,
    pub docs: Docs,
    pub suggest_filter_values: bool,
    pub unsupported: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub name: String,
    pub title: String,
    pub sql: String,
    pub public: bool,
    pub docs: Docs,
    pub unsupported: Option<String>,
}

/// How tenantgate treats a key that Cube.js's schema knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Implemented.
    Supported,
    /// Accepted with no effect on what a query returns here (caching,
    /// pre-aggregations, BI-tool hints).
    Ignored,
    /// Not implemented: the cube or member loads, marked unsupported, and a
    /// query naming it is refused with `member_not_supported`. A value of
    /// `false` asks for nothing and is accepted.
    Unsupported,
}

use KeyUse::{Ignored, Supported, Unsupported};

/// Cube keys, from Cube.js's `CubeValidator` (snake case; the camel-case
/// spelling is accepted too). `data_source` other than `default` is
/// unsupported: every cube reads the configured database.
pub const CUBE_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("sql", Supported),
    ("sql_table", Supported),
    ("title", Supported),
    ("description", Supported),
    ("meta", Supported),
    ("public", Supported),
    ("shown", Supported),
    ("measures", Supported),
    ("dimensions", Supported),
    ("segments", Supported),
    ("joins", Supported),
    ("data_source", Supported),
    ("refresh_key", Ignored),
    ("pre_aggregations", Ignored),
    ("sql_alias", Ignored),
    ("rewrite_queries", Ignored),
    ("hierarchies", Ignored),
    ("access_policy", Supported),
    ("extends", Unsupported),
];

/// Measure keys.
pub const MEASURE_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("sql", Supported),
    ("type", Supported),
    ("filters", Supported),
    ("title", Supported),
    ("description", Supported),
    ("meta", Supported),
    ("format", Supported),
    ("drill_members", Supported),
    ("drill_member_references", Supported),
    ("mask", Supported),
    ("public", Supported),
    ("shown", Supported),
    ("visible", Supported),
    ("aliases", Ignored),
    ("drill_filters", Ignored),
    ("cumulative", Supported),
    ("rolling_window", Supported),
    ("multi_stage", Unsupported),
    ("group_by", Unsupported),
    ("reduce_by", Unsupported),
    ("add_group_by", Unsupported),
    ("time_shift", Unsupported),
    ("order_by", Unsupported),
];

/// Measure types Cube.js knows and tenantgate does not implement.
pub const UNSUPPORTED_MEASURE_TYPES: &[&str] = &["rank"];

/// Dimension keys.
pub const DIMENSION_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("sql", Supported),
    ("type", Supported),
    ("primary_key", Supported),
    ("title", Supported),
    ("description", Supported),
    ("meta", Supported),
    ("format", Supported),
    ("public", Supported),
    ("shown", Supported),
    ("suggest_filter_values", Supported),
    ("mask", Supported),
    ("aliases", Ignored),
    ("field_type", Ignored),
    ("values_as_segments", Ignored),
    ("enable_suggestions", Ignored),
    ("case", Unsupported),
    ("latitude", Unsupported),
    ("longitude", Unsupported),
    ("granularities", Unsupported),
    ("sub_query", Unsupported),
    ("propagate_filters_to_sub_query", Unsupported),
    ("multi_stage", Unsupported),
    ("add_group_by", Unsupported),
];

/// Dimension types Cube.js knows and tenantgate does not implement.
pub const UNSUPPORTED_DIMENSION_TYPES: &[&str] = &["geo"];

/// Segment keys.
pub const SEGMENT_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("sql", Supported),
    ("title", Supported),
    ("description", Supported),
    ("meta", Supported),
    ("public", Supported),
    ("shown", Supported),
    ("aliases", Ignored),
];

/// Keys of one `joins:` entry.
pub const JOIN_KEYS: &[(&str, KeyUse)] = &[("name", Supported), ("relationship", Supported), ("sql", Supported)];

/// Keys of one `filters:` entry of a measure.
const MEASURE_FILTER_KEYS: &[(&str, KeyUse)] = &[("sql", Supported)];

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
            MeasureType::RunningTotal => "runningTotal",
            MeasureType::Number => "number",
            MeasureType::CountDistinctApprox => "countDistinctApprox",
            MeasureType::String => "string",
            MeasureType::Time => "time",
            MeasureType::Boolean => "boolean",
        }
    }

    /// The `type` Cube.js reports for the measure (`/meta`, a result's
    /// annotation): its own for the calculated types, else `number`
    /// (Cube.js's `isCalculatedMeasureType`).
    pub fn reported_type(self) -> &'static str {
        match self {
            MeasureType::String => "string",
            MeasureType::Time => "time",
            MeasureType::Boolean => "boolean",
            _ => "number",
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

impl Cube {
    /// The primary-key dimension (the first, if several are marked).
    pub fn primary_key(&self) -> Option<usize> {
        self.dimensions.iter().position(|d| d.primary_key)
    }
}

impl Model {
    pub fn empty() -> Model {
        Model { cubes: Vec::new(), views: Vec::new(), access: Default::default() }
    }

    pub fn cube(&self, name: &str) -> Option<&Cube> {
        self.cubes.iter().find(|c| c.name == name)
    }

    /// Resolve `Cube.member` or `View.member` to the cube member it is:
    /// the one member lookup, used by request parsing, access checks and
    /// the build step ([`Model::resolve`] keeps the view).
    pub fn member(&self, name: &str) -> Result<MemberId, QueryError> {
        self.resolve(name).map(|r| r.id)
    }

    /// `Cube.member` of a cube only.
    pub(super) fn cube_member(&self, name: &str) -> Result<MemberId, QueryError> {
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

    /// The Cube.js feature that keeps a member from being queried: its
    /// own, or its cube's.
    pub fn unsupported_feature(&self, id: MemberId) -> Option<&str> {
        let c = &self.cubes[id.cube];
        let own = match id.member {
            MemberRef::Measure(i) => &c.measures[i].unsupported,
            MemberRef::Dimension(i) => &c.dimensions[i].unsupported,
            MemberRef::Segment(i) => &c.segments[i].unsupported,
        };
        c.unsupported.as_deref().or(own.as_deref())
    }

    /// The members a measure's sql names, and theirs in turn (the model
    /// has no cycles): what its value is computed from.
    pub fn measure_inputs(&self, id: MemberId) -> Vec<MemberId> {
        let mut out: Vec<MemberId> = Vec::new();
        let mut todo = vec![id];
        while let Some(MemberId { cube, member: MemberRef::Measure(i) }) = todo.pop() {
            for r in &self.cubes[cube].measures[i].refs {
                let input = MemberId { cube, member: r.member };
                if input != id && !out.contains(&input) {
                    out.push(input);
                    if matches!(r.member, MemberRef::Measure(_)) {
                        todo.push(input);
                    }
                }
            }
        }
        out
    }

    /// Whether a member is public: its cube and itself (Cube.js's
    /// `isVisible`).
    pub fn is_public(&self, id: MemberId) -> bool {
        let c = &self.cubes[id.cube];
        c.public
            && match id.member {
                MemberRef::Measure(i) => c.measures[i].public,
                MemberRef::Dimension(i) => c.dimensions[i].public,
                MemberRef::Segment(i) => c.segments[i].public,
            }
    }

    /// What loads but cannot be queried, for `check-config`: one line per
    /// cube or member, `Orders.status: case` (a whole cube: `Orders: extends`).
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.cubes {
            if let Some(f) = &c.unsupported {
                out.push(format!("{}: {f}", c.name));
                continue;
            }
            let members = c
                .measures
                .iter()
                .map(|m| (&m.name, &m.unsupported))
                .chain(c.dimensions.iter().map(|d| (&d.name, &d.unsupported)))
                .chain(c.segments.iter().map(|s| (&s.name, &s.unsupported)));
            for (name, f) in members {
                if let Some(f) = f {
                    out.push(format!("{}.{name}: {f}", c.name));
                }
            }
        }
        for v in &self.views {
            if let Some(f) = &v.unsupported {
                out.push(format!("{}: {f}", v.name));
                continue;
            }
            for m in &v.members {
                if let Some(f) = &m.unsupported {
                    out.push(format!("{}.{}: {f}", v.name, m.name));
                }
            }
        }
        out
    }
}

/// A member of a cube: measure, dimension or segment, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberRef {
    Measure(usize),
    Dimension(usize),
    Segment(usize),
}

/// A member of the model: its cube (index into `Model::cubes`) and itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberId {
    pub cube: usize,
    pub member: MemberRef,
}

/// Load every `.yml`/`.yaml`/`.js` file under `dir` (sorted, so errors come in a
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
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml" | "js")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Load from `(file name, text)` pairs: YAML, or JavaScript for a `.js` name.
pub fn load_sources(sources: &[(String, String)], opts: ModelOptions) -> Result<Model, Vec<String>> {
    let mut errors = Vec::new();
    let mut cubes: Vec<Cube> = Vec::new();
    let mut raw_views: Vec<(String, Value)> = Vec::new();
    let mut raw_cubes: Vec<(String, Value)> = Vec::new();
    let declared = super::js_model::declared_names(sources);
    for (file, text) in sources {
        // A JavaScript file becomes the document its YAML form parses to.
        let parsed = if super::js_model::is_js(file) {
            super::js_model::document_among(text, &declared)
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| format!("invalid YAML: {}", e.to_string().lines().next().unwrap_or_default()))
        };
        let doc: Value = match parsed {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{file}: {e}"));
                continue;
            }
        };
        let list = match (doc.get("cubes"), doc.get("views")) {
            (Some(Value::Array(list)), _) => list.clone(),
            (None | Some(Value::Null), Some(Value::Array(_))) => Vec::new(),
            _ => {
                errors.push(format!("{file}: expected a top-level `cubes:` or `views:` list"));
                continue;
            }
        };
        match doc.get("views") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => raw_views.extend(list.iter().map(|v| (file.clone(), v.clone()))),
            Some(_) => errors.push(format!("{file}: views must be a list")),
        }
        if let Some(top) = doc.as_object() {
            for key in top.keys().filter(|k| !matches!(k.as_str(), "cubes" | "views")) {
                errors.push(format!("{file}: unknown top-level key {key:?} (expected cubes, views)"));
            }
        }
        raw_cubes.extend(list.iter().map(|c| (file.clone(), c.clone())));
        for (i, raw) in list.iter().enumerate() {
            let mut cx = CubeCx { file, what: "cube", cube: format!("#{i}"), errors: &mut errors };
            if let Some(cube) = cube(&mut cx, raw, opts) {
                if cubes.iter().any(|c| c.name == cube.name) {
                    cx.err(format!("a cube named {} is already defined", cube.name));
                } else {
                    cubes.push(cube);
                }
            }
        }
    }
    let mut model = Model { cubes, views: Vec::new(), access: Default::default() };
    resolve_drill_members(&mut model, &mut errors);
    resolve_measure_refs(&mut model, &mut errors);
    resolve_joins(&mut model, &mut errors);
    super::view::resolve_views(&mut model, &raw_views, &mut errors);
    model.access = super::access::resolve(&model, &raw_cubes, &raw_views, &mut errors);
    if errors.is_empty() { Ok(model) } else { Err(errors) }
}

/// `drill_members: [id, Users.city]`: a bare name is a member of the same
/// cube; every one must exist.
fn resolve_drill_members(model: &mut Model, errors: &mut Vec<String>) {
    let mut resolved = Vec::new();
    for (ci, c) in model.cubes.iter().enumerate() {
        for (mi, m) in c.measures.iter().enumerate() {
            let mut names = Vec::new();
            for d in &m.drill_members {
                let full = if d.contains('.') { d.clone() } else { format!("{}.{d}", c.name) };
                match model.cube_member(&full) {
                    Ok(id) => names.push(model.member_name(id)),
                    Err(_) => errors.push(format!(
                        "{}: cube {}: measure {}: drill member {d} is not in the model",
                        c.file, c.name, m.name
                    )),
                }
            }
            resolved.push((ci, mi, names));
        }
    }
    for (ci, mi, names) in resolved {
        model.cubes[ci].measures[mi].drill_members = names;
    }
}

/// Resolve every cube's `joins:` now that every cube is known: the target
/// must exist, the ON clause may name only the two cubes, and a cube whose
/// rows a join can repeat needs one primary key (Cube.js's check).
fn resolve_joins(model: &mut Model, errors: &mut Vec<String>) {
    let mut resolved = Vec::new();
    for (ci, c) in model.cubes.iter().enumerate() {
        let file = c.file.clone();
        let mut cx = CubeCx { file: &file, what: "cube", cube: c.name.clone(), errors: &mut *errors };
        let mut joins = Vec::new();
        let mut names = std::collections::HashSet::new();
        for raw in &c.raw_joins {
            let Some(target) = raw.get("name").and_then(Value::as_str) else {
                cx.err("a join has no name (the cube it joins)");
                continue;
            };
            let at = format!("join {target}: ");
            check_keys(&mut cx, &at, raw, JOIN_KEYS);
            if !names.insert(target.to_string()) {
                cx.err(format!("{at}is declared twice"));
                continue;
            }
            let Some(to) = model.cubes.iter().position(|t| t.name == target) else {
                cx.err(format!("{at}no cube named {target} in the model"));
                continue;
            };
            if to == ci {
                cx.err(format!("{at}a cube cannot join itself"));
                continue;
            }
            let relationship = match get(raw, "relationship").and_then(Value::as_str) {
                Some("one_to_one" | "oneToOne" | "has_one" | "hasOne") => Relationship::OneToOne,
                Some("one_to_many" | "oneToMany" | "has_many" | "hasMany") => Relationship::OneToMany,
                Some("many_to_one" | "manyToOne" | "belongs_to" | "belongsTo") => Relationship::ManyToOne,
                other => {
                    cx.err(format!(
                        "{at}relationship {} is not one of one_to_one, one_to_many, many_to_one (or has_one, has_many, belongs_to)",
                        other.map_or("(missing)".to_string(), |r| format!("{r:?}"))
                    ));
                    continue;
                }
            };
            let Some(sql) = get(raw, "sql").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) else {
                cx.err(format!("{at}needs sql (the ON clause)"));
                continue;
            };
            match join_pieces(model, ci, to, sql) {
                Ok(on) => joins.push(Join { to, relationship, on }),
                Err(e) => cx.err(format!("{at}{e}")),
            }
        }
        resolved.push(joins);
    }
    for (c, joins) in model.cubes.iter_mut().zip(resolved) {
        c.joins = joins;
        c.raw_joins.clear();
    }
    // A join can repeat the rows of either side (which side depends on the
    // query's join tree), so both need a primary key for their aggregates,
    // as in Cube.js; `count_distinct` is unaffected by repeated rows.
    let mut joined = vec![false; model.cubes.len()];
    for (ci, c) in model.cubes.iter().enumerate() {
        for j in &c.joins {
            joined[ci] = true;
            joined[j.to] = true;
        }
    }
    for (c, _) in model.cubes.iter().zip(&joined).filter(|(_, j)| **j) {
        let keys = c.dimensions.iter().filter(|d| d.primary_key).count();
        let aggregates = c.measures.iter().any(|m| m.kind != MeasureType::CountDistinct);
        if keys > 1 {
            errors.push(format!(
                "{}: cube {}: has {keys} primary_key dimensions; a cube in a join needs exactly one",
                c.file, c.name
            ));
        } else if keys == 0 && aggregates {
            errors.push(format!(
                "{}: cube {}: primary key for '{}' is required when join is defined in order to make aggregates work properly",
                c.file, c.name, c.name
            ));
        }
    }
}

/// A join's ON clause: `{CUBE}`, `{Name}` (either cube's alias),
/// `{CUBE.member}` / `{Name.member}` (either cube's dimension), and text.
fn join_pieces(model: &Model, from: usize, to: usize, sql: &str) -> Result<Vec<JoinPiece>, String> {
    let cube_of = |name: &str| -> Option<usize> {
        if name == "CUBE" || name == model.cubes[from].name {
            Some(from)
        } else if name == model.cubes[to].name {
            Some(to)
        } else {
            None
        }
    };
    let mut pieces = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("unclosed { in sql")?;
        if open > 0 {
            pieces.push(JoinPiece::Text(rest[..open].to_string()));
        }
        let inner = &rest[open + 1..open + close];
        let bad = || {
            format!(
                "{{{inner}}} is not supported in a join's sql (use {{CUBE}}, {{{}}} and their dimensions)",
                model.cubes[to].name
            )
        };
        let piece = match inner.split_once('.') {
            None => JoinPiece::Alias(cube_of(inner).ok_or_else(bad)?),
            Some((c, m)) => {
                let c = cube_of(c).ok_or_else(bad)?;
                let d = model.cubes[c]
                    .dimensions
                    .iter()
                    .position(|d| d.name == m)
                    .ok_or_else(|| format!("{{{inner}}}: {} has no dimension {m}", model.cubes[c].name))?;
                JoinPiece::Dimension(c, d)
            }
        };
        pieces.push(piece);
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(JoinPiece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// Where a model error is: file, and cube or view.
pub(super) struct CubeCx<'a> {
    pub(super) file: &'a str,
    what: &'static str,
    pub(super) cube: String,
    errors: &'a mut Vec<String>,
}

impl<'a> CubeCx<'a> {
    pub(super) fn view(file: &'a str, errors: &'a mut Vec<String>) -> CubeCx<'a> {
        CubeCx { file, what: "view", cube: "?".into(), errors }
    }

    pub(super) fn new(file: &'a str, what: &'static str, cube: String, errors: &'a mut Vec<String>) -> CubeCx<'a> {
        CubeCx { file, what, cube, errors }
    }

    pub(super) fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub(super) fn err(&mut self, msg: impl AsRef<str>) {
        self.errors.push(format!("{}: {} {}: {}", self.file, self.what, self.cube, msg.as_ref()));
    }
}

pub(super) type Obj = serde_json::Map<String, Value>;

/// The value of `key` (snake case) under either spelling Cube.js accepts
/// (`primary_key` or `primaryKey`).
pub(super) fn get<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| snake_case(k) == key).map(|(_, v)| v))
}

/// Check every key of `obj` against `spec`: an unknown key is an error
/// (`at` names the member, `"measure count: "`); the first unsupported
/// feature asked for is returned.
pub(super) fn check_keys(cx: &mut CubeCx<'_>, at: &str, obj: &Obj, spec: &[(&str, KeyUse)]) -> Option<String> {
    let mut unsupported = None;
    let mut seen = std::collections::HashSet::new();
    for (key, value) in obj {
        let k = snake_case(key);
        if !seen.insert(k.clone()) {
            cx.err(format!("{at}key {key:?} is set twice (as {k} and in camel case)"));
        }
        match spec.iter().find(|(s, _)| *s == k) {
            None => cx.err(format!("{at}unknown key {key:?}")),
            Some((_, Unsupported)) if !matches!(value, Value::Bool(false) | Value::Null) => {
                unsupported.get_or_insert(k);
            }
            Some(_) => {}
        }
    }
    unsupported
}

/// `public`, else the older `visible` / `shown`, else `default`.
pub(super) fn public_of(cx: &mut CubeCx<'_>, at: &str, obj: &Obj, default: bool) -> bool {
    for key in ["public", "visible", "shown"] {
        match get(obj, key) {
            None | Some(Value::Null) => continue,
            Some(Value::Bool(b)) => return *b,
            Some(_) => {
                cx.err(format!("{at}{key} must be true or false"));
                return default;
            }
        }
    }
    default
}

pub(super) fn docs(cx: &mut CubeCx<'_>, at: &str, obj: &Obj) -> Docs {
    let description = match get(obj, "description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            cx.err(format!("{at}description must be a string"));
            None
        }
    };
    let format = match get(obj, "format") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Object(_))) => Some(v.clone()),
        Some(_) => {
            cx.err(format!("{at}format must be a string or a mapping"));
            None
        }
    };
    Docs { description, meta: get(obj, "meta").filter(|v| !v.is_null()).cloned(), format }
}

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
    let mut unsupported = check_keys(cx, "", obj, CUBE_KEYS);
    match get(obj, "data_source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "default" => {}
        Some(_) => {
            unsupported.get_or_insert_with(|| "data_source".into());
        }
    }
    let raw_joins = match get(obj, "joins") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|j| {
                let o = j.as_object().cloned();
                if o.is_none() {
                    cx.err("each join must be a mapping with name, relationship and sql");
                }
                o
            })
            .collect(),
        Some(_) => {
            cx.err("joins must be a list");
            Vec::new()
        }
    };
    let source = match (get(obj, "sql"), get(obj, "sql_table")) {
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
    let title = title_of(cx, "", &name, obj);
    let public = public_of(cx, "", obj, true);
    let docs = docs(cx, "", obj);
    let measures = members(cx, get(obj, "measures"), "measure", measure);
    let dimensions = members(cx, get(obj, "dimensions"), "dimension", dimension);
    let segments = members(cx, get(obj, "segments"), "segment", segment);
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
    Some(Cube {
        alias: snake_case(&name),
        name,
        title,
        source,
        measures,
        dimensions,
        segments,
        public,
        docs,
        unsupported,
        file: cx.file.to_string(),
        joins: Vec::new(),
        raw_joins,
    })
}

fn members<T>(
    cx: &mut CubeCx<'_>,
    raw: Option<&Value>,
    what: &str,
    mut f: impl FnMut(&mut CubeCx<'_>, &str, &Obj) -> Option<T>,
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

fn measure(cx: &mut CubeCx<'_>, name: &str, m: &Obj) -> Option<Measure> {
    let at = format!("measure {name}: ");
    let mut unsupported = check_keys(cx, &at, m, MEASURE_KEYS);
    let raw_type = get(m, "type").and_then(Value::as_str).map(snake_case);
    let kind = match raw_type.as_deref() {
        Some("count") => MeasureType::Count,
        Some("count_distinct") => MeasureType::CountDistinct,
        Some("sum") => MeasureType::Sum,
        Some("avg") => MeasureType::Avg,
        Some("min") => MeasureType::Min,
        Some("max") => MeasureType::Max,
        Some("running_total") => MeasureType::RunningTotal,
        Some("number") => MeasureType::Number,
        Some("count_distinct_approx") => MeasureType::CountDistinctApprox,
        Some("string") => MeasureType::String,
        Some("time") => MeasureType::Time,
        Some("boolean") => MeasureType::Boolean,
        Some(t) if UNSUPPORTED_MEASURE_TYPES.contains(&t) => {
            unsupported.get_or_insert_with(|| format!("type {t}"));
            MeasureType::Number
        }
        _ => {
            let other = get(m, "type").map_or("(missing)".to_string(), |t| match t {
                Value::String(s) => format!("{s:?}"),
                v => v.to_string(),
            });
            cx.err(format!(
                "measure {name}: type {other} is not one of count, count_distinct, count_distinct_approx, sum, avg, min, max, number, string, time, boolean"
            ));
            return None;
        }
    };
    // An unsupported measure may lack what a supported one needs.
    let sql = match get(m, "sql") {
        None if kind == MeasureType::Count || unsupported.is_some() => None,
        raw => Some(measure_sql_text(cx, name, raw)?),
    };
    let mut filters = Vec::new();
    if let Some(list) = get(m, "filters") {
        for f in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(obj) = f.as_object() {
                check_keys(cx, &format!("{at}filter: "), obj, MEASURE_FILTER_KEYS);
            }
            if let Some(sql) = member_sql(cx, name, f.get("sql"), true) {
                filters.push(sql);
            }
        }
        if !list.is_array() {
            cx.err(format!("measure {name}: filters must be a list of {{sql: ...}}"));
        }
    }
    let drill = get(m, "drill_members").or_else(|| get(m, "drill_member_references"));
    let drill_members = match drill {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(|i| i.as_str().is_some_and(is_member_path)) => {
            items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
        }
        Some(_) => {
            cx.err(format!("{at}drill_members must be a list of member names"));
            Vec::new()
        }
    };
    let cumulative = if unsupported.is_none() { cumulative_of(cx, &at, kind, m) } else { None };
    let cumulative_flag = match get(m, "cumulative") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            cx.err(format!("{at}cumulative must be true or false"));
            false
        }
    };
    Some(Measure {
        name: name.into(),
        title: title_of(cx, &at, name, m),
        kind,
        sql,
        filters,
        public: public_of(cx, &at, m, true),
        docs: docs(cx, &at, m),
        drill_members,
        unsupported,
        cumulative,
        cumulative_flag,
        refs: Vec::new(),
    })
}

/// `type: running_total`, or `rolling_window:` on an aggregate Cube.js
/// renders over a window (count, count_distinct, sum, avg, min, max).
fn cumulative_of(cx: &mut CubeCx<'_>, at: &str, kind: MeasureType, m: &Obj) -> Option<Cumulative> {
    if kind == MeasureType::RunningTotal {
        return Some(Cumulative::RunningTotal);
    }
    let raw = match get(m, "rolling_window") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return None,
        Some(Value::Object(o)) => o,
        Some(_) => {
            cx.err(format!("{at}rolling_window must be a mapping of trailing, leading and offset"));
            return None;
        }
    };
    if kind == MeasureType::Number {
        cx.err(format!("{at}rolling_window needs an aggregate type (count, count_distinct, sum, avg, min, max)"));
        return None;
    }
    let mut window = RollingWindow { trailing: None, leading: None, offset_start: false };
    for (key, value) in raw {
        let side = match key.as_str() {
            "trailing" => &mut window.trailing,
            "leading" => &mut window.leading,
            "offset" => {
                match value.as_str() {
                    Some("start") => window.offset_start = true,
                    Some("end") => {}
                    _ => cx.err(format!("{at}rolling_window offset must be start or end")),
                }
                continue;
            }
            other => {
                cx.err(format!("{at}rolling_window: unknown key {other:?}"));
                continue;
            }
        };
        match value.as_str() {
            Some("unbounded") => *side = Some(Window::Unbounded),
            Some(s) if Interval::parse(s).is_some() => *side = Interval::parse(s).map(Window::Interval),
            _ => cx.err(format!(
                "{at}rolling_window {key} must be unbounded or match /^(-?\\d+) (minute|hour|day|week|month|quarter|year)$/, not {value}"
            )),
        }
    }
    Some(Cumulative::Rolling(window))
}

fn dimension(cx: &mut CubeCx<'_>, name: &str, m: &Obj) -> Option<Dimension> {
    let at = format!("dimension {name}: ");
    let mut unsupported = check_keys(cx, &at, m, DIMENSION_KEYS);
    let kind = match get(m, "type").and_then(Value::as_str) {
        Some("string") => DimensionType::String,
        Some("number") => DimensionType::Number,
        Some("time") => DimensionType::Time,
        Some("boolean") => DimensionType::Boolean,
        Some(t) if UNSUPPORTED_DIMENSION_TYPES.contains(&t) => {
            unsupported.get_or_insert_with(|| format!("type {t}"));
            DimensionType::String
        }
        other => {
            cx.err(format!(
                "dimension {name}: type {} is not one of string, number, time, boolean",
                other.map_or("(missing)".to_string(), |t| format!("{t:?}"))
            ));
            return None;
        }
    };
    let sql = match get(m, "sql") {
        None if unsupported.is_some() => String::new(),
        raw => member_sql(cx, name, raw, true)?,
    };
    let primary_key = match get(m, "primary_key") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            cx.err(format!("{at}primary_key must be true or false"));
            false
        }
    };
    let suggest_filter_values = match get(m, "suggest_filter_values") {
        Some(Value::Bool(b)) => *b,
        _ => true,
    };
    Some(Dimension {
        name: name.into(),
        title: title_of(cx, &at, name, m),
        kind,
        sql,
        primary_key,
        // Cube.js: a primary key is hidden unless it says otherwise.
        public: public_of(cx, &at, m, !primary_key),
        docs: docs(cx, &at, m),
        suggest_filter_values,
        unsupported,
    })
}

fn segment(cx: &mut CubeCx<'_>, name: &str, m: &Obj) -> Option<Segment> {
    let at = format!("segment {name}: ");
    let unsupported = check_keys(cx, &at, m, SEGMENT_KEYS);
    let sql = member_sql(cx, name, get(m, "sql"), true)?;
    Some(Segment {
        name: name.to_string(),
        title: title_of(cx, &at, name, m),
        sql,
        public: public_of(cx, &at, m, true),
        docs: docs(cx, &at, m),
        unsupported,
    })
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

/// A measure's `sql` may also name members (`{count}`, `{CUBE.count}`,
/// `{Orders.count}`), as in Cube.js; they are resolved once every cube is
/// loaded ([`resolve_measure_refs`]). The security context still belongs
/// in the cube's sql.
fn measure_sql_text(cx: &mut CubeCx<'_>, name: &str, raw: Option<&Value>) -> Option<String> {
    let sql = match raw {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            cx.err(format!("member {name}: needs sql"));
            return None;
        }
    };
    for inner in references(&sql) {
        let Some(inner) = inner else {
            cx.err(format!("member {name}: unclosed {{ in sql"));
            return None;
        };
        let context = matches!(inner.split('.').next(), Some("SECURITY_CONTEXT" | "USER_CONTEXT"));
        if context || !(inner == "CUBE" || is_member_path(inner)) {
            cx.err(format!(
                "member {name}: {{{inner}}} is not supported in member sql (use {{CUBE}} and members of the cube; the security context belongs in the cube's sql)"
            ));
            return None;
        }
    }
    Some(sql)
}

/// The text inside each `{...}` of `sql`, in order; `None` for an unclosed one.
fn references(sql: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            out.push(None);
            break;
        };
        out.push(Some(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    out
}

/// Resolve the members each measure's `sql` names, now that every cube is
/// known: a measure or dimension of its own cube (by `{name}`,
/// `{CUBE.name}` or `{Cube.name}`) renders in place; `{CUBE.column}` that
/// names no member stays a column. A member of another cube (Cube.js
/// joins it in a query of its own) and a segment mark the measure
/// unsupported; a name that is nothing, and a cycle, are model errors.
fn resolve_measure_refs(model: &mut Model, errors: &mut Vec<String>) {
    let mut resolved = Vec::new();
    for (ci, c) in model.cubes.iter().enumerate() {
        for (mi, m) in c.measures.iter().enumerate() {
            let Some(sql) = m.sql.as_deref().filter(|_| m.unsupported.is_none()) else { continue };
            let at = format!("{}: cube {}: measure {}: ", c.file, c.name, m.name);
            let mut refs: Vec<SqlRef> = Vec::new();
            let mut unsupported = None;
            for inner in references(sql).into_iter().flatten() {
                let (cube, member) = match inner.split_once('.') {
                    None if inner == "CUBE" => continue,
                    None => (None, inner),
                    Some(("CUBE", member)) => (Some("CUBE"), member),
                    Some((cube, member)) => (Some(cube), member),
                };
                if let Some(other) = cube.filter(|n| *n != "CUBE" && *n != c.name) {
                    if model.cube(other).is_none() {
                        errors.push(format!("{at}{{{inner}}}: no cube named {other} in the model"));
                    } else {
                        unsupported.get_or_insert_with(|| format!("a reference to another cube's member ({inner})"));
                    }
                    continue;
                }
                let member_ref = if let Some(i) = c.measures.iter().position(|x| x.name == member) {
                    MemberRef::Measure(i)
                } else if let Some(i) = c.dimensions.iter().position(|x| x.name == member) {
                    MemberRef::Dimension(i)
                } else if c.segments.iter().any(|x| x.name == member) {
                    unsupported.get_or_insert_with(|| format!("a reference to segment {member} in sql"));
                    continue;
                } else if cube == Some("CUBE") {
                    // `{CUBE.column}`: a column of the cube's table.
                    continue;
                } else {
                    errors.push(format!("{at}{{{inner}}}: {} has no member {member}", c.name));
                    continue;
                };
                let text = format!("{{{inner}}}");
                if !refs.iter().any(|r| r.text == text) {
                    refs.push(SqlRef { text, member: member_ref });
                }
            }
            resolved.push((ci, mi, refs, unsupported));
        }
    }
    for (ci, mi, refs, unsupported) in resolved {
        let m = &mut model.cubes[ci].measures[mi];
        m.refs = refs;
        if m.unsupported.is_none() {
            m.unsupported = unsupported;
        }
    }
    // Cube.js would recurse without end: refused when the model loads.
    let mut cyclic = false;
    for c in &model.cubes {
        let mut state = vec![0u8; c.measures.len()]; // 0 new, 1 on the path, 2 done
        for start in 0..c.measures.len() {
            let mut path = Vec::new();
            if let Some(cycle) = find_cycle(c, start, &mut state, &mut path) {
                let names: Vec<String> = cycle.iter().map(|&i| format!("{}.{}", c.name, c.measures[i].name)).collect();
                errors.push(format!(
                    "{}: cube {}: measure {}: sql references form a cycle: {}",
                    c.file,
                    c.name,
                    c.measures[cycle[0]].name,
                    names.join(" -> ")
                ));
                cyclic = true;
            }
        }
    }
    if cyclic {
        return;
    }
    // Rendered in place, an unsupported or cumulative input would be
    // rendered without its feature (a rolling window as a plain sum): the
    // measure built on it is unsupported too.
    let mut marks = Vec::new();
    for (ci, c) in model.cubes.iter().enumerate() {
        for (mi, m) in c.measures.iter().enumerate() {
            if m.unsupported.is_some() {
                continue;
            }
            let id = MemberId { cube: ci, member: MemberRef::Measure(mi) };
            // A cumulative input is aggregated over a window of buckets;
            // rendered in place it would be a plain aggregate.
            let cumulative = |i: MemberId| match i.member {
                MemberRef::Measure(j) => model.cubes[i.cube].measures[j].cumulative.is_some(),
                _ => false,
            };
            let inputs = model.measure_inputs(id);
            if let Some(input) = inputs.iter().find(|i| model.unsupported_feature(**i).is_some()) {
                let feature = model.unsupported_feature(*input).unwrap_or_default();
                marks.push((ci, mi, format!("a reference to {} ({feature})", model.member_name(*input))));
            } else if let Some(input) = inputs.iter().find(|i| cumulative(**i)) {
                marks.push((ci, mi, format!("a reference to {} (a cumulative measure)", model.member_name(*input))));
            }
        }
    }
    for (ci, mi, f) in marks {
        model.cubes[ci].measures[mi].unsupported = Some(f);
    }
}

/// A depth-first walk of measure references from `i`: the cycle found, as
/// the measures on it with the first repeated at the end.
fn find_cycle(c: &Cube, i: usize, state: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
    match state[i] {
        2 => return None,
        1 => {
            let from = path.iter().position(|&p| p == i).unwrap_or(0);
            let mut cycle = path[from..].to_vec();
            cycle.push(i);
            return Some(cycle);
        }
        _ => {}
    }
    state[i] = 1;
    path.push(i);
    for r in &c.measures[i].refs {
        if let MemberRef::Measure(j) = r.member
            && let Some(cycle) = find_cycle(c, j, state, path)
        {
            // Leave the rest of the walk marked done: one error per cycle.
            for &p in path.iter() {
                state[p] = 2;
            }
            return Some(cycle);
        }
    }
    path.pop();
    state[i] = 2;
    None
}

pub(super) fn title_of(cx: &mut CubeCx<'_>, at: &str, name: &str, m: &Obj) -> String {
    match get(m, "title") {
        None | Some(Value::Null) => titleize(name),
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            cx.err(format!("{at}title must be a string"));
            titleize(name)
        }
    }
}

/// `name` or `Cube.name`.
fn is_member_path(s: &str) -> bool {
    s.split('.').count() <= 2 && s.split('.').all(is_member_name)
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

/// `totalAmount` -> `Total Amount`, `createdAt` -> `Created at` (Cube.js's
/// default titles: the `inflection` package's `titleize`, which leaves small
/// words after the first in lower case).
pub(super) fn titleize(s: &str) -> String {
    const SMALL: [&str; 22] = [
        "and", "or", "nor", "a", "an", "the", "so", "but", "to", "of", "at", "by", "from", "into", "on", "onto", "off",
        "out", "in", "over", "with", "for",
    ];
    snake_case(s)
        .split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| {
            let w = w.to_ascii_lowercase();
            if i > 0 && SMALL.contains(&w.as_str()) {
                return w;
            }
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
                "model/orders.yml: cube Orders: measure count: type \"tally\" is not one of count, count_distinct, count_distinct_approx, sum, avg, min, max, number, string, time, boolean",
                "model/orders.yml: cube Orders: member total: needs sql",
                "model/orders.yml: cube Orders: member status: {SECURITY_CONTEXT.tenant} is not supported in member sql (use {CUBE}; the security context belongs in the cube's sql)",
                "model/orders.yml: cube Orders: dimension when: type \"date\" is not one of string, number, time, boolean",
                "model/orders.yml: cube Unsafe: uses .unsafeValue(), which inlines a token's value into SQL; set [model] dangerous_allow_unsafe_value = true to allow it",
            ]
        );
    }

    #[test]
    fn unknown_keys_at_every_level_name_file_cube_member_and_key() {
        let errs = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    colour: blue
    measures:
      - name: count
        type: count
        colour: red
      - name: total
        sql: amount
        type: sum
        filters:
          - sql: "{CUBE}.x = 1"
            when: always
    dimensions:
      - name: status
        sql: status
        type: string
        visible: true
    segments:
      - name: big
        sql: "{CUBE}.amount > 10"
        size: 3
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "model/orders.yml: cube Orders: unknown key \"colour\"",
                "model/orders.yml: cube Orders: measure count: unknown key \"colour\"",
                "model/orders.yml: cube Orders: measure total: filter: unknown key \"when\"",
                "model/orders.yml: cube Orders: dimension status: unknown key \"visible\"",
                "model/orders.yml: cube Orders: segment big: unknown key \"size\"",
            ]
        );
    }

    #[test]
    fn known_but_unimplemented_features_load_and_are_listed_as_unsupported() {
        let m = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    refresh_key:
      every: 1 hour
    pre_aggregations:
      main:
        type: rollup
    measures:
      - name: count
        type: count
        cumulative: false
      - name: running
        sql: amount
        type: sum
        rolling_window:
          trailing: 1 month
      - name: approx
        sql: user_id
        type: countDistinctApprox
    dimensions:
      - name: size
        type: string
        case:
          when:
            - sql: "{CUBE}.amount > 10"
              label: big
      - name: createdAt
        sql: created_at
        type: time
        granularities:
          fiscal:
            interval: 1 year
            offset: 1 month
      - name: amount
        sql: amount
        type: number
        subQuery: false
  - name: Old
    sql_table: old
    extends: Orders
    measures:
      - name: count
        type: count
"#,
        )
        .expect("loads");
        assert_eq!(m.unsupported(), vec!["Orders.size: case", "Orders.createdAt: granularities", "Old: extends",]);
        let feature = |name: &str| m.member(name).ok().and_then(|id| m.unsupported_feature(id).map(str::to_owned));
        assert_eq!(feature("Orders.count"), None, "cumulative: false asks for nothing");
        assert_eq!(feature("Orders.amount"), None);
        assert_eq!(feature("Old.count").as_deref(), Some("extends"), "a cube's feature covers its members");
    }

    #[test]
    fn rolling_windows_and_running_totals_load_as_cumulative_and_bad_windows_are_model_errors() {
        let m = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - name: running
        sql: amount
        type: running_total
      - name: rolling
        type: count
        rollingWindow:
          trailing: 2 month
          leading: unbounded
          offset: start
      - name: flagged
        type: count
        cumulative: true
"#,
        )
        .expect("loads");
        let c = &m.cubes[0];
        assert_eq!(c.measures[0].cumulative, Some(Cumulative::RunningTotal));
        assert_eq!(c.measures[0].kind.as_str(), "runningTotal");
        assert_eq!(
            c.measures[1].cumulative,
            Some(Cumulative::Rolling(RollingWindow {
                trailing: Some(Window::Interval(Interval { n: 2, unit: IntervalUnit::Month })),
                leading: Some(Window::Unbounded),
                offset_start: true,
            }))
        );
        assert!(c.measures[2].cumulative.is_none() && c.measures[2].cumulative_flag);
        assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());

        let errs = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - name: a
        type: count
        rolling_window:
          trailing: 2 months
          offset: middle
      - name: b
        sql: amount
        type: number
        rolling_window:
          trailing: 1 day
      - name: c
        type: count
        rolling_window:
          size: 3
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "model/orders.yml: cube Orders: measure a: rolling_window trailing must be unbounded or match /^(-?\\d+) (minute|hour|day|week|month|quarter|year)$/, not \"2 months\"",
                "model/orders.yml: cube Orders: measure a: rolling_window offset must be start or end",
                "model/orders.yml: cube Orders: measure b: rolling_window needs an aggregate type (count, count_distinct, sum, avg, min, max)",
                "model/orders.yml: cube Orders: measure c: rolling_window: unknown key \"size\"",
            ]
        );
    }

    #[test]
    fn primary_keys_are_hidden_unless_public_and_a_hidden_cube_hides_its_members() {
        let m = load(
            r#"
cubes:
  - name: Users
    sql_table: users
    description: People who order
    meta:
      owner: growth
    dimensions:
      - name: id
        sql: id
        type: number
        primaryKey: true
      - name: email
        sql: email
        type: string
        primary_key: true
        public: true
      - name: name
        sql: name
        type: string
        shown: false
    measures:
      - name: count
        type: count
        format: number
        drill_members: [id, name, Internal.code]
  - name: Internal
    sql_table: internal
    public: false
    dimensions:
      - name: code
        sql: code
        type: string
"#,
        )
        .expect("loads");
        let public = |name: &str| m.member(name).map(|id| m.is_public(id)).expect(name);
        assert!(!public("Users.id"));
        assert!(public("Users.email"));
        assert!(!public("Users.name"));
        assert!(public("Users.count"));
        assert!(!public("Internal.code"));
        let users = &m.cubes[0];
        assert_eq!(users.docs.description.as_deref(), Some("People who order"));
        assert_eq!(users.docs.meta, Some(serde_json::json!({"owner": "growth"})));
        assert_eq!(users.measures[0].drill_members, ["Users.id", "Users.name", "Internal.code"]);
        assert_eq!(users.measures[0].docs.format, Some(serde_json::json!("number")));
    }

    #[test]
    fn a_drill_member_that_does_not_exist_is_a_model_error() {
        let errs = load(
            "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n        drill_members: [nope]\n",
        )
        .expect_err("invalid");
        assert_eq!(errs, ["model/orders.yml: cube Orders: measure count: drill member nope is not in the model"]);
    }

    #[test]
    fn join_errors_name_the_cube_and_the_join() {
        let errs = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    joins:
      - name: Nope
        relationship: many_to_one
        sql: "{CUBE}.x = {Nope}.id"
      - name: Users
        relationship: many_to_many
        sql: "{CUBE}.user_id = {Users}.id"
      - name: Users
        relationship: belongs_to
        sql: "{CUBE}.user_id = {Users}.id"
      - name: Items
        relationship: has_many
        sql: "{CUBE}.id = {Other}.order_id AND {Items.nope} = 1"
        kind: left
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
  - name: Users
    sql_table: users
    measures:
      - name: total
        sql: amount
        type: sum
  - name: Items
    sql_table: items
    joins:
      - name: Users
        relationship: belongs_to
        sql: "{CUBE}.user_id = {Users}.id"
    measures:
      - name: buyers
        sql: user_id
        type: count_distinct
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "model/orders.yml: cube Orders: join Nope: no cube named Nope in the model",
                "model/orders.yml: cube Orders: join Users: relationship \"many_to_many\" is not one of one_to_one, one_to_many, many_to_one (or has_one, has_many, belongs_to)",
                "model/orders.yml: cube Orders: join Users: is declared twice",
                "model/orders.yml: cube Orders: join Items: unknown key \"kind\"",
                "model/orders.yml: cube Orders: join Items: {Other} is not supported in a join's sql (use {CUBE}, {Items} and their dimensions)",
                // Items has only a distinct count, which repeated rows do not change.
                "model/orders.yml: cube Users: primary key for 'Users' is required when join is defined in order to make aggregates work properly",
            ]
        );
    }

    #[test]
    fn a_measure_may_name_its_cubes_measures_and_dimensions_in_every_form() {
        let m = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - {name: count, type: count}
      - {name: total, sql: amount, type: sum}
      - {name: average, sql: "{total} / NULLIF({count}, 0)", type: number}
      - {name: average2, sql: "{CUBE.total} / NULLIF({Orders.count}, 0)", type: number}
      - {name: again, sql: "{average} + {average2}", type: number}
      - {name: big, sql: "MAX(CASE WHEN {amount} > 250 THEN 1 ELSE 0 END) = 1", type: boolean}
      - {name: column, sql: "MAX({CUBE.created_at})", type: time}
      - {name: top, sql: "MAX({CUBE}.status)", type: string}
    dimensions:
      - {name: amount, sql: amount, type: number}
"#,
        )
        .expect("loads");
        let c = &m.cubes[0];
        let refs = |i: usize| c.measures[i].refs.iter().map(|r| (r.text.as_str(), r.member)).collect::<Vec<_>>();
        assert_eq!(refs(2), [("{total}", MemberRef::Measure(1)), ("{count}", MemberRef::Measure(0))]);
        assert_eq!(refs(3), [("{CUBE.total}", MemberRef::Measure(1)), ("{Orders.count}", MemberRef::Measure(0))]);
        assert_eq!(refs(5), [("{amount}", MemberRef::Dimension(0))]);
        assert_eq!(refs(6), [], "{{CUBE.column}} naming no member stays a column");
        let kinds: Vec<&str> = c.measures[5..].iter().map(|m| m.kind.reported_type()).collect();
        assert_eq!(kinds, ["boolean", "time", "string"]);
        let again = m.member("Orders.again").expect("again");
        let mut inputs: Vec<String> = m.measure_inputs(again).into_iter().map(|i| m.member_name(i)).collect();
        inputs.sort();
        assert_eq!(inputs, ["Orders.average", "Orders.average2", "Orders.count", "Orders.total"]);
        assert!(m.unsupported().is_empty(), "{:?}", m.unsupported());
    }

    #[test]
    fn measure_reference_cycles_and_unknown_names_are_model_errors() {
        let errs = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - {name: a, sql: "{b} + 1", type: number}
      - {name: b, sql: "{CUBE.c} * 2", type: number}
      - {name: c, sql: "{Orders.a}", type: number}
      - {name: self, sql: "{self} + 1", type: number}
      - {name: nope, sql: "{missing} + {Nowhere.count}", type: number}
      - {name: tenant, sql: "{SECURITY_CONTEXT.tenant}", type: number}
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "model/orders.yml: cube Orders: member tenant: {SECURITY_CONTEXT.tenant} is not supported in member sql (use {CUBE} and members of the cube; the security context belongs in the cube's sql)",
                "model/orders.yml: cube Orders: measure nope: {missing}: Orders has no member missing",
                "model/orders.yml: cube Orders: measure nope: {Nowhere.count}: no cube named Nowhere in the model",
                "model/orders.yml: cube Orders: measure a: sql references form a cycle: Orders.a -> Orders.b -> Orders.c -> Orders.a",
                "model/orders.yml: cube Orders: measure self: sql references form a cycle: Orders.self -> Orders.self",
            ]
        );
    }

    #[test]
    fn a_measure_naming_another_cube_a_segment_or_an_unsupported_measure_is_unsupported() {
        let m = load(
            r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - {name: count, type: count}
      - {name: perUser, sql: "{count} / {Users.count}", type: number}
      - {name: byCity, sql: "count(distinct {Users.city})", type: number}
      - {name: completed, sql: "sum(CASE WHEN {isCompleted} THEN 1 END)", type: number}
      - {name: rolling, sql: amount, type: sum, rolling_window: {trailing: 1 month}}
      - {name: rollingTwice, sql: "{rolling} * 2", type: number}
      - {name: onTop, sql: "{rollingTwice} + 1", type: number}
    segments:
      - {name: isCompleted, sql: "{CUBE}.status = 'completed'"}
  - name: Users
    sql_table: users
    measures:
      - {name: count, type: count}
    dimensions:
      - {name: city, sql: city, type: string}
"#,
        )
        .expect("loads");
        assert_eq!(
            m.unsupported(),
            vec![
                "Orders.perUser: a reference to another cube's member (Users.count)",
                "Orders.byCity: a reference to another cube's member (Users.city)",
                "Orders.completed: a reference to segment isCompleted in sql",
                "Orders.rollingTwice: a reference to Orders.rolling (a cumulative measure)",
                "Orders.onTop: a reference to Orders.rolling (a cumulative measure)",
            ]
        );
    }

    #[test]
    fn default_titles_keep_small_words_lower_case_as_cube_js_does() {
        assert_eq!(titleize("createdAt"), "Created at");
        assert_eq!(titleize("totalAmount"), "Total Amount");
        assert_eq!(titleize("orderOfTheDay"), "Order of the Day");
        assert_eq!(titleize("at"), "At");
    }
}
