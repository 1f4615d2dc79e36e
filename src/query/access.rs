//! Tenants, rules and roles: Cube.js's `queryRewrite` and access policies,
//! from configuration instead of code. Pure: configuration, query and
//! security context in; a rewritten query, a tenant id or a refusal out.

use serde_json::{Value, json};

use super::QueryError;
use super::model::Model;
use super::request::{Filter, MemberRef, Query};
use crate::auth::SecurityContext;
use crate::config::{AccessConfig, SessionValue};

/// The tenant named by `tenant_key`: a string or a number; anything else
/// (missing, null, an array, an object, a boolean) is refused.
pub fn tenant_id(ctx: &SecurityContext, key: &str) -> Result<String, QueryError> {
    match ctx.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(QueryError::InvalidTenant(format!(
            "the security context's '{key}' must be a non-empty string or a number, not {}",
            kind(other)
        ))),
        None => Err(QueryError::InvalidTenant(format!("the security context has no '{key}'"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "an empty string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Add every rule of `cube` to the raw query's filters. A missing context
/// value follows the model's setting: refused (default), or the rule is
/// skipped under `dangerous_missing_filter_allows_all`.
pub fn apply_rules(
    access: &AccessConfig,
    cube: &str,
    ctx: &SecurityContext,
    raw: &Value,
    missing_allows_all: bool,
) -> Result<Value, QueryError> {
    let rules: Vec<_> = access.rules.iter().filter(|r| r.cube == cube).collect();
    if rules.is_empty() {
        return Ok(raw.clone());
    }
    let mut out = raw.clone();
    let mut forced = Vec::new();
    for r in rules {
        let values = match &r.value {
            SessionValue::Literal(l) => vec![json!(l)],
            SessionValue::Context(path) => {
                let dotted = path.join(".");
                match ctx.get(&dotted) {
                    None | Some(Value::Null) if missing_allows_all => continue,
                    None | Some(Value::Null) => {
                        return Err(QueryError::MissingSecurityContext { path: dotted, cube: cube.to_string() });
                    }
                    Some(Value::Array(items)) if items.iter().all(|v| v.is_string() || v.is_number()) => items.clone(),
                    Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => vec![v.clone()],
                    Some(_) => {
                        return Err(QueryError::InvalidSecurityContext(format!(
                            "security context value '{dotted}' must be a string, number, boolean or an array of them"
                        )));
                    }
                }
            }
        };
        if values.is_empty() {
            // An empty list grants nothing: a filter no row can pass.
            forced.push(json!({"and": [
                {"member": r.member, "operator": "set"},
                {"member": r.member, "operator": "notSet"}
            ]}));
        } else {
            forced.push(json!({"member": r.member, "operator": r.operator, "values": values}));
        }
    }
    let filters = out.as_object_mut().map(|o| o.entry("filters").or_insert_with(|| json!([])));
    match filters {
        Some(Value::Array(list)) => list.extend(forced),
        _ => return Err(QueryError::Invalid("filters must be an array".into())),
    }
    Ok(out)
}

/// What the token's roles grant; `None` when no roles are configured.
pub struct Grants {
    cubes: Vec<String>,
    members: Vec<String>,
}

impl Grants {
    pub fn allows(&self, member: &str) -> bool {
        self.members.iter().any(|m| m == member)
            || member.split_once('.').is_some_and(|(c, _)| self.cubes.iter().any(|g| g == c))
    }

    pub fn allows_cube(&self, cube: &str) -> bool {
        self.cubes.iter().any(|c| c == cube)
            || self.members.iter().any(|m| m.split_once('.').is_some_and(|(c, _)| c == cube))
    }
}

pub fn grants(access: &AccessConfig, ctx: &SecurityContext) -> Option<Grants> {
    if access.roles.is_empty() {
        return None;
    }
    let held: Vec<String> = match access.roles_key.as_deref().and_then(|k| ctx.get(k)) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let mut g = Grants { cubes: Vec::new(), members: Vec::new() };
    for role in access.roles.iter().filter(|r| held.contains(&r.name)) {
        g.cubes.extend(role.cubes.iter().cloned());
        g.members.extend(role.members.iter().cloned());
    }
    Some(g)
}

/// Every member a query names, in order: measures, dimensions, time
/// dimensions, segments, filters (at any depth). Names are the resolved
/// model members (`Cube.member` from the model), never the text the client
/// wrote, so grants are judged on what the query really reads.
pub fn members(q: &Query, model: &Model) -> Vec<String> {
    let cube = &model.cubes[q.cube];
    let name = |m: MemberRef| match m {
        MemberRef::Measure(i) => format!("{}.{}", cube.name, cube.measures[i].name),
        MemberRef::Dimension(i) => format!("{}.{}", cube.name, cube.dimensions[i].name),
        MemberRef::Segment(i) => format!("{}.{}", cube.name, cube.segments[i].name),
    };
    let mut out: Vec<String> = q.measures.iter().map(|(i, _)| name(MemberRef::Measure(*i))).collect();
    out.extend(q.dimensions.iter().map(|(i, _)| name(MemberRef::Dimension(*i))));
    out.extend(q.time_dimensions.iter().map(|td| name(MemberRef::Dimension(td.dimension))));
    out.extend(q.segments.iter().map(|i| name(MemberRef::Segment(*i))));
    fn walk(f: &Filter, name: &dyn Fn(MemberRef) -> String, out: &mut Vec<String>) {
        match f {
            Filter::Member { member, .. } => out.push(name(*member)),
            Filter::And(l) | Filter::Or(l) => l.iter().for_each(|f| walk(f, name, out)),
        }
    }
    q.filters.iter().for_each(|f| walk(f, &name, &mut out));
    out
}

/// Refuse the first member the token's roles do not grant.
pub fn check_roles(access: &AccessConfig, ctx: &SecurityContext, q: &Query, model: &Model) -> Result<(), QueryError> {
    let Some(g) = grants(access, ctx) else { return Ok(()) };
    match members(q, model).into_iter().find(|m| !g.allows(m)) {
        Some(m) => Err(QueryError::MemberNotAllowed(m)),
        None => Ok(()),
    }
}
