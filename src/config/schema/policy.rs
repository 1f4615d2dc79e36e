//! The production policy: rules that depend on the environment.

use super::Cx;
use super::auth::provider_source;
use super::provider::secret;
use crate::config::layers::{Node, Source, Tree, Value, get};
use crate::config::{AuthConfig, JwksPreset, ProviderKind, RELAXED_ENVIRONMENTS, ServerConfig};

/// Smallest secret accepted outside development and test (HS256's key size).
const MIN_SECRET_BYTES: usize = 32;

/// Rules that depend on the environment.
pub(super) fn policy(cx: &mut Cx, env: &str, server: &ServerConfig, auth: &AuthConfig, tree: &Tree) {
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
