//! Phase two: the only bridge from the merged tree to a typed [`Config`].
//! Every field is checked and every error collected, each naming the file or
//! variable that set the value (or the environment's file for a value never
//! set) and its key. Adding a section is one function here.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::Algorithm;

use super::layers::{Node, Source, Table, Tree, Value, get};
use super::pem::{KeyType, detect_public_key};
use super::{
    AccessConfig, AccessRule, AuthConfig, ClaimMapping, ClaimRules, Config, ConfigError, ConfigErrors, DatabaseConfig,
    DatabaseKind, JwksPreset, JwksProviderConfig, KeyCacheConfig, ModelConfig, ProviderConfig, ProviderKind,
    PublicKeyProviderConfig, RELAXED_ENVIRONMENTS, Role, Secret, SecretProviderConfig, ServerConfig, SessionValue,
    TenancyConfig, TenantRoute, TlsConfig, TokenUse,
};

/// Smallest secret accepted outside development and test (HS256's key size).
pub const MIN_SECRET_BYTES: usize = 32;

const HMAC_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

const PROVIDER_TYPES: &str = "\"secret\", \"public_key\", \"jwks\", \"cognito\", \"auth0\", \"oidc\" or \"custom\"";

/// Keys every JWKS-backed provider accepts.
const JWKS_KEYS: [&str; 22] = [
    "name",
    "type",
    "claims",
    "jwks_url",
    "issuer",
    "audience",
    "subject",
    "algorithms",
    "ca_file",
    "dangerous_allow_http",
    "fetch_timeout",
    "max_jwks_bytes",
    "max_keys",
    "ttl_default",
    "ttl_min",
    "ttl_max",
    "refresh_at",
    "refetch_cooldown",
    "max_stale",
    "prefetch",
    "required",
    "negative_cache_size",
];

pub(super) fn build(env: &str, tree: &Tree) -> Result<Config, ConfigErrors> {
    let mut cx = Cx { errors: Vec::new(), env_file: tree.env_file.clone() };
    cx.known_keys(&tree.root, "", &["server", "auth", "model", "database", "tenancy", "tenants", "access"]);
    let empty = Table::new();
    let server_table = cx_table(&mut cx, &tree.root, "server").unwrap_or(&empty);
    let server = server(&mut cx, server_table);
    let auth_table = cx_table(&mut cx, &tree.root, "auth").unwrap_or(&empty);
    let auth = auth(&mut cx, auth_table, &server);
    let model_table = cx_table(&mut cx, &tree.root, "model").unwrap_or(&empty);
    let model = model(&mut cx, model_table);
    let database = match cx_table(&mut cx, &tree.root, "database") {
        Some(t) => database(&mut cx, t),
        None => None,
    };
    let tenancy = tenancy(&mut cx, &tree.root, database.as_ref());
    let access = match cx_table(&mut cx, &tree.root, "access") {
        Some(t) => access(&mut cx, t, &model.model),
        None => AccessConfig::default(),
    };
    policy(&mut cx, env, &server, &auth, tree);
    if cx.errors.is_empty() {
        Ok(Config { environment: env.to_string(), server, auth, model, database, tenancy, access })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// Collects errors while walking the tree.
struct Cx {
    errors: Vec<ConfigError>,
    env_file: Source,
}

impl Cx {
    fn invalid(&mut self, source: &Source, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            source_name: source.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn known_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for (k, node) in table {
            if !known.contains(&k.as_str()) {
                self.errors.push(ConfigError::UnknownKey { source_name: node.source.to_string(), key: join(path, k) });
            }
        }
    }

    fn string(&mut self, table: &Table, path: &str, key: &str) -> Option<String> {
        let node = get(table, key)?;
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.invalid(&node.source, &join(path, key), "expected a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, table: &Table, path: &str, key: &str) -> Option<String> {
        let s = self.string(table, path, key)?;
        if s.is_empty() {
            let src = get(table, key).map(|n| n.source.clone()).unwrap_or_else(|| self.env_file.clone());
            self.invalid(&src, &join(path, key), "must not be empty");
            return None;
        }
        Some(s)
    }

    fn bool(&mut self, table: &Table, path: &str, key: &str, default: bool) -> bool {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Bool(b), .. }) => *b,
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected true or false");
                default
            }
        }
    }

    /// An integer within `min..=max`.
    fn int(&mut self, table: &Table, path: &str, key: &str, default: i64, min: i64, max: i64) -> i64 {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Int(i), source }) => {
                if (min..=max).contains(i) {
                    *i
                } else {
                    self.invalid(source, &join(path, key), format!("must be between {min} and {max}"));
                    default
                }
            }
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected an integer");
                default
            }
        }
    }

    fn duration(&mut self, table: &Table, path: &str, key: &str, default: Duration) -> Duration {
        match get(table, key) {
            None => default,
            Some(Node { value: Value::Str(s), source }) => match super::duration::parse(s) {
                Ok(d) => d,
                Err(e) => {
                    self.invalid(source, &join(path, key), e);
                    default
                }
            },
            Some(node) => {
                self.invalid(&node.source, &join(path, key), "expected a duration string such as \"60s\"");
                default
            }
        }
    }

    /// An array of strings; a single string is accepted as a list of one.
    fn strings(&mut self, table: &Table, path: &str, key: &str) -> Option<Vec<String>> {
        let node = get(table, key)?;
        match &node.value {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.value {
                        Value::Str(s) => out.push(s.clone()),
                        _ => {
                            self.invalid(&node.source, &join(path, key), "expected an array of strings");
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.invalid(&node.source, &join(path, key), "expected an array of strings");
                None
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn cx_table<'t>(cx: &mut Cx, table: &'t Table, key: &str) -> Option<&'t Table> {
    let node = get(table, key)?;
    match &node.value {
        Value::Table(t) => Some(t),
        _ => {
            cx.invalid(&node.source, key, "expected a table");
            None
        }
    }
}

fn server(cx: &mut Cx, t: &Table) -> ServerConfig {
    const P: &str = "server";
    cx.known_keys(
        t,
        P,
        &[
            "host",
            "port",
            "tls_cert",
            "tls_key",
            "max_header_bytes",
            "max_body_bytes",
            "shutdown_timeout",
            "max_connections",
            "handshake_timeout",
            "idle_timeout",
        ],
    );
    let host = match get(t, "host") {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(Node { value: Value::Str(s), source }) => s.parse().unwrap_or_else(|_| {
            cx.invalid(source, "server.host", "expected an IP address such as 127.0.0.1 or 0.0.0.0");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }),
        Some(node) => {
            cx.invalid(&node.source, "server.host", "expected a string");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    };
    let port = cx.int(t, P, "port", 4000, 0, 65535) as u16;
    let cert = cx.string(t, P, "tls_cert");
    let key = cx.string(t, P, "tls_key");
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert: PathBuf::from(cert), key: PathBuf::from(key) }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let present = if get(t, "tls_cert").is_some() { "tls_cert" } else { "tls_key" };
            let src = get(t, present).map(|n| n.source.clone()).unwrap_or_else(|| cx.env_file.clone());
            cx.invalid(&src, &join(P, present), "tls_cert and tls_key must be set together");
            None
        }
    };
    ServerConfig {
        host,
        port,
        tls,
        max_header_bytes: cx.int(t, P, "max_header_bytes", 16_384, 8_192, 1 << 20) as usize,
        max_body_bytes: cx.int(t, P, "max_body_bytes", 1 << 20, 1, 1 << 30) as usize,
        shutdown_timeout: cx.duration(t, P, "shutdown_timeout", Duration::from_secs(10)),
        max_connections: cx.int(t, P, "max_connections", super::DEFAULT_MAX_CONNECTIONS as i64, 1, 1 << 20) as usize,
        handshake_timeout: positive_duration(cx, t, P, "handshake_timeout", super::DEFAULT_HANDSHAKE_TIMEOUT),
        idle_timeout: positive_duration(cx, t, P, "idle_timeout", super::DEFAULT_IDLE_TIMEOUT),
    }
}

