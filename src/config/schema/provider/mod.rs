//! `[[auth.providers]]`: the parts every provider type shares (name, type,
//! claim checks, algorithms, claims map), then one file per type.

mod jwks;
mod public_key;
mod secret;
mod webhook;

use jsonwebtoken::Algorithm;

use super::{Cx, Section, join};
use crate::config::layers::{Node, Value, get};
use crate::config::{ClaimMapping, ClaimRules, DEFAULT_CLAIM_JSON, ProviderConfig, ProviderKind};

pub use jwks::check_fetch_url;
use jwks::jwks_provider;
use public_key::public_key_provider;
pub(in crate::config::schema) use secret::secret;
use secret::secret_provider;
use webhook::webhook_provider;

pub(super) const HMAC_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

const PROVIDER_TYPES: &str =
    "\"secret\", \"public_key\", \"jwks\", \"cognito\", \"auth0\", \"oidc\", \"webhook\" or \"custom\"";

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
    let s = Section::new(cx, t, path);
    s.skip("name");
    let mut type_known = true;
    let kind = match s.get("type") {
        None => {
            cx.invalid(&node.source, &s.key("type"), "missing; expected \"secret\", \"public_key\" or \"custom\"");
            type_known = false;
            None
        }
        Some(Node { value: Value::Str(kind), source }) => match kind.as_str() {
            "secret" => secret_provider(cx, &s).map(ProviderKind::Secret),
            "public_key" => public_key_provider(cx, &s, &node.source).map(ProviderKind::PublicKey),
            "jwks" | "cognito" | "auth0" | "oidc" => jwks_provider(cx, &s, kind, &node.source).map(ProviderKind::Jwks),
            "custom" => Some(ProviderKind::Custom),
            "webhook" => webhook_provider(cx, &s, &node.source).map(ProviderKind::Webhook),
            other => {
                cx.invalid(
                    source,
                    &s.key("type"),
                    format!("unknown provider type {other:?}; expected {PROVIDER_TYPES}"),
                );
                type_known = false;
                None
            }
        },
        Some(n) => {
            cx.invalid(&n.source, &s.key("type"), "expected a string");
            type_known = false;
            None
        }
    };
    let claims_map = claims_map(cx, &s);
    if type_known {
        s.finish(cx)
    } else {
        s.abandon(cx)
    }
    Some(ProviderConfig { name: name?, kind: kind?, claims_map })
}

pub(super) fn claim_rules(cx: &mut Cx, s: &Section<'_>) -> ClaimRules {
    ClaimRules {
        issuer: cx.non_empty_string(s, "issuer"),
        audience: cx.strings(s, "audience").unwrap_or_default(),
        subject: cx.non_empty_string(s, "subject"),
    }
}

/// Parse an `algorithms` list, checking each name against `check`.
pub(super) fn algorithms(
    cx: &mut Cx,
    s: &Section<'_>,
    check: impl Fn(&str, Algorithm) -> Result<(), String>,
) -> Option<Vec<Algorithm>> {
    let names = cx.strings(s, "algorithms")?;
    let src = s.source_or("algorithms", &cx.env_file);
    let key = s.key("algorithms");
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
fn claims_map(cx: &mut Cx, provider: &Section<'_>) -> Vec<ClaimMapping> {
    let Some(node) = provider.get("claims") else { return Vec::new() };
    let Value::Table(map) = &node.value else {
        cx.invalid(&node.source, &provider.key("claims"), "expected a table of target = \"/json/pointer\"");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (target, entry) in map {
        let key = join(&provider.key("claims"), target);
        let (pointer, default, json) = match &entry.value {
            Value::Str(p) => (p.clone(), None, DEFAULT_CLAIM_JSON),
            Value::Table(e) => {
                let e = Section::new(cx, e, key.clone());
                let pointer = cx.string(&e, "path");
                let default = e.get("default").map(|n| to_json(&n.value));
                let json = cx.bool(&e, "json", DEFAULT_CLAIM_JSON);
                if pointer.is_none() && e.get("path").is_none() {
                    cx.invalid(&entry.source, &e.key("path"), "required: a JSON pointer such as \"/tenant_id\"");
                }
                e.finish(cx);
                let Some(pointer) = pointer else { continue };
                (pointer, default, json)
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
