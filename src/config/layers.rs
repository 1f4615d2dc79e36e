//! Phase one: merge every layer into a permissive tree that remembers, for
//! each value, the file or variable that set it.
//!
//! We do not use figment here: it replaces arrays wholesale and cannot
//! override one element of `[[auth.providers]]` by name, which the Cube.js
//! variables need, and error messages need the source of every key.

use std::fmt;
use std::path::Path;

use super::{ConfigError, ConfigErrors, LoadOptions};

/// Where a value came from; its `Display` is what error messages show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    File(String),
    Env(String),
    DotEnv(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => f.write_str(p),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::DotEnv(v) => write!(f, ".env variable {v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Table(Table),
    Array(Vec<Node>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// The value as JSON (a table keeps its keys in order).
    pub(super) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Table(t) => {
                serde_json::Value::Object(t.iter().map(|(k, n)| (k.clone(), n.value.to_json())).collect())
            }
            Value::Array(items) => serde_json::Value::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            Value::Bool(b) => (*b).into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub value: Value,
    pub source: Source,
}

/// An ordered table: keys keep the order of their first appearance, so
/// errors come out in a stable, readable order.
pub(super) type Table = Vec<(String, Node)>;

pub(super) fn get<'t>(table: &'t Table, key: &str) -> Option<&'t Node> {
    table.iter().find(|(k, _)| k == key).map(|(_, n)| n)
}

fn get_mut<'t>(table: &'t mut Table, key: &str) -> Option<&'t mut Node> {
    table.iter_mut().find(|(k, _)| k == key).map(|(_, n)| n)
}

fn insert(table: &mut Table, key: &str, node: Node) {
    match get_mut(table, key) {
        Some(slot) => *slot = node,
        None => table.push((key.to_string(), node)),
    }
}

/// The merged layers.
#[derive(Debug)]
pub(super) struct Tree {
    pub root: Table,
    /// The environment's own file: named by errors about values never set.
    pub env_file: Source,
}

pub(super) fn load_layers(opts: &LoadOptions) -> Result<Tree, ConfigErrors> {
    let mut errors = Vec::new();
    let mut root = Table::new();

    let default_path = opts.config_dir.join("default.toml");
    if default_path.exists()
        && let Some(t) = read_toml(&default_path, &mut errors)
    {
        merge(&mut root, t, "");
    }
    let env_path = opts.config_dir.join(format!("{}.toml", opts.env));
    let env_name = env_path.display().to_string();
    if env_path.exists() {
        if let Some(t) = read_toml(&env_path, &mut errors) {
            merge(&mut root, t, "");
        }
    } else {
        errors.push(ConfigError::MissingEnvironment { env: opts.env.clone(), path: env_name.clone() });
    }

    if let Some(path) = &opts.dotenv
        && path.exists()
        && let Some(vars) = read_dotenv(path, &mut errors)
    {
        apply_vars(&mut root, &vars, Source::DotEnv, &mut errors);
    }
    let vars: Vec<(String, String)> = opts.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    apply_vars(&mut root, &vars, Source::Env, &mut errors);

    if errors.is_empty() { Ok(Tree { root, env_file: Source::File(env_name) }) } else { Err(ConfigErrors(errors)) }
}