/// A duration that must not be zero: a zero connection deadline would close
/// every connection before its first request.
fn positive_duration(cx: &mut Cx, t: &Table, path: &str, key: &str, default: Duration) -> Duration {
    let d = cx.duration(t, path, key, default);
    if !d.is_zero() {
        return d;
    }
    if let Some(node) = get(t, key) {
        cx.invalid(&node.source, &join(path, key), "must be above zero");
    }
    default
}

fn auth(cx: &mut Cx, t: &Table, server: &ServerConfig) -> AuthConfig {
    const P: &str = "auth";
    cx.known_keys(
        t,
        P,
        &["dev_mode", "require_exp", "leeway", "claims_namespace", "failure_status", "max_token_bytes", "providers"],
    );
    let dev_mode = cx.bool(t, P, "dev_mode", false);
    let require_exp = cx.bool(t, P, "require_exp", true);
    let leeway = cx.duration(t, P, "leeway", Duration::from_secs(60));
    let claims_namespace = cx.non_empty_string(t, P, "claims_namespace");
    let failure_status = match get(t, "failure_status") {
        None => 401,
        Some(Node { value: Value::Int(s @ (401 | 403)), .. }) => *s as u16,
        Some(node) => {
            cx.invalid(&node.source, "auth.failure_status", "expected 401 or 403");
            401
        }
    };
    let max_token_bytes = cx.int(t, P, "max_token_bytes", 8_192, 256, 1 << 20) as usize;
    if max_token_bytes >= server.max_header_bytes {
        let src = get(t, "max_token_bytes").map(|n| n.source.clone()).unwrap_or_else(|| cx.env_file.clone());
        cx.invalid(
            &src,
            "auth.max_token_bytes",
            format!("must be smaller than server.max_header_bytes ({})", server.max_header_bytes),
        );
    }
    let providers = match get(t, "providers") {
        None => Vec::new(),
        Some(Node { value: Value::Array(items), .. }) => {
            items.iter().enumerate().filter_map(|(i, node)| provider(cx, i, node)).collect()
        }
        Some(node) => {
            cx.invalid(&node.source, "auth.providers", "expected an array of tables ([[auth.providers]])");
            Vec::new()
        }
    };
    let auth =
        AuthConfig { dev_mode, require_exp, leeway, claims_namespace, failure_status, max_token_bytes, providers };
    routing_conflicts(cx, t, &auth);
    auth
}

