//! The query stage as one pure function: the model, the policy, a request's
//! queries and the caller's security context in; a [`Plan`] out, whose
//! queries carry the forced filters as typed filters, the roles checked, the
//! tenant and the session values resolved, and their SQL rendered for the
//! tenant's database. The HTTP layer only shapes what the plan says; `db`
//! only runs it.

use serde_json::Value;

use super::access::Applied;
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
    /// The caller's groups and every access policy judged for them.
    pub groups: Vec<String>,
    pub judged: Vec<super::access::Judged>,
}

/// One query of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub query: Query,
    pub rendered: Rendered,
    /// Transaction-local settings: a tenant schema's `search_path`, then
    /// `[database.session]`.
    pub settings: Vec<(String, String)>,
    /// The root cube of the query's join tree (`/sql`'s `cube`).
    pub cube: String,
    /// What the access policies did to the query.
    pub applied: Applied,
}

/// Plan `queries` (the query JSON of one request) for `ctx`. The tenant
/// goes first: a token whose tenant is invalid or unknown goes no further,
/// whatever it asks. Roles judge what the client asked for; the filters that
/// rules force in afterwards are ours.
pub fn plan(model: &Model, policy: &Policy, queries: &[Value], ctx: &SecurityContext) -> Result<Plan, QueryError> {
    let tenant = policy.tenant(ctx)?;
    let (dialect, tenant_settings) = policy.route(tenant.as_deref());
    let opts = RenderOptions { missing_filter_allows_all: policy.missing_filter_allows_all() };
    let caller = policy.caller(model, ctx);
    let mut planned = Vec::with_capacity(queries.len());
    for raw in queries {
        let mut query = Query::parse(raw, model)?;
        let applied = caller.apply(ctx, &mut query)?;
        policy.check_roles(model, ctx, &query)?;
        policy.apply_rules(ctx, &mut query)?;
        let rendered = render(model, &query, ctx, dialect, opts)?;
        let cube = model.cubes[query.join.root].name.clone();
        let mut settings = tenant_settings.clone();
        settings.extend(policy.session_settings(&cube, ctx)?);
        planned.push(Planned { query, rendered, settings, cube, applied });
    }
    Ok(Plan { tenant, dialect, queries: planned, groups: caller.groups.clone(), judged: caller.judged.clone() })
}

#[cfg(test)]
mod golden {
    //! `tests/golden/plan/*.json`: a configuration snippet, a security
    //! context and a request's queries in; the plan (tenant, dialect, and per
    //! query the SQL, parameters, settings and the echoed filters) or the
    //! refusal out. `UPDATE_GOLDEN=1` rewrites the expectations.

    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::config::{LoadOptions, load};
    use crate::query::SqlValue;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
    }

    fn outcome(case: &Value) -> Value {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!(
            "[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"golden-plan-secret-0123456789abcdef0123\"]\n\
             [model]\npath = \"{}\"\n{}",
            root().join("render/model").display(),
            case["config"].as_str().unwrap_or("")
        );
        std::fs::write(dir.path().join("test.toml"), toml).expect("write");
        let opts = LoadOptions {
            config_dir: dir.path().to_path_buf(),
            env: "test".into(),
            dotenv: None,
            vars: BTreeMap::new(),
        };
        let config = match load(&opts) {
            Ok(c) => c,
            Err(e) => return json!({"config_error": e.to_string()}),
        };
        let options =
            crate::query::model::ModelOptions { allow_unsafe_value: config.model.dangerous_allow_unsafe_value };
        let model = match crate::query::model::load_dir(&config.model.path, options) {
            Ok(m) => std::sync::Arc::new(m),
            Err(e) => return json!({"model_error": e}),
        };
        let policy = match Policy::build(&config, &model) {
            Ok(p) => p,
            Err(e) => return json!({"policy_error": e}),
        };
        let claims = crate::auth::provider::VerifiedClaims::dangerous_assume_verified(case["context"].clone())
            .expect("context is an object");
        let ctx = SecurityContext::from_verified(claims, None, &[]).expect("context");
        let queries = case["queries"].as_array().cloned().unwrap_or_default();
        match plan(&model, &policy, &queries, &ctx) {
            Ok(p) => json!({
                "tenant": p.tenant,
                "dialect": p.dialect.name(),
                "queries": p.queries.iter().map(|q| json!({
                    "cube": q.cube,
                    "sql": q.rendered.sql,
                    "params": q.rendered.params.iter().map(SqlValue::to_json).collect::<Vec<_>>(),
                    "settings": q.settings,
                    "echoed_filters": q.query.normalized["filters"],
                })).collect::<Vec<_>>(),
            }),
            Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
        }
    }

    #[test]
    fn plans_match_the_golden_files() {
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let mut files: Vec<_> = std::fs::read_dir(root().join("plan"))
            .expect("golden plan dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(files.len() >= 8, "golden plan cases missing");
        let mut failures = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            let mut case: Value = serde_json::from_str(&text).expect("golden JSON");
            let got = outcome(&case);
            if update {
                case["plan"] = got;
                std::fs::write(&file, serde_json::to_string_pretty(&case).expect("json") + "\n").expect("write");
            } else if case["plan"] != got {
                failures.push(format!("{}\n  want {}\n  got  {}", file.display(), case["plan"], got));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