fn read_toml(path: &Path, errors: &mut Vec<ConfigError>) -> Option<Table> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::Unreadable { source_name: name, message: format!("cannot read: {e}") });
            return None;
        }
    };
    match text.parse::<toml::Table>() {
        Ok(t) => Some(from_toml_table(t, &Source::File(name))),
        Err(e) => {
            // Not `e.to_string()`: its snippet quotes the offending line,
            // which may hold a secret. The parser's message names only
            // syntax (expected tokens, types), never a value.
            let at = e.span().map_or_else(String::new, |span| {
                let (line, column) = line_and_column(&text, span.start);
                format!("line {line}, column {column}: ")
            });
            let message = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            errors.push(ConfigError::Unreadable { source_name: name, message: format!("invalid TOML: {at}{message}") });
            None
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

fn read_dotenv(path: &Path, errors: &mut Vec<ConfigError>) -> Option<Vec<(String, String)>> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::Unreadable { source_name: name, message: format!("cannot read .env file: {e}") });
            return None;
        }
    };
    let mut feed = LineFeed { rest: text.as_bytes(), consumed: 0 };
    let mut vars = Vec::new();
    let mut failure = None;
    for item in dotenvy::from_read_iter(&mut feed) {
        match item {
            Ok(var) => vars.push(var),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let Some(failure) = failure else { return Some(vars) };
    let message = match failure {
        // dotenvy's message quotes the entry (or its value), which may be
        // a secret: only the line number is reported.
        dotenvy::Error::LineParse(quoted, _) => {
            // The failing entry ends where dotenvy stopped reading; the
            // quoted text is its tail, so its last occurrence before that
            // point is where the entry (or its value) starts.
            let end = feed.consumed.min(text.len());
            let line = text.get(..end).and_then(|t| t.rfind(quoted.trim_end())).map(|at| line_and_column(&text, at).0);
            match line {
                Some(line) => format!("invalid .env syntax on line {line}"),
                None => "invalid .env syntax".to_string(),
            }
        }
        dotenvy::Error::Io(e) => format!("cannot read .env file: {e}"),
        _ => "cannot read .env file".to_string(),
    };
    errors.push(ConfigError::Unreadable { source_name: name, message });
    None
}

/// Hands dotenvy one line per read, so that `consumed` is exactly where its
/// (buffered) parser stands: the end of the entry it is reading.
struct LineFeed<'t> {
    rest: &'t [u8],
    consumed: usize,
}

impl std::io::Read for LineFeed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let line_len = self.rest.iter().position(|b| *b == b'\n').map_or(self.rest.len(), |i| i + 1);
        let n = line_len.min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        self.consumed += n;
        Ok(n)
    }
}

fn from_toml_table(t: toml::Table, source: &Source) -> Table {
    t.into_iter().map(|(k, v)| (k, from_toml(v, source))).collect()
}

fn from_toml(v: toml::Value, source: &Source) -> Node {
    let value = match v {
        toml::Value::String(s) => Value::Str(s),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(|v| from_toml(v, source)).collect()),
        toml::Value::Table(t) => Value::Table(from_toml_table(t, source)),
    };
    Node { value, source: source.clone() }
}

/// Tables merge key by key; arrays replace, except `auth.providers`, which
/// merges by provider `name`.
fn merge(into: &mut Table, from: Table, path: &str) {
    for (key, node) in from {
        let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match (get_mut(into, &key), node) {
            (Some(Node { value: Value::Table(existing), .. }), Node { value: Value::Table(new), .. }) => {
                merge(existing, new, &child_path);
            }
            (Some(Node { value: Value::Array(existing), .. }), Node { value: Value::Array(new), .. })
                if child_path == "auth.providers" =>
            {
                for provider in new {
                    merge_provider(existing, provider);
                }
            }
            (_, node) => insert(into, &key, node),
        }
    }
}