fn provider(cx: &mut Cx, index: usize, node: &Node) -> Option<ProviderConfig> {
    let Value::Table(t) = &node.value else {
        cx.invalid(&node.source, &format!("auth.providers[#{index}]"), "expected a table");
        return None;
    };
    let name = match get(t, "name") {
        Some(Node { value: Value::Str(s), .. }) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let path = match &name {
        Some(n) => format!("auth.providers[{n}]"),
        None => format!("auth.providers[#{index}]"),
    };
    if name.is_none() {
        cx.invalid(&node.source, &join(&path, "name"), "every provider needs a non-empty string name");
    }
    let kind = match get(t, "type") {
        None => {
            cx.invalid(
                &node.source,
                &join(&path, "type"),
                "missing; expected \"secret\", \"public_key\" or \"custom\"",
            );
            None
        }
        Some(Node { value: Value::Str(s), source }) => match s.as_str() {
            "secret" => secret_provider(cx, t, &path).map(ProviderKind::Secret),
            "public_key" => public_key_provider(cx, t, &path, &node.source).map(ProviderKind::PublicKey),
            "jwks" | "cognito" | "auth0" | "oidc" => {
                jwks_provider(cx, t, &path, s, &node.source).map(ProviderKind::Jwks)
            }
            "custom" => {
                cx.known_keys(t, &path, &["name", "type", "claims"]);
                Some(ProviderKind::Custom)
            }
            other => {
                cx.invalid(
                    source,
                    &join(&path, "type"),
                    format!("unknown provider type {other:?}; expected {PROVIDER_TYPES}"),
                );
                None
            }
        },
        Some(n) => {
            cx.invalid(&n.source, &join(&path, "type"), "expected a string");
            None
        }
    };
    let claims_map = claims_map(cx, t, &path);
    Some(ProviderConfig { name: name?, kind: kind?, claims_map })
}

fn claim_rules(cx: &mut Cx, t: &Table, path: &str) -> ClaimRules {
    ClaimRules {
        issuer: cx.non_empty_string(t, path, "issuer"),
        audience: cx.strings(t, path, "audience").unwrap_or_default(),
        subject: cx.non_empty_string(t, path, "subject"),
    }
}

/// Parse an `algorithms` list, checking each name against `family_ok`.
fn algorithms(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    check: impl Fn(&str, Algorithm) -> Result<(), String>,
) -> Option<Vec<Algorithm>> {
    let names = cx.strings(t, path, "algorithms")?;
    let src = get(t, "algorithms").map(|n| n.source.clone()).unwrap_or_else(|| cx.env_file.clone());
    let key = join(path, "algorithms");
    let mut out = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("none") {
            cx.invalid(&src, &key, "\"none\" is never accepted");
            continue;
        }
        match name.parse::<Algorithm>() {
            Ok(alg) => match check(&name, alg) {
                Ok(()) => out.push(alg),
                Err(msg) => cx.invalid(&src, &key, msg),
            },
            Err(_) => cx.invalid(&src, &key, format!("unknown algorithm {name:?}")),
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

fn secret_provider(cx: &mut Cx, t: &Table, path: &str) -> Option<SecretProviderConfig> {
    cx.known_keys(t, path, &["name", "type", "claims", "secrets", "algorithms", "issuer", "audience", "subject"]);
    let algorithms = if get(t, "algorithms").is_some() {
        algorithms(cx, t, path, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Ok(())
            } else {
                Err(format!("{name:?} is not an HMAC algorithm; a secret provider accepts HS256, HS384 and HS512"))
            }
        })
    } else {
        Some(HMAC_ALGS.to_vec())
    };
    let secrets = match get(t, "secrets") {
        None => {
            let src = get(t, "name").map(|n| n.source.clone()).unwrap_or_else(|| cx.env_file.clone());
            cx.invalid(&src, &join(path, "secrets"), "a secret provider needs at least one secret");
            None
        }
        Some(Node { value: Value::Array(items), source }) => {
            if items.is_empty() {
                cx.invalid(source, &join(path, "secrets"), "a secret provider needs at least one secret");
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let key = format!("{}[{i}]", join(path, "secrets"));
                match secret(&item.value) {
                    Ok(s) => out.push((s, item.source.clone(), key)),
                    Err(msg) => cx.invalid(&item.source, &key, msg),
                }
            }
            Some(out)
        }
        Some(node) => {
            cx.invalid(&node.source, &join(path, "secrets"), "expected an array of secrets");
            None
        }
    };
    let claims = claim_rules(cx, t, path);
    let secrets = secrets?;
    if secrets.is_empty() {
        return None;
    }
    Some(SecretProviderConfig {
        secrets: secrets.into_iter().map(|(s, _, _)| s).collect(),
        algorithms: algorithms?,
        claims,
    })
}

/// A secret is a string (its UTF-8 bytes) or `{ base64 = "..." }`.
/// Messages never contain the secret.
fn secret(v: &Value) -> Result<Secret, String> {
    let bytes = match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Table(t) => {
            if t.len() != 1 {
                return Err("expected a string or { base64 = \"...\" }".into());
            }
            match get(t, "base64").map(|n| &n.value) {
                Some(Value::Str(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(b.trim()))
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b.trim()))
                    .map_err(|_| "the base64 secret is not valid base64".to_string())?,
                _ => return Err("expected a string or { base64 = \"...\" }".into()),
            }
        }
        _ => return Err("expected a string or { base64 = \"...\" }".into()),
    };
    if bytes.is_empty() {
        return Err("a secret must not be empty".into());
    }
    Ok(Secret::new(bytes))
}

