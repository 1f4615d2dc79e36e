//! Data access policies: Cube.js 1.x's `access_policy` on cubes and views
//! (member level, member masking, row level, conditions), read from the
//! model when it loads ([`resolve`]) and decided per request
//! ([`Access::decide`]), for `/load`, `/sql`, `/dry-run`, `/meta` and
//! `explain` alike. Pure: no I/O.
//!
//! Semantics, as Cube.js's `CompilerApi` where it is sound:
//! - A cube or view without `access_policy` is open. One with policies
//!   applies those whose group the caller holds (`*` is anyone) and whose
//!   conditions all hold.
//! - Member level: a member is visible when some applicable policy has no
//!   `member_level`, or includes and does not exclude it. Through a view,
//!   only the view's policies judge its members.
//! - Masking: a member that is not visible but that some applicable
//!   policy's `member_masking` includes is answered as its `mask:` (or
//!   NULL); it may be selected, never filtered on.
//! - Row level, per cube: a policy without `row_level`, or with
//!   `allow_all`, lifts the cube's policy filters; otherwise each policy's
//!   filters are ANDed and the applicable policies ORed. A view's filters
//!   are applied on top (ANDed). A cube the query reads whose policies
//!   none apply contributes `1 = 0`: an empty answer.
//! - Where Cube.js differs: Cube.js ORs per *group* across every cube of a
//!   query (the filters of one group on two cubes are ANDed together before
//!   the groups are ORed), so a caller in two groups can lose rows that
//!   each cube's own policies admit. Here each cube's policies decide that
//!   cube's rows, and the cubes are ANDed.

pub mod check;
pub mod condition;

use std::collections::HashMap;

use serde_json::{Value, json};

pub use condition::{Condition, Outcome};

use super::model::{CubeCx, DimensionType, MemberId, MemberRef, Model, Obj, get};
use super::request::{Filter, Ref, ViewRef};
use super::{QueryError, request};
use crate::auth::{Resolved, SecurityContext};
use crate::context_path::ContextPath;

/// Every cube's and view's policies, and the members' masks.
#[derive(Debug, Clone, Default)]
pub struct ModelAccess {
    /// By cube index; `None`: no `access_policy`, open.
    pub cubes: Vec<Option<Vec<AccessPolicy>>>,
    /// By view index.
    pub views: Vec<Option<Vec<AccessPolicy>>>,
    /// `mask:` of a dimension or measure.
    pub masks: HashMap<MemberId, Mask>,
}

/// One entry of an `access_policy` list.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// Its position in the list, for explanations.
    pub index: usize,
    /// `group`, `groups` or the legacy `role`; `*` is anyone.
    pub groups: Vec<String>,
    pub conditions: Vec<Condition>,
    /// `None`: every member.
    pub member_level: Option<MemberSet>,
    pub member_masking: Option<MemberSet>,
    pub row_level: RowLevel,
}

/// `includes` (`"*"` or names) minus `excludes`, as short member names.
#[derive(Debug, Clone)]
pub struct MemberSet {
    pub all: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl MemberSet {
    fn contains(&self, member: &str) -> bool {
        (self.all || self.includes.iter().any(|m| m == member)) && !self.excludes.iter().any(|m| m == member)
    }
}

#[derive(Debug, Clone)]
pub enum RowLevel {
    /// No `row_level`, or `allow_all: true`.
    AllowAll,
    /// REST-format filters with full member names; values may be
    /// `{ securityContext.x }` references, resolved per request.
    Filters(Vec<Value>),
}

/// A member's `mask:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Mask {
    /// A literal, rendered as an SQL literal (the model is trusted text).
    Literal(Value),
    /// `{sql: ...}`, with `{CUBE}` references.
    Sql(String),
}

impl ModelAccess {
    /// Once any cube or view has policies: those without any (open to
    /// every caller, as in Cube.js), for `check-config` to list.
    pub fn open(&self, model: &Model) -> Vec<String> {
        if self.cubes.iter().chain(&self.views).all(Option::is_none) {
            return Vec::new();
        }
        let cubes = self
            .cubes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| format!("cube {}", model.cubes[i].name));
        let views = self
            .views
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| format!("view {}", model.views[i].name));
        cubes.chain(views).collect()
    }
}

const POLICY_KEYS: [&str; 6] = ["group", "groups", "role", "conditions", "member_level", "row_level"];

