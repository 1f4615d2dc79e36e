//! The build step: a loaded [`Config`] in, everything the server runs out
//! (the data model, loaded here from `[model] path`, the policy, the auth
//! pipeline, the TLS acceptor, the data sources, the result cache), every
//! error collected. `serve` and `check-config` both call [`build`], so a
//! configuration that `check-config` passes is one that `serve` starts with
//! (the network aside: JWKS endpoints and PostgreSQL are reached only when
//! serving).
//!
//! **Boundary:** the only bridge from configuration data to runtime values.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use serde_json::{Map, Value};

use crate::auth::{BoxFuture, ClaimLookup, LookupError, Pipeline, Strategies};
use crate::config::{Config, ModelConfig};
use crate::db::{Cell, DataSource, DbError, Router};
use crate::query::SqlValue;
use crate::query::{Model, Policy};

/// What a build is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `check-config`: every check, nothing created (no SQLite file from its
    /// seed), no data source kept.
    Check,
    /// `serve`: data sources opened (SQLite created from its seed when
    /// missing).
    Serve,
}

/// Everything [`build`] made.
pub struct Built {
    pub config: Config,
    pub model: Arc<Model>,
    pub policy: Policy,
    pub pipeline: Pipeline,
    /// `None` in [`Mode::Check`].
    pub router: Option<Router>,
    pub tls: Option<TlsAcceptor>,
    /// `None` unless `[cache] enabled`.
    pub cache: Option<crate::cache::ResultCache>,
}

/// Every reason a configuration cannot be served, one per line, each
/// prefixed with the part it concerns (`auth:`, `tls:`, `database:`,
/// `access policy:`, `cache:`), or naming its model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildErrors(pub Vec<String>);

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for BuildErrors {}

/// Build everything that can be built without the network. Must run inside
/// a Tokio runtime (JWKS providers own a refresh task). `strategies` holds
/// custom check-auth strategies by provider name (empty for the binary).
pub fn build(config: Config, strategies: Strategies, mode: Mode) -> Result<Built, BuildErrors> {
    let mut errors = Vec::new();
    // The policy is checked against the model, so only against one that
    // loaded (its own errors name their file and cube).
    let model = load_model(&config.model).map(Arc::new).map_err(|e| errors.extend(e));
    let policy = match &model {
        Ok(model) => Policy::build(&config, model)
            .map_err(|e| errors.extend(e.into_iter().map(|m| format!("access policy: {m}")))),
        Err(()) => Err(()),
    };
    if let Ok(model) = &model {
        errors.extend(shared_cubes(&config, model));
    }
    let tls = match &config.server.tls {
        None => Ok(None),
        Some(t) => crate::tls::acceptor(t).map(Some).map_err(|e| errors.push(format!("tls: {e}"))),
    };
    let router = match mode {
        Mode::Serve => match Router::open(config.database.as_ref(), &config.tenancy) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                errors.extend(e.iter().map(|e| format!("database: {e}")));
                Err(())
            }
        },
        Mode::Check => {
            errors.extend(
                Router::check(config.database.as_ref(), &config.tenancy).iter().map(|e| format!("database: {e}")),
            );
            Ok(None)
        }
    };
    // After the data sources: `[[auth.enrich]]`'s sql form runs on the
    // default one (checking builds it over none; it never runs then).
    let lookup: Arc<dyn ClaimLookup> = match &router {
        Ok(Some(r)) => Arc::new(DbLookup(r.source(None).cloned())),
        _ => Arc::new(DbLookup(None)),
    };
    let pipeline =
        Pipeline::with_lookup(&config.auth, strategies, Some(lookup)).map_err(|e| errors.push(format!("auth: {e}")));
    let cache = match config.cache.enabled {
        false => Ok(None),
        true => crate::cache::ResultCache::new(&config)
            .map(Some)
            .map_err(|e| errors.extend(e.into_iter().map(|m| format!("cache: {m}")))),
    };
    match (model, policy, pipeline, tls, router, cache) {
        (Ok(model), Ok(policy), Ok(pipeline), Ok(tls), Ok(router), Ok(cache)) if errors.is_empty() => {
            Ok(Built { config, model, policy, pipeline, router, tls, cache })
        }
        _ => Err(BuildErrors(errors)),
    }
}

