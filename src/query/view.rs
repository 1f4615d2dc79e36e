//! Views: Cube.js's `views:`, resolved once every cube and join is loaded.
//! A view owns no data: each of its members is another name for one cube
//! member, reached over the view's `join_path`, which is the join hint of
//! every member taken through it (Cube.js's `CubeSymbols.prepareIncludes`
//! and `CubeEvaluator.prepareMembers` with `aliasMember`).
//!
//! Where Cube.js 0.33 answers wrongly (see README, deliberate differences),
//! this follows the intent: `excludes` holds on every path, and a member
//! hidden in its cube (a primary key without `public: true`) stays hidden in
//! the view unless the view declares it with `public: true` itself.

use serde_json::Value;

use super::QueryError;
use super::model::{
    CubeCx, DIMENSION_KEYS, Docs, KeyUse, MEASURE_KEYS, MemberId, MemberRef, Model, Obj, SEGMENT_KEYS, check_keys,
    docs, get, is_member_name, public_of, snake_case, title_of, titleize,
};

use KeyUse::{Ignored, Supported, Unsupported};

/// View keys, from Cube.js's `CubeValidator` (`viewSchema`).
pub const VIEW_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("title", Supported),
    ("description", Supported),
    ("meta", Supported),
    ("public", Supported),
    ("shown", Supported),
    ("cubes", Supported),
    ("measures", Supported),
    ("dimensions", Supported),
    ("segments", Supported),
    ("sql_alias", Ignored),
    ("folders", Ignored),
    ("hierarchies", Ignored),
    ("pre_aggregations", Ignored),
    ("access_policy", Supported),
    ("extends", Unsupported),
    ("includes", Unsupported),
    ("excludes", Unsupported),
];

/// Keys of one `cubes:` entry of a view.
pub const VIEW_CUBE_KEYS: &[(&str, KeyUse)] = &[
    ("join_path", Supported),
    ("includes", Supported),
    ("excludes", Supported),
    ("prefix", Supported),
    ("alias", Supported),
    ("split", Unsupported),
];

/// Keys of one `includes:` entry given as a mapping.
pub const VIEW_INCLUDE_KEYS: &[(&str, KeyUse)] = &[
    ("name", Supported),
    ("alias", Supported),
    ("title", Supported),
    ("description", Supported),
    ("format", Supported),
    ("meta", Supported),
];

#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    pub title: String,
    /// The SQL alias of the view's columns (`OrdersView` -> `orders_view`).
    pub alias: String,
    pub public: bool,
    pub docs: Docs,
    /// A Cube.js feature of the whole view that tenantgate does not
    /// implement: every member refuses.
    pub unsupported: Option<String>,
    pub file: String,
    /// Measures, then dimensions, then segments, as Cube.js orders them:
    /// the view's own definitions of each kind first, then its includes.
    pub members: Vec<ViewMember>,
}

/// One member of a view: another name for `target`.
#[derive(Debug, Clone)]
pub struct ViewMember {
    pub name: String,
    pub target: MemberId,
    /// The cubes from the join path's first to the target's cube: the join
    /// hint of every query naming this member.
    pub path: Vec<usize>,
    pub title: String,
    pub public: bool,
    pub docs: Docs,
    pub unsupported: Option<String>,
}

/// A member of a view, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewRef {
    pub view: usize,
    pub member: usize,
}

/// Whether a member is of one kind (measure, dimension, segment).
type IsKind = fn(&MemberRef) -> bool;

const KINDS: [(&str, IsKind); 3] = [
    ("measures", |r| matches!(r, MemberRef::Measure(_))),
    ("dimensions", |r| matches!(r, MemberRef::Dimension(_))),
    ("segments", |r| matches!(r, MemberRef::Segment(_))),
];

