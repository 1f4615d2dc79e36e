//! Which data source serves a tenant: the default database, or the
//! tenant's own (`[tenants.<id>] database_url` or `sqlite_path`). Every
//! source is opened when the server is built, never on the request path:
//! SQLite files are checked then, PostgreSQL pools connect lazily.

use std::collections::HashMap;
use std::sync::Arc;

use super::{DataSource, DbError};
use crate::config::{DatabaseConfig, TenancyConfig, TenantRoute};

/// Which of the router's sources serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Default,
    /// The tenant's own database.
    Tenant(&'a str),
}

pub struct Router {
    default: Option<Arc<DataSource>>,
    tenants: HashMap<String, Arc<DataSource>>,
}

impl Router {
    /// Open the default database and every tenant database. Every failure
    /// is reported, each tenant's named.
    pub fn open(database: Option<&DatabaseConfig>, tenancy: &TenancyConfig) -> Result<Router, Vec<DbError>> {
        let mut errors = Vec::new();
        let default = match database.map(DataSource::open).transpose() {
            Ok(d) => d.map(Arc::new),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let mut tenants = HashMap::new();
        for (id, cfg) in tenant_databases(tenancy) {
            match DataSource::open(cfg) {
                Ok(source) => {
                    tenants.insert(id.to_string(), Arc::new(source));
                }
                Err(e) => errors.push(for_tenant(id, e)),
            }
        }
        if errors.is_empty() { Ok(Router { default, tenants }) } else { Err(errors) }
    }

    /// [`Router::open`]'s checks without creating anything (`check-config`).
    pub fn check(database: Option<&DatabaseConfig>, tenancy: &TenancyConfig) -> Vec<DbError> {
        let mut errors: Vec<DbError> = database.and_then(|d| DataSource::check(d).err()).into_iter().collect();
        for (id, cfg) in tenant_databases(tenancy) {
            if let Err(e) = DataSource::check(cfg) {
                errors.push(for_tenant(id, e));
            }
        }
        errors
    }

    /// No data source at all.
    pub fn empty() -> Router {
        Router { default: None, tenants: HashMap::new() }
    }

    /// The tenant's own database, else the default; `None` without any.
    pub fn source(&self, tenant: Option<&str>) -> Option<&Arc<DataSource>> {
        tenant.and_then(|t| self.tenants.get(t)).or(self.default.as_ref())
    }

    /// [`Router::source`] and which route it is: `"default"` or
    /// `"tenant:<id>"` (the cache keys on it).
    pub fn route(&self, tenant: Option<&str>) -> Option<(Route<'_>, &Arc<DataSource>)> {
        if let Some((id, source)) = tenant.and_then(|t| self.tenants.get_key_value(t)) {
            return Some((Route::Tenant(id), source));
        }
        self.default.as_ref().map(|d| (Route::Default, d))
    }

    /// Statements running on every source (`/metrics`).
    pub fn running(&self) -> usize {
        self.default.iter().chain(self.tenants.values()).map(|d| d.running()).sum()
    }
}

fn tenant_databases(tenancy: &TenancyConfig) -> impl Iterator<Item = (&str, &DatabaseConfig)> {
    tenancy.tenants.iter().filter_map(|(id, route)| match route {
        TenantRoute::Database(cfg) => Some((id.as_str(), &**cfg)),
        TenantRoute::Schema(_) => None,
    })
}

fn for_tenant(id: &str, e: DbError) -> DbError {
    match e {
        DbError::Unavailable(m) => DbError::Unavailable(format!("tenant {id:?}: {m}")),
        other => other,
    }
}
