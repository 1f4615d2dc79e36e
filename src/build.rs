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

use crate::auth::{Pipeline, Strategies};
use crate::config::{Config, ModelConfig};
use crate::db::Router;
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
    let pipeline = Pipeline::new(&config.auth, strategies).map_err(|e| errors.push(format!("auth: {e}")));
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

/// The data model under `[model] path` (a missing folder is an empty
/// model). Every error names its file and cube.
pub fn load_model(cfg: &ModelConfig) -> Result<Model, Vec<String>> {
    let options = crate::query::model::ModelOptions { allow_unsafe_value: cfg.dangerous_allow_unsafe_value };
    crate::query::model::load_dir(&cfg.path, options)
}
