//! The defaults that README.md and `config/default.toml` show are the
//! constants the loader uses. Change a constant and these fail until the
//! documentation follows; add a key to a documented block or table without
//! a constant and they fail too.

use std::collections::BTreeMap;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use tenantgate::config::{self, TokenUse};

/// A documented default, as the constant says it.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    Dur(Duration),
    /// Documented as "none": no value unless configured.
    Absent,
}

fn int(n: impl TryInto<i64>) -> Want {
    Want::Int(n.try_into().unwrap_or_else(|_| panic!("constant does not fit i64")))
}

fn algs(list: &[Algorithm]) -> Want {
    Want::Strs(list.iter().map(|a| format!("{a:?}")).collect())
}

/// Every default with a constant: (`section.key`, constant name, value).
fn defaults() -> Vec<(&'static str, &'static str, Want)> {
    use Want::*;
    let token_use = match config::DEFAULT_TOKEN_USE {
        TokenUse::Id => "id",
        TokenUse::Access => "access",
        TokenUse::Any => "any",
    };
    vec![
        ("server.host", "DEFAULT_HOST", Str(config::DEFAULT_HOST.to_string())),
        ("server.port", "DEFAULT_PORT", int(config::DEFAULT_PORT)),
        ("server.max_header_bytes", "DEFAULT_MAX_HEADER_BYTES", int(config::DEFAULT_MAX_HEADER_BYTES)),
        ("server.max_body_bytes", "DEFAULT_MAX_BODY_BYTES", int(config::DEFAULT_MAX_BODY_BYTES)),
        ("server.shutdown_timeout", "DEFAULT_SHUTDOWN_TIMEOUT", Dur(config::DEFAULT_SHUTDOWN_TIMEOUT)),
        ("server.max_connections", "DEFAULT_MAX_CONNECTIONS", int(config::DEFAULT_MAX_CONNECTIONS)),
        ("server.handshake_timeout", "DEFAULT_HANDSHAKE_TIMEOUT", Dur(config::DEFAULT_HANDSHAKE_TIMEOUT)),
        ("server.idle_timeout", "DEFAULT_IDLE_TIMEOUT", Dur(config::DEFAULT_IDLE_TIMEOUT)),
        ("auth.dev_mode", "DEFAULT_DEV_MODE", Bool(config::DEFAULT_DEV_MODE)),
        ("auth.require_exp", "DEFAULT_REQUIRE_EXP", Bool(config::DEFAULT_REQUIRE_EXP)),
        ("auth.leeway", "DEFAULT_LEEWAY", Dur(config::DEFAULT_LEEWAY)),
        ("auth.failure_status", "DEFAULT_FAILURE_STATUS", int(config::DEFAULT_FAILURE_STATUS.as_u16())),
        ("auth.max_token_bytes", "DEFAULT_MAX_TOKEN_BYTES", int(config::DEFAULT_MAX_TOKEN_BYTES)),
        (
            "auth.verification_cache_max_bytes",
            "DEFAULT_VERIFICATION_CACHE_MAX_BYTES",
            int(config::DEFAULT_VERIFICATION_CACHE_MAX_BYTES),
        ),
        ("auth.verification_cache_ttl", "DEFAULT_VERIFICATION_CACHE_TTL", Dur(config::DEFAULT_VERIFICATION_CACHE_TTL)),
        ("auth.claims_namespace", "(none)", Absent),
        ("secret.algorithms", "DEFAULT_SECRET_ALGORITHMS", algs(&config::DEFAULT_SECRET_ALGORITHMS)),
        ("jwks.algorithms", "DEFAULT_JWKS_ALGORITHMS", algs(&config::DEFAULT_JWKS_ALGORITHMS)),
        ("cognito.token_use", "DEFAULT_TOKEN_USE", Str(token_use.into())),
        ("jwks.fetch_timeout", "DEFAULT_FETCH_TIMEOUT", Dur(config::DEFAULT_FETCH_TIMEOUT)),
        ("jwks.max_jwks_bytes", "DEFAULT_MAX_JWKS_BYTES", int(config::DEFAULT_MAX_JWKS_BYTES)),
        ("jwks.max_keys", "DEFAULT_MAX_KEYS", int(config::DEFAULT_MAX_KEYS)),
        ("jwks.ttl_default", "DEFAULT_TTL_DEFAULT", Dur(config::DEFAULT_TTL_DEFAULT)),
        ("jwks.ttl_min", "DEFAULT_TTL_MIN", Dur(config::DEFAULT_TTL_MIN)),
        ("jwks.ttl_max", "DEFAULT_TTL_MAX", Dur(config::DEFAULT_TTL_MAX)),
        ("jwks.refresh_at", "DEFAULT_REFRESH_AT", Float(config::DEFAULT_REFRESH_AT)),
        ("jwks.refetch_cooldown", "DEFAULT_REFETCH_COOLDOWN", Dur(config::DEFAULT_REFETCH_COOLDOWN)),
        ("jwks.max_stale", "DEFAULT_MAX_STALE", Dur(config::DEFAULT_MAX_STALE)),
        ("jwks.prefetch", "DEFAULT_PREFETCH", Bool(config::DEFAULT_PREFETCH)),
        ("jwks.required", "DEFAULT_REQUIRED", Bool(config::DEFAULT_REQUIRED)),
        ("jwks.negative_cache_size", "DEFAULT_NEGATIVE_CACHE_SIZE", int(config::DEFAULT_NEGATIVE_CACHE_SIZE)),
        ("jwks.ca_file", "(none)", Absent),
        ("jwks.dangerous_allow_http", "DEFAULT_DANGEROUS_ALLOW_HTTP", Bool(config::DEFAULT_DANGEROUS_ALLOW_HTTP)),
        (
            "jwks.dangerous_skip_audience",
            "DEFAULT_DANGEROUS_SKIP_AUDIENCE",
            Bool(config::DEFAULT_DANGEROUS_SKIP_AUDIENCE),
        ),
        ("model.path", "DEFAULT_MODEL_PATH", Str(config::DEFAULT_MODEL_PATH.into())),
        (
            "model.dangerous_allow_unsafe_value",
            "DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE",
            Bool(config::DEFAULT_DANGEROUS_ALLOW_UNSAFE_VALUE),
        ),
        (
            "model.dangerous_missing_filter_allows_all",
            "DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL",
            Bool(config::DEFAULT_DANGEROUS_MISSING_FILTER_ALLOWS_ALL),
        ),
        (
            "model.shared_cubes",
            "DEFAULT_SHARED_CUBES",
            Strs(config::DEFAULT_SHARED_CUBES.iter().map(|c| c.to_string()).collect()),
        ),
        ("database.type", "DEFAULT_DATABASE_TYPE", Str(config::DEFAULT_DATABASE_TYPE.into())),
        ("database.statement_timeout", "DEFAULT_STATEMENT_TIMEOUT", Dur(config::DEFAULT_STATEMENT_TIMEOUT)),
        (
            "database.max_concurrent_queries",
            "DEFAULT_MAX_CONCURRENT_QUERIES",
            int(config::DEFAULT_MAX_CONCURRENT_QUERIES),
        ),
        ("database.queue_timeout", "DEFAULT_QUEUE_TIMEOUT", Dur(config::DEFAULT_QUEUE_TIMEOUT)),
        ("database.max_rows", "DEFAULT_MAX_ROWS", int(config::DEFAULT_MAX_ROWS)),
        ("database.max_result_cells", "DEFAULT_MAX_RESULT_CELLS", int(config::DEFAULT_MAX_RESULT_CELLS)),
        ("database.max_response_bytes", "DEFAULT_MAX_RESPONSE_BYTES", int(config::DEFAULT_MAX_RESPONSE_BYTES)),
        ("database.ssl", "DEFAULT_POSTGRES_SSL", Bool(config::DEFAULT_POSTGRES_SSL)),
        ("database.port", "DEFAULT_POSTGRES_PORT", int(config::DEFAULT_POSTGRES_PORT)),
        ("database.host", "DEFAULT_POSTGRES_HOST", Str(config::DEFAULT_POSTGRES_HOST.into())),
        ("cache.enabled", "DEFAULT_CACHE_ENABLED", Bool(config::DEFAULT_CACHE_ENABLED)),
        ("cache.max_bytes", "DEFAULT_CACHE_MAX_BYTES", int(config::DEFAULT_CACHE_MAX_BYTES)),
        ("cache.plan_max_bytes", "DEFAULT_PLAN_CACHE_MAX_BYTES", int(config::DEFAULT_PLAN_CACHE_MAX_BYTES)),
        ("cache.ttl", "DEFAULT_CACHE_TTL", Dur(config::DEFAULT_CACHE_TTL)),
        ("cache.refresh_key_check", "DEFAULT_REFRESH_KEY_CHECK", Dur(config::DEFAULT_REFRESH_KEY_CHECK)),
        ("cache.backend", "DEFAULT_CACHE_BACKEND", Str(config::DEFAULT_CACHE_BACKEND.into())),
        ("webhook.method", "DEFAULT_WEBHOOK_METHOD", Str(config::DEFAULT_WEBHOOK_METHOD.into())),
        (
            "webhook.forward_headers",
            "DEFAULT_WEBHOOK_FORWARD_HEADERS",
            Strs(config::DEFAULT_WEBHOOK_FORWARD_HEADERS.iter().map(|h| h.to_string()).collect()),
        ),
        ("webhook.timeout", "DEFAULT_WEBHOOK_TIMEOUT", Dur(config::DEFAULT_WEBHOOK_TIMEOUT)),
        ("webhook.max_cache_ttl", "DEFAULT_WEBHOOK_MAX_CACHE_TTL", Dur(config::DEFAULT_WEBHOOK_MAX_CACHE_TTL)),
        (
            "webhook.negative_cache_ttl",
            "DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL",
            Dur(config::DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL),
        ),
        (
            "webhook.max_cache_entries",
            "DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES",
            int(config::DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES),
        ),
        ("webhook.max_body_bytes", "DEFAULT_WEBHOOK_MAX_BODY_BYTES", int(config::DEFAULT_WEBHOOK_MAX_BODY_BYTES)),
        ("webhook.dangerous_allow_http", "DEFAULT_DANGEROUS_ALLOW_HTTP", Bool(config::DEFAULT_DANGEROUS_ALLOW_HTTP)),
        ("webhook.ca_file", "(none)", Absent),
        ("enrich.override", "DEFAULT_ENRICH_OVERRIDE", Bool(config::DEFAULT_ENRICH_OVERRIDE)),
        ("enrich.ttl", "DEFAULT_ENRICH_TTL", Dur(config::DEFAULT_ENRICH_TTL)),
        ("enrich.max_entries", "DEFAULT_ENRICH_MAX_ENTRIES", int(config::DEFAULT_ENRICH_MAX_ENTRIES)),
        ("enrich.timeout", "DEFAULT_ENRICH_TIMEOUT", Dur(config::DEFAULT_ENRICH_TIMEOUT)),
        ("enrich.on_error", "DEFAULT_ENRICH_ON_ERROR", Str(config::DEFAULT_ENRICH_ON_ERROR.into())),
        ("enrich.max_body_bytes", "DEFAULT_WEBHOOK_MAX_BODY_BYTES", int(config::DEFAULT_WEBHOOK_MAX_BODY_BYTES)),
        ("enrich.dangerous_allow_http", "DEFAULT_DANGEROUS_ALLOW_HTTP", Bool(config::DEFAULT_DANGEROUS_ALLOW_HTTP)),
        ("enrich.into", "(none)", Absent),
        ("audit.enabled", "DEFAULT_AUDIT_ENABLED", Bool(config::DEFAULT_AUDIT_ENABLED)),
        ("enrich.providers", "(none)", Absent),
        ("enrich.ca_file", "(none)", Absent),
        ("internal_token.ttl", "DEFAULT_INTERNAL_TOKEN_TTL", Dur(config::DEFAULT_INTERNAL_TOKEN_TTL)),
        ("internal_token.issuer", "DEFAULT_INTERNAL_TOKEN_ISSUER", Str(config::DEFAULT_INTERNAL_TOKEN_ISSUER.into())),
        ("internal_token.audience", "(none)", Absent),
    ]
}

