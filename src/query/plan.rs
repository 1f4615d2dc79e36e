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

    /// The configuration, model and policy of a case: `config` (a TOML
    /// snippet, plus `extra`) over the model in `tests/golden/<model>`.
    fn load_case(
        case: &Value,
        model: &str,
        extra: &str,
    ) -> Result<(std::sync::Arc<Model>, Policy, SecurityContext), Value> {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!(
            "[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"golden-plan-secret-0123456789abcdef0123\"]\n\
             [model]\npath = \"{}\"\n{}\n{extra}",
            root().join(model).display(),
            case["config"].as_str().unwrap_or("")
        );
        std::fs::write(dir.path().join("test.toml"), toml).expect("write");
        let opts = LoadOptions {
            config_dir: dir.path().to_path_buf(),
            env: "test".into(),
            dotenv: None,
            vars: BTreeMap::new(),
        };
        let config = load(&opts).map_err(|e| json!({"config_error": e.to_string()}))?;
        let options =
            crate::query::model::ModelOptions { allow_unsafe_value: config.model.dangerous_allow_unsafe_value };
        let model = crate::query::model::load_dir(&config.model.path, options)
            .map(std::sync::Arc::new)
            .map_err(|e| json!({"model_error": e}))?;
        let policy = Policy::build(&config, &model).map_err(|e| json!({"policy_error": e}))?;
        let claims = crate::auth::provider::VerifiedClaims::dangerous_assume_verified(case["context"].clone())
            .expect("context is an object");
        let ctx = SecurityContext::from_verified(claims, None, &[]).expect("context");
        Ok((model, policy, ctx))
    }

    /// A cumulative measure's windows read the cube as any query does: its
    /// security-context filter and the caller's row-level policy inside the
    /// base rows, run here on a real SQLite database with another tenant's
    /// and another region's rows beside the caller's.
    #[test]
    fn cumulative_measures_keep_the_tenant_filter_and_row_level_policies() {
        let model_dir = tempfile::tempdir().expect("tempdir");
        let yaml = r#"
cubes:
  - name: Sales
    sql: SELECT * FROM sales WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - {name: rollingCount, type: count, rolling_window: {trailing: 1 month}}
      - {name: runningAmount, sql: amount, type: running_total}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: region, sql: region, type: string}
      - {name: createdAt, sql: created_at, type: time}
    access_policy:
      - group: "*"
        row_level:
          filters:
            - {member: region, operator: equals, values: ["{ securityContext.region }"]}
