//! `[database]` and `[database.session]`.

use std::path::PathBuf;
use std::time::Duration;

use super::Cx;
use crate::config::layers::{Node, Table, Value, get};
use crate::config::{DatabaseConfig, DatabaseKind, SessionValue};

pub(super) fn database(cx: &mut Cx, t: &Table) -> Option<DatabaseConfig> {
    const P: &str = "database";
    cx.known_keys(
        t,
        P,
        &[
            "type",
            "path",
            "seed",
            "url",
            "host",
            "port",
            "name",
            "user",
            "password",
            "ssl",
            "ca_file",
            "statement_timeout",
            "max_concurrent_queries",
            "queue_timeout",
            "max_rows",
            "max_result_cells",
            "max_response_bytes",
            "session",
        ],
    );
    let session = session_settings(cx, t);
    let d = DatabaseConfig {
        kind: DatabaseKind::Sqlite { path: PathBuf::new(), seed: None },
        session: session.clone(),
        statement_timeout: cx.duration(t, P, "statement_timeout", Duration::from_secs(10)),
        max_concurrent_queries: cx.int(t, P, "max_concurrent_queries", 8, 1, 1024) as usize,
        queue_timeout: cx.duration(t, P, "queue_timeout", Duration::from_secs(2)),
        max_rows: cx.int(t, P, "max_rows", 50_000, 1, 10_000_000) as usize,
        max_result_cells: cx.int(
            t,
            P,
            "max_result_cells",
            crate::config::DEFAULT_MAX_RESULT_CELLS as i64,
            1,
            100_000_000,
        ) as usize,
        max_response_bytes: cx.int(
            t,
            P,
            "max_response_bytes",
            crate::config::DEFAULT_MAX_RESPONSE_BYTES as i64,
            1,
            1 << 32,
        ) as usize,
    };
    let kind = match get(t, "type") {
        None => "sqlite".to_string(),
        Some(Node { value: Value::Str(s), .. }) => s.clone(),
        Some(n) => {
            cx.invalid(&n.source, "database.type", "expected a string");
            return None;
        }
    };
    match kind.as_str() {
        "sqlite" => {
            let Some(path) = cx.non_empty_string(t, P, "path") else {
                if get(t, "path").is_none() {
                    let src = cx.env_file.clone();
                    cx.invalid(&src, "database.path", "required for type = \"sqlite\" (the database file)");
                }
                return None;
            };
            let seed = cx.non_empty_string(t, P, "seed").map(PathBuf::from);
            if !session.is_empty() {
                let src = get(t, "session").map_or_else(|| cx.env_file.clone(), |n| n.source.clone());
                cx.invalid(&src, "database.session", "session settings need type = \"postgres\"");
            }
            Some(DatabaseConfig { kind: DatabaseKind::Sqlite { path: PathBuf::from(path), seed }, ..d })
        }
        "postgres" | "postgresql" => {
            let tls = cx
                .bool(t, P, "ssl", false)
                .then(|| cx.non_empty_string(t, P, "ca_file").map(PathBuf::from).unwrap_or_default());
            let config = postgres_connection(cx, t)?;
            Some(DatabaseConfig { kind: DatabaseKind::Postgres(Box::new(config), tls), ..d })
        }
        other => {
            let src = get(t, "type").map_or_else(|| cx.env_file.clone(), |n| n.source.clone());
            cx.invalid(
                &src,
                "database.type",
                format!("unknown database type {other:?}; expected \"sqlite\" or \"postgres\""),
            );
            None
        }
    }
}

/// `url`, or `host`/`port`/`name`/`user`/`password` (Cube.js's
/// `CUBEJS_DB_*`). The password never appears in a message.
fn postgres_connection(cx: &mut Cx, t: &Table) -> Option<tokio_postgres::Config> {
    const P: &str = "database";
    let mut config = match cx.non_empty_string(t, P, "url") {
        Some(url) => match url.parse::<tokio_postgres::Config>() {
            Ok(c) => c,
            Err(_) => {
                let src = get(t, "url").map_or_else(|| cx.env_file.clone(), |n| n.source.clone());
                cx.invalid(
                    &src,
                    "database.url",
                    "not a PostgreSQL connection URL (postgres://user:password@host:port/database)",
                );
                return None;
            }
        },
        None => tokio_postgres::Config::new(),
    };
    if let Some(host) = cx.non_empty_string(t, P, "host") {
        config.host(&host);
    }
    if get(t, "port").is_some() {
        config.port(cx.int(t, P, "port", 5432, 1, 65535) as u16);
    }
    if let Some(name) = cx.non_empty_string(t, P, "name") {
        config.dbname(&name);
    }
    if let Some(user) = cx.non_empty_string(t, P, "user") {
        config.user(&user);
    }
    if let Some(password) = cx.string(t, P, "password") {
        config.password(password);
    }
    if config.get_hosts().is_empty() {
        config.host("127.0.0.1");
    }
    if config.get_user().is_none() {
        let src = cx.env_file.clone();
        cx.invalid(&src, "database.user", "required for type = \"postgres\" (or give it in url)");
        return None;
    }
    Some(config)
}

/// `[database.session]`: `"app.tenant_id" = "{SECURITY_CONTEXT.tenant_id}"`.
/// Each value is a security-context reference or a literal; it is bound with
/// `set_config` in every query's transaction.
fn session_settings(cx: &mut Cx, t: &Table) -> Vec<(String, SessionValue)> {
    let Some(node) = get(t, "session") else { return Vec::new() };
    let Value::Table(map) = &node.value else {
        cx.invalid(&node.source, "database.session", "expected a table of setting = value");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, entry) in map {
        let key = format!("database.session.{name}");
        let valid_name =
            !name.is_empty() && name.split('.').all(crate::query::model::is_member_name) && name.contains('.');
        if !valid_name {
            cx.invalid(
                &entry.source,
                &key,
                "a custom setting name has a dot and plain words, such as \"app.tenant_id\"",
            );
            continue;
        }
        let Value::Str(raw) = &entry.value else {
            cx.invalid(&entry.source, &key, "expected a string");
            continue;
        };
        match SessionValue::parse(raw) {
            Ok(v) => out.push((name.clone(), v)),
            Err(msg) => cx.invalid(&entry.source, &key, msg),
        }
    }
    out
}