fn want(key: &str) -> Option<(&'static str, Want)> {
    defaults().into_iter().find(|(k, _, _)| *k == key).map(|(_, name, w)| (name, w))
}

/// Does a TOML value show this default?
fn shows(value: &toml::Value, want: &Want) -> bool {
    match (want, value) {
        (Want::Int(n), toml::Value::Integer(v)) => v == n,
        (Want::Float(f), toml::Value::Float(v)) => v == f,
        (Want::Bool(b), toml::Value::Boolean(v)) => v == b,
        (Want::Str(s), toml::Value::String(v)) => v == s,
        (Want::Dur(d), toml::Value::String(v)) => config::duration::parse(v).as_ref() == Ok(d),
        (Want::Strs(list), toml::Value::Array(items)) => {
            items.iter().map(|i| i.as_str()).collect::<Vec<_>>()
                == list.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>()
        }
        _ => false,
    }
}

/// Compares one documented table with the constants of `section`. Every key
/// shown must be a default or one of `examples`; with `complete`, every
/// default of the section must be shown too.
fn check_table(
    doc: &str,
    section: &str,
    table: &toml::Table,
    examples: &[&str],
    complete: bool,
    failures: &mut Vec<String>,
) {
    for (key, value) in table {
        if examples.contains(&key.as_str()) {
            continue;
        }
        match want(&format!("{section}.{key}")) {
            Some((_, Want::Absent)) => failures.push(format!("{doc}: [{section}] {key} = {value:?} has no default")),
            Some((name, w)) if !shows(value, &w) => {
                failures.push(format!("{doc}: [{section}] {key} = {value:?}, but config::{name} is {w:?}"))
            }
            Some(_) => {}
            None => {
                failures.push(format!("{doc}: [{section}] {key} = {value:?} is no documented default (no constant)"))
            }
        }
    }
    if complete {
        for (key, name, w) in defaults() {
            let Some(k) = key.strip_prefix(&format!("{section}.")) else { continue };
            if w != Want::Absent && !table.contains_key(k) {
                failures.push(format!("{doc}: [{section}] does not show {k} (config::{name})"));
            }
        }
    }
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The README's ```toml blocks.
fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn parse(doc: &str, text: &str) -> toml::Table {
    text.parse::<toml::Table>().unwrap_or_else(|e| panic!("{doc} is not TOML: {e}"))
}

fn sub<'t>(table: &'t toml::Table, key: &str) -> &'t toml::Table {
    table.get(key).and_then(toml::Value::as_table).unwrap_or_else(|| panic!("no [{key}]"))
}