/// Read every cube's and view's `access_policy` and members' `mask:` from
/// the raw model (`cubes`: (file, raw cube); `views`: (file, raw view)),
/// once the cubes and views are resolved. Every problem is reported with
/// its file and cube or view.
pub(super) fn resolve(
    model: &Model,
    cubes: &[(String, Value)],
    views: &[(String, Value)],
    errors: &mut Vec<String>,
) -> ModelAccess {
    let mut access = ModelAccess {
        cubes: vec![None; model.cubes.len()],
        views: vec![None; model.views.len()],
        masks: HashMap::new(),
    };
    for (file, raw) in cubes {
        let Some(obj) = raw.as_object() else { continue };
        let Some(ci) =
            obj.get("name").and_then(Value::as_str).and_then(|n| model.cubes.iter().position(|c| c.name == n))
        else {
            continue;
        };
        if model.cubes[ci].file != *file {
            continue;
        }
        let mut cx = CubeCx::new(file, "cube", model.cubes[ci].name.clone(), errors);
        masks(model, ci, obj, &mut cx, &mut access.masks);
        if let Some(raw) = get(obj, "access_policy").filter(|v| !v.is_null()) {
            access.cubes[ci] = Some(policies(model, Entity::Cube(ci), raw, &mut cx));
        }
    }
    for (file, raw) in views {
        let Some(obj) = raw.as_object() else { continue };
        let Some(vi) =
            obj.get("name").and_then(Value::as_str).and_then(|n| model.views.iter().position(|v| v.name == n))
        else {
            continue;
        };
        if model.views[vi].file != *file {
            continue;
        }
        let mut cx = CubeCx::new(file, "view", model.views[vi].name.clone(), errors);
        if let Some(raw) = get(obj, "access_policy").filter(|v| !v.is_null()) {
            access.views[vi] = Some(policies(model, Entity::View(vi), raw, &mut cx));
        }
    }
    access
}

/// A cube or a view, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Cube(usize),
    View(usize),
}

impl Entity {
    pub fn name(self, model: &Model) -> &str {
        match self {
            Entity::Cube(c) => &model.cubes[c].name,
            Entity::View(v) => &model.views[v].name,
        }
    }

    fn members(self, model: &Model) -> Vec<(String, MemberRef)> {
        match self {
            Entity::Cube(c) => {
                let cube = &model.cubes[c];
                let mut out: Vec<(String, MemberRef)> =
                    cube.measures.iter().enumerate().map(|(i, m)| (m.name.clone(), MemberRef::Measure(i))).collect();
                out.extend(cube.dimensions.iter().enumerate().map(|(i, d)| (d.name.clone(), MemberRef::Dimension(i))));
                out.extend(cube.segments.iter().enumerate().map(|(i, s)| (s.name.clone(), MemberRef::Segment(i))));
                out
            }
            Entity::View(v) => model.views[v].members.iter().map(|m| (m.name.clone(), m.target.member)).collect(),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Entity::Cube(_) => "cube",
            Entity::View(_) => "view",
        }
    }
}

fn masks(model: &Model, ci: usize, obj: &Obj, cx: &mut CubeCx<'_>, out: &mut HashMap<MemberId, Mask>) {
    let cube = &model.cubes[ci];
    for (key, what) in [("measures", "measure"), ("dimensions", "dimension")] {
        let Some(list) = get(obj, key).and_then(Value::as_array) else { continue };
        for m in list.iter().filter_map(Value::as_object) {
            let Some(raw) = get(m, "mask").filter(|v| !v.is_null()) else { continue };
            let Some(name) = m.get("name").and_then(Value::as_str) else { continue };
            let member = if what == "measure" {
                cube.measures.iter().position(|x| x.name == name).map(MemberRef::Measure)
            } else {
                cube.dimensions.iter().position(|x| x.name == name).map(MemberRef::Dimension)
            };
            let Some(member) = member else { continue };
            let mask = match raw {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => Mask::Literal(raw.clone()),
                Value::Object(o) if o.len() == 1 && o.get("sql").is_some_and(Value::is_string) => {
                    Mask::Sql(o["sql"].as_str().unwrap_or_default().to_string())
                }
                _ => {
                    cx.err(format!("{what} {name}: mask must be a string, number, boolean or {{sql: ...}}"));
                    continue;
                }
            };
            out.insert(MemberId { cube: ci, member }, mask);
        }
    }
}

fn policies(model: &Model, on: Entity, raw: &Value, cx: &mut CubeCx<'_>) -> Vec<AccessPolicy> {
    let Some(list) = raw.as_array() else {
        cx.err("access_policy must be a list of policies");
        return Vec::new();
    };
    list.iter().enumerate().filter_map(|(i, p)| policy(model, on, i, p, cx)).collect()
}

