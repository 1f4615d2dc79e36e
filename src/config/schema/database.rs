//! `[database]` and `[database.session]`.

use std::path::PathBuf;

use super::{Cx, Section};
use crate::config::layers::{Node, Source, Value, get};
use crate::config::{
    DEFAULT_DATABASE_TYPE, DEFAULT_MAX_CONCURRENT_QUERIES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RESULT_CELLS,
    DEFAULT_MAX_ROWS, DEFAULT_POSTGRES_HOST, DEFAULT_POSTGRES_PORT, DEFAULT_POSTGRES_SSL, DEFAULT_QUEUE_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT, DatabaseConfig, DatabaseKind, PgTls, SessionValue,
};

/// Each `type` reads only its own keys, so `url` on a SQLite database or
/// `seed` on a PostgreSQL one is an unknown key rather than silently unused.
pub(super) fn database(cx: &mut Cx, s: Section<'_>) -> Option<DatabaseConfig> {
    let session = session_settings(cx, &s);
    let d = DatabaseConfig {
        kind: DatabaseKind::Sqlite { path: PathBuf::new(), seed: None },
        session: session.clone(),
        statement_timeout: cx.duration(&s, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        max_concurrent_queries: cx.int(&s, "max_concurrent_queries", DEFAULT_MAX_CONCURRENT_QUERIES as i64, 1, 1024)
            as usize,
        queue_timeout: cx.duration(&s, "queue_timeout", DEFAULT_QUEUE_TIMEOUT),
        max_rows: cx.int(&s, "max_rows", DEFAULT_MAX_ROWS as i64, 1, 10_000_000) as usize,
        max_result_cells: cx.int(&s, "max_result_cells", DEFAULT_MAX_RESULT_CELLS as i64, 1, 100_000_000) as usize,
        max_response_bytes: cx.int(&s, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES as i64, 1, 1 << 32) as usize,
    };
    let kind = match s.get("type") {
        None => DEFAULT_DATABASE_TYPE.to_string(),
        Some(Node { value: Value::Str(v), .. }) => v.clone(),
        Some(n) => {
            cx.invalid(&n.source, "database.type", "expected a string");
            s.abandon(cx);
            return None;
        }
    };
    let database = match kind.as_str() {
        "sqlite" => sqlite(cx, &s, d),
        "postgres" | "postgresql" => postgres(cx, &s, d),
        other => {
            let src = s.source_or("type", &cx.env_file);
            cx.invalid(
                &src,
                "database.type",
                format!("unknown database type {other:?}; expected \"sqlite\" or \"postgres\""),
            );
            s.abandon(cx);
            return None;
        }
    };
    s.finish(cx);
    database
}

/// `type = "sqlite"`: `path`, and `seed` (SQL run when the file is missing).
fn sqlite(cx: &mut Cx, s: &Section<'_>, d: DatabaseConfig) -> Option<DatabaseConfig> {
    skip_cubejs_db_name_copy(s, "name");
    let path = cx.non_empty_string(s, "path");
    let seed = cx.non_empty_string(s, "seed").map(PathBuf::from);
    if path.is_none() && s.get("path").is_none() {
        let src = cx.env_file.clone();
        cx.invalid(&src, "database.path", "required for type = \"sqlite\" (the database file)");
    }
    if !d.session.is_empty() {
        let src = s.source_or("session", &cx.env_file);
        cx.invalid(&src, "database.session", "session settings need type = \"postgres\"");
    }
    Some(DatabaseConfig { kind: DatabaseKind::Sqlite { path: PathBuf::from(path?), seed }, ..d })
}

/// `type = "postgres"`: the connection, and `ssl` with its `ca_file`.
fn postgres(cx: &mut Cx, s: &Section<'_>, d: DatabaseConfig) -> Option<DatabaseConfig> {
    skip_cubejs_db_name_copy(s, "path");
    let ssl = cx.bool(s, "ssl", DEFAULT_POSTGRES_SSL);
    let ca_file = cx.non_empty_string(s, "ca_file").map(PathBuf::from);
    if !ssl && ca_file.is_some() {
        // Without TLS the CA would be ignored: the connection would be plain
        // text while the file says it is verified.
        let src = s.source_or("ca_file", &cx.env_file);
        cx.invalid(&src, "database.ca_file", "only used with ssl = true; set ssl = true or remove ca_file");
    }
    let tls = if ssl { PgTls::Verified { ca_file } } else { PgTls::Off };
    let config = postgres_connection(cx, s)?;
    Some(DatabaseConfig { kind: DatabaseKind::Postgres(Box::new(config), tls), ..d })
}

/// `CUBEJS_DB_NAME` sets both `path` (SQLite's file) and `name`
/// (PostgreSQL's database); each type reads its own key, so the other copy
/// is not a stray key.
fn skip_cubejs_db_name_copy(s: &Section<'_>, key: &str) {
    if let Some(Node { source: Source::Env(var) | Source::DotEnv(var), .. }) = get(s.table(), key)
        && var == "CUBEJS_DB_NAME"
    {
        s.skip(key);
    }
}

/// `url`, or `host`/`port`/`name`/`user`/`password` (Cube.js's
/// `CUBEJS_DB_*`). The password never appears in a message.
fn postgres_connection(cx: &mut Cx, s: &Section<'_>) -> Option<tokio_postgres::Config> {
    let config = match cx.non_empty_string(s, "url") {
        Some(url) => match url.parse::<tokio_postgres::Config>() {
            Ok(c) => Some(c),
            Err(_) => {
                let src = s.source_or("url", &cx.env_file);
                cx.invalid(
                    &src,
                    "database.url",
                    "not a PostgreSQL connection URL (postgres://user:password@host:port/database)",
                );
                None
            }
        },
        None => Some(tokio_postgres::Config::new()),
    };
    // Every key is read (and checked) even when the URL is refused.
    let host = cx.non_empty_string(s, "host");
    let port = s.get("port").is_some().then(|| cx.int(s, "port", DEFAULT_POSTGRES_PORT.into(), 1, 65535) as u16);
    let name = cx.non_empty_string(s, "name");
    let user = cx.non_empty_string(s, "user");
    let password = cx.string(s, "password");
    let mut config = config?;
    if let Some(host) = host {
        config.host(&host);
    }
    if let Some(port) = port {
        config.port(port);
    }
    if let Some(name) = name {
        config.dbname(&name);
    }
    if let Some(user) = user {
        config.user(&user);
    }
    if let Some(password) = password {
        config.password(password);
    }
    if config.get_hosts().is_empty() {
        config.host(DEFAULT_POSTGRES_HOST);
    }
    if config.get_ports().is_empty() {
        config.port(DEFAULT_POSTGRES_PORT);
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
fn session_settings(cx: &mut Cx, s: &Section<'_>) -> Vec<(String, SessionValue)> {
    let Some(node) = s.get("session") else { return Vec::new() };
    let Value::Table(map) = &node.value else {
        cx.invalid(&node.source, "database.session", "expected a table of setting = value");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, entry) in map {
        let key = format!("database.session.{name}");
        let valid_name = !name.is_empty() && name.split('.').all(crate::text::is_identifier) && name.contains('.');
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