fn public_key_provider(cx: &mut Cx, t: &Table, path: &str, table_source: &Source) -> Option<PublicKeyProviderConfig> {
    cx.known_keys(
        t,
        path,
        &["name", "type", "claims", "pem", "pem_file", "algorithms", "issuer", "audience", "subject"],
    );
    let pem_inline = cx.string(t, path, "pem");
    let pem_file = cx.string(t, path, "pem_file");
    let (pem, pem_source, pem_key) = match (pem_inline, pem_file) {
        (Some(pem), None) => (pem, get(t, "pem").map(|n| n.source.clone()), "pem"),
        (None, Some(file)) => {
            let src = get(t, "pem_file").map(|n| n.source.clone());
            match std::fs::read_to_string(&file) {
                Ok(pem) => (pem, src, "pem_file"),
                Err(e) => {
                    cx.invalid(
                        src.as_ref().unwrap_or(table_source),
                        &join(path, "pem_file"),
                        format!("cannot read {file}: {e}"),
                    );
                    return None;
                }
            }
        }
        (Some(_), Some(_)) => {
            let src = get(t, "pem_file").map_or_else(|| table_source.clone(), |n| n.source.clone());
            cx.invalid(&src, &join(path, "pem_file"), "set either pem or pem_file, not both");
            return None;
        }
        (None, None) => {
            cx.invalid(table_source, &join(path, "pem"), "a public_key provider needs pem or pem_file");
            return None;
        }
    };
    let pem_source = pem_source.unwrap_or_else(|| table_source.clone());
    let Some(key_type) = detect_public_key(&pem) else {
        cx.invalid(&pem_source, &join(path, pem_key), "not a PEM public key (RSA, EC P-256/P-384 or Ed25519)");
        let _ = claim_rules(cx, t, path);
        return None;
    };
    let algorithms = if get(t, "algorithms").is_some() {
        algorithms(cx, t, path, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Err(format!("{name:?} is an HMAC algorithm; a public_key provider accepts only asymmetric algorithms"))
            } else if !key_type.fits(alg) {
                Err(format!("{name:?} does not fit this {} key", key_type.describe()))
            } else {
                Ok(())
            }
        })
    } else {
        Some(vec![key_type.default_algorithm()])
    };
    let claims = claim_rules(cx, t, path);
    Some(PublicKeyProviderConfig { pem, algorithms: algorithms?, claims })
}

/// The source of the `[[auth.providers]]` table named `name`.
fn provider_source(auth_table: Option<&Table>, name: &str) -> Option<Source> {
    let Some(Node { value: Value::Array(items), .. }) = auth_table.and_then(|t| get(t, "providers")) else {
        return None;
    };
    items.iter().find_map(|item| match &item.value {
        Value::Table(pt) if matches!(get(pt, "name"), Some(Node { value: Value::Str(n), .. }) if n == name) => {
            Some(item.source.clone())
        }
        _ => None,
    })
}

/// The pipeline routes by algorithm family and `iss`, never by trial, so
/// each family may have one issuer-less provider and each issuer once.
fn routing_conflicts(cx: &mut Cx, t: &Table, auth: &AuthConfig) {
    let provider_source = |name: &str| provider_source(Some(t), name).unwrap_or_else(|| Source::File(String::new()));
    for (family, label) in [(true, "HMAC"), (false, "asymmetric")] {
        let mut fallback: Option<&str> = None;
        let mut issuers: Vec<(&str, &str)> = Vec::new();
        for p in &auth.providers {
            let rules = match (&p.kind, family) {
                (ProviderKind::Secret(s), true) => &s.claims,
                (ProviderKind::PublicKey(k), false) => &k.claims,
                (ProviderKind::Jwks(j), false) => &j.claims,
                _ => continue,
            };
            match &rules.issuer {
                None => match fallback {
                    Some(first) => cx.invalid(
                        &provider_source(&p.name),
                        &format!("auth.providers[{}]", p.name),
                        format!(
                            "two {label} providers without issuer ({first:?} and {:?}); tokens without a matching iss could not be routed",
                            p.name
                        ),
                    ),
                    None => fallback = Some(&p.name),
                },
                Some(iss) => match issuers.iter().find(|(i, _)| i == iss) {
                    Some((_, first)) => cx.invalid(
                        &provider_source(&p.name),
                        &format!("auth.providers[{}].issuer", p.name),
                        format!("issuer {iss:?} is already used by provider {first:?}"),
                    ),
                    None => issuers.push((iss, &p.name)),
                },
            }
        }
    }
}