fn policy(model: &Model, on: Entity, index: usize, raw: &Value, cx: &mut CubeCx<'_>) -> Option<AccessPolicy> {
    let at = format!("access_policy[{index}]");
    let Some(obj) = raw.as_object() else {
        cx.err(format!("{at}: expected a mapping"));
        return None;
    };
    let before = cx.error_count();
    for key in obj.keys() {
        let k = super::model::snake_case(key);
        if !POLICY_KEYS.contains(&k.as_str()) && k != "member_masking" {
            cx.err(format!("{at}: unknown key {key:?}"));
        }
    }
    let mut groups = Vec::new();
    for key in ["group", "groups", "role"] {
        match get(obj, key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.is_empty() => groups.push(s.clone()),
            Some(Value::Array(items))
                if key == "groups" && items.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty())) =>
            {
                groups.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            Some(_) => cx.err(format!(
                "{at}.{key}: expected a group name{}",
                if key == "groups" { " or a list of them" } else { "" }
            )),
        }
    }
    if groups.is_empty() && cx.error_count() == before {
        cx.err(format!("{at}: needs group, groups or role (\"*\" for anyone)"));
    }
    let mut conditions = Vec::new();
    match get(obj, "conditions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, c) in items.iter().enumerate() {
                match c.as_object().and_then(|o| o.get("if")) {
                    Some(Value::String(text)) => match Condition::parse(text) {
                        Ok(c) => conditions.push(c),
                        Err(e) => cx.err(format!("{at}.conditions[{j}]: {e}")),
                    },
                    Some(Value::Bool(_)) => cx.err(format!(
                        "{at}.conditions[{j}].if: a constant; compare a securityContext value, e.g. \"{{ securityContext.is_full_time }}\""
                    )),
                    _ => cx.err(format!("{at}.conditions[{j}]: expected {{if: \"{{ securityContext... }}\"}}")),
                }
            }
        }
        Some(_) => cx.err(format!("{at}.conditions: expected a list of {{if: ...}}")),
    }
    let members = on.members(model);
    let member_level = member_set(get(obj, "member_level"), &format!("{at}.member_level"), &members, on, model, cx);
    let member_masking =
        member_set(get(obj, "member_masking"), &format!("{at}.member_masking"), &members, on, model, cx);
    if let Some(m) = &member_masking {
        for name in members.iter().map(|(n, _)| n).filter(|n| m.contains(n)) {
            if matches!(members.iter().find(|(x, _)| x == name), Some((_, MemberRef::Segment(_)))) {
                cx.err(format!("{at}.member_masking: {name} is a segment; a segment cannot be masked"));
            }
        }
    }
    let row_level = match get(obj, "row_level") {
        None | Some(Value::Null) => RowLevel::AllowAll,
        Some(Value::Object(r)) => row_level(r, &format!("{at}.row_level"), on, model, cx),
        Some(_) => {
            cx.err(format!("{at}.row_level: expected a mapping with filters or allow_all"));
            RowLevel::AllowAll
        }
    };
    if cx.error_count() != before {
        return None;
    }
    Some(AccessPolicy { index, groups, conditions, member_level, member_masking, row_level })
}

fn member_set(
    raw: Option<&Value>,
    at: &str,
    members: &[(String, MemberRef)],
    on: Entity,
    model: &Model,
    cx: &mut CubeCx<'_>,
) -> Option<MemberSet> {
    let obj = match raw {
        None | Some(Value::Null) => return None,
        Some(Value::Object(o)) => o,
        Some(_) => {
            cx.err(format!("{at}: expected a mapping with includes and excludes"));
            return None;
        }
    };
    for key in obj.keys().filter(|k| !matches!(k.as_str(), "includes" | "excludes")) {
        cx.err(format!("{at}: unknown key {key:?}"));
    }
    let names = |key: &str, cx: &mut CubeCx<'_>| -> (bool, Vec<String>) {
        match obj.get(key) {
            None | Some(Value::Null) => (false, Vec::new()),
            Some(Value::String(s)) if s == "*" => (true, Vec::new()),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    let Some(name) = item.as_str() else {
                        cx.err(format!("{at}.{key}: expected member names"));
                        continue;
                    };
                    let prefix = format!("{}.", on.name(model));
                    let short = name.strip_prefix(&prefix).unwrap_or(name);
                    if members.iter().any(|(m, _)| m == short) {
                        out.push(short.to_string());
                    } else {
                        cx.err(format!("{at}.{key}: {} has no member {name}", on.kind()));
                    }
                }
                (false, out)
            }
            Some(_) => {
                cx.err(format!("{at}.{key}: expected \"*\" or a list of member names"));
                (false, Vec::new())
            }
        }
    };
    let (all, includes) = names("includes", cx);
    let (all_excluded, excludes) = names("excludes", cx);
    if all_excluded {
        cx.err(format!("{at}.excludes: \"*\" excludes everything; leave the member out of includes instead"));
    }
    if obj.get("includes").is_none() {
        cx.err(format!("{at}: needs includes (\"*\" or a list of member names)"));
    }
    Some(MemberSet { all, includes, excludes })
}

