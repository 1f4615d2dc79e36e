//! `[forward_auth]`: the gateway endpoint's response headers and route
//! rules. Read after `[access]`, whose `roles_key` names the groups.

use super::{Cx, Section, join};
use std::time::Duration;

use crate::config::layers::{Node, Source, Value};
use crate::config::pem::{KeyType, parse_private_key};
use crate::config::{
    AccessConfig, DEFAULT_INTERNAL_TOKEN_ISSUER, DEFAULT_INTERNAL_TOKEN_TTL, ForwardAuthConfig, ForwardDefault,
    ForwardRoute, InternalTokenConfig, SessionValue, SigningKey,
};
use crate::context_path::ContextPath;

/// Longest internal-token lifetime: it is a per-request credential.
const MAX_INTERNAL_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Headers a gateway must never take from us: framing, hop-by-hop, the
/// ones that would change how the gateway treats the answer, and the ones
/// the server sets itself (a configured value would be overwritten).
const RESERVED_HEADERS: [&str; 13] = [
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
    "x-request-id",
    "x-security-context-token",
];

pub(super) fn forward_auth(cx: &mut Cx, s: Section<'_>, access: &AccessConfig) -> ForwardAuthConfig {
    let mut headers = Vec::new();
    if let Some(h) = s.section(cx, "headers") {
        for (name, node) in h.table() {
            h.skip(name);
            let key = h.key(name);
            let header = match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) if RESERVED_HEADERS.contains(&n.as_str()) || n.as_str().starts_with("access-control-") => {
                    cx.invalid(&node.source, &key, "a framing, hop-by-hop or CORS header cannot be set");
                    continue;
                }
                Ok(n) => n,
                Err(_) => {
                    cx.invalid(&node.source, &key, "not a valid header name");
                    continue;
                }
            };
            let Value::Str(raw) = &node.value else {
                cx.invalid(&node.source, &key, "expected a string");
                continue;
            };
            if headers.iter().any(|(n, _)| *n == header) {
                cx.invalid(&node.source, &key, "the header is set twice (names are case-insensitive)");
                continue;
            }
            match SessionValue::parse(raw) {
                Ok(SessionValue::Literal(l)) if l.is_empty() || !l.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                    cx.invalid(&node.source, &key, "a literal must be non-empty printable ASCII")
                }
                Ok(v) => headers.push((header, v)),
                Err(msg) => cx.invalid(&node.source, &key, msg),
            }
        }
        h.finish(cx);
    }
    let scopes_key = cx.non_empty_string(&s, "scopes_key").and_then(|k| {
        let src = s.source_or("scopes_key", &cx.env_file);
        ContextPath::parse(&k).map_err(|e| cx.invalid(&src, "forward_auth.scopes_key", e)).ok()
    });
    let groups_key = access.roles_key.as_deref().and_then(|k| ContextPath::parse(k).ok());

    let mut routes = Vec::new();
    match s.get("routes") {
        None => {}
        Some(Node { value: Value::Array(items), .. }) => {
            for (i, node) in items.iter().enumerate() {
                let path = format!("forward_auth.routes[{i}]");
                let Value::Table(rt) = &node.value else {
                    cx.invalid(&node.source, &path, "expected a table");
                    continue;
                };
                let rt = Section::new(cx, rt, path.clone());
                let prefix = cx.non_empty_string(&rt, "path_prefix");
                let methods = cx.strings(&rt, "methods").unwrap_or_default();
                let require_groups = cx.strings(&rt, "require_groups").unwrap_or_default();
                let require_scopes = cx.strings(&rt, "require_scopes").unwrap_or_default();
                rt.finish(cx);
                let Some(path_prefix) = prefix else {
                    cx.invalid(&node.source, &join(&path, "path_prefix"), "every route needs a path_prefix");
                    continue;
                };
                if let Err(msg) = check_prefix(&path_prefix) {
                    cx.invalid(&node.source, &join(&path, "path_prefix"), msg);
                    continue;
                }
                let mut upper = Vec::new();
                for m in &methods {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                        cx.invalid(&node.source, &join(&path, "methods"), format!("{m:?} is not a method name"));
                    }
                    upper.push(m.to_ascii_uppercase());
                }
                if !require_groups.is_empty() && groups_key.is_none() {
                    cx.invalid(
                        &node.source,
                        &join(&path, "require_groups"),
                        "needs [access] roles_key, the context path holding the groups",
                    );
                }
                if !require_scopes.is_empty() && scopes_key.is_none() {
                    cx.invalid(
                        &node.source,
                        &join(&path, "require_scopes"),
                        "needs [forward_auth] scopes_key, the context path holding the scopes",
                    );
                }
                routes.push(ForwardRoute { path_prefix, methods: upper, require_groups, require_scopes });
            }
        }
        Some(node) => cx.invalid(&node.source, "forward_auth.routes", "expected [[forward_auth.routes]] tables"),
    }
    let fallback = if routes.is_empty() { ForwardDefault::Allow } else { ForwardDefault::Deny };
    let default = match s.get("default") {
        None => fallback,
        Some(Node { value: Value::Str(v), .. }) if v == "allow" => ForwardDefault::Allow,
        Some(Node { value: Value::Str(v), .. }) if v == "deny" => ForwardDefault::Deny,
        Some(node) => {
            cx.invalid(&node.source, "forward_auth.default", "expected \"allow\" or \"deny\"");
            fallback
        }
    };
    let internal_token = s.section(cx, "internal_token").and_then(|t| {
        let table_source = s.source_or("internal_token", &cx.env_file);
        internal_token(cx, t, &table_source)
    });
    s.finish(cx);
    ForwardAuthConfig { headers, routes, default, scopes_key, groups_key, internal_token }
}