/// Resolve every file's `views:` against the loaded cubes.
pub(super) fn resolve_views(model: &mut Model, raw: &[(String, Value)], errors: &mut Vec<String>) {
    for (file, raw) in raw {
        let mut cx = CubeCx::view(file, errors);
        if let Some(v) = view(model, &mut cx, raw) {
            if model.cube(&v.name).is_some() || model.views.iter().any(|w| w.name == v.name) {
                cx.err(format!("a cube or view named {} is already defined", v.name));
            } else {
                model.views.push(v);
            }
        }
    }
}

fn view(model: &Model, cx: &mut CubeCx<'_>, raw: &Value) -> Option<View> {
    let Some(obj) = raw.as_object() else {
        cx.err("expected a mapping");
        return None;
    };
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if is_member_name(n) => n.to_string(),
        Some(n) => {
            cx.err(format!("{n:?} is not a valid view name (letters, digits and _)"));
            return None;
        }
        None => {
            cx.err("has no name");
            return None;
        }
    };
    cx.cube = name.clone();
    let unsupported = check_keys(cx, "", obj, VIEW_KEYS);
    let title = title_of(cx, "", &name, obj);
    let public = public_of(cx, "", obj, true);
    let view_docs = docs(cx, "", obj);
    let entries: Vec<Obj> = match get(obj, "cubes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|e| {
                let o = e.as_object().cloned();
                if o.is_none() {
                    cx.err("each cubes entry must be a mapping with join_path and includes");
                }
                o
            })
            .collect(),
        Some(_) => {
            cx.err("cubes must be a list of {join_path, includes}");
            Vec::new()
        }
    };
    let entries: Vec<Entry> = entries.iter().filter_map(|e| entry(model, cx, e)).collect();
    let mut members: Vec<ViewMember> = Vec::new();
    for (kind, is_kind) in KINDS {
        let own = own_members(model, cx, &name, kind, get(obj, kind), is_kind);
        for m in own.into_iter().chain(entries.iter().flat_map(|e| e.members(model, is_kind))) {
            match members.iter().find(|x| x.name == m.name) {
                Some(x) if x.target == m.target && x.path == m.path => {}
                Some(_) => cx.err(format!(
                    "Included member '{}' conflicts with existing member of '{name}'. Please consider excluding this member or assigning it an alias.",
                    m.name
                )),
                None => members.push(m),
            }
        }
    }
    Some(View {
        alias: snake_case(&name),
        name,
        title,
        public,
        docs: view_docs,
        unsupported,
        file: cx.file.to_string(),
        members,
    })
}

/// One `cubes:` entry, checked: its path, and the members it takes (each
/// with its name in the view and its overrides).
struct Entry {
    path: Vec<usize>,
    takes: Vec<Take>,
    unsupported: Option<String>,
}

struct Take {
    target: MemberId,
    name: String,
    title: Option<String>,
    docs: Docs,
}

impl Entry {
    fn members<'a>(&'a self, model: &'a Model, is_kind: IsKind) -> impl Iterator<Item = ViewMember> + 'a {
        self.takes.iter().filter(move |t| is_kind(&t.target.member)).map(move |t| {
            let (own_title, own_name, own_public, own_docs) = member_parts(model, t.target);
            // Cube.js copies an explicit title; a default one is the view
            // member's own name, titleized.
            let title = t.title.clone().unwrap_or_else(|| {
                if own_title == titleize(own_name) { titleize(&t.name) } else { own_title.to_string() }
            });
            ViewMember {
                name: t.name.clone(),
                target: t.target,
                path: self.path.clone(),
                title,
                public: own_public,
                docs: Docs {
                    description: t.docs.description.clone().or_else(|| own_docs.description.clone()),
                    meta: t.docs.meta.clone().or_else(|| own_docs.meta.clone()),
                    format: t.docs.format.clone().or_else(|| own_docs.format.clone()),
                },
                unsupported: self.unsupported.clone(),
            }
        })
    }
}

