//! `type = "jwks" | "cognito" | "auth0" | "oidc"`: asymmetric keys from a
//! JWKS endpoint, cached per provider by kid. The presets only derive the
//! issuer and key URL, and Cognito adds its `token_use` and client id checks.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::auth::AuthError;
use crate::auth::jwks::KeyCache;
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
    /// Checks a preset adds after the registered claims.
    pub fn check_preset(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
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

fn describe(t: TokenUse) -> &'static str {
    match t {
        TokenUse::Id => "ID",
        TokenUse::Access => "access",
        TokenUse::Any => "any",
    }
}
