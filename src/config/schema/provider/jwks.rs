//! `type = "jwks" | "cognito" | "auth0" | "oidc"`.

use std::net::IpAddr;
use std::path::PathBuf;

use super::{HMAC_ALGS, algorithms, claim_rules};
use crate::config::layers::{Node, Source, Value};
use crate::config::schema::{Cx, Section};
use crate::config::{
    DEFAULT_DANGEROUS_SKIP_AUDIENCE, DEFAULT_JWKS_ALGORITHMS, DEFAULT_TOKEN_USE, JwksPreset, JwksProviderConfig,
    KeyCacheConfig, TokenUse,
};

/// `type = "jwks" | "cognito" | "auth0" | "oidc"`.
pub(super) fn jwks_provider(
    cx: &mut Cx,
    s: &Section<'_>,
    kind: &str,
    table_source: &Source,
) -> Option<JwksProviderConfig> {
    let required = |cx: &mut Cx, key: &str| -> Option<String> {
        let v = cx.non_empty_string(s, key);
        if v.is_none() && s.get(key).is_none() {
            cx.invalid(table_source, &s.key(key), format!("required for type = {kind:?}"));
        }
        v
    };

    let mut claims = claim_rules(cx, s);
    let mut jwks_url = cx.non_empty_string(s, "jwks_url");
    let mut discovery_url = None;
    let preset = match kind {
        "cognito" => {
            let region = required(cx, "region");
            let pool = required(cx, "user_pool_id");
            let client_ids = cx.strings(s, "client_ids").unwrap_or_default();
            if client_ids.is_empty() {
                let src = s.source_or("client_ids", table_source);
                cx.invalid(&src, &s.key("client_ids"), "at least one app client id is required");
            }
            let token_use = match s.get("token_use") {
                None => DEFAULT_TOKEN_USE,
                Some(Node { value: Value::Str(v), source }) => match v.as_str() {
                    "id" => TokenUse::Id,
                    "access" => TokenUse::Access,
                    "any" => TokenUse::Any,
                    _ => {
                        cx.invalid(source, &s.key("token_use"), "expected \"id\", \"access\" or \"any\"");
                        DEFAULT_TOKEN_USE
                    }
                },
                Some(n) => {
                    cx.invalid(&n.source, &s.key("token_use"), "expected a string");
                    DEFAULT_TOKEN_USE
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
                let src = s.source_or("audience", table_source);
                cx.invalid(&src, &s.key("audience"), "required for type = \"auth0\" (the API identifier)");
            }
            JwksPreset::Auth0
        }
        "oidc" => {
            match &claims.issuer {
                Some(issuer) if jwks_url.is_none() => {
                    discovery_url = Some(format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
                }
                Some(_) => {}
                None if s.get("issuer").is_none() => {
                    cx.invalid(table_source, &s.key("issuer"), "required for type = \"oidc\"");
                }
                None => {}
            }
            JwksPreset::Oidc
        }
        _ => {
            if jwks_url.is_none() && s.get("jwks_url").is_none() {
                cx.invalid(table_source, &s.key("jwks_url"), "required for type = \"jwks\"");
            }
            JwksPreset::Generic
        }
    };

    let keys = key_cache_settings(cx, s, table_source);
    for (key, url) in [("jwks_url", &jwks_url), ("issuer", &discovery_url)] {
        if let Some(url) = url
            && let Err(msg) = check_fetch_url(url, keys.dangerous_allow_http)
        {
            let src = s.source_or(key, table_source);
            cx.invalid(&src, &s.key(key), msg);
        }
    }
    let algorithms = if s.get("algorithms").is_some() {
        algorithms(cx, s, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Err(format!("{name:?} is an HMAC algorithm; a JWKS provider never accepts HMAC"))
            } else {
                Ok(())
            }
        })
    } else {
        Some(DEFAULT_JWKS_ALGORITHMS.to_vec())
    };
    let ca_file = cx.non_empty_string(s, "ca_file").map(PathBuf::from);
    if let Some(file) = &ca_file
        && let Err(e) = std::fs::metadata(file)
    {
        let src = s.source_or("ca_file", table_source);
        cx.invalid(&src, &s.key("ca_file"), format!("cannot read {}: {e}", file.display()));
    }
    // Auth0 and Cognito always check their audience (client ids); only the
    // generic presets may opt out, so only they read the key.
    let dangerous_skip_audience = matches!(preset, JwksPreset::Generic | JwksPreset::Oidc)
        && cx.bool(s, "dangerous_skip_audience", DEFAULT_DANGEROUS_SKIP_AUDIENCE);
    if dangerous_skip_audience && !claims.audience.is_empty() {
        let src = s.source_or("dangerous_skip_audience", table_source);
        cx.invalid(&src, &s.key("dangerous_skip_audience"), "set either audience or dangerous_skip_audience, not both");
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

fn key_cache_settings(cx: &mut Cx, s: &Section<'_>, table_source: &Source) -> KeyCacheConfig {
    let d = KeyCacheConfig::default();
    let refresh_at = match s.get("refresh_at") {
        None => d.refresh_at,
        Some(Node { value: Value::Float(f), .. }) if *f > 0.0 && *f <= 1.0 => *f,
        Some(Node { value: Value::Int(1), .. }) => 1.0,
        Some(n) => {
            cx.invalid(
                &n.source,
                &s.key("refresh_at"),
                "expected a fraction of the TTL above 0 and at most 1, such as 0.8",
            );
            d.refresh_at
        }
    };
    let k = KeyCacheConfig {
        fetch_timeout: cx.duration(s, "fetch_timeout", d.fetch_timeout),
        max_jwks_bytes: cx.int(s, "max_jwks_bytes", d.max_jwks_bytes as i64, 1024, 16 << 20) as usize,
        max_keys: cx.int(s, "max_keys", d.max_keys as i64, 1, 10_000) as usize,
        ttl_default: cx.duration(s, "ttl_default", d.ttl_default),
        ttl_min: cx.duration(s, "ttl_min", d.ttl_min),
        ttl_max: cx.duration(s, "ttl_max", d.ttl_max),
        refresh_at,
        refetch_cooldown: cx.duration(s, "refetch_cooldown", d.refetch_cooldown),
        max_stale: cx.duration(s, "max_stale", d.max_stale),
        prefetch: cx.bool(s, "prefetch", d.prefetch),
        required: cx.bool(s, "required", d.required),
        negative_cache_size: cx.int(s, "negative_cache_size", d.negative_cache_size as i64, 0, 1 << 20) as usize,
        dangerous_allow_http: cx.bool(s, "dangerous_allow_http", d.dangerous_allow_http),
    };
    if !(k.ttl_min <= k.ttl_default && k.ttl_default <= k.ttl_max) {
        let src = ["ttl_min", "ttl_default", "ttl_max"]
            .iter()
            .find_map(|key| s.get(key).map(|n| n.source.clone()))
            .unwrap_or_else(|| table_source.clone());
        cx.invalid(&src, &s.key("ttl_default"), "expected ttl_min <= ttl_default <= ttl_max");
    }
    if k.fetch_timeout.is_zero() {
        let src = s.source_or("fetch_timeout", table_source);
        cx.invalid(&src, &s.key("fetch_timeout"), "must be above zero");
    }
    if k.required && !k.prefetch {
        let src = s.source_or("prefetch", table_source);
        cx.invalid(
            &src,
            &s.key("prefetch"),
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