fn row_level(r: &Obj, at: &str, on: Entity, model: &Model, cx: &mut CubeCx<'_>) -> RowLevel {
    for key in r.keys().filter(|k| !matches!(super::model::snake_case(k).as_str(), "filters" | "allow_all")) {
        cx.err(format!("{at}: unknown key {key:?}"));
    }
    match (get(r, "allow_all"), get(r, "filters")) {
        (Some(Value::Bool(true)), None | Some(Value::Null)) => RowLevel::AllowAll,
        (Some(Value::Bool(true)), Some(_)) => {
            cx.err(format!("{at}: allow_all and filters cannot be combined"));
            RowLevel::AllowAll
        }
        (Some(v), _) if !matches!(v, Value::Bool(false) | Value::Null) => {
            cx.err(format!("{at}.allow_all: expected true or false"));
            RowLevel::AllowAll
        }
        (_, Some(Value::Array(list))) => {
            let mut out = Vec::new();
            for (i, f) in list.iter().enumerate() {
                match row_filter(f, on, model) {
                    Ok(f) => out.push(f),
                    Err(e) => cx.err(format!("{at}.filters[{i}]: {e}")),
                }
            }
            RowLevel::Filters(out)
        }
        (_, None | Some(Value::Null)) => {
            cx.err(format!("{at}: needs filters or allow_all: true"));
            RowLevel::AllowAll
        }
        (_, Some(_)) => {
            cx.err(format!("{at}.filters: expected a list of filters"));
            RowLevel::AllowAll
        }
    }
}

/// One row-level filter: members made full (`Cube.member`), checked to be
/// dimensions of `on`, and the whole filter checked as a query filter would
/// be, with each context reference standing in as a value of its type.
fn row_filter(f: &Value, on: Entity, model: &Model) -> Result<Value, String> {
    let Some(obj) = f.as_object() else { return Err("expected a filter mapping".into()) };
    for key in ["and", "or"] {
        if let Some(list) = obj.get(key) {
            let Some(items) = list.as_array() else { return Err(format!("{key} must be a list of filters")) };
            if obj.len() != 1 {
                return Err(format!("a filter with {key} may hold nothing else"));
            }
            let items = items.iter().map(|f| row_filter(f, on, model)).collect::<Result<Vec<_>, _>>()?;
            return Ok(json!({ key: items }));
        }
    }
    let name = obj
        .get("member")
        .or_else(|| obj.get("dimension"))
        .and_then(Value::as_str)
        .ok_or("each filter needs a member")?;
    let entity = on.name(model);
    let full = if name.contains('.') { name.to_string() } else { format!("{entity}.{name}") };
    if !full.starts_with(&format!("{entity}.")) {
        return Err(format!("{name} is not a member of {} {entity}; a policy filters its own members", on.kind()));
    }
    let r = model.resolve(&full).map_err(|_| format!("{} {entity} has no member {name}", on.kind()))?;
    let MemberRef::Dimension(d) = r.id.member else {
        return Err(format!("{full} is not a dimension; row-level filters name dimensions"));
    };
    let kind = model.cubes[r.id.cube].dimensions[d].kind;
    let mut out = obj.clone();
    out.insert("member".into(), Value::String(full.clone()));
    out.remove("dimension");
    // Check the shape with stand-in values of the dimension's type.
    let mut probe = out.clone();
    if let Some(Value::Array(values)) = obj.get("values") {
        for v in values {
            if let Some(Err(e)) = v.as_str().and_then(policy_reference) {
                return Err(e);
            }
            if !(v.is_string() || v.is_number() || v.is_boolean()) {
                return Err("values must be strings, numbers, booleans or { securityContext.<path> }".into());
            }
        }
        let stand_in = match kind {
            DimensionType::Number => json!(1),
            DimensionType::Time => json!("2024-01-01"),
            DimensionType::Boolean => json!("true"),
            DimensionType::String => json!("x"),
        };
        probe.insert(
            "values".into(),
            Value::Array(
                values
                    .iter()
                    .map(|v| if v.as_str().and_then(policy_reference).is_some() { stand_in.clone() } else { v.clone() })
                    .collect(),
            ),
        );
    }
    request::parse_filter(model, &Value::Object(probe)).map_err(|e| e.to_string())?;
    Ok(Value::Object(out))
}

