//! The security context: what the rest of the server knows about the caller.
//!
//! **Invariant:** a [`SecurityContext`] is built only here, from
//! [`VerifiedClaims`] (or empty, for an anonymous request in dev mode, which
//! only `auth` can ask for). `VerifiedClaims` can be made only by the
//! providers' verification code, so any later stage that takes a context
//! (SQL rendering) cannot run on unverified data.

use std::fmt;
use std::sync::Once;

use serde::Serialize;
use serde_json::{Map, Value};

use super::AuthError;
use super::provider::VerifiedClaims;
use crate::config::ClaimMapping;
use crate::context_path::ContextPath;

/// Claims turned into the caller's context (Cube.js's `securityContext`).
#[derive(Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SecurityContext(Map<String, Value>);

impl SecurityContext {
    /// A context the operator wrote in `[[access.tests]]`, for `check-config`
    /// to run the access policies against. Never built from a request: no
    /// token is involved, and the server's request path has no way here.
    pub(crate) fn for_policy_test(context: Map<String, Value>) -> Self {
        SecurityContext(context)
    }

    /// The context of an anonymous request in dev mode.
    pub(super) fn empty() -> Self {
        SecurityContext(Map::new())
    }

    /// Build the context from a token's verified claims: with a claims
    /// namespace, the context is the value under that key (an object, or a
    /// string holding one, since Cognito can only emit string claims); then a
    /// legacy `u` object is merged into the root, `u` winning; then the
    /// provider's claims map; then what the provider's preset maps itself
    /// (Cognito's groups).
    pub(crate) fn from_verified(
        verified: VerifiedClaims,
        namespace: Option<&str>,
        claims_map: &[ClaimMapping],
    ) -> Result<Self, AuthError> {
        let (mut root, preset) = verified.into_parts();
        if let Some(ns) = namespace {
            root = match root.remove(ns) {
                None => return Err(AuthError::MissingClaimsNamespace(ns.to_string())),
                Some(Value::Object(map)) => map,
                Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                    Ok(Value::Object(map)) => map,
                    _ => {
                        return Err(AuthError::ClaimsNotObject(format!(
                            "the claims namespace {ns:?} holds a string that is not a JSON object"
                        )));
                    }
                },
                Some(other) => {
                    return Err(AuthError::ClaimsNotObject(format!(
                        "the claims namespace {ns:?} holds {}, not a JSON object",
                        kind(&other)
                    )));
                }
            };
        }
        if matches!(root.get("u"), Some(Value::Object(_)))
            && let Some(Value::Object(u)) = root.remove("u")
        {
            warn_u_deprecated();
            root.extend(u);
        }
        let mut context = apply_claims_map(root, claims_map)?;
        if let Some(groups) = preset {
            groups.apply(&mut context);
        }
        Ok(SecurityContext(context))
    }

    /// Merge enrichment claims: under `into` (an object there merged, any
    /// other value replaced only with `override_verified`), or at the root;
    /// a verified value is kept unless `override_verified`.
    pub(super) fn merge(&mut self, into: Option<&str>, fetched: &Map<String, Value>, override_verified: bool) {
        let target = match into {
            None => &mut self.0,
            Some(key) => {
                let slot = self.0.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    if !override_verified {
                        return;
                    }
                    *slot = Value::Object(Map::new());
                }
                match slot {
                    Value::Object(m) => m,
                    _ => return,
                }
            }
        };
        for (k, v) in fetched {
            if override_verified || !target.contains_key(k) {
                target.insert(k.clone(), v.clone());
            }
        }
    }

    /// What `path` holds, with the cases every consumer (templates, rules,
    /// session settings, the tenant id) shares decided here once.
    pub fn resolve(&self, path: &ContextPath) -> Resolved<'_> {
        let mut segments = path.segments().iter();
        let mut cur = segments.next().and_then(|first| self.0.get(first));
        for s in segments {
            cur = cur.and_then(Value::as_object).and_then(|o| o.get(s));
        }
        match cur {
            None | Some(Value::Null) => Resolved::Missing,
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Resolved::Scalar(v),
            Some(Value::Array(items))
                if items.iter().all(|v| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))) =>
            {
                Resolved::List(items)
            }
            Some(Value::Array(_)) => {
                Resolved::Invalid("an array holding something other than strings, numbers and booleans")
            }
            Some(Value::Object(_)) => Resolved::Invalid("an object"),
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A security-context value as the later stages see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// Absent, or null: a filter on it fails closed.
    Missing,
    /// A string, number or boolean.
    Scalar(&'a Value),
    /// An array of strings, numbers and booleans (possibly empty).
    List(&'a [Value]),
    /// Anything else, described for the error message.
    Invalid(&'static str),
}

impl fmt::Debug for SecurityContext {
    // Keys only: a whole claim set must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityContext").field("keys", &self.0.keys().collect::<Vec<_>>()).finish()
    }
}

/// A provider's claims map: the context becomes exactly the mapped keys, each
/// read by JSON pointer from the context built so far (after the namespace
/// and `u` steps). Absent or null claims take the default, or stay absent.
fn apply_claims_map(context: Map<String, Value>, map: &[ClaimMapping]) -> Result<Map<String, Value>, AuthError> {
    if map.is_empty() {
        return Ok(context);
    }
    let source = Value::Object(context);
    let mut out = Map::new();
    for m in map {
        let found = source.pointer(&m.pointer).filter(|v| !v.is_null());
        let value = match (found, &m.default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => continue,
        };
        let value = match (m.json, value) {
            (true, Value::String(s)) => serde_json::from_str(&s).map_err(|_| {
                AuthError::InvalidClaim(format!("the claim at {:?} does not hold valid JSON", m.pointer))
            })?,
            (_, v) => v,
        };
        out.insert(m.target.clone(), value);
    }
    Ok(out)
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn warn_u_deprecated() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::warn!("a token carries the deprecated `u` claim; its members were merged into the security context");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(payload: Value, ns: Option<&str>, map: &[ClaimMapping]) -> Result<Value, &'static str> {
        VerifiedClaims::dangerous_assume_verified(payload)
            .and_then(|v| SecurityContext::from_verified(v, ns, map))
            .map(|c| Value::Object(c.0))
            .map_err(|e| e.code())
    }

    fn ctx(payload: Value, ns: Option<&str>) -> Result<Value, &'static str> {
        build(payload, ns, &[])
    }

    #[test]
    fn payloads_that_are_not_objects_are_refused() {
        for p in [json!("s"), json!(1), json!([1]), json!(null), json!(true)] {
            assert_eq!(ctx(p, None), Err("claims_not_object"));
        }
    }

    #[test]
    fn the_u_claim_is_merged_into_the_root_and_wins_on_collision() {
        let got = ctx(json!({"id": 1, "role": "x", "u": {"id": 2, "org": "o"}}), None);
        assert_eq!(got, Ok(json!({"id": 2, "role": "x", "org": "o"})));
        // A `u` that is not an object is an ordinary claim.
        assert_eq!(ctx(json!({"u": "name"}), None), Ok(json!({"u": "name"})));
    }

    #[test]
    fn the_claims_namespace_may_be_an_object_or_a_string_holding_one() {
        let ns = Some("https://example.com/claims");
        let obj = json!({"sub": "x", "https://example.com/claims": {"tenant_id": 7}});
        assert_eq!(ctx(obj, ns), Ok(json!({"tenant_id": 7})));
        let s = json!({"https://example.com/claims": "{\"tenant_id\":7}"});
        assert_eq!(ctx(s, ns), Ok(json!({"tenant_id": 7})));
        assert_eq!(ctx(json!({"sub": "x"}), ns), Err("missing_claims_namespace"));
        assert_eq!(ctx(json!({"https://example.com/claims": "[1]"}), ns), Err("claims_not_object"));
        assert_eq!(ctx(json!({"https://example.com/claims": 3}), ns), Err("claims_not_object"));
    }

    #[test]
    fn a_claims_map_picks_pointers_applies_defaults_and_parses_json_strings() {
        let payload = json!({"custom:tenant_id": "t1", "https://x.io/roles": "[\"a\"]", "n": null, "sub": "u"});
        let m = |target: &str, pointer: &str, default: Option<Value>, json: bool| ClaimMapping {
            target: target.into(),
            pointer: pointer.into(),
            default,
            json,
        };
        let map = [
            m("tenant_id", "/custom:tenant_id", None, false),
            m("roles", "/https:~1~1x.io~1roles", None, true),
            m("plan", "/n", Some(json!("free")), false),
            m("missing", "/nope", None, false),
        ];
        let got = build(payload.clone(), None, &map);
        assert_eq!(got, Ok(json!({"tenant_id": "t1", "roles": ["a"], "plan": "free"})));
        let bad = [m("x", "/custom:tenant_id", None, true)];
        assert_eq!(build(payload, None, &bad), Err("invalid_claim"));
    }

    #[test]
    fn paths_resolve_to_missing_scalar_list_or_invalid_and_debug_shows_keys_only() {
        let v = VerifiedClaims::dangerous_assume_verified(json!({
            "org": {"id": 9, "none": null}, "secret": "s3", "ids": [1, "a", true], "empty": [],
            "mixed": [1, {"x": 1}], "nulls": [null], "flag": false
        }))
        .expect("object");
        let c = SecurityContext::from_verified(v, None, &[]).expect("context");
        let r = |p: &str| c.resolve(&ContextPath::parse(p).expect("path"));
        assert_eq!(r("org.id"), Resolved::Scalar(&json!(9)));
        assert_eq!(r("flag"), Resolved::Scalar(&json!(false)));
        for missing in ["org.missing", "org.none", "nope", "secret.deeper"] {
            assert_eq!(r(missing), Resolved::Missing, "{missing}");
        }
        assert_eq!(r("ids"), Resolved::List(&[json!(1), json!("a"), json!(true)]));
        assert_eq!(r("empty"), Resolved::List(&[]));
        assert!(matches!(r("org"), Resolved::Invalid("an object")));
        assert!(matches!(r("mixed"), Resolved::Invalid(_)));
        assert!(matches!(r("nulls"), Resolved::Invalid(_)));
        assert!(!format!("{c:?}").contains("s3"));
    }
}
