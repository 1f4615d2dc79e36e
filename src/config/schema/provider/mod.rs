//! `[[auth.providers]]`: the parts every provider type shares (name, type,
//! claim checks, algorithms, claims map), then one file per type.

mod jwks;
mod public_key;
mod secret;

use jsonwebtoken::Algorithm;

use super::{Cx, join};
use crate::config::layers::{Node, Table, Value, get};
use crate::config::{ClaimMapping, ClaimRules, ProviderConfig, ProviderKind};

pub use jwks::check_fetch_url;
use jwks::jwks_provider;
use public_key::public_key_provider;
pub(in crate::config::schema) use secret::secret;
use secret::secret_provider;

pub(super) const HMAC_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

const PROVIDER_TYPES: &str = "\"secret\", \"public_key\", \"jwks\", \"cognito\", \"auth0\", \"oidc\" or \"custom\"";

pub(super) fn provider(cx: &mut Cx, index: usize, node: &Node) -> Option<ProviderConfig> {
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

pub(super) fn claim_rules(cx: &mut Cx, t: &Table, path: &str) -> ClaimRules {
    ClaimRules {
        issuer: cx.non_empty_string(t, path, "issuer"),
        audience: cx.strings(t, path, "audience").unwrap_or_default(),
        subject: cx.non_empty_string(t, path, "subject"),
    }
}

/// Parse an `algorithms` list, checking each name against `family_ok`.
pub(super) fn algorithms(
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