/// Cubes without a tenant predicate next to cubes with one. Outside
/// development and test, a cube that has none (no security-context template
/// in its `sql`, no `[[access.rules]]` rule, no tenant routing that covers
/// it) but can be joined to a cube that has one (the two are connected by
/// joins, either way: a query can put both in one tree) must be listed in
/// `[model] shared_cubes`: otherwise a join would show every tenant's rows
/// of it beside one tenant's. Names there must be cubes in every
/// environment.
fn shared_cubes(config: &Config, model: &Model) -> Vec<String> {
    let shared = &config.model.shared_cubes;
    let mut errors: Vec<String> = shared
        .iter()
        .filter(|c| model.cube(c).is_none())
        .map(|c| format!("model: shared_cubes: no cube named {c} in the model"))
        .collect();
    if crate::config::RELAXED_ENVIRONMENTS.contains(&config.environment.as_str()) {
        return errors;
    }
    let guarded: Vec<bool> = model.cubes.iter().map(|c| tenant_predicate(config, c)).collect();
    let n = model.cubes.len();
    let mut neighbours = vec![Vec::new(); n];
    for (ci, c) in model.cubes.iter().enumerate() {
        for j in &c.joins {
            neighbours[ci].push(j.to);
            neighbours[j.to].push(ci);
        }
    }
    for (ci, c) in model.cubes.iter().enumerate() {
        if guarded[ci] || shared.contains(&c.name) {
            continue;
        }
        // The first guarded cube it reaches, breadth first, names the risk.
        let mut seen = vec![false; n];
        seen[ci] = true;
        let mut queue = std::collections::VecDeque::from([ci]);
        let mut found = None;
        while let Some(at) = queue.pop_front() {
            if guarded[at] {
                found = Some(at);
                break;
            }
            for &next in &neighbours[at] {
                if !seen[next] {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        if let Some(g) = found {
            errors.push(format!(
                "{}: cube {}: has no tenant predicate (no SECURITY_CONTEXT filter in its sql, no [[access.rules]] rule, \
                 no tenant routing) but can be joined to {}, which has one: a join would show every tenant's rows of it; \
                 add a predicate, or list it in [model] shared_cubes if every tenant may read all of it",
                c.file, c.name, model.cubes[g].name
            ));
        }
    }
    errors
}

/// Whether a cube's rows are limited to the caller's tenant by something
/// tenantgate sees: a security-context template in its `sql`, a rule, or
/// routing every tenant (and only listed tenants) to its own database, or
/// to its own schema for a table named without one.
fn tenant_predicate(config: &Config, cube: &crate::query::model::Cube) -> bool {
    use crate::config::TenantRoute;
    use crate::query::model::CubeSource;
    let templated = match &cube.source {
        CubeSource::Sql(pieces) => pieces.iter().any(|p| matches!(p, crate::query::template::Piece::Context { .. })),
        CubeSource::Table(_) => false,
    };
    let ruled = config.access.rules.iter().any(|r| r.cube == cube.name);
    let t = &config.tenancy;
    let routed = t.tenant_key.is_some()
        && t.require_known_tenant
        && !t.tenants.is_empty()
        && t.tenants.iter().all(|(_, route)| match route {
            TenantRoute::Database(_) => true,
            TenantRoute::Schema(_) => matches!(&cube.source, CubeSource::Table(name) if !name.contains('.')),
        });
    templated || ruled || routed
}

/// The data model under `[model] path` (a missing folder is an empty
/// model). Every error names its file and cube.
pub fn load_model(cfg: &ModelConfig) -> Result<Model, Vec<String>> {
    let options = crate::query::model::ModelOptions { allow_unsafe_value: cfg.dangerous_allow_unsafe_value };
    crate::query::model::load_dir(&cfg.path, options)
}

/// `[[auth.enrich]]`'s `sql` form on the default data source: the claim
/// value bound as the statement's one parameter (a string as text, a number
/// as a number), never formatted into it; each row as column -> value.
/// `None` (checking, or no `[database]`, which configuration refuses for
/// the sql form): every lookup fails, closed.
struct DbLookup(Option<Arc<DataSource>>);

impl ClaimLookup for DbLookup {
    fn lookup<'a>(
        &'a self,
        sql: &'a str,
        value: &'a Value,
        max_rows: usize,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, LookupError>> {
        Box::pin(async move {
            let source = self.0.as_ref().ok_or_else(|| LookupError::Failed("no data source is open".into()))?;
            let param = match value {
                Value::String(s) => SqlValue::Text(s.clone()),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => SqlValue::Int(i),
                    None => SqlValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                _ => return Err(LookupError::Failed("the key's value is neither a string nor a number".into())),
            };
            let rows = source.query(sql, &[param], &[], max_rows).await.map_err(|e| match e {
                // A value the parameter's type cannot hold (and the driver's
                // text, which can quote it, is not kept).
                DbError::Refused { .. } | DbError::BadValue(_) => LookupError::ValueRefused,
                DbError::TooManyRows { .. } => {
                    LookupError::Failed(format!("the statement returned more than {max_rows} row(s)"))
                }
                other => LookupError::Failed(other.to_string()),
            })?;
            Ok(rows
                .rows
                .into_iter()
                .map(|cells| rows.columns.iter().cloned().zip(cells.into_iter().map(cell_json)).collect())
                .collect())
        })
    }
}

fn cell_json(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        // A claim keeps a bigint as a number (results, not claims, follow
        // node-pg's strings).
        Cell::Int(i) | Cell::Int8(i) => i.into(),
        Cell::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => b.into(),
        Cell::Text(t) => t.into(),
        // Claims are JSON: bytes have no faithful form there.
        Cell::Bytes(_) => Value::Null,
    }
}
