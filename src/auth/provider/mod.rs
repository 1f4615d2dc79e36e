//! Providers: one variant per `type` of `[[auth.providers]]`, one file each.
//!
//! The set we own is a closed enum; the one open extension point is
//! [`CheckAuth`], which a program embedding tenantgate implements and
//! registers under a `type = "custom"` provider's name.

mod custom;
mod jwks;
mod public_key;
mod secret;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

pub use custom::{BoxFuture, CheckAuth};
pub(crate) use jwks::JwksProvider;
pub(crate) use public_key::PublicKeyProvider;
pub(crate) use secret::SecretProvider;

use super::AuthError;
use super::token::Jwt;
use crate::config::ClaimRules;

/// Which tokens a built-in provider can take, by the header's `alg`.
/// HS* tokens never reach an asymmetric provider and RS/ES/PS/EdDSA tokens
/// never reach a secret provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Hmac,
    Asymmetric,
}

impl Family {
    pub fn of(alg: Algorithm) -> Family {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            _ => Family::Asymmetric,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Family::Hmac => "HMAC (HS256/HS384/HS512)",
            Family::Asymmetric => "asymmetric (RS/PS/ES/EdDSA)",
        }
    }
}

/// A configured provider, ready to verify.
pub(crate) enum Provider {
    Secret(SecretProvider),
    PublicKey(PublicKeyProvider),
    Jwks(JwksProvider),
    Custom { name: Arc<str>, strategy: Arc<dyn CheckAuth> },
}

impl Provider {
    pub fn name(&self) -> &Arc<str> {
        match self {
            Provider::Secret(p) => &p.name,
            Provider::PublicKey(p) => &p.name,
            Provider::Jwks(p) => &p.name,
            Provider::Custom { name, .. } => name,
        }
    }

    /// The family of a built-in JWT provider; `None` for custom strategies,
    /// which are chosen by their own `accepts`.
    pub fn family(&self) -> Option<Family> {
        match self {
            Provider::Secret(_) => Some(Family::Hmac),
            Provider::PublicKey(_) | Provider::Jwks(_) => Some(Family::Asymmetric),
            Provider::Custom { .. } => None,
        }
    }

    pub fn claim_rules(&self) -> Option<&ClaimRules> {
        match self {
            Provider::Secret(p) => Some(&p.claims),
            Provider::PublicKey(p) => Some(&p.claims),
            Provider::Jwks(p) => Some(&p.claims),
            Provider::Custom { .. } => None,
        }
    }

    /// Check the algorithm pin and the signature of a JWT, returning its
    /// payload. Claims are checked by the pipeline afterwards. Custom
    /// strategies are not JWT providers and never get here.
    pub async fn verify(&self, jwt: Jwt<'_>) -> Result<Value, AuthError> {
        let algorithms: &[Algorithm] = match self {
            Provider::Secret(p) => &p.algorithms,
            Provider::PublicKey(p) => &p.algorithms,
            Provider::Jwks(p) => &p.algorithms,
            Provider::Custom { name, .. } => {
                return Err(AuthError::Rejected(format!("provider {name:?} is not a JWT provider")));
            }
        };
        if !algorithms.contains(&jwt.alg()) {
            return Err(AuthError::AlgorithmNotAllowed(format!(
                "alg {:?} is not allowed by provider {:?} (allowed: {})",
                jwt.alg(),
                self.name().as_ref(),
                algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let verified = match self {
            // Every secret is tried (rotation).
            Provider::Secret(p) => p.keys.iter().any(|key| check(&jwt, key)),
            Provider::PublicKey(p) => check(&jwt, &p.key),
            Provider::Jwks(p) => check(&jwt, &p.cache.key(jwt.kid(), jwt.alg()).await?.decoding),
            Provider::Custom { .. } => false,
        };
        if !verified {
            return Err(AuthError::InvalidSignature);
        }
        Ok(jwt.into_payload())
    }
}

/// A key that does not fit the algorithm counts as a failed check, never as
/// a server error.
fn check(jwt: &Jwt<'_>, key: &DecodingKey) -> bool {
    jsonwebtoken::crypto::verify(jwt.signature(), jwt.signing_input().as_bytes(), key, jwt.alg()).unwrap_or(false)
}
