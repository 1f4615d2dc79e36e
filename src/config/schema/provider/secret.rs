//! `type = "secret"`.

use base64::Engine as _;

use super::{HMAC_ALGS, algorithms, claim_rules};
use crate::config::layers::{Node, Value, get};
use crate::config::schema::{Cx, Section};
use crate::config::{DEFAULT_SECRET_ALGORITHMS, Secret, SecretProviderConfig};

pub(super) fn secret_provider(cx: &mut Cx, s: &Section<'_>) -> Option<SecretProviderConfig> {
    let algorithms = if s.get("algorithms").is_some() {
        algorithms(cx, s, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Ok(())
            } else {
                Err(format!("{name:?} is not an HMAC algorithm; a secret provider accepts HS256, HS384 and HS512"))
            }
        })
    } else {
        Some(DEFAULT_SECRET_ALGORITHMS.to_vec())
    };
    let secrets = match s.get("secrets") {
        None => {
            let src = s.source_or("name", &cx.env_file);
            cx.invalid(&src, &s.key("secrets"), "a secret provider needs at least one secret");
            None
        }
        Some(Node { value: Value::Array(items), source }) => {
            if items.is_empty() {
                cx.invalid(source, &s.key("secrets"), "a secret provider needs at least one secret");
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let key = format!("{}[{i}]", s.key("secrets"));
                match secret(&item.value) {
                    Ok(secret) => out.push(secret),
                    Err(msg) => cx.invalid(&item.source, &key, msg),
                }
            }
            Some(out)
        }
        Some(node) => {
            cx.invalid(&node.source, &s.key("secrets"), "expected an array of secrets");
            None
        }
    };
    let claims = claim_rules(cx, s);
    let secrets = secrets?;
    if secrets.is_empty() {
        return None;
    }
    Some(SecretProviderConfig { secrets, algorithms: algorithms?, claims })
}

/// A secret is a string (its UTF-8 bytes) or `{ base64 = "..." }`.
/// Messages never contain the secret.
pub(in crate::config::schema) fn secret(v: &Value) -> Result<Secret, String> {
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
