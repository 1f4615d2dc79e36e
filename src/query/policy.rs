//! Tenants, rules, roles and session settings: Cube.js's `queryRewrite`,
//! `contextToRoles` and per-tenant routing, from configuration instead of
//! code. Built once against the model ([`Policy::build`]); applied per
//! request by [`super::plan`]. Pure: no I/O.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::access::{Caller, NoPolicy};
use super::model::{MemberId, Model};
use super::render::invalid_context;
use super::request::{Filter, Operator, Query, short};
use super::{Dialect, QueryError};
use crate::auth::{Resolved, SecurityContext};
use crate::config::{AccessConfig, Config, DatabaseConfig, DatabaseKind, Role, SessionValue, TenantRoute};
use crate::context_path::ContextPath;

/// The access policy of one configuration, resolved against one model.
#[derive(Debug, Clone)]
pub struct Policy {
    tenant_key: Option<ContextPath>,
    require_known_tenant: bool,
    tenants: HashMap<String, TenantPlan>,
    default_dialect: Dialect,
    rules: Vec<Rule>,
    roles_key: Option<ContextPath>,
    roles: Vec<Role>,
    session: Vec<(String, SessionValue)>,
    missing_filter_allows_all: bool,
    no_policy: NoPolicy,
}

/// Where a listed tenant's queries go, as far as SQL is concerned.
#[derive(Debug, Clone)]
struct TenantPlan {
    dialect: Dialect,
    /// `search_path` for a tenant schema; empty otherwise.
    settings: Vec<(String, String)>,
}

/// `[[access.rules]]` with its member resolved.
#[derive(Debug, Clone)]
struct Rule {
    member: MemberId,
    name: String,
    operator: Operator,
    value: SessionValue,
}

/// The dialect of a configured database.
pub fn dialect_of(db: &DatabaseConfig) -> Dialect {
    match db.kind {
        DatabaseKind::Sqlite { .. } => Dialect::Sqlite,
        DatabaseKind::Postgres(..) => Dialect::Postgres,
    }
}