fn assert_none(failures: Vec<String>) {
    assert!(failures.is_empty(), "documentation and constants disagree:\n{}", failures.join("\n"));
}

#[test]
fn the_readme_configuration_blocks_show_the_default_constants() {
    let blocks: Vec<toml::Table> =
        toml_blocks(&readme()).iter().enumerate().map(|(i, b)| parse(&format!("README toml block {i}"), b)).collect();
    let with = |key: &str| blocks.iter().find(|b| b.contains_key(key)).unwrap_or_else(|| panic!("no [{key}] block"));
    let mut failures = Vec::new();
    let doc = "README.md";

    let first = with("server");
    check_table(doc, "server", sub(first, "server"), &[], true, &mut failures);
    check_table(doc, "auth", sub(first, "auth"), &["providers"], true, &mut failures);
    // The [database] block is a PostgreSQL example: its connection keys are
    // examples, the limits it shows are defaults.
    check_table(
        doc,
        "database",
        sub(with("database"), "database"),
        &["type", "url", "ssl", "ca_file", "session"],
        false,
        &mut failures,
    );
    check_table(doc, "cache", sub(with("cache"), "cache"), &[], true, &mut failures);
    check_table(doc, "audit", sub(with("audit"), "audit"), &[], true, &mut failures);
    check_table(doc, "model", sub(with("model"), "model"), &[], false, &mut failures);
    let forward = sub(
        blocks
            .iter()
            .filter(|b| b.contains_key("forward_auth"))
            .find(|b| sub(b, "forward_auth").contains_key("internal_token"))
            .expect("an internal_token block"),
        "forward_auth",
    );
    check_table(
        doc,
        "internal_token",
        sub(forward, "internal_token"),
        &["key_file", "kid", "rotation_key_file", "rotation_kid"],
        true,
        &mut failures,
    );
    // The presets' own defaults, in the provider examples.
    let providers: Vec<&toml::Table> = blocks
        .iter()
        .filter_map(|b| b.get("auth")?.get("providers")?.as_array())
        .flatten()
        .filter_map(toml::Value::as_table)
        .collect();
    let cognito =
        providers.iter().find(|p| p.get("type").and_then(|t| t.as_str()) == Some("cognito")).expect("cognito");
    let webhook =
        providers.iter().find(|p| p.get("type").and_then(|t| t.as_str()) == Some("webhook")).expect("webhook");
    check_table(
        doc,
        "webhook",
        webhook,
        &["name", "type", "url", "token_prefix", "header", "claims"],
        true,
        &mut failures,
    );
    let enrich = blocks
        .iter()
        .filter_map(|b| b.get("auth")?.get("enrich")?.as_array()?.first()?.as_table())
        .next()
        .expect("an [[auth.enrich]] block");
    check_table(doc, "enrich", enrich, &["key", "url"], true, &mut failures);
    let (name, w) = want("cognito.token_use").expect("token_use");
    if !shows(&cognito["token_use"], &w) {
        failures.push(format!("{doc}: cognito token_use = {:?}, but config::{name} is {w:?}", cognito["token_use"]));
    }
    // A commented line shows the secret provider's default algorithms.
    let (name, w) = want("secret.algorithms").expect("algorithms");
    let shown = readme()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# algorithms = "))
        .filter_map(|v| format!("v = {v}").parse::<toml::Table>().ok())
        .any(|t| shows(&t["v"], &w));
    if !shown {
        failures.push(format!("{doc}: no `# algorithms = ...` line shows config::{name} ({w:?})"));
    }
    assert_none(failures);
}