/// A member's title, name, own `public` (its cube's aside: a hidden cube is
/// meant to be read through views) and docs.
fn member_parts(model: &Model, id: MemberId) -> (&str, &str, bool, &Docs) {
    let c = &model.cubes[id.cube];
    match id.member {
        MemberRef::Measure(i) => (&c.measures[i].title, &c.measures[i].name, c.measures[i].public, &c.measures[i].docs),
        MemberRef::Dimension(i) => {
            let d = &c.dimensions[i];
            (&d.title, &d.name, d.public, &d.docs)
        }
        MemberRef::Segment(i) => (&c.segments[i].title, &c.segments[i].name, c.segments[i].public, &c.segments[i].docs),
    }
}

/// The members of cube `c`, in the order Cube.js lists them.
fn cube_members(model: &Model, c: usize) -> Vec<(String, MemberId)> {
    let cube = &model.cubes[c];
    let id = |member| MemberId { cube: c, member };
    cube.measures
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.clone(), id(MemberRef::Measure(i))))
        .chain(cube.dimensions.iter().enumerate().map(|(i, d)| (d.name.clone(), id(MemberRef::Dimension(i)))))
        .chain(cube.segments.iter().enumerate().map(|(i, s)| (s.name.clone(), id(MemberRef::Segment(i)))))
        .collect()
}

/// `a.b.c` to cube indices, each step reachable over declared joins.
fn join_path(model: &Model, raw: &str) -> Result<Vec<usize>, String> {
    let mut path = Vec::new();
    for name in raw.split('.') {
        let Some(c) = model.cubes.iter().position(|c| c.name == name) else {
            return Err(if model.views.iter().any(|v| v.name == name) {
                format!("join_path {raw}: {name} is a view; only cubes are allowed")
            } else {
                format!("join_path {raw}: no cube named {name:?} in the model")
            });
        };
        if let Some(&prev) = path.last()
            && super::join::shortest_path(model, prev, c).is_none()
        {
            return Err(format!("join_path {raw}: no join leads from {} to {name}", model.cubes[prev].name));
        }
        if path.contains(&c) {
            return Err(format!("join_path {raw}: {name} appears twice"));
        }
        path.push(c);
    }
    Ok(path)
}