fn provider_name(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Table(t) => match get(t, "name").map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn merge_provider(existing: &mut Vec<Node>, provider: Node) {
    let name = provider_name(&provider).map(str::to_owned);
    let slot = name.and_then(|n| existing.iter_mut().find(|p| provider_name(p) == Some(n.as_str())));
    match (slot, provider) {
        (Some(Node { value: Value::Table(old), .. }), Node { value: Value::Table(new), .. }) => {
            for (k, v) in new {
                insert(old, &k, v);
            }
        }
        (_, provider) => existing.push(provider),
    }
}

/// The typed value of a variable for a scalar setting.
fn infer(raw: &str) -> Value {
    if let Ok(i) = raw.parse::<i64>() {
        return Value::Int(i);
    }
    match raw.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if raw.contains('.')
        && let Ok(f) = raw.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(raw.to_string())
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn str_array(items: Vec<String>, source: &Source) -> Value {
    Value::Array(items.into_iter().map(|s| Node { value: Value::Str(s), source: source.clone() }).collect())
}

/// Set `section.key`, creating the section table if needed.
fn set(root: &mut Table, section: &str, key: &str, node: Node) {
    if !matches!(get(root, section), Some(Node { value: Value::Table(_), .. })) {
        insert(root, section, Node { value: Value::Table(Table::new()), source: node.source.clone() });
    }
    if let Some(Node { value: Value::Table(t), .. }) = get_mut(root, section) {
        insert(t, key, node);
    }
}

const CUBE_PROVIDER: &str = "cubejs";

/// The `cubejs` provider's table, created (at the end of the list) if no
/// layer defined it.
fn cube_provider<'t>(root: &'t mut Table, source: &Source) -> Option<&'t mut Table> {
    if !matches!(get(root, "auth"), Some(Node { value: Value::Table(_), .. })) {
        insert(root, "auth", Node { value: Value::Table(Table::new()), source: source.clone() });
    }
    let Some(Node { value: Value::Table(auth), .. }) = get_mut(root, "auth") else { return None };
    if !matches!(get(auth, "providers"), Some(Node { value: Value::Array(_), .. })) {
        insert(auth, "providers", Node { value: Value::Array(Vec::new()), source: source.clone() });
    }
    let Some(Node { value: Value::Array(providers), .. }) = get_mut(auth, "providers") else { return None };
    let idx = match providers.iter().position(|p| provider_name(p) == Some(CUBE_PROVIDER)) {
        Some(i) => i,
        None => {
            let name = Node { value: Value::Str(CUBE_PROVIDER.into()), source: source.clone() };
            providers.push(Node { value: Value::Table(vec![("name".into(), name)]), source: source.clone() });
            providers.len() - 1
        }
    };
    match providers.get_mut(idx) {
        Some(Node { value: Value::Table(t), .. }) => Some(t),
        _ => None,
    }
}

fn apply_vars(root: &mut Table, vars: &[(String, String)], mk: fn(String) -> Source, errors: &mut Vec<ConfigError>) {
    let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let node = |name: &str, value: Value| Node { value, source: mk(name.to_string()) };

    if let Some(v) = var("PORT") {
        set(root, "server", "port", node("PORT", infer(v)));
    }
    if let Some(v) = var("CUBEJS_DEV_MODE") {
        set(root, "auth", "dev_mode", node("CUBEJS_DEV_MODE", infer(v)));
    }
    if let Some(v) = var("CUBEJS_SCHEMA_PATH") {
        set(root, "model", "path", node("CUBEJS_SCHEMA_PATH", Value::Str(v.into())));
    }
    // Cube.js's database variables; a password stays a string (never
    // inferred as a number) and is never printed.
    for (name, key) in [
        ("CUBEJS_DB_TYPE", "type"),
        ("CUBEJS_DB_HOST", "host"),
        ("CUBEJS_DB_NAME", "name"),
        ("CUBEJS_DB_USER", "user"),
        ("CUBEJS_DB_PASS", "password"),
        ("CUBEJS_DB_URL", "url"),
    ] {
        if let Some(v) = var(name) {
            set(root, "database", key, node(name, Value::Str(v.into())));
        }
    }
    // For SQLite, Cube.js's CUBEJS_DB_NAME is the database file. It sets
    // both keys, so it wins over a file's `path` whichever layer sets the
    // type; each type reads only its own key.
    if let Some(v) = var("CUBEJS_DB_NAME") {
        set(root, "database", "path", node("CUBEJS_DB_NAME", Value::Str(v.into())));
    }
    if let Some(v) = var("CUBEJS_DB_PORT") {
        set(root, "database", "port", node("CUBEJS_DB_PORT", infer(v)));
    }
    if let Some(v) = var("CUBEJS_DB_SSL") {
        set(root, "database", "ssl", node("CUBEJS_DB_SSL", infer(v)));
    }
    if let Some(v) = var("CUBEJS_JWT_CLAIMS_NAMESPACE") {
        set(root, "auth", "claims_namespace", node("CUBEJS_JWT_CLAIMS_NAMESPACE", Value::Str(v.into())));
    }
    apply_cube_provider(root, &var, mk);

    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("TENANTGATE__") else { continue };
        let parts: Vec<&str> = rest.split("__").collect();
        match parts.as_slice() {
            [section, key] if !section.is_empty() && !key.is_empty() => {
                set(root, &section.to_ascii_lowercase(), &key.to_ascii_lowercase(), node(name, infer(raw)));
            }
            _ => errors.push(ConfigError::Invalid {
                source_name: mk(name.clone()).to_string(),
                key: name.clone(),
                message: "expected TENANTGATE__<SECTION>__<KEY>, such as TENANTGATE__SERVER__PORT".into(),
            }),
        }
    }
}