/// `{ securityContext.x }` (also `security_context`, `SECURITY_CONTEXT`,
/// `USER_CONTEXT`, with or without `$`): `None` for a literal.
pub fn policy_reference(text: &str) -> Option<Result<ContextPath, String>> {
    let t = text.trim();
    let inner = t.strip_prefix("${").or_else(|| t.strip_prefix('{')).and_then(|r| r.strip_suffix('}'))?.trim();
    let path = ["securityContext.", "security_context.", "SECURITY_CONTEXT.", "USER_CONTEXT."]
        .iter()
        .find_map(|p| inner.strip_prefix(p));
    Some(match path {
        Some(p) => ContextPath::parse(p.trim()),
        None => Err(format!("{text:?}: expected {{ securityContext.<path> }}")),
    })
}

pub use crate::config::NoPolicy;

/// One policy as it was judged for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub entity: Entity,
    pub index: usize,
    pub groups: Vec<String>,
    pub applies: bool,
    /// Why it does not apply: the group is not held, or the first
    /// condition that did not hold (with the reason when unknown).
    pub reason: Option<String>,
}

/// How one member stands for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Visible,
    Masked,
    /// `no_policy`: hidden because none of its cube's or view's policies
    /// apply (rather than by a member level).
    Hidden {
        no_policy: bool,
    },
}

/// The more restrictive of two standings: hidden, then masked, then visible.
fn worse(a: Standing, b: Standing) -> Standing {
    let rank = |s: &Standing| match s {
        Standing::Visible => 0,
        Standing::Masked => 1,
        Standing::Hidden { .. } => 2,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

/// The access policies decided for one caller: which apply to each cube
/// and view, judged once per request.
#[derive(Debug, Clone)]
pub struct Caller<'m> {
    model: &'m Model,
    pub groups: Vec<String>,
    no_policy: NoPolicy,
    missing_filter_allows_all: bool,
    /// Applicable policy positions, by cube and by view; `None`: open.
    cubes: Vec<Option<Vec<usize>>>,
    views: Vec<Option<Vec<usize>>>,
    pub judged: Vec<Judged>,
}

/// What the policies did to one query, for `explain` and the audit line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// (cube or view, filter in the REST format with its values resolved).
    pub filters: Vec<(String, Value)>,
    /// Cubes read with no applicable policy (`1 = 0`).
    pub denied: Vec<String>,
    pub masked: Vec<String>,
    /// Policies that applied to a cube or view the query reads, as
    /// `Cube.access_policy[i]`.
    pub policies: Vec<String>,
}

