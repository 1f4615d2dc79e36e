//! Minting HS256 tokens, as `cubejs token` does: the `token` CLI, the
//! development curl that `serve` prints, and the test suite.

use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value};

/// Parse a CLI `KEY=VALUE` pair. A VALUE that parses as JSON keeps its type
/// (`id=42` is the number 42, `roles=["a","b"]` an array); anything else is a
/// string.
pub fn parse_pair(pair: &str) -> Result<(String, Value), String> {
    let (key, value) = pair.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {pair:?}"))?;
    if key.is_empty() {
        return Err(format!("expected KEY=VALUE with a non-empty KEY, got {pair:?}"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

/// Claims for a new token: `iat = now`, `exp = now + expiry` unless the
/// expiry is zero, the payload pairs, and the user-context pairs under `u`.
pub fn claims(
    now_secs: u64,
    expiry: Duration,
    payload: impl IntoIterator<Item = (String, Value)>,
    user_context: impl IntoIterator<Item = (String, Value)>,
) -> Map<String, Value> {
    let mut claims: Map<String, Value> = payload.into_iter().collect();
    let u: Map<String, Value> = user_context.into_iter().collect();
    if !u.is_empty() {
        claims.insert("u".into(), Value::Object(u));
    }
    claims.entry("iat").or_insert(Value::from(now_secs));
    if !expiry.is_zero() {
        claims.entry("exp").or_insert(Value::from(now_secs.saturating_add(expiry.as_secs())));
    }
    claims
}

/// Sign claims with HS256.
pub fn sign_hs256(secret: &[u8], claims: &Map<String, Value>) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(secret)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pair_values_keep_their_json_type_or_become_strings() {
        assert_eq!(parse_pair("id=42"), Ok(("id".into(), json!(42))));
        assert_eq!(parse_pair(r#"roles=["a","b"]"#), Ok(("roles".into(), json!(["a", "b"]))));
        assert_eq!(parse_pair("name=acme"), Ok(("name".into(), json!("acme"))));
        assert_eq!(parse_pair("q=a=b"), Ok(("q".into(), json!("a=b"))));
        assert!(parse_pair("novalue").is_err());
        assert!(parse_pair("=1").is_err());
    }

    #[test]
    fn zero_expiry_means_no_exp_and_user_pairs_go_under_u() {
        let c = claims(1000, Duration::ZERO, [("a".into(), json!(1))], [("id".into(), json!(7))]);
        assert_eq!(Value::Object(c), json!({"a": 1, "iat": 1000, "u": {"id": 7}}));
        let c = claims(1000, Duration::from_secs(60), [], []);
        assert_eq!(Value::Object(c), json!({"iat": 1000, "exp": 1060}));
    }
}
