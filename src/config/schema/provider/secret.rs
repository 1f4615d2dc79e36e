//! `type = "secret"`.

use base64::Engine as _;

use super::{HMAC_ALGS, algorithms, claim_rules};
use crate::config::layers::{Node, Table, Value, get};
use crate::config::schema::{Cx, join};
use crate::config::{Secret, SecretProviderConfig};

pub(super) fn secret_provider(cx: &mut Cx, t: &Table, path: &str) -> Option<SecretProviderConfig> {
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