"#;
        std::fs::write(model_dir.path().join("sales.yml"), yaml).expect("write model");
        let case = json!({"config": "", "context": {"tenant_id": "t1", "region": "eu"}});
        let (model, policy, ctx) =
            load_case(&case, &model_dir.path().display().to_string(), "").expect("the case loads");
        let query = json!({"measures": ["Sales.rollingCount", "Sales.runningAmount"], "timeDimensions": [
            {"dimension": "Sales.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-02-29"]}]});
        let planned = plan(&model, &policy, &[query], &ctx).expect("plans");
        let rendered = &planned.queries[0].rendered;

        let db = rusqlite::Connection::open_in_memory().expect("sqlite");
        db.execute_batch(
            "CREATE TABLE sales (id INTEGER, tenant_id TEXT, region TEXT, created_at TEXT, amount INTEGER);
             INSERT INTO sales VALUES
               (1, 't1', 'eu', '2024-01-10T00:00:00.000', 10),
               (2, 't1', 'us', '2024-01-12T00:00:00.000', 100),
               (3, 't2', 'eu', '2024-01-15T00:00:00.000', 1000),
               (4, 't1', 'eu', '2024-02-03T00:00:00.000', 20);",
        )
        .expect("seed");
        let params: Vec<rusqlite::types::Value> = rendered
            .params
            .iter()
            .map(|p| match p {
                SqlValue::Null => rusqlite::types::Value::Null,
                SqlValue::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
                SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
                SqlValue::Float(f) => rusqlite::types::Value::Real(*f),
                SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
            })
            .collect();
        let mut stmt = db.prepare(&rendered.sql).unwrap_or_else(|e| panic!("{e}\n{}", rendered.sql));
        let rows: Vec<(String, i64, i64)> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("runs")
            .collect::<Result<_, _>>()
            .expect("rows");
        // Only t1's rows in eu: the us row (region policy) and t2's row
        // (tenant filter) never reach a window.
        assert_eq!(
            rows,
            [("2024-01-01T00:00:00.000".to_string(), 1, 10), ("2024-02-01T00:00:00.000".to_string(), 1, 30)],
            "{}",
            rendered.sql
        );
    }

    fn outcome(case: &Value) -> Value {
        let (model, policy, ctx) = match load_case(case, "render/model", "") {
            Ok(loaded) => loaded,
            Err(e) => return e,
        };
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

    /// `tests/golden/policy/*.json`: the access-policy cases, over
    /// `tests/golden/policy/model`, on both dialects: the groups, every
    /// policy judged, the members each cube or view hides from the caller,
    /// and per query the SQL, its parameters and what the policies applied.
    fn policy_outcome(case: &Value, extra: &str) -> Value {
        let (model, policy, ctx) = match load_case(case, "policy/model", extra) {
            Ok(loaded) => loaded,
            Err(e) => return e,
        };
        let caller = policy.caller(&model, &ctx);
        let mut hidden = serde_json::Map::new();
        for (i, c) in model.cubes.iter().enumerate() {
            let h = caller.hidden_members(crate::query::access::Entity::Cube(i));
            if !h.is_empty() {
                hidden.insert(c.name.clone(), json!(h));
            }
        }
        for (i, v) in model.views.iter().enumerate() {
            let h = caller.hidden_members(crate::query::access::Entity::View(i));
            if !h.is_empty() {
                hidden.insert(v.name.clone(), json!(h));
            }
        }
        let judged: Vec<Value> = caller
            .judged
            .iter()
            .map(|j| json!({"on": j.entity.name(&model), "policy": j.index, "applies": j.applies, "reason": j.reason}))
            .collect();
        let queries = case["queries"].as_array().cloned().unwrap_or_default();
        let planned = match plan(&model, &policy, &queries, &ctx) {
            Ok(p) => json!(p.queries.iter().map(|q| json!({
                "sql": q.rendered.sql,
                "params": q.rendered.params.iter().map(SqlValue::to_json).collect::<Vec<_>>(),
                "filters": q.applied.filters.iter().map(|(on, f)| json!({"on": on, "filter": f})).collect::<Vec<_>>(),
                "denied": q.applied.denied,
                "masked": q.applied.masked,
                "policies": q.applied.policies,
            })).collect::<Vec<_>>()),
            Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
        };
        json!({"groups": caller.groups, "judged": judged, "hidden": hidden, "queries": planned})
    }

    fn golden_files(dir: &str) -> Vec<PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
            .expect("golden dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn access_policy_plans_match_the_golden_files_on_both_dialects() {
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let files = golden_files("policy");
        assert!(files.len() >= 12, "golden policy cases missing");
        let mut failures = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            let mut case: Value = serde_json::from_str(&text).expect("golden JSON");
            let got = json!({
                "sqlite": policy_outcome(&case, ""),
                "postgres": policy_outcome(&case, "[database]\ntype = \"postgres\"\nurl = \"postgres://golden@127.0.0.1:1/none\"\n"),
            });
            if update {
                case["outcome"] = got;
                std::fs::write(&file, serde_json::to_string_pretty(&case).expect("json") + "\n").expect("write");
            } else if case["outcome"] != got {
                failures.push(format!("{}\n  want {}\n  got  {}", file.display(), case["outcome"], got));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn plans_match_the_golden_files() {
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let files = golden_files("plan");
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