fn internal_token(cx: &mut Cx, t: Section<'_>, table_source: &Source) -> Option<InternalTokenConfig> {
    let signing = signing_key(cx, &t, table_source, "key_file", "kid", true);
    let rotation = signing_key(cx, &t, table_source, "rotation_key_file", "rotation_kid", false);
    let ttl = cx.positive_duration(&t, "ttl", DEFAULT_INTERNAL_TOKEN_TTL);
    if ttl > MAX_INTERNAL_TOKEN_TTL {
        let src = t.source_or("ttl", table_source);
        cx.invalid(&src, &t.key("ttl"), "must be at most 1h: the token is a per-request credential");
    }
    let issuer = cx.non_empty_string(&t, "issuer").unwrap_or_else(|| DEFAULT_INTERNAL_TOKEN_ISSUER.to_string());
    let audience = cx.non_empty_string(&t, "audience");
    if let (Some(Some(a)), Some(Some(b))) = (&signing, &rotation)
        && a.kid == b.kid
    {
        let src = t.source_or("rotation_kid", table_source);
        cx.invalid(&src, &t.key("rotation_kid"), "must differ from kid: verifiers pick the key by kid");
    }
    t.finish(cx);
    Some(InternalTokenConfig { signing: signing??, rotation: rotation?, ttl, issuer, audience })
}

/// `file_key` and `kid_key` together: `Some(None)` when neither is set and
/// the pair is optional, `None` after an error.
fn signing_key(
    cx: &mut Cx,
    t: &Section<'_>,
    table_source: &Source,
    file_key: &str,
    kid_key: &str,
    required: bool,
) -> Option<Option<SigningKey>> {
    let file = cx.non_empty_string(t, file_key);
    let kid = cx.non_empty_string(t, kid_key);
    let (file, kid) = match (file, kid) {
        (Some(f), Some(k)) => (f, k),
        (None, None) if !required => return Some(None),
        (None, _) => {
            cx.invalid(table_source, &t.key(file_key), "needed: a PKCS#8 PEM private key (Ed25519 or EC P-256)");
            return None;
        }
        (Some(_), None) => {
            cx.invalid(table_source, &t.key(kid_key), format!("needed beside {file_key}: the key's id in the key set"));
            return None;
        }
    };
    let kid_src = t.source_or(kid_key, table_source);
    if kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        cx.invalid(&kid_src, &t.key(kid_key), "must be at most 128 printable ASCII characters");
        return None;
    }
    let src = t.source_or(file_key, table_source);
    let pem = match std::fs::read_to_string(&file) {
        Ok(pem) => pem,
        Err(e) => {
            cx.invalid(&src, &t.key(file_key), format!("cannot read {file}: {e}"));
            return None;
        }
    };
    let Some((key_type, key)) = parse_private_key(&pem) else {
        cx.invalid(&src, &t.key(file_key), format!("{file} is not a PKCS#8 PEM private key (Ed25519 or EC P-256)"));
        return None;
    };
    let algorithm = match key_type {
        KeyType::Ed25519 => jsonwebtoken::Algorithm::EdDSA,
        _ => jsonwebtoken::Algorithm::ES256,
    };
    match public_jwk(&key, algorithm, &kid) {
        Ok(jwk) => Some(Some(SigningKey { kid, algorithm, key, jwk })),
        Err(e) => {
            cx.invalid(&src, &t.key(file_key), format!("{file}: {e}"));
            None
        }
    }
}

/// The public half as a JWK, checked against the private key: a token
/// signed with one verifies with the other, or the key is refused here
/// rather than every upstream refusing every token.
fn public_jwk(
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
    kid: &str,
) -> Result<jsonwebtoken::jwk::Jwk, String> {
    use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
    let mut jwk = Jwk::from_encoding_key(key, alg).map_err(|e| format!("no public key can be derived: {e}"))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let probe = jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &serde_json::json!({"probe": true}), key)
        .map_err(|e| format!("cannot sign with it: {e}"))?;
    let public = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| format!("bad public key: {e}"))?;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    jsonwebtoken::decode::<serde_json::Value>(&probe, &public, &v)
        .map(|_| jwk)
        .map_err(|e| format!("the derived public key does not verify its signature: {e}"))
}

/// A prefix is written already normalised, so what it matches is what it
/// says: `/`-rooted, no empty, `.` or `..` segment, no percent-encoding, no
/// `;` parameter (paths are matched without theirs), no query or fragment.
fn check_prefix(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} must start with /"));
    }
    let body = p.strip_suffix('/').unwrap_or(p);
    if body.len() > 1 && body[1..].split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!("{p:?} has an empty, . or .. segment"));
    }
    if !p.bytes().all(|b| b.is_ascii_graphic()) || p.contains(['%', '?', '#', ';', '\\']) {
        return Err(format!("{p:?} must be plain printable ASCII without %, ?, #, ; or \\"));
    }
    Ok(())
}
