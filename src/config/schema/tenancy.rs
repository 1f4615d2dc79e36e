//! `[tenancy]` and `[tenants.<id>]`.

use std::path::PathBuf;

use super::{Cx, Section, join};
use crate::config::layers::{Node, Value};
use crate::config::{DatabaseConfig, DatabaseKind, PgTls, TenancyConfig, TenantRoute};

pub(super) fn tenancy(cx: &mut Cx, root: &Section<'_>, database: Option<&DatabaseConfig>) -> TenancyConfig {
    let t = root.section_or_empty(cx, "tenancy");
    let tenant_key = cx.non_empty_string(&t, "tenant_key");
    // With tenants listed, an unlisted one would silently read the default
    // database: refuse it unless the configuration says otherwise.
    let listed = matches!(root.get("tenants"), Some(Node { value: Value::Table(list), .. }) if !list.is_empty());
    let require_known_tenant = cx.bool(&t, "require_known_tenant", listed);
    t.finish(cx);
    let mut tenants = Vec::new();
    if let Some(node) = root.get("tenants") {
        let Value::Table(list) = &node.value else {
            cx.invalid(&node.source, "tenants", "expected tables [tenants.<id>]");
            return TenancyConfig { tenant_key, require_known_tenant, tenants };
        };
        for (id, entry) in list {
            let path = format!("tenants.{id}");
            let Value::Table(tt) = &entry.value else {
                cx.invalid(&entry.source, &path, "expected a table");
                continue;
            };
            let tt = Section::new(cx, tt, path.clone());
            let schema = cx.non_empty_string(&tt, "schema");
            let url = cx.non_empty_string(&tt, "database_url");
            let sqlite = cx.non_empty_string(&tt, "sqlite_path");
            tt.finish(cx);
            let route = match (schema, url, sqlite, database) {
                (Some(s), None, None, Some(db)) if matches!(db.kind, DatabaseKind::Postgres(..)) => {
                    if !s.split('.').all(crate::text::is_identifier) {
                        cx.invalid(&entry.source, &join(&path, "schema"), "not a schema name");
                        continue;
                    }
                    TenantRoute::Schema(s)
                }
                (Some(_), None, None, _) => {
                    cx.invalid(&entry.source, &join(&path, "schema"), "a schema needs [database] type = \"postgres\"");
                    continue;
                }
                (None, Some(url), None, Some(db)) => match url.parse::<tokio_postgres::Config>() {
                    Ok(pg) => {
                        // The tenant's database gets the default's TLS setting.
                        let tls = match &db.kind {
                            DatabaseKind::Postgres(_, tls) => tls.clone(),
                            DatabaseKind::Sqlite { .. } => PgTls::Off,
                        };
                        TenantRoute::Database(Box::new(DatabaseConfig {
                            kind: DatabaseKind::Postgres(Box::new(pg), tls),
                            ..db.clone()
                        }))
                    }
                    Err(_) => {
                        cx.invalid(&entry.source, &join(&path, "database_url"), "not a PostgreSQL connection URL");
                        continue;
                    }
                },
                (None, None, Some(file), Some(db)) => TenantRoute::Database(Box::new(DatabaseConfig {
                    kind: DatabaseKind::Sqlite { path: PathBuf::from(file), seed: None },
                    session: Vec::new(),
                    ..db.clone()
                })),
                (_, _, _, None) => {
                    cx.invalid(&entry.source, &path, "tenant routes need a [database] section for their limits");
                    continue;
                }
                _ => {
                    cx.invalid(&entry.source, &path, "set exactly one of schema, database_url or sqlite_path");
                    continue;
                }
            };
            tenants.push((id.clone(), route));
        }
    }
    if (require_known_tenant || !tenants.is_empty()) && tenant_key.is_none() {
        let src = cx.env_file.clone();
        cx.invalid(&src, "tenancy.tenant_key", "required when tenants are listed or require_known_tenant is set");
    }
    TenancyConfig { tenant_key, require_known_tenant, tenants }
}