/// Rows of the Markdown table whose header line starts with `header`.
fn table_rows(text: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "README has no table starting `{header}`");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

fn split_list(cell: &str) -> Vec<String> {
    cell.split(" / ").map(|p| p.trim().trim_matches('`').to_string()).collect()
}

#[test]
fn the_readme_key_lifecycle_table_shows_the_jwks_default_constants() {
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for row in table_rows(&readme(), "| key | default | meaning |") {
        let (keys, values) = (split_list(&row[0]), split_list(&row[1]));
        assert_eq!(keys.len(), values.len(), "row {row:?}: as many defaults as keys");
        for (key, value) in keys.iter().zip(&values) {
            seen.push(key.clone());
            let Some((name, w)) = want(&format!("jwks.{key}")) else {
                failures.push(format!("key lifecycle table: {key} has no constant"));
                continue;
            };
            let ok = match (&w, value.as_str()) {
                (Want::Absent, v) => v == "none",
                (_, v) => format!("v = {v}").parse::<toml::Table>().is_ok_and(|t| shows(&t["v"], &w)),
            };
            if !ok {
                failures.push(format!("key lifecycle table: {key} shows {value}, but config::{name} is {w:?}"));
            }
        }
    }
    for (key, name, _) in defaults() {
        if let Some(k) = key.strip_prefix("jwks.")
            && k != "algorithms"
            && !seen.iter().any(|s| s == k)
        {
            failures.push(format!("key lifecycle table lacks {k} (config::{name})"));
        }
    }
    assert_none(failures);
}