fn entry(model: &Model, cx: &mut CubeCx<'_>, e: &Obj) -> Option<Entry> {
    let raw_path = get(e, "join_path").and_then(Value::as_str);
    let at = format!("cubes {}: ", raw_path.unwrap_or("?"));
    let unsupported = check_keys(cx, &at, e, VIEW_CUBE_KEYS);
    let Some(raw_path) = raw_path else {
        cx.err("each cubes entry needs a join_path");
        return None;
    };
    let path = match join_path(model, raw_path) {
        Ok(p) => p,
        Err(msg) => {
            cx.err(msg);
            return None;
        }
    };
    let cube = *path.last()?;
    let cube_name = model.cubes[cube].name.clone();
    let alias = match get(e, "alias") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if is_member_name(a) => Some(a.clone()),
        Some(_) => {
            cx.err(format!("{at}alias must be a name (letters, digits and _)"));
            None
        }
    };
    let prefix = match get(e, "prefix") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            cx.err(format!("{at}prefix must be true or false"));
            false
        }
    };
    // Cube.js: `${alias || cube}_${member}` with `prefix: true`.
    let full = |m: &str| if prefix { format!("{}_{m}", alias.as_deref().unwrap_or(&cube_name)) } else { m.to_string() };
    let all = cube_members(model, cube);
    let mut takes = Vec::new();
    match get(e, "includes") {
        Some(Value::String(s)) if s == "*" => {
            for (name, id) in &all {
                takes.push(Take { target: *id, name: full(name), title: None, docs: Docs::default() });
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let (member, obj) = match item {
                    Value::String(s) => (s.as_str(), None),
                    Value::Object(o) => match o.get("name").and_then(Value::as_str) {
                        Some(n) => {
                            check_keys(cx, &format!("{at}include {n}: "), o, VIEW_INCLUDE_KEYS);
                            (n, Some(o))
                        }
                        None => {
                            cx.err(format!("{at}an include mapping needs a name"));
                            continue;
                        }
                    },
                    _ => {
                        cx.err(format!("{at}includes must be \"*\" or a list of member names"));
                        continue;
                    }
                };
                if member.contains('.') {
                    cx.err(format!(
                        "{at}Paths aren't allowed in cube includes but '{member}' provided as include member"
                    ));
                    continue;
                }
                let Some((_, id)) = all.iter().find(|(n, _)| n == member) else {
                    cx.err(format!(
                        "{at}Member '{}' is included in '{}' but not defined in any cube ({cube_name} has no member {member})",
                        full(member),
                        cx.cube
                    ));
                    continue;
                };
                let include_at = format!("{at}include {member}: ");
                let alias = match obj.and_then(|o| get(o, "alias")) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(a)) if is_member_name(a) => Some(a.clone()),
                    Some(_) => {
                        cx.err(format!("{include_at}alias must be a name (letters, digits and _)"));
                        None
                    }
                };
                let title = match obj.and_then(|o| get(o, "title")) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(t.clone()),
                    Some(_) => {
                        cx.err(format!("{include_at}title must be a string"));
                        None
                    }
                };
                let docs = obj.map(|o| docs(cx, &include_at, o)).unwrap_or_default();
                takes.push(Take { target: *id, name: full(alias.as_deref().unwrap_or(member)), title, docs });
            }
        }
        _ => {
            cx.err(format!("{at}includes must be \"*\" or a list of member names"));
            return None;
        }
    }
    match get(e, "excludes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Some(member) = item.as_str() else {
                    cx.err(format!("{at}excludes must be a list of member names"));
                    continue;
                };
                if member.contains('.') {
                    cx.err(format!(
                        "{at}Paths aren't allowed in cube excludes but '{member}' provided as exclude member"
                    ));
                    continue;
                }
                // Cube.js skips an exclude that names nothing; here it is an
                // error, since a misspelt exclude would publish the member.
                let Some((_, id)) = all.iter().find(|(n, _)| n == member) else {
                    cx.err(format!("{at}excludes {member}, which is not a member of {cube_name}"));
                    continue;
                };
                takes.retain(|t| t.target != *id);
            }
        }
        Some(_) => cx.err(format!("{at}excludes must be a list of member names")),
    }
    Some(Entry { path, takes, unsupported })
}

