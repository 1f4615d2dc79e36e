//! Which data source serves a tenant: the default database, or the
//! tenant's own (`[tenants.<id>] database_url` or `sqlite_path`). Every
//! source is opened when the server is built, never on the request path:
//! SQLite files are checked then, PostgreSQL pools connect lazily.

use std::collections::HashMap;
use std::sync::Arc;

use super::{DataSource, DbError};
use crate::config::{DatabaseConfig, TenancyConfig, TenantRoute};

pub struct Router {
    default: Option<Arc<DataSource>>,
    tenants: HashMap<String, Arc<DataSource>>,
}

impl Router {
    /// Open the default database and every tenant database; the first
    /// failure names the tenant.
    pub fn open(database: Option<&DatabaseConfig>, tenancy: &TenancyConfig) -> Result<Router, DbError> {
        let default = database.map(DataSource::open).transpose()?.map(Arc::new);
        let mut tenants = HashMap::new();
        for (id, route) in &tenancy.tenants {
            if let TenantRoute::Database(cfg) = route {
                let source = DataSource::open(cfg).map_err(|e| match e {
                    DbError::Unavailable(m) => DbError::Unavailable(format!("tenant {id:?}: {m}")),
                    other => other,
                })?;
                tenants.insert(id.clone(), Arc::new(source));
            }
        }
        Ok(Router { default, tenants })
    }

    /// The tenant's own database, else the default; `None` without any.
    pub fn source(&self, tenant: Option<&str>) -> Option<&Arc<DataSource>> {
        tenant.and_then(|t| self.tenants.get(t)).or(self.default.as_ref())
    }

    /// Statements running on every source (`/metrics`).
    pub fn running(&self) -> usize {
        self.default.iter().chain(self.tenants.values()).map(|d| d.running()).sum()
    }
}