impl<'m> Caller<'m> {
    pub fn new(
        model: &'m Model,
        ctx: &SecurityContext,
        groups: Vec<String>,
        no_policy: NoPolicy,
        missing_filter_allows_all: bool,
    ) -> Caller<'m> {
        let mut judged = Vec::new();
        let mut judge = |entity: Entity, list: &Option<Vec<AccessPolicy>>| -> Option<Vec<usize>> {
            let list = list.as_ref()?;
            let mut applicable = Vec::new();
            for (pos, p) in list.iter().enumerate() {
                let held = p.groups.iter().any(|g| g == "*" || groups.contains(g));
                let reason = if !held {
                    Some(format!("the caller holds none of the groups {}", p.groups.join(", ")))
                } else {
                    p.conditions.iter().find_map(|c| match c.eval(ctx) {
                        Outcome::True => None,
                        Outcome::False => Some(format!("condition {} is false", c.text)),
                        Outcome::Unknown(why) => Some(format!("condition {} is not true: {why}", c.text)),
                    })
                };
                if reason.is_none() {
                    applicable.push(pos);
                }
                judged.push(Judged {
                    entity,
                    index: p.index,
                    groups: p.groups.clone(),
                    applies: reason.is_none(),
                    reason,
                });
            }
            Some(applicable)
        };
        let cubes = model.access.cubes.iter().enumerate().map(|(c, l)| judge(Entity::Cube(c), l)).collect();
        let views = model.access.views.iter().enumerate().map(|(v, l)| judge(Entity::View(v), l)).collect();
        Caller { model, groups, no_policy, missing_filter_allows_all, cubes, views, judged }
    }

    fn policies(&self, e: Entity) -> (&[AccessPolicy], Option<&[usize]>) {
        let (list, applicable) = match e {
            Entity::Cube(c) => (&self.model.access.cubes[c], &self.cubes[c]),
            Entity::View(v) => (&self.model.access.views[v], &self.views[v]),
        };
        (list.as_deref().unwrap_or(&[]), applicable.as_deref())
    }

    /// How `member` (a short name) of `e` stands for the caller.
    pub fn standing(&self, e: Entity, member: &str) -> Standing {
        let (list, applicable) = self.policies(e);
        let Some(applicable) = applicable else { return Standing::Visible };
        if applicable.is_empty() {
            return Standing::Hidden { no_policy: true };
        }
        let applied = || applicable.iter().map(|&i| &list[i]);
        if applied().any(|p| p.member_level.as_ref().is_none_or(|m| m.contains(member))) {
            return Standing::Visible;
        }
        if applied().any(|p| p.member_masking.as_ref().is_some_and(|m| m.contains(member))) {
            return Standing::Masked;
        }
        Standing::Hidden { no_policy: false }
    }

    /// A member as the client named it: judged by its view's policies when
    /// named through a view, else by its cube's. A measure built from other
    /// members (`{totalAmount} / {count}`) shows what they hold, so it
    /// stands no better than any of them, judged the same way (through a
    /// view: by the view's members for them, where it has any).
    pub fn standing_of(&self, r: Ref) -> Standing {
        let mut standing = self.named_standing(r);
        for input in self.model.measure_inputs(r.id) {
            let s = match r.view {
                None => self.named_standing(Ref { id: input, view: None }),
                Some(v) => self.model.views[v.view]
                    .members
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.target == input)
                    .map(|(member, _)| {
                        self.named_standing(Ref { id: input, view: Some(ViewRef { view: v.view, member }) })
                    })
                    .fold(Standing::Visible, worse),
            };
            standing = worse(standing, s);
        }
        standing
    }

    /// The member's own standing, as named.
    fn named_standing(&self, r: Ref) -> Standing {
        match r.view {
            Some(v) => self.standing(Entity::View(v.view), &self.model.view_member(v).name),
            None => {
                let cube = &self.model.cubes[r.id.cube];
                let name = match r.id.member {
                    MemberRef::Measure(i) => &cube.measures[i].name,
                    MemberRef::Dimension(i) => &cube.dimensions[i].name,
                    MemberRef::Segment(i) => &cube.segments[i].name,
                };
                self.standing(Entity::Cube(r.id.cube), name)
            }
        }
    }

    /// Whether some policy of `e` applies to the caller, or `e` has none.
    pub fn opens(&self, e: Entity) -> bool {
        self.policies(e).1.is_none_or(|a| !a.is_empty())
    }

    /// Whether `/meta` lists a member (`Cube.member` or `View.member`):
    /// visible or masked.
    pub fn shows(&self, full: &str) -> bool {
        self.model.resolve(full).is_ok_and(|r| !matches!(self.standing_of(r), Standing::Hidden { .. }))
    }

    fn refuse_hidden(&self, r: Ref, no_policy: bool) -> QueryError {
        let entity = match r.view {
            Some(v) => Entity::View(v.view),
            None => Entity::Cube(r.id.cube),
        };
        if no_policy && self.no_policy == NoPolicy::Forbid {
            QueryError::NoApplicablePolicy(entity.name(self.model).to_string())
        } else {
            QueryError::HiddenMember(self.model.ref_name(r))
        }
    }

    /// Apply the policies to a parsed query: refuse a hidden member, or a
    /// masked one used as a condition; mask the rest; force each cube's and
    /// view's row filters in; deny a cube whose policies none apply.
    pub fn apply(&self, ctx: &SecurityContext, q: &mut super::Query) -> Result<Applied, QueryError> {
        let mut applied = Applied::default();
        let columns: Vec<Ref> = q
            .measures
            .iter()
            .chain(&q.dimensions)
            .map(|n| n.as_ref())
            .chain(
                q.time_dimensions
                    .iter()
                    .filter(|td| td.date_range.is_none())
                    .map(|td| Ref { id: td.dimension, view: td.view }),
            )
            .collect();
        // Conditions reveal a member's real values without selecting it:
        // segments, date ranges, filters and an order by a member the
        // query does not select.
        let mut conditions: Vec<Ref> = q.segments.iter().map(|n| n.as_ref()).collect();
        conditions.extend(q.order_only.iter().map(|n| n.as_ref()));
        conditions.extend(
            q.time_dimensions
                .iter()
                .filter(|td| td.date_range.is_some())
                .map(|td| Ref { id: td.dimension, view: td.view }),
        );
        q.filters.iter().for_each(|f| f.refs(&mut conditions));
        for (r, condition) in columns.iter().map(|r| (*r, false)).chain(conditions.iter().map(|r| (*r, true))) {
            match self.standing_of(r) {
                Standing::Visible => {}
                Standing::Hidden { no_policy } => return Err(self.refuse_hidden(r, no_policy)),
                Standing::Masked if condition => return Err(QueryError::MaskedMember(self.model.ref_name(r))),
                Standing::Masked => {
                    if !q.masks.iter().any(|(m, _)| *m == r.id) {
                        let mask = self.model.access.masks.get(&r.id).cloned().unwrap_or(Mask::Literal(Value::Null));
                        q.masks.push((r.id, mask));
                    }
                    let name = self.model.ref_name(r);
                    if !applied.masked.contains(&name) {
                        applied.masked.push(name);
                    }
                }
            }
        }
        for c in q.join.cubes() {
            let e = Entity::Cube(c);
            if let Some(filter) = self.rows(ctx, e, &mut applied)? {
                q.forced.push(filter);
            }
        }
        let mut views: Vec<usize> = q.refs().iter().filter_map(|r| r.view.map(|v| v.view)).collect();
        views.sort_unstable();
        views.dedup();
        for v in views {
            if let Some(filter) = self.rows(ctx, Entity::View(v), &mut applied)? {
                q.forced_where.push(filter);
            }
        }
        q.deny = !applied.denied.is_empty();
        Ok(applied)
    }

    /// The row filter `e`'s policies force for the caller, if any.
    fn rows(&self, ctx: &SecurityContext, e: Entity, applied: &mut Applied) -> Result<Option<Filter>, QueryError> {
        let (list, applicable) = self.policies(e);
        let Some(applicable) = applicable else { return Ok(None) };
        let name = e.name(self.model).to_string();
        if applicable.is_empty() {
            if self.no_policy == NoPolicy::Forbid {
                return Err(QueryError::NoApplicablePolicy(name));
            }
            applied.denied.push(name);
            return Ok(None);
        }
        applied.policies.extend(applicable.iter().map(|&i| format!("{name}.access_policy[{}]", list[i].index)));
        if applicable.iter().any(|&i| matches!(list[i].row_level, RowLevel::AllowAll)) {
            return Ok(None);
        }
        let mut any = Vec::new();
        for &i in applicable {
            let RowLevel::Filters(filters) = &list[i].row_level else { continue };
            let mut all = Vec::new();
            for f in filters {
                let Some(resolved) = self.resolve_values(ctx, f, &name)? else { continue };
                applied.filters.push((name.clone(), resolved.clone()));
                all.push(request::parse_filter(self.model, &resolved)?);
            }
            if all.is_empty() {
                return Ok(None);
            }
            any.push(Filter::And(all));
        }
        Ok(Some(if any.len() == 1 { any.remove(0) } else { Filter::Or(any) }))
    }

    /// A row filter with its `{ securityContext.x }` values resolved (a list
    /// spreads). A missing value fails closed (403), or under
    /// `dangerous_missing_filter_allows_all` drops that filter (`None`). An
    /// empty list grants nothing: the filter becomes one no row passes.
    fn resolve_values(&self, ctx: &SecurityContext, f: &Value, on: &str) -> Result<Option<Value>, QueryError> {
        let Some(obj) = f.as_object() else { return Ok(Some(f.clone())) };
        for key in ["and", "or"] {
            if let Some(Value::Array(items)) = obj.get(key) {
                let mut out = Vec::new();
                for item in items {
                    if let Some(v) = self.resolve_values(ctx, item, on)? {
                        out.push(v);
                    }
                }
                return Ok((!out.is_empty()).then(|| json!({ key: out })));
            }
        }
        let Some(Value::Array(values)) = obj.get("values") else { return Ok(Some(f.clone())) };
        let mut out = Vec::new();
        for v in values {
            match v.as_str().and_then(policy_reference) {
                None => out.push(v.clone()),
                Some(Err(_)) => return Err(QueryError::Invalid("a policy value does not parse".into())),
                Some(Ok(path)) => match ctx.resolve(&path) {
                    Resolved::Scalar(v) => out.push(v.clone()),
                    Resolved::List(items) => out.extend(items.iter().cloned()),
                    Resolved::Missing if self.missing_filter_allows_all => return Ok(None),
                    Resolved::Missing => {
                        return Err(QueryError::MissingSecurityContext {
                            path: path.to_string(),
                            cube: on.to_string(),
                        });
                    }
                    Resolved::Invalid(_) => return Err(super::render::invalid_context(&path)),
                },
            }
        }
        let mut resolved = obj.clone();
        if out.is_empty() {
            let member = obj.get("member").cloned().unwrap_or(Value::Null);
            return Ok(Some(json!({"and": [
                {"member": member, "operator": "set"},
                {"member": member, "operator": "notSet"}
            ]})));
        }
        resolved.insert("values".into(), Value::Array(out));
        Ok(Some(Value::Object(resolved)))
    }

    /// The members of `e` the caller cannot see (for `explain`), measures
    /// hidden by what they are built from included.
    pub fn hidden_members(&self, e: Entity) -> Vec<String> {
        let prefix = e.name(self.model);
        e.members(self.model)
            .into_iter()
            .enumerate()
            .filter(|(i, (_, member))| {
                let r = match e {
                    Entity::Cube(cube) => Ref { id: MemberId { cube, member: *member }, view: None },
                    Entity::View(view) => {
                        let v = ViewRef { view, member: *i };
                        Ref { id: self.model.view_member(v).target, view: Some(v) }
                    }
                };
                matches!(self.standing_of(r), Standing::Hidden { .. })
            })
            .map(|(_, (m, _))| format!("{prefix}.{m}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::query::model::{ModelOptions, load_sources};

    fn errors(policy: &str, mask: &str) -> Vec<String> {
        let yaml = format!(
            "cubes:\n  - name: Orders\n    sql_table: orders\n    dimensions:\n      - {{name: id, sql: id, type: number, primary_key: true}}\n      - {{name: status, sql: status, type: string}}\n      - {{name: amount, sql: amount, type: number, mask: {mask}}}\n    measures:\n      - {{name: count, type: count}}\n    access_policy:\n{policy}"
        );
        match load_sources(&[("model/orders.yml".into(), yaml)], ModelOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    #[test]
    fn every_broken_policy_is_a_model_error_naming_file_cube_and_policy() {
        let got = errors(
            r#"      - group: a
        conditions:
          - if: "{ securityContext.x = 1 }"
          - if: "{ 'a' == 1 }"
      - group: b
        member_level:
          includes: [status, nope]
        row_level:
          filters:
            - {member: count, operator: gt, values: [1]}
            - {member: Users.city, operator: equals, values: ["x"]}
            - {member: status, operator: equals, values: ["{ user.x }"]}
            - {member: status, operator: nope, values: ["x"]}
      - conditions: []
      - group: c
        row_level: {}
        colour: red
"#,
            "[1]",
        );
        let want = [
            "model/orders.yml: cube Orders: dimension amount: mask must be a string, number, boolean or {sql: ...}",
            "model/orders.yml: cube Orders: access_policy[0].conditions[0]: unexpected character '=' in condition \"{ securityContext.x = 1 }\"",
            "model/orders.yml: cube Orders: access_policy[0].conditions[1]: a string compared with a number (==) in condition \"{ 'a' == 1 }\"",
            "model/orders.yml: cube Orders: access_policy[1].member_level.includes: cube has no member nope",
            "model/orders.yml: cube Orders: access_policy[1].row_level.filters[0]: Orders.count is not a dimension; row-level filters name dimensions",
            "model/orders.yml: cube Orders: access_policy[1].row_level.filters[1]: Users.city is not a member of cube Orders; a policy filters its own members",
            "model/orders.yml: cube Orders: access_policy[1].row_level.filters[2]: \"{ user.x }\": expected { securityContext.<path> }",
            "model/orders.yml: cube Orders: access_policy[1].row_level.filters[3]: unknown operator \"nope\" in the filter on \"Orders.status\"",
            "model/orders.yml: cube Orders: access_policy[2]: needs group, groups or role (\"*\" for anyone)",
            "model/orders.yml: cube Orders: access_policy[3]: unknown key \"colour\"",
            "model/orders.yml: cube Orders: access_policy[3].row_level: needs filters or allow_all: true",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_sound_policy_loads() {
        let got = errors(
            r#"      - groups: [a, b]
        conditions:
          - if: "{ securityContext.level >= 2 && securityContext.region in ['eu'] }"
        member_level: {includes: "*", excludes: [amount]}
        member_masking: {includes: [amount]}
        row_level:
          filters:
            - or:
                - {member: status, operator: equals, values: ["{ securityContext.status }"]}
                - {member: Orders.amount, operator: gt, values: [10]}
"#,
            "{sql: \"0\"}",
        );
        assert_eq!(got, Vec::<String>::new());
    }
}