/// The leading quantity of a Limits cell: `1024`, `16 KiB`, `10 s`,
/// `1,000,000 rows ...`.
fn quantity(cell: &str) -> Option<Want> {
    let digits: String = cell.chars().take_while(|c| c.is_ascii_digit() || *c == ',').collect();
    let n: i64 = digits.replace(',', "").parse().ok()?;
    let unit = cell[digits.len()..].trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    Some(match unit {
        "ms" => Want::Dur(Duration::from_millis(n as u64)),
        "s" => Want::Dur(Duration::from_secs(n as u64)),
        "KiB" => Want::Int(n << 10),
        "MiB" => Want::Int(n << 20),
        _ => Want::Int(n),
    })
}

#[test]
fn the_readme_limits_table_shows_the_default_constants() {
    let mut failures = Vec::new();
    let mut config_rows = 0;
    for row in table_rows(&readme(), "| limit | default | past it |") {
        // Rows naming a configuration key start with its section; the
        // others are fixed query limits.
        let keys = split_list(&row[0]);
        let Some(section) = keys[0].strip_prefix('[').and_then(|r| r.split_once("] ")).map(|(s, _)| s.to_string())
        else {
            continue;
        };
        config_rows += 1;
        let values = split_list(&row[1]);
        assert_eq!(keys.len(), values.len(), "row {row:?}: as many defaults as keys");
        for (key, value) in keys.iter().zip(&values) {
            let key = key.rsplit(' ').next().unwrap_or(key);
            let Some((name, w)) = want(&format!("{section}.{key}")) else {
                failures.push(format!("limits table: [{section}] {key} has no constant"));
                continue;
            };
            if quantity(value).as_ref() != Some(&w) {
                failures.push(format!("limits table: [{section}] {key} shows {value:?}, but config::{name} is {w:?}"));
            }
        }
    }
    assert!(config_rows >= 10, "the limits table lost its configuration rows ({config_rows})");
    assert_none(failures);
}