impl Policy {
    /// Resolve the configuration's rules against `model`; every problem is
    /// reported.
    pub fn build(config: &Config, model: &Model) -> Result<Policy, Vec<String>> {
        let mut errors = Vec::new();
        let path = |key: &Option<String>, what: &str, errors: &mut Vec<String>| {
            key.as_deref().and_then(|k| match ContextPath::parse(k) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(format!("{what}: {e}"));
                    None
                }
            })
        };
        let tenant_key = path(&config.tenancy.tenant_key, "tenancy.tenant_key", &mut errors);
        let roles_key = path(&config.access.roles_key, "access.roles_key", &mut errors);
        let default_dialect = config.database.as_ref().map_or(Dialect::Sqlite, dialect_of);
        let tenants = config
            .tenancy
            .tenants
            .iter()
            .map(|(id, route)| {
                let plan = match route {
                    TenantRoute::Schema(schema) => TenantPlan {
                        dialect: default_dialect,
                        settings: vec![("search_path".to_string(), schema.clone())],
                    },
                    TenantRoute::Database(db) => TenantPlan { dialect: dialect_of(db), settings: Vec::new() },
                };
                (id.clone(), plan)
            })
            .collect();
        let rules = rules(&config.access, model, &mut errors);
        check_roles(&config.access, model, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            tenant_key,
            require_known_tenant: config.tenancy.require_known_tenant,
            tenants,
            default_dialect,
            rules,
            roles_key,
            roles: config.access.roles.clone(),
            session: config.database.as_ref().map(|d| d.session.clone()).unwrap_or_default(),
            missing_filter_allows_all: config.model.dangerous_missing_filter_allows_all,
            no_policy: config.access.no_policy,
        })
    }

    pub fn missing_filter_allows_all(&self) -> bool {
        self.missing_filter_allows_all
    }

    /// The caller's tenant: `None` without `tenant_key`; an invalid or (with
    /// `require_known_tenant`) unlisted one is refused.
    pub fn tenant(&self, ctx: &SecurityContext) -> Result<Option<String>, QueryError> {
        let Some(key) = &self.tenant_key else { return Ok(None) };
        let id = match ctx.resolve(key) {
            Resolved::Scalar(Value::String(s)) if !s.is_empty() => s.clone(),
            Resolved::Scalar(Value::Number(n)) => n.to_string(),
            Resolved::Missing => {
                return Err(QueryError::InvalidTenant(format!("the security context has no '{key}'")));
            }
            other => {
                let what = match other {
                    Resolved::Scalar(Value::String(_)) => "an empty string",
                    Resolved::Scalar(_) => "a boolean",
                    Resolved::List(_) => "an array",
                    Resolved::Invalid(what) => what,
                    Resolved::Missing => "nothing",
                };
                return Err(QueryError::InvalidTenant(format!(
                    "the security context's '{key}' must be a non-empty string or a number, not {what}"
                )));
            }
        };
        if self.require_known_tenant && !self.tenants.contains_key(&id) {
            return Err(QueryError::UnknownTenant(id));
        }
        Ok(Some(id))
    }

    /// The dialect of a tenant's database and the settings its transactions
    /// start with (a schema's `search_path`).
    pub fn route(&self, tenant: Option<&str>) -> (Dialect, Vec<(String, String)>) {
        match tenant.and_then(|t| self.tenants.get(t)) {
            Some(t) => (t.dialect, t.settings.clone()),
            None => (self.default_dialect, Vec::new()),
        }
    }

    /// The caller's groups (roles), from `[access] groups_key` (or
    /// `roles_key`), read as the API scopes read them.
    pub fn groups(&self, ctx: &SecurityContext) -> Vec<String> {
        crate::auth::scope::groups(ctx, self.roles_key.as_ref()).into_iter().map(str::to_owned).collect()
    }

    /// The model's access policies judged for this caller.
    pub fn caller<'m>(&self, model: &'m Model, ctx: &SecurityContext) -> Caller<'m> {
        Caller::new(model, ctx, self.groups(ctx), self.no_policy, self.missing_filter_allows_all)
    }

    /// What the token's roles grant; `None` when no roles are configured.
    pub fn grants(&self, ctx: &SecurityContext) -> Option<Grants> {
        if self.roles.is_empty() {
            return None;
        }
        let held = self.groups(ctx);
        let mut g = Grants { cubes: Vec::new(), members: Vec::new() };
        for role in self.roles.iter().filter(|r| held.contains(&r.name)) {
            g.cubes.extend(role.cubes.iter().cloned());
            g.members.extend(role.members.iter().cloned());
        }
        Some(g)
    }

    /// Refuse the first member of the client's query that the token's roles
    /// do not grant, judged on the resolved model member.
    pub fn check_roles(&self, model: &Model, ctx: &SecurityContext, q: &Query) -> Result<(), QueryError> {
        let Some(g) = self.grants(ctx) else { return Ok(()) };
        // A view member is judged as the view's: a role grants what the
        // client may name, and the view decides what that reads.
        match q.refs().into_iter().map(|r| model.ref_name(r)).find(|m| !g.allows(m)) {
            Some(m) => Err(QueryError::MemberNotAllowed(m)),
            None => Ok(()),
        }
    }

    /// Force the rules of every cube the query reads (its join tree, the
    /// cubes it passes through included) into it as typed filters, rendered
    /// with their cube (and into the query echo, as Cube.js's
    /// `queryRewrite` shows). A missing context value is refused, or the
    /// rule skipped under `dangerous_missing_filter_allows_all`.
    pub fn apply_rules(&self, ctx: &SecurityContext, q: &mut Query) -> Result<(), QueryError> {
        let cubes = q.join.cubes();
        for r in self.rules.iter().filter(|r| cubes.contains(&r.member.cube)) {
            let values: Vec<Value> = match &r.value {
                SessionValue::Literal(l) => vec![json!(l)],
                SessionValue::Context(path) => match ctx.resolve(path) {
                    Resolved::Missing if self.missing_filter_allows_all => continue,
                    Resolved::Missing => {
                        return Err(QueryError::MissingSecurityContext {
                            path: path.to_string(),
                            cube: cube_of(&r.name).to_string(),
                        });
                    }
                    Resolved::Scalar(v) => vec![v.clone()],
                    Resolved::List(items) => items.to_vec(),
                    Resolved::Invalid(_) => return Err(invalid_context(path)),
                },
            };
            let member = |operator, values| Filter::Member {
                member: r.member,
                name: r.name.clone(),
                view: None,
                operator,
                values,
            };
            let (filter, echo) = if values.is_empty() {
                // An empty list grants nothing: a filter no row can pass.
                (
                    Filter::And(vec![member(Operator::Set, Vec::new()), member(Operator::NotSet, Vec::new())]),
                    json!({"and": [
                        {"member": r.name, "operator": "set"},
                        {"member": r.name, "operator": "notSet"}
                    ]}),
                )
            } else {
                let echo = json!({"member": r.name, "operator": r.operator.as_str(), "values": values});
                (member(r.operator, values), echo)
            };
            q.forced.push(filter);
            if let Some(list) = q.normalized.get_mut("filters").and_then(Value::as_array_mut) {
                list.push(echo);
            }
        }
        Ok(())
    }

    /// `[database.session]` resolved for this caller: the values the
    /// database's row-level-security policies read. A missing value fails
    /// closed, as a missing filter does.
    pub fn session_settings(&self, cube: &str, ctx: &SecurityContext) -> Result<Vec<(String, String)>, QueryError> {
        self.session
            .iter()
            .map(|(name, value)| {
                let v = match value {
                    SessionValue::Literal(l) => l.clone(),
                    SessionValue::Context(path) => match ctx.resolve(path) {
                        Resolved::Scalar(Value::String(s)) => s.clone(),
                        Resolved::Scalar(v) => v.to_string(),
                        Resolved::Missing => {
                            return Err(QueryError::MissingSecurityContext {
                                path: path.to_string(),
                                cube: cube.to_string(),
                            });
                        }
                        Resolved::List(_) | Resolved::Invalid(_) => {
                            return Err(QueryError::InvalidSecurityContext(format!(
                                "security context value '{path}' must be a string, number or boolean for database.session"
                            )));
                        }
                    },
                };
                Ok((name.clone(), v))
            })
            .collect()
    }
}

