//! `[auth]`, and the routing rule across its providers.

use super::provider::provider;
use super::{Cx, Section};
use crate::config::layers::{Node, Source, Table, Value, get};
use crate::config::{
    AuthConfig, DEFAULT_DEV_MODE, DEFAULT_FAILURE_STATUS, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_REQUIRE_EXP,
    DEFAULT_VERIFICATION_CACHE_MAX_BYTES, DEFAULT_VERIFICATION_CACHE_TTL, ProviderKind, ServerConfig,
};

pub(super) fn auth(cx: &mut Cx, s: Section<'_>, server: &ServerConfig, has_database: bool) -> AuthConfig {
    let dev_mode = cx.bool(&s, "dev_mode", DEFAULT_DEV_MODE);
    let require_exp = cx.bool(&s, "require_exp", DEFAULT_REQUIRE_EXP);
    let leeway = cx.duration(&s, "leeway", DEFAULT_LEEWAY);
    let claims_namespace = cx.non_empty_string(&s, "claims_namespace");
    let failure_status = match s.get("failure_status") {
        None => DEFAULT_FAILURE_STATUS,
        Some(Node { value: Value::Int(401), .. }) => http::StatusCode::UNAUTHORIZED,
        Some(Node { value: Value::Int(403), .. }) => http::StatusCode::FORBIDDEN,
        Some(node) => {
            cx.invalid(&node.source, "auth.failure_status", "expected 401 or 403");
            DEFAULT_FAILURE_STATUS
        }
    };
    let max_token_bytes = cx.int(&s, "max_token_bytes", DEFAULT_MAX_TOKEN_BYTES as i64, 256, 1 << 20) as usize;
    if max_token_bytes >= server.max_header_bytes {
        let src = s.source_or("max_token_bytes", &cx.env_file);
        cx.invalid(
            &src,
            "auth.max_token_bytes",
            format!("must be smaller than server.max_header_bytes ({})", server.max_header_bytes),
        );
    }
    let verification_cache_max_bytes =
        cx.int(&s, "verification_cache_max_bytes", DEFAULT_VERIFICATION_CACHE_MAX_BYTES as i64, 0, 1 << 40) as usize;
    let verification_cache_ttl = cx.positive_duration(&s, "verification_cache_ttl", DEFAULT_VERIFICATION_CACHE_TTL);
    let providers = match s.get("providers") {
        None => Vec::new(),
        Some(Node { value: Value::Array(items), .. }) => {
            items.iter().enumerate().filter_map(|(i, node)| provider(cx, i, node)).collect()
        }
        Some(node) => {
            cx.invalid(&node.source, "auth.providers", "expected an array of tables ([[auth.providers]])");
            Vec::new()
        }
    };
    let enrich = match s.get("enrich") {
        None => Vec::new(),
        Some(Node { value: Value::Array(items), .. }) => items
            .iter()
            .enumerate()
            .filter_map(|(i, node)| super::enrich::enrich(cx, i, node, &providers, has_database))
            .collect(),
        Some(node) => {
            cx.invalid(&node.source, "auth.enrich", "expected an array of tables ([[auth.enrich]])");
            Vec::new()
        }
    };
    let auth = AuthConfig {
        dev_mode,
        require_exp,
        leeway,
        claims_namespace,
        failure_status,
        max_token_bytes,
        verification_cache_max_bytes,
        verification_cache_ttl,
        providers,
        enrich,
    };
    routing_conflicts(cx, s.table(), &auth);
    s.finish(cx);
    auth
}

/// The source of the `[[auth.providers]]` table named `name`.
pub(super) fn provider_source(auth_table: Option<&Table>, name: &str) -> Option<Source> {
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
