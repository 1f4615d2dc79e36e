//! `type = "jwks" | "cognito" | "auth0" | "oidc"`: asymmetric keys from a
//! JWKS endpoint, cached per provider by kid. The presets only derive the
//! issuer and key URL, and Cognito adds its `token_use` and client id checks
//! and maps `cognito:groups` to the context's `groups`.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::{VerifiedClaims, check, checked_claims, pin};
use crate::auth::AuthError;
use crate::auth::claims::TimeRules;
use crate::auth::jwks::KeyCache;
use crate::auth::token::Jwt;
use crate::config::{ClaimRules, JwksPreset, TokenUse};

pub(crate) struct JwksProvider {
    pub name: Arc<str>,
    /// Asymmetric only (the config build refuses HMAC for JWKS providers).
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimRules,
    pub preset: JwksPreset,
    pub cache: Arc<KeyCache>,
}

impl JwksProvider {
    /// The pin, the key for the token's kid (fetched when not cached), the
    /// signature, the registered claims, then the preset's checks.
    pub async fn verify(&self, jwt: Jwt<'_>, time: TimeRules, now: f64) -> Result<VerifiedClaims, AuthError> {
        pin(&self.name, &self.algorithms, jwt.alg())?;
        let key = self.cache.key(jwt.kid(), jwt.alg()).await?;
        let valid = check(jwt.jws(), &key.decoding).ok_or(AuthError::InvalidSignature)?;
        let mut verified = checked_claims(jwt, valid, &self.claims, time, now)?;
        self.check_preset(&verified.claims)?;
        if let JwksPreset::Cognito { .. } = self.preset {
            verified.cognito_groups = Some(CognitoGroups::from_claims(&verified.claims));
        }
        verified.jwks_key = Some(key);
        Ok(verified)
    }

    /// Checks a preset adds after the registered claims.
    fn check_preset(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let JwksPreset::Cognito { token_use, client_ids } = &self.preset else { return Ok(()) };
        let used = match claims.get("token_use") {
            Some(Value::String(s)) if s == "id" => TokenUse::Id,
            Some(Value::String(s)) if s == "access" => TokenUse::Access,
            _ => return Err(AuthError::TokenUseMismatch("token_use is neither \"id\" nor \"access\"".into())),
        };
        if *token_use != TokenUse::Any && *token_use != used {
            return Err(AuthError::TokenUseMismatch(format!(
                "this provider takes {} tokens, not {} tokens",
                describe(*token_use),
                describe(used)
            )));
        }
        // ID tokens carry the app client id in `aud`; access tokens have no
        // `aud` and carry it in `client_id`.
        let (claim, value) = match used {
            TokenUse::Access => ("client_id", claims.get("client_id")),
            _ => ("aud", claims.get("aud")),
        };
        let ok = match value {
            Some(Value::String(id)) => client_ids.iter().any(|c| c == id),
            Some(Value::Array(ids)) => {
                ids.iter().any(|v| v.as_str().is_some_and(|id| client_ids.iter().any(|c| c == id)))
            }
            _ => false,
        };
        if !ok {
            return Err(AuthError::ClientIdMismatch(format!(
                "the token's {claim} is not one of the provider's client_ids"
            )));
        }
        Ok(())
    }
}

/// Cognito puts a user's groups in `cognito:groups`; the context calls them
/// `groups`. Read from the verified payload's top level and set after the
/// context's generic steps (claims namespace, `u`, claims map), so they
/// arrive whatever those did with the rest.
pub(crate) struct CognitoGroups(Option<Value>);

impl CognitoGroups {
    fn from_claims(claims: &Map<String, Value>) -> Self {
        CognitoGroups(claims.get("cognito:groups").cloned())
    }

    pub(crate) fn apply(self, context: &mut Map<String, Value>) {
        context.remove("cognito:groups");
        if let Some(groups) = self.0 {
            context.insert("groups".into(), groups);
        }
    }
}

fn describe(t: TokenUse) -> &'static str {
    match t {
        TokenUse::Id => "ID",
        TokenUse::Access => "access",
        TokenUse::Any => "any",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::SecurityContext;
    use crate::config::ClaimMapping;

    #[test]
    fn cognito_groups_become_the_contexts_groups_after_the_namespace_and_claims_map() {
        let payload =
            json!({"cognito:groups": ["analyst"], "custom:claims": {"tenant_id": "acme", "cognito:groups": 1}});
        let groups = |p: &Value| p.as_object().map(CognitoGroups::from_claims);
        let mut verified = VerifiedClaims::dangerous_assume_verified(payload.clone()).expect("object");
        verified.cognito_groups = groups(&payload);
        let ctx = SecurityContext::from_verified(verified, Some("custom:claims"), &[]).expect("context");
        assert_eq!(ctx.as_map(), json!({"tenant_id": "acme", "groups": ["analyst"]}).as_object().expect("object"));

        let map = [ClaimMapping {
            target: "tenant".into(),
            pointer: "/custom:claims/tenant_id".into(),
            default: None,
            json: false,
        }];
        let mut verified = VerifiedClaims::dangerous_assume_verified(payload.clone()).expect("object");
        verified.cognito_groups = groups(&payload);
        let ctx = SecurityContext::from_verified(verified, None, &map).expect("context");
        assert_eq!(ctx.as_map(), json!({"tenant": "acme", "groups": ["analyst"]}).as_object().expect("object"));

        // No groups claim: none in the context either.
        let mut verified = VerifiedClaims::dangerous_assume_verified(json!({})).expect("object");
        verified.cognito_groups = groups(&json!({}));
        let ctx = SecurityContext::from_verified(verified, None, &[]).expect("context");
        assert!(ctx.as_map().is_empty());
    }
}