fn cube_of(member: &str) -> &str {
    member.split_once('.').map_or(member, |(c, _)| c)
}

/// `[[access.rules]]` resolved against the model; every problem reported.
fn rules(access: &AccessConfig, model: &Model, errors: &mut Vec<String>) -> Vec<Rule> {
    let mut out = Vec::new();
    for (i, r) in access.rules.iter().enumerate() {
        let at = format!("access.rules[{i}]");
        if model.cube(&r.cube).is_none() {
            errors.push(format!("{at}.cube: no cube named {} in the model", r.cube));
            continue;
        }
        let member = match model.member(&r.member) {
            Ok(m) if model.cubes[m.cube].name == r.cube => m,
            _ => {
                errors.push(format!("{at}.member: {} is not a member of cube {}", r.member, r.cube));
                continue;
            }
        };
        if let Some(feature) = model.unsupported_feature(member) {
            errors.push(format!("{at}: member {} uses {feature}, which tenantgate does not support", short(&r.member)));
            continue;
        }
        let Some(operator) = Operator::parse(&r.operator) else {
            errors.push(format!("{at}.operator: unknown operator {}", short(&r.operator)));
            continue;
        };
        out.push(Rule { member, name: r.member.clone(), operator, value: r.value.clone() });
    }
    out
}

/// `[[access.roles]]`: every cube and member a role grants must exist.
fn check_roles(access: &AccessConfig, model: &Model, errors: &mut Vec<String>) {
    for (i, role) in access.roles.iter().enumerate() {
        for c in role.cubes.iter().filter(|c| model.cube(c).is_none() && model.view(c).is_none()) {
            errors.push(format!("access.roles[{i}].cubes: no cube or view named {c} in the model"));
        }
        for m in role.members.iter().filter(|m| model.member(m).is_err()) {
            errors.push(format!("access.roles[{i}].members: no member named {m} in the model"));
        }
    }
}

/// What the token's roles grant.
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
