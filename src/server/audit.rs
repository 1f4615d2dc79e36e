//! The audit log: one JSON line per data request (`/load`, `/subscribe`,
//! `/sql`, `/dry-run`), on the tracing target `tenantgate::audit`, which
//! `telemetry` writes as the bare JSON object. On unless `[audit] enabled =
//! false`.
//!
//! What a line says: who (subject, provider, kid, tenant, groups), what
//! (members queried, policies applied, filters injected, rows, database)
//! and how it ended (status, outcome, code). Filters are named by member
//! and operator, never by value.
//!
//! **Invariant:** never a token, a secret or the claim set: a record is
//! built from named fields only, and the context is read for `sub` and the
//! groups alone.

use serde::Serialize;

use super::App;
use crate::auth::{Authenticated, SecurityContext};
use crate::query::Plan;
use crate::query::request::Filter;

/// The tracing target of audit lines.
pub const TARGET: &str = crate::telemetry::AUDIT_TARGET;

/// One data request, filled in as it goes.
#[derive(Debug, Default, Serialize)]
pub struct Record {
    pub request_id: String,
    pub endpoint: &'static str,
    pub status: u16,
    /// `ok`, or `refused` (a 4xx), or `failed` (a 5xx).
    pub outcome: &'static str,
    /// The refusal or failure code; `null` on success.
    pub code: Option<&'static str>,
    pub tenant: Option<String>,
    pub subject: Option<String>,
    pub provider: Option<String>,
    pub kid: Option<String>,
    pub groups: Vec<String>,
    /// The policies that applied, by name. See [`policies_applied`].
    pub policies: Vec<String>,
    /// What the client asked for, as it named them (`Orders.count`).
    pub members: Vec<String>,
    /// Filters forced in by policy: `<member> <operator>`.
    pub filters_injected: Vec<String>,
    /// Rows read (`/load`); `null` where nothing ran.
    pub rows: Option<u64>,
    /// The data source the plan routes to.
    pub database: Option<Database>,
}

#[derive(Debug, Serialize)]
pub struct Database {
    /// `default`, or `tenant:<id>`.
    pub route: String,
    /// `sqlite` or `postgres`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl Record {
    pub fn new(endpoint: &'static str) -> Record {
        Record { endpoint, ..Record::default() }
    }

    /// Who called, from an authenticated request (the provider and kid
    /// come with [`Record::emit`], known for refused requests too).
    pub fn caller(&mut self, app: &App, auth: &Authenticated) {
        self.subject = subject(&auth.context);
        let key = app.config.access.scopes.groups_key.as_ref();
        self.groups = crate::auth::scope::groups(&auth.context, key).into_iter().map(str::to_owned).collect();
    }

    /// What the plan decided: tenant, members, policies, forced filters and
    /// the data source it routes to.
    pub fn plan(&mut self, app: &App, plan: &Plan) {
        self.tenant = plan.tenant.clone();
        for p in &plan.queries {
            for r in p.query.refs() {
                let name = app.model.ref_name(r);
                if !self.members.contains(&name) {
                    self.members.push(name);
                }
            }
            for f in p.query.forced.iter().chain(&p.query.forced_where) {
                forced_names(f, &mut self.filters_injected);
            }
        }
        self.policies = policies_applied(app, plan);
        self.database = app.router.route(plan.tenant.as_deref()).map(|(route, source)| Database {
            route: match route {
                crate::db::Route::Default => "default".into(),
                crate::db::Route::Tenant(id) => format!("tenant:{id}"),
            },
            kind: source.kind(),
        });
    }

    /// Rows read by one statement.
    pub fn add_rows(&mut self, n: usize) {
        self.rows = Some(self.rows.unwrap_or(0) + n as u64);
    }

    /// Write the line.
    pub fn emit(
        mut self,
        request_id: &str,
        status: u16,
        code: Option<&'static str>,
        provider: Option<&str>,
        kid: Option<&str>,
    ) {
        self.request_id = request_id.to_owned();
        self.provider = provider.map(str::to_owned);
        self.kid = kid.map(str::to_owned);
        self.status = status;
        self.code = code;
        self.outcome = match status {
            200..=299 => "ok",
            400..=499 => "refused",
            _ => "failed",
        };
        // Named fields of strings and numbers always serialize.
        let line = serde_json::to_string(&self).unwrap_or_default();
        tracing::info!(target: TARGET, record = line.as_str());
    }
}

/// The policies that applied to this request, by name.
///
/// The one place that names them: the model's `access_policy` entries that
/// applied to a cube or view the plan reads (`Orders.access_policy[0]`),
/// the configured `[[access.roles]]` the caller holds (`role:<name>`) and
/// the `[[access.rules]]` on a cube the plan reads (`access.rules[<i>]`).
fn policies_applied(app: &App, plan: &Plan) -> Vec<String> {
    let access = &app.config.access;
    let mut out = Vec::new();
    for name in plan.queries.iter().flat_map(|p| &p.applied.policies) {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    // The groups the plan judged the policies and roles with.
    let held = &plan.groups;
    out.extend(access.roles.iter().filter(|r| held.contains(&r.name)).map(|r| format!("role:{}", r.name)));
    let cubes: Vec<&str> = plan
        .queries
        .iter()
        .flat_map(|p| p.query.join.cubes())
        .filter_map(|c| app.model.cubes.get(c).map(|c| c.name.as_str()))
        .collect();
    for (i, rule) in access.rules.iter().enumerate() {
        if cubes.contains(&rule.cube.as_str()) {
            out.push(format!("access.rules[{i}]"));
        }
    }
    out
}

fn forced_names(f: &Filter, out: &mut Vec<String>) {
    match f {
        Filter::Member { name, operator, .. } => {
            let s = format!("{name} {}", operator.as_str());
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Filter::And(list) | Filter::Or(list) => list.iter().for_each(|f| forced_names(f, out)),
    }
}

/// `sub`, when it is a string or a number.
fn subject(ctx: &SecurityContext) -> Option<String> {
    match ctx.as_map().get("sub")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