/// The view's own `measures:` / `dimensions:` / `segments:`: each names one
/// cube member in its `sql` (`{Orders.count}`, or with a join path
/// `{Orders.Users.city}`).
fn own_members(
    model: &Model,
    cx: &mut CubeCx<'_>,
    view: &str,
    kind: &str,
    raw: Option<&Value>,
    is_kind: IsKind,
) -> Vec<ViewMember> {
    let what = &kind[..kind.len() - 1];
    let keys = match kind {
        "measures" => MEASURE_KEYS,
        "dimensions" => DIMENSION_KEYS,
        _ => SEGMENT_KEYS,
    };
    let list = match raw {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            cx.err(format!("{kind} must be a list"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for m in list {
        let Some(obj) = m.as_object() else {
            cx.err(format!("each {what} must be a mapping"));
            continue;
        };
        let Some(name) = obj.get("name").and_then(Value::as_str).filter(|n| is_member_name(n)) else {
            cx.err(format!("{what} {} has no valid name", obj.get("name").and_then(Value::as_str).unwrap_or("?")));
            continue;
        };
        let at = format!("{what} {name}: ");
        let mut unsupported = check_keys(cx, &at, obj, keys);
        // A view member renders as its cube member: a window of its own
        // would be dropped without a word.
        if kind == "measures"
            && get(obj, "rolling_window").is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)))
        {
            unsupported.get_or_insert_with(|| "rolling_window on a view member".to_string());
        }
        let sql = get(obj, "sql").and_then(Value::as_str).unwrap_or("").trim();
        let reference = sql
            .strip_prefix('$')
            .unwrap_or(sql)
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|s| !s.contains(['{', '}']) && s.split('.').count() >= 2 && s.split('.').all(is_member_name));
        let Some(reference) = reference else {
            if sql.contains('{') {
                // A calculation over members: Cube.js renders it, tenantgate
                // does not yet.
                let feature = "view member sql other than one member reference".to_string();
                unsupported.get_or_insert(feature);
                if let Some(v) = placeholder(model, is_kind) {
                    out.push(ViewMember {
                        name: name.into(),
                        target: v,
                        path: vec![v.cube],
                        title: title_of(cx, &at, name, obj),
                        public: false,
                        docs: Docs::default(),
                        unsupported,
                    });
                }
            } else {
                cx.err(format!(
                    "View '{view}' defines own member '{view}.{name}'. Please move this member definition to one of the cubes."
                ));
            }
            continue;
        };
        let parts: Vec<&str> = reference.split('.').collect();
        let (member, cubes) = parts.split_last().unwrap_or((&"", &[]));
        let path = match join_path(model, &cubes.join(".")) {
            Ok(p) => p,
            Err(e) => {
                cx.err(format!("{at}sql: {e}"));
                continue;
            }
        };
        let Some(&cube) = path.last() else { continue };
        let target = match model.cube_member(&format!("{}.{member}", model.cubes[cube].name)) {
            Ok(id) if is_kind(&id.member) => id,
            Ok(_) => {
                cx.err(format!("{at}sql {sql} is not a {what}"));
                continue;
            }
            Err(_) => {
                cx.err(format!("{at}sql {sql}: {} has no member {member}", model.cubes[cube].name));
                continue;
            }
        };
        if let (MemberRef::Dimension(i), Some(t)) = (target.member, get(obj, "type").and_then(Value::as_str)) {
            let own = model.cubes[target.cube].dimensions[i].kind.as_str();
            if t != own {
                cx.err(format!("{at}type {t} does not match the type of {}, {own}", model.member_name(target)));
            }
        }
        let (own_title, own_name, _, own_docs) = member_parts(model, target);
        let is_key =
            matches!(target.member, MemberRef::Dimension(i) if model.cubes[target.cube].dimensions[i].primary_key);
        let title = match get(obj, "title") {
            None | Some(Value::Null) if own_title != titleize(own_name) => own_title.to_string(),
            _ => title_of(cx, &at, name, obj),
        };
        let d = docs(cx, &at, obj);
        out.push(ViewMember {
            name: name.into(),
            target,
            path,
            title,
            // A primary key stays hidden unless the view says otherwise, as
            // in its cube.
            public: public_of(cx, &at, obj, !is_key),
            docs: Docs {
                description: d.description.or_else(|| own_docs.description.clone()),
                meta: d.meta.or_else(|| own_docs.meta.clone()),
                format: d.format.or_else(|| own_docs.format.clone()),
            },
            unsupported,
        });
    }
    out
}

/// Any member of the wanted kind, to stand behind an unsupported view
/// member that can never be queried (its feature refuses first).
fn placeholder(model: &Model, is_kind: IsKind) -> Option<MemberId> {
    (0..model.cubes.len()).flat_map(|c| cube_members(model, c)).map(|(_, id)| id).find(|id| is_kind(&id.member))
}

/// A member as a query names it: a cube's own, or a view's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ref {
    pub id: MemberId,
    pub view: Option<ViewRef>,
}