/// Rules that depend on the environment.
fn policy(cx: &mut Cx, env: &str, server: &ServerConfig, auth: &AuthConfig, tree: &Tree) {
    let auth_table = match get(&tree.root, "auth") {
        Some(Node { value: Value::Table(t), .. }) => Some(t),
        _ => None,
    };
    let source_of = |cx: &Cx, key: &str| -> Source {
        auth_table.and_then(|t| get(t, key)).map_or_else(|| cx.env_file.clone(), |n| n.source.clone())
    };
    if auth.dev_mode && !server.host.is_loopback() {
        let src = source_of(cx, "dev_mode");
        cx.invalid(&src, "auth.dev_mode", format!("dev mode requires a loopback server.host (got {})", server.host));
    }
    if RELAXED_ENVIRONMENTS.contains(&env) {
        return;
    }
    if auth.providers.is_empty() {
        let src = cx.env_file.clone();
        cx.invalid(&src, "auth.providers", format!("at least one provider is required in environment {env:?}"));
    }
    if auth.dev_mode {
        let src = source_of(cx, "dev_mode");
        cx.invalid(&src, "auth.dev_mode", format!("dev mode is not allowed in environment {env:?}"));
    }
    if !auth.require_exp {
        let src = source_of(cx, "require_exp");
        cx.invalid(&src, "auth.require_exp", format!("require_exp = false is not allowed in environment {env:?}"));
    }
    // A key set is usually shared by every application of an issuer: without
    // an audience, a token minted for any of them would be accepted.
    for p in &auth.providers {
        if let ProviderKind::Jwks(j) = &p.kind
            && matches!(j.preset, JwksPreset::Generic | JwksPreset::Oidc)
            && j.claims.audience.is_empty()
            && !j.dangerous_skip_audience
        {
            let src = provider_source(auth_table, &p.name).unwrap_or_else(|| cx.env_file.clone());
            cx.invalid(
                &src,
                &format!("auth.providers[{}].audience", p.name),
                format!(
                    "required in environment {env:?}: without one, every token the issuer minted for any application is accepted; set audience or dangerous_skip_audience = true"
                ),
            );
        }
    }
    // Short secrets, each named by its own source and key.
    if let Some(Node { value: Value::Array(items), .. }) = auth_table.and_then(|t| get(t, "providers")) {
        for item in items {
            let Value::Table(pt) = &item.value else { continue };
            if !matches!(get(pt, "type"), Some(Node { value: Value::Str(s), .. }) if s == "secret") {
                continue;
            }
            let name = match get(pt, "name") {
                Some(Node { value: Value::Str(n), .. }) => n.clone(),
                _ => continue,
            };
            if let Some(Node { value: Value::Array(secrets), .. }) = get(pt, "secrets") {
                for (i, s) in secrets.iter().enumerate() {
                    if let Ok(secret) = secret(&s.value)
                        && secret.len() < MIN_SECRET_BYTES
                    {
                        cx.invalid(
                                &s.source,
                                &format!("auth.providers[{name}].secrets[{i}]"),
                                format!(
                                    "secret is {} bytes; at least {MIN_SECRET_BYTES} are required outside development and test",
                                    secret.len()
                                ),
                            );
                    }
                }
            }
        }
    }
}

