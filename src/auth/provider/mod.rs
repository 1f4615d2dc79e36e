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
use super::token::{Jws, Jwt};
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
            Provider::Secret(p) => {
                let min = hmac_key_min(jwt.alg());
                if p.keys.iter().all(|(_, len)| *len < min) {
                    return Err(AuthError::AlgorithmNotAllowed(format!(
                        "{:?} needs a secret of at least {min} bytes and provider {:?} has none",
                        jwt.alg(),
                        self.name().as_ref()
                    )));
                }
                p.keys.iter().any(|(key, len)| *len >= min && check(jwt.jws(), key))
            }
            Provider::PublicKey(p) => check(jwt.jws(), &p.key),
            Provider::Jwks(p) => check(jwt.jws(), &p.cache.key(jwt.kid(), jwt.alg()).await?.decoding),
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
fn check(jws: &Jws<'_>, key: &DecodingKey) -> bool {
    jsonwebtoken::crypto::verify(jws.signature(), jws.signing_input().as_bytes(), key, jws.alg()).unwrap_or(false)
}

/// The signature layer on its own (for JWS test vectors and tools): the
/// strict front end, the algorithm pinned by the JWK (its `alg`, type and
/// curve; `use`/`key_ops` honoured; `oct` refused, as for any JWKS), and the
/// signature over the received bytes. No claims, no routing. Returns the
/// payload bytes.
pub fn verify_jws_with_jwk(token: &str, jwk: &Value) -> Result<Vec<u8>, AuthError> {
    let key = crate::auth::jwks::keyset::key_from_jwk(jwk).map_err(AuthError::AlgorithmNotAllowed)?;
    let jws = Jws::parse(token)?;
    if !key.accepts(jws.alg()) {
        return Err(AuthError::AlgorithmNotAllowed(format!("the key cannot verify {:?}", jws.alg())));
    }
    if !check(&jws, &key.decoding) {
        return Err(AuthError::InvalidSignature);
    }
    Ok(jws.payload().to_vec())
}

/// RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
/// A shorter secret never verifies that algorithm.
pub fn hmac_key_min(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// The same for a shared secret with pinned HMAC algorithms, as a `secret`
/// provider checks it.
pub fn verify_jws_with_secret(token: &str, secret: &[u8], algorithms: &[Algorithm]) -> Result<Vec<u8>, AuthError> {
    let jws = Jws::parse(token)?;
    if !algorithms.contains(&jws.alg()) || Family::of(jws.alg()) != Family::Hmac {
        return Err(AuthError::AlgorithmNotAllowed(format!("alg {:?} is not allowed", jws.alg())));
    }
    if secret.len() < hmac_key_min(jws.alg()) {
        return Err(AuthError::AlgorithmNotAllowed(format!(
            "the secret is {} bytes; {:?} needs at least {}",
            secret.len(),
            jws.alg(),
            hmac_key_min(jws.alg())
        )));
    }
    let key = DecodingKey::from_secret(secret).map_err(|_| AuthError::InvalidSignature)?;
    if !check(&jws, &key) {
        return Err(AuthError::InvalidSignature);
    }
    Ok(jws.payload().to_vec())
}