/// `config/default.toml`, with its commented-out sections (`# [model]`)
/// read as the defaults they show.
#[test]
fn the_shipped_default_toml_shows_the_default_constants() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let text = std::fs::read_to_string(path).expect("default.toml");
    let mut live = String::new();
    let mut commented: BTreeMap<String, String> = BTreeMap::new();
    let mut in_commented: Option<String> = None;
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("# [").and_then(|h| h.strip_suffix(']')) {
            in_commented = Some(header.to_string());
            continue;
        }
        if line.starts_with('[') {
            in_commented = None;
        }
        match &in_commented {
            Some(section) => {
                if let Some(entry) = line.strip_prefix("# ")
                    && entry.parse::<toml::Table>().is_ok_and(|t| t.len() == 1)
                {
                    let body = commented.entry(section.clone()).or_default();
                    body.push_str(entry);
                    body.push('\n');
                }
            }
            None => {
                live.push_str(line);
                live.push('\n');
            }
        }
    }
    let live = parse("config/default.toml", &live);
    let mut failures = Vec::new();
    let doc = "config/default.toml";
    check_table(doc, "server", sub(&live, "server"), &[], true, &mut failures);
    check_table(doc, "auth", sub(&live, "auth"), &[], true, &mut failures);
    let model = parse("# [model]", commented.get("model").expect("a commented [model]"));
    check_table(doc, "model", &model, &[], true, &mut failures);
    let database = parse("# [database]", commented.get("database").expect("a commented [database]"));
    // SQLite's path and seed have no default: they are examples.
    check_table(doc, "database", &database, &["path", "seed"], false, &mut failures);
    let cache = parse("# [cache]", commented.get("cache").expect("a commented [cache]"));
    check_table(doc, "cache", &cache, &[], true, &mut failures);
    assert_none(failures);
}