impl KeyType {
    fn describe(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcP256 => "EC P-256",
            KeyType::EcP384 => "EC P-384",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}

/// `type = "jwks" | "cognito" | "auth0" | "oidc"`.
fn jwks_provider(cx: &mut Cx, t: &Table, path: &str, kind: &str, table_source: &Source) -> Option<JwksProviderConfig> {
    let extra: &[&str] = match kind {
        "cognito" => &["region", "user_pool_id", "client_ids", "token_use"],
        "auth0" => &["domain"],
        // Auth0 and Cognito always check their audience (client ids); the
        // generic presets may opt out.
        _ => &["dangerous_skip_audience"],
    };
    let known: Vec<&str> = JWKS_KEYS.iter().chain(extra).copied().collect();
    cx.known_keys(t, path, &known);
    let required = |cx: &mut Cx, key: &str| -> Option<String> {
        let v = cx.non_empty_string(t, path, key);
        if v.is_none() && get(t, key).is_none() {
            cx.invalid(table_source, &join(path, key), format!("required for type = {kind:?}"));
        }
        v
    };

    let mut claims = claim_rules(cx, t, path);
    let mut jwks_url = cx.non_empty_string(t, path, "jwks_url");
    let mut discovery_url = None;
    let preset = match kind {
        "cognito" => {
            let region = required(cx, "region");
            let pool = required(cx, "user_pool_id");
            let client_ids = cx.strings(t, path, "client_ids").unwrap_or_default();
            if client_ids.is_empty() {
                let src = get(t, "client_ids").map_or_else(|| table_source.clone(), |n| n.source.clone());
                cx.invalid(&src, &join(path, "client_ids"), "at least one app client id is required");
            }
            let token_use = match get(t, "token_use") {
                None => TokenUse::Id,
                Some(Node { value: Value::Str(s), source }) => match s.as_str() {
                    "id" => TokenUse::Id,
                    "access" => TokenUse::Access,
                    "any" => TokenUse::Any,
                    _ => {
                        cx.invalid(source, &join(path, "token_use"), "expected \"id\", \"access\" or \"any\"");
                        TokenUse::Id
                    }
                },
                Some(n) => {
                    cx.invalid(&n.source, &join(path, "token_use"), "expected a string");
                    TokenUse::Id
                }
            };
            if let (Some(region), Some(pool)) = (region, pool) {
                let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
                jwks_url.get_or_insert_with(|| format!("{issuer}/.well-known/jwks.json"));
                claims.issuer.get_or_insert(issuer);
            }
            JwksPreset::Cognito { token_use, client_ids }
        }
        "auth0" => {
            if let Some(domain) = required(cx, "domain") {
                let domain = domain.trim_start_matches("https://").trim_end_matches('/').to_string();
                jwks_url.get_or_insert_with(|| format!("https://{domain}/.well-known/jwks.json"));
                claims.issuer.get_or_insert(format!("https://{domain}/"));
            }
            if claims.audience.is_empty() {
                let src = get(t, "audience").map_or_else(|| table_source.clone(), |n| n.source.clone());
                cx.invalid(&src, &join(path, "audience"), "required for type = \"auth0\" (the API identifier)");
            }
            JwksPreset::Auth0
        }
        "oidc" => {
            match &claims.issuer {
                Some(issuer) if jwks_url.is_none() => {
                    discovery_url = Some(format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
                }
                Some(_) => {}
                None if get(t, "issuer").is_none() => {
                    cx.invalid(table_source, &join(path, "issuer"), "required for type = \"oidc\"");
                }
                None => {}
            }
            JwksPreset::Oidc
        }
        _ => {
            if jwks_url.is_none() && get(t, "jwks_url").is_none() {
                cx.invalid(table_source, &join(path, "jwks_url"), "required for type = \"jwks\"");
            }
            JwksPreset::Generic
        }
    };

    let keys = key_cache_settings(cx, t, path, table_source);
    for (key, url) in [("jwks_url", &jwks_url), ("issuer", &discovery_url)] {
        if let Some(url) = url
            && let Err(msg) = check_fetch_url(url, keys.dangerous_allow_http)
        {
            let src = get(t, key).map_or_else(|| table_source.clone(), |n| n.source.clone());
            cx.invalid(&src, &join(path, key), msg);
        }
    }
    let algorithms = if get(t, "algorithms").is_some() {
        algorithms(cx, t, path, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Err(format!("{name:?} is an HMAC algorithm; a JWKS provider never accepts HMAC"))
            } else {
                Ok(())
            }
        })
    } else {
        Some(vec![Algorithm::RS256])
    };
    let ca_file = cx.non_empty_string(t, path, "ca_file").map(PathBuf::from);
    if let Some(file) = &ca_file
        && let Err(e) = std::fs::metadata(file)
    {
        let src = get(t, "ca_file").map_or_else(|| table_source.clone(), |n| n.source.clone());
        cx.invalid(&src, &join(path, "ca_file"), format!("cannot read {}: {e}", file.display()));
    }
    let dangerous_skip_audience =
        matches!(preset, JwksPreset::Generic | JwksPreset::Oidc) && cx.bool(t, path, "dangerous_skip_audience", false);
    if dangerous_skip_audience && !claims.audience.is_empty() {
        let src = get(t, "dangerous_skip_audience").map_or_else(|| table_source.clone(), |n| n.source.clone());
        cx.invalid(
            &src,
            &join(path, "dangerous_skip_audience"),
            "set either audience or dangerous_skip_audience, not both",
        );
    }
    if jwks_url.is_none() && discovery_url.is_none() {
        return None;
    }
    Some(JwksProviderConfig {
        preset,
        jwks_url,
        discovery_url,
        algorithms: algorithms?,
        claims,
        keys,
        ca_file,
        dangerous_skip_audience,
    })
}

fn key_cache_settings(cx: &mut Cx, t: &Table, path: &str, table_source: &Source) -> KeyCacheConfig {
    let d = KeyCacheConfig::default();
    let refresh_at = match get(t, "refresh_at") {
        None => d.refresh_at,
        Some(Node { value: Value::Float(f), .. }) if *f > 0.0 && *f <= 1.0 => *f,
        Some(Node { value: Value::Int(1), .. }) => 1.0,
        Some(n) => {
            cx.invalid(
                &n.source,
                &join(path, "refresh_at"),
                "expected a fraction of the TTL above 0 and at most 1, such as 0.8",
            );
            d.refresh_at
        }
    };
    let k = KeyCacheConfig {
        fetch_timeout: cx.duration(t, path, "fetch_timeout", d.fetch_timeout),
        max_jwks_bytes: cx.int(t, path, "max_jwks_bytes", d.max_jwks_bytes as i64, 1024, 16 << 20) as usize,
        max_keys: cx.int(t, path, "max_keys", d.max_keys as i64, 1, 10_000) as usize,
        ttl_default: cx.duration(t, path, "ttl_default", d.ttl_default),
        ttl_min: cx.duration(t, path, "ttl_min", d.ttl_min),
        ttl_max: cx.duration(t, path, "ttl_max", d.ttl_max),
        refresh_at,
        refetch_cooldown: cx.duration(t, path, "refetch_cooldown", d.refetch_cooldown),
        max_stale: cx.duration(t, path, "max_stale", d.max_stale),
        prefetch: cx.bool(t, path, "prefetch", d.prefetch),
        required: cx.bool(t, path, "required", d.required),
        negative_cache_size: cx.int(t, path, "negative_cache_size", d.negative_cache_size as i64, 0, 1 << 20) as usize,
        dangerous_allow_http: cx.bool(t, path, "dangerous_allow_http", false),
    };
    if !(k.ttl_min <= k.ttl_default && k.ttl_default <= k.ttl_max) {
        let src = ["ttl_min", "ttl_default", "ttl_max"]
            .iter()
            .find_map(|key| get(t, key).map(|n| n.source.clone()))
            .unwrap_or_else(|| table_source.clone());
        cx.invalid(&src, &join(path, "ttl_default"), "expected ttl_min <= ttl_default <= ttl_max");
    }
    if k.fetch_timeout.is_zero() {
        let src = get(t, "fetch_timeout").map_or_else(|| table_source.clone(), |n| n.source.clone());
        cx.invalid(&src, &join(path, "fetch_timeout"), "must be above zero");
    }
    if k.required && !k.prefetch {
        let src = get(t, "prefetch").map_or_else(|| table_source.clone(), |n| n.source.clone());
        cx.invalid(
            &src,
            &join(path, "prefetch"),
            "a required provider must prefetch (readiness waits for its first key set); set required = false too",
        );
    }
    k
}