impl Model {
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }

    /// Resolve `Cube.member` or `View.member`.
    pub fn resolve(&self, name: &str) -> Result<Ref, QueryError> {
        let (head, member) = match name.split_once('.') {
            Some((c, m)) if !c.is_empty() && !m.is_empty() => (c, m),
            _ => return Err(QueryError::UnknownMember(name.to_string())),
        };
        if let Some(v) = self.views.iter().position(|v| v.name == head) {
            let i = self.views[v]
                .members
                .iter()
                .position(|m| m.name == member)
                .ok_or_else(|| QueryError::UnknownMember(name.to_string()))?;
            return Ok(Ref { id: self.views[v].members[i].target, view: Some(ViewRef { view: v, member: i }) });
        }
        self.cube_member(name).map(|id| Ref { id, view: None })
    }

    pub fn view_member(&self, r: ViewRef) -> &ViewMember {
        &self.views[r.view].members[r.member]
    }

    /// The name a grant or an error uses: `View.member` or `Cube.member`.
    pub fn ref_name(&self, r: Ref) -> String {
        match r.view {
            Some(v) => format!("{}.{}", self.views[v.view].name, self.view_member(v).name),
            None => self.member_name(r.id),
        }
    }

    /// Whether a query may name the member as a result column.
    pub fn ref_is_public(&self, r: Ref) -> bool {
        match r.view {
            Some(v) => self.views[v.view].public && self.view_member(v).public,
            None => self.is_public(r.id),
        }
    }

    /// The feature that keeps the member from being queried: the view's,
    /// the view member's, or the cube member's.
    pub fn ref_unsupported(&self, r: Ref) -> Option<&str> {
        match r.view {
            Some(v) => self.views[v.view]
                .unsupported
                .as_deref()
                .or(self.view_member(v).unsupported.as_deref())
                .or_else(|| self.unsupported_feature(r.id)),
            None => self.unsupported_feature(r.id),
        }
    }

    /// The join hint of a member: a view member's join path, or its cube.
    pub fn ref_hint(&self, r: Ref) -> Vec<usize> {
        match r.view {
            Some(v) => self.view_member(v).path.clone(),
            None => vec![r.id.cube],
        }
    }

    /// The (alias prefix, title prefix, member name, member title) of the
    /// column a member answers in: a view member's are the view's.
    pub fn ref_labels(&self, r: Ref) -> (&str, &str, &str, &str) {
        match r.view {
            Some(v) => {
                let (view, m) = (&self.views[v.view], self.view_member(v));
                (&view.alias, &view.title, &m.name, &m.title)
            }
            None => {
                let (title, name, _, _) = member_parts(self, r.id);
                let c = &self.cubes[r.id.cube];
                (&c.alias, &c.title, name, title)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::model::{ModelOptions, load_sources};

    const CUBES: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    public: false
    joins:
      - name: Users
        relationship: many_to_one
        sql: "{CUBE}.user_id = {Users.id}"
      - name: Items
        relationship: one_to_many
        sql: "{CUBE}.id = {Items}.order_id"
    measures:
      - {name: count, type: count}
      - {name: total, sql: amount, type: sum, title: Revenue}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: status, sql: status, type: string}
  - name: Users
    sql_table: users
    joins:
      - name: Countries
        relationship: many_to_one
        sql: "{CUBE}.country = {Countries.code}"
    measures:
      - {name: count, type: count}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: city, sql: city, type: string}
      - {name: email, sql: email, type: string}
  - name: Countries
    sql_table: countries
    dimensions:
      - {name: code, sql: code, type: string, primary_key: true, public: true}
      - {name: name, sql: name, type: string}
      - {name: secret, sql: secret, type: string}
  - name: Items
    sql_table: items
    measures:
      - {name: quantity, sql: quantity, type: sum}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
"#;

    fn load(views: &str) -> Result<Model, Vec<String>> {
        load_sources(
            &[("model/cubes.yml".into(), CUBES.into()), ("model/views.yml".into(), views.into())],
            ModelOptions::default(),
        )
    }

    fn names(m: &Model, view: &str) -> Vec<String> {
        m.view(view).expect(view).members.iter().map(|x| format!("{}={}", x.name, m.member_name(x.target))).collect()
    }

    #[test]
    fn includes_prefix_alias_and_excludes_on_a_nested_path() {
        let m = load(
            r#"
views:
  - name: Sales
    cubes:
      - join_path: Orders
        includes: [count, {name: total, alias: revenue}, status]
      - join_path: Orders.Users
        prefix: true
        includes: "*"
        excludes: [email]
      - join_path: Orders.Users.Countries
        alias: country
        prefix: true
        includes: "*"
        excludes: [secret]
    measures:
      - name: items
        sql: "{Orders.Items.quantity}"
        type: number
"#,
        )
        .expect("loads");
        assert_eq!(
            names(&m, "Sales"),
            [
                "items=Items.quantity",
                "count=Orders.count",
                "revenue=Orders.total",
                "Users_count=Users.count",
                "status=Orders.status",
                "Users_id=Users.id",
                "Users_city=Users.city",
                "country_code=Countries.code",
                "country_name=Countries.name",
            ]
        );
        let r = m.resolve("Sales.country_name").expect("member");
        let path: Vec<&str> = m.ref_hint(r).iter().map(|c| m.cubes[*c].name.as_str()).collect();
        assert_eq!(path, ["Orders", "Users", "Countries"]);
        // A hidden primary key stays hidden through `*`; one its cube made
        // public stays public; the hidden cube's members are public here.
        let public = |n: &str| m.ref_is_public(m.resolve(n).expect(n));
        assert!(!public("Sales.Users_id"));
        assert!(public("Sales.country_code"));
        assert!(public("Sales.count"));
        assert!(!public("Orders.count"), "a hidden cube is reached through views only");
        // Titles: an explicit one is kept; a default one is the view name's.
        let title = |n: &str| m.view_member(m.resolve(n).expect(n).view.expect("view")).title.clone();
        assert_eq!(title("Sales.revenue"), "Revenue");
        assert_eq!(title("Sales.Users_city"), "Users City");
    }

    #[test]
    fn view_errors_name_the_file_the_view_and_the_entry() {
        let errs = load(
            r#"
views:
  - name: Orders
    cubes: []
  - name: Bad
    colour: red
    cubes:
      - join_path: Users.Orders
        includes: "*"
      - join_path: Orders.Nope
        includes: "*"
      - join_path: Orders
        includes: [count, nope, Users.city]
        excludes: [typo]
      - join_path: Orders.Users
        includes: [count]
    dimensions:
      - name: own
        sql: "lower(name)"
        type: string
      - name: status
        sql: "{Orders.count}"
        type: string
"#,
        )
        .expect_err("invalid");
        assert_eq!(
            errs,
            [
                "model/views.yml: view Orders: a cube or view named Orders is already defined",
                "model/views.yml: view Bad: unknown key \"colour\"",
                "model/views.yml: view Bad: join_path Users.Orders: no join leads from Users to Orders",
                "model/views.yml: view Bad: join_path Orders.Nope: no cube named \"Nope\" in the model",
                "model/views.yml: view Bad: cubes Orders: Member 'nope' is included in 'Bad' but not defined in any cube (Orders has no member nope)",
                "model/views.yml: view Bad: cubes Orders: Paths aren't allowed in cube includes but 'Users.city' provided as include member",
                "model/views.yml: view Bad: cubes Orders: excludes typo, which is not a member of Orders",
                "model/views.yml: view Bad: Included member 'count' conflicts with existing member of 'Bad'. Please consider excluding this member or assigning it an alias.",
                "model/views.yml: view Bad: View 'Bad' defines own member 'Bad.own'. Please move this member definition to one of the cubes.",
                "model/views.yml: view Bad: dimension status: sql {Orders.count} is not a dimension",
            ]
        );
    }

    #[test]
    fn a_calculated_view_member_loads_as_unsupported() {
        let m = load(
            r#"
views:
  - name: Sales
    cubes:
      - join_path: Orders
        includes: [count]
    measures:
      - name: average
        sql: "{Orders.total} / {Orders.count}"
        type: number
"#,
        )
        .expect("loads");
        let r = m.resolve("Sales.average").expect("member");
        assert_eq!(m.ref_unsupported(r), Some("view member sql other than one member reference"));
        assert_eq!(m.unsupported(), ["Sales.average: view member sql other than one member reference"]);
    }
}
