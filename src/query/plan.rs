//! The query stage as one pure function: the model, the policy, a request's
//! queries and the caller's security context in; a [`Plan`] out, whose
//! queries carry the forced filters as typed filters, the roles checked, the
//! tenant and the session values resolved, and their SQL rendered for the
//! tenant's database. The HTTP layer only shapes what the plan says; `db`
//! only runs it.

use serde_json::Value;

use super::policy::Policy;
use super::render::{RenderOptions, Rendered, render};
use super::request::Query;
use super::{Dialect, Model, QueryError};
use crate::auth::SecurityContext;

/// What one request will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The caller's tenant (`[tenancy] tenant_key`), when configured.
    pub tenant: Option<String>,
    /// The SQL dialect of the tenant's database, from configuration.
    pub dialect: Dialect,
    pub queries: Vec<Planned>,
}

/// One query of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub query: Query,
    pub rendered: Rendered,
    /// Transaction-local settings: a tenant schema's `search_path`, then
    /// `[database.session]`.
    pub settings: Vec<(String, String)>,
    /// The queried cube's name (`/sql`'s `cube`).
    pub cube: String,
}

/// Plan `queries` (the query JSON of one request) for `ctx`. The tenant
/// goes first: a token whose tenant is invalid or unknown goes no further,
/// whatever it asks. Roles judge what the client asked for; the filters that
/// rules force in afterwards are ours.
pub fn plan(model: &Model, policy: &Policy, queries: &[Value], ctx: &SecurityContext) -> Result<Plan, QueryError> {
    let tenant = policy.tenant(ctx)?;
    let (dialect, tenant_settings) = policy.route(tenant.as_deref());
    let opts = RenderOptions { missing_filter_allows_all: policy.missing_filter_allows_all() };
    let mut planned = Vec::with_capacity(queries.len());
    for raw in queries {
        let mut query = Query::parse(raw, model)?;
        policy.check_roles(model, ctx, &query)?;
        policy.apply_rules(ctx, &mut query)?;
        let rendered = render(model, &query, ctx, dialect, opts)?;
        let cube = model.cubes[query.cube].name.clone();
        let mut settings = tenant_settings.clone();
        settings.extend(policy.session_settings(&cube, ctx)?);
        planned.push(Planned { query, rendered, settings, cube });
    }
    Ok(Plan { tenant, dialect, queries: planned })
}