/// Keys are fetched over HTTPS; plain HTTP only to loopback hosts (tests,
/// sidecars) or with `dangerous_allow_http`.
pub fn check_fetch_url(url: &str, allow_http: bool) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || allow_http {
                Ok(())
            } else {
                Err(format!(
                    "plain http:// is allowed only to loopback hosts; use https:// or set dangerous_allow_http = true (got {url:?})"
                ))
            }
        }
        _ => Err(format!("{url:?} is not an http(s) URL")),
    }
}

/// `[auth.providers.claims]`: `target = "/pointer"` or
/// `target = { path = "/pointer", default = ..., json = true }`.
fn claims_map(cx: &mut Cx, t: &Table, path: &str) -> Vec<ClaimMapping> {
    let Some(node) = get(t, "claims") else { return Vec::new() };
    let Value::Table(map) = &node.value else {
        cx.invalid(&node.source, &join(path, "claims"), "expected a table of target = \"/json/pointer\"");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (target, entry) in map {
        let key = join(&join(path, "claims"), target);
        let (pointer, default, json) = match &entry.value {
            Value::Str(p) => (p.clone(), None, false),
            Value::Table(e) => {
                cx.known_keys(e, &key, &["path", "default", "json"]);
                let Some(p) = cx.string(e, &key, "path") else {
                    if get(e, "path").is_none() {
                        cx.invalid(
                            &entry.source,
                            &join(&key, "path"),
                            "required: a JSON pointer such as \"/tenant_id\"",
                        );
                    }
                    continue;
                };
                let default = get(e, "default").map(|n| to_json(&n.value));
                (p, default, cx.bool(e, &key, "json", false))
            }
            _ => {
                cx.invalid(
                    &entry.source,
                    &key,
                    "expected a JSON pointer string or { path = \"...\", default = ..., json = true }",
                );
                continue;
            }
        };
        if let Err(msg) = check_pointer(&pointer) {
            cx.invalid(&entry.source, &key, msg);
            continue;
        }
        out.push(ClaimMapping { target: target.clone(), pointer, default, json });
    }
    out
}

fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!("{p:?} is not a JSON pointer: it must start with \"/\" (e.g. \"/custom:tenant_id\")"));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("{p:?} is not a JSON pointer: \"~\" must be followed by 0 or 1 (\"~1\" is \"/\")"));
        }
    }
    Ok(())
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(|n| to_json(&n.value)).collect()),
        Value::Table(t) => serde_json::Value::Object(t.iter().map(|(k, n)| (k.clone(), to_json(&n.value))).collect()),
    }
}

fn model(cx: &mut Cx, t: &Table) -> ModelConfig {
    const P: &str = "model";
    cx.known_keys(t, P, &["path", "dangerous_allow_unsafe_value", "dangerous_missing_filter_allows_all"]);
    let path = PathBuf::from(cx.non_empty_string(t, P, "path").unwrap_or_else(|| "model".into()));
    let allow_unsafe = cx.bool(t, P, "dangerous_allow_unsafe_value", false);
    let allows_all = cx.bool(t, P, "dangerous_missing_filter_allows_all", false);
    let options = crate::query::model::ModelOptions { allow_unsafe_value: allow_unsafe };
    let model = match crate::query::model::load_dir(&path, options) {
        Ok(m) => m,
        Err(errors) => {
            cx.errors.extend(errors.into_iter().map(ConfigError::Model));
            crate::query::Model::empty()
        }
    };
    ModelConfig {
        path,
        model: std::sync::Arc::new(model),
        dangerous_allow_unsafe_value: allow_unsafe,
        dangerous_missing_filter_allows_all: allows_all,
    }
}