fn apply_cube_provider<'v>(root: &mut Table, var: &dyn Fn(&str) -> Option<&'v str>, mk: fn(String) -> Source) {
    const NAMES: [&str; 8] = [
        "CUBEJS_JWK_URL",
        "CUBEJS_API_SECRET",
        "CUBEJS_API_SECRETS",
        "CUBEJS_JWT_KEY",
        "CUBEJS_JWT_ALGS",
        "CUBEJS_JWT_ISSUER",
        "CUBEJS_JWT_AUDIENCE",
        "CUBEJS_JWT_SUBJECT",
    ];
    let Some(first) = NAMES.iter().find(|n| var(n).is_some()) else { return };
    let Some(p) = cube_provider(root, &mk(first.to_string())) else { return };
    let src = |name: &str| mk(name.to_string());

    let mut secrets: Vec<String> = Vec::new();
    let mut secrets_source = None;
    if let Some(s) = var("CUBEJS_API_SECRET") {
        secrets.push(s.to_string());
        secrets_source = Some(src("CUBEJS_API_SECRET"));
    }
    if let Some(s) = var("CUBEJS_API_SECRETS") {
        for item in list(s) {
            if !secrets.contains(&item) {
                secrets.push(item);
            }
        }
        secrets_source.get_or_insert_with(|| src("CUBEJS_API_SECRETS"));
    }
    // CUBEJS_JWK_URL makes it a JWKS provider; as in Cube.js, the API secret
    // and JWT key are then not used for verification.
    if let Some(url) = var("CUBEJS_JWK_URL") {
        let s = src("CUBEJS_JWK_URL");
        insert(p, "type", Node { value: Value::Str("jwks".into()), source: s.clone() });
        insert(p, "jwks_url", Node { value: Value::Str(url.into()), source: s });
        p.retain(|(k, _)| k != "secrets" && k != "pem" && k != "pem_file");
    } else if let Some(key) = var("CUBEJS_JWT_KEY") {
        // CUBEJS_JWT_KEY wins over the API secret for verification, as in Cube.js.
        let s = src("CUBEJS_JWT_KEY");
        if key.contains("-----BEGIN") {
            insert(p, "type", Node { value: Value::Str("public_key".into()), source: s.clone() });
            insert(p, "pem", Node { value: Value::Str(key.into()), source: s });
            p.retain(|(k, _)| k != "secrets");
        } else {
            insert(p, "type", Node { value: Value::Str("secret".into()), source: s.clone() });
            insert(p, "secrets", Node { value: str_array(vec![key.into()], &s), source: s });
            p.retain(|(k, _)| k != "pem" && k != "pem_file");
        }
    } else if let Some(s) = secrets_source {
        if get(p, "type").is_none() {
            insert(p, "type", Node { value: Value::Str("secret".into()), source: s.clone() });
        }
        insert(p, "secrets", Node { value: str_array(secrets, &s), source: s });
    }
    if let Some(v) = var("CUBEJS_JWT_ALGS") {
        let s = src("CUBEJS_JWT_ALGS");
        insert(p, "algorithms", Node { value: str_array(list(v), &s), source: s });
    }
    if let Some(v) = var("CUBEJS_JWT_ISSUER") {
        insert(p, "issuer", Node { value: Value::Str(v.into()), source: src("CUBEJS_JWT_ISSUER") });
    }
    if let Some(v) = var("CUBEJS_JWT_AUDIENCE") {
        let s = src("CUBEJS_JWT_AUDIENCE");
        insert(p, "audience", Node { value: str_array(list(v), &s), source: s });
    }
    if let Some(v) = var("CUBEJS_JWT_SUBJECT") {
        insert(p, "subject", Node { value: Value::Str(v.into()), source: src("CUBEJS_JWT_SUBJECT") });
    }
}