fn database(cx: &mut Cx, t: &Table) -> Option<DatabaseConfig> {
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
        max_result_cells: cx.int(t, P, "max_result_cells", super::DEFAULT_MAX_RESULT_CELLS as i64, 1, 100_000_000)
            as usize,
        max_response_bytes: cx.int(t, P, "max_response_bytes", super::DEFAULT_MAX_RESPONSE_BYTES as i64, 1, 1 << 32)
            as usize,
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

fn tenancy(cx: &mut Cx, root: &Table, database: Option<&DatabaseConfig>) -> TenancyConfig {
    let empty = Table::new();
    let t = cx_table(cx, root, "tenancy").unwrap_or(&empty);
    cx.known_keys(t, "tenancy", &["tenant_key", "require_known_tenant"]);
    let tenant_key = cx.non_empty_string(t, "tenancy", "tenant_key");
    // With tenants listed, an unlisted one would silently read the default
    // database: refuse it unless the configuration says otherwise.
    let listed = matches!(get(root, "tenants"), Some(Node { value: Value::Table(list), .. }) if !list.is_empty());
    let require_known_tenant = cx.bool(t, "tenancy", "require_known_tenant", listed);
    let mut tenants = Vec::new();
    if let Some(node) = get(root, "tenants") {
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
            cx.known_keys(tt, &path, &["schema", "database_url", "sqlite_path"]);
            let schema = cx.non_empty_string(tt, &path, "schema");
            let url = cx.non_empty_string(tt, &path, "database_url");
            let sqlite = cx.non_empty_string(tt, &path, "sqlite_path");
            let route = match (schema, url, sqlite, database) {
                (Some(s), None, None, Some(db)) if matches!(db.kind, DatabaseKind::Postgres(..)) => {
                    if !s.split('.').all(crate::query::model::is_member_name) {
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
                            DatabaseKind::Sqlite { .. } => None,
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

/// `[access]`: every cube and member named must exist in the model.
fn access(cx: &mut Cx, t: &Table, model: &crate::query::Model) -> AccessConfig {
    cx.known_keys(t, "access", &["rules", "roles_key", "roles"]);
    let roles_key = cx.non_empty_string(t, "access", "roles_key");
    let member_exists = |m: &str| {
        m.split_once('.').is_some_and(|(c, n)| {
            model.cube(c).is_some_and(|cube| {
                cube.measures.iter().any(|x| x.name == n)
                    || cube.dimensions.iter().any(|x| x.name == n)
                    || cube.segments.iter().any(|x| x.name == n)
            })
        })
    };
    let mut rules = Vec::new();
    for (i, node) in list_of_tables(cx, t, "rules") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.rules[{i}]");
        cx.known_keys(rt, &path, &["cube", "member", "operator", "value"]);
        let (Some(cube), Some(member), Some(value)) = (
            cx.non_empty_string(rt, &path, "cube"),
            cx.non_empty_string(rt, &path, "member"),
            cx.non_empty_string(rt, &path, "value"),
        ) else {
            cx.invalid(&node.source, &path, "a rule needs cube, member and value");
            continue;
        };
        let operator = cx.non_empty_string(rt, &path, "operator").unwrap_or_else(|| "equals".into());
        if model.cube(&cube).is_none() {
            cx.invalid(&node.source, &join(&path, "cube"), format!("no cube named {cube} in the model"));
            continue;
        }
        if !member.starts_with(&format!("{cube}.")) || !member_exists(&member) {
            cx.invalid(&node.source, &join(&path, "member"), format!("{member} is not a member of cube {cube}"));
            continue;
        }
        if !["equals", "notEquals", "contains", "startsWith", "endsWith", "gt", "gte", "lt", "lte"]
            .contains(&operator.as_str())
        {
            cx.invalid(
                &node.source,
                &join(&path, "operator"),
                format!("operator {operator:?} cannot force a value filter"),
            );
            continue;
        }
        match SessionValue::parse(&value) {
            Ok(value) => rules.push(AccessRule { cube, member, operator, value }),
            Err(msg) => cx.invalid(&node.source, &join(&path, "value"), msg),
        }
    }
    let mut roles = Vec::new();
    for (i, node) in list_of_tables(cx, t, "roles") {
        let Value::Table(rt) = &node.value else { continue };
        let path = format!("access.roles[{i}]");
        cx.known_keys(rt, &path, &["name", "cubes", "members"]);
        let Some(name) = cx.non_empty_string(rt, &path, "name") else {
            cx.invalid(&node.source, &join(&path, "name"), "every role needs a name");
            continue;
        };
        let cubes = cx.strings(rt, &path, "cubes").unwrap_or_default();
        let members = cx.strings(rt, &path, "members").unwrap_or_default();
        for c in &cubes {
            if model.cube(c).is_none() {
                cx.invalid(&node.source, &join(&path, "cubes"), format!("no cube named {c} in the model"));
            }
        }
        for m in &members {
            if !member_exists(m) {
                cx.invalid(&node.source, &join(&path, "members"), format!("no member named {m} in the model"));
            }
        }
        roles.push(Role { name, cubes, members });
    }
    if !roles.is_empty() && roles_key.is_none() {
        cx.invalid(&cx.env_file.clone(), "access.roles_key", "required when roles are defined (e.g. \"groups\")");
    }
    AccessConfig { rules, roles_key, roles }
}

fn list_of_tables<'t>(cx: &mut Cx, t: &'t Table, key: &str) -> Vec<(usize, &'t Node)> {
    match get(t, key) {
        None => Vec::new(),
        Some(Node { value: Value::Array(items), .. }) => {
            for (i, n) in items.iter().enumerate() {
                if !matches!(n.value, Value::Table(_)) {
                    cx.invalid(&n.source, &format!("access.{key}[{i}]"), "expected a table");
                }
            }
            items.iter().enumerate().collect()
        }
        Some(n) => {
            cx.invalid(&n.source, &format!("access.{key}"), format!("expected [[access.{key}]] tables"));
            Vec::new()
        }
    }
}
