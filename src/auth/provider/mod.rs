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

pub(crate) use custom::CustomProvider;
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

/// A configured built-in JWT provider, ready to verify. Custom strategies
/// are a separate type ([`CustomProvider`]): they are chosen by their own
/// `accepts`, not by algorithm family and issuer.
pub(crate) enum JwtProvider {
    Secret(SecretProvider),
    PublicKey(PublicKeyProvider),
    Jwks(JwksProvider),
}

impl JwtProvider {
    pub fn name(&self) -> &Arc<str> {
        match self {
            JwtProvider::Secret(p) => &p.name,
            JwtProvider::PublicKey(p) => &p.name,
            JwtProvider::Jwks(p) => &p.name,
        }
    }

    /// Which tokens this provider can take, by the header's `alg`.
    pub fn family(&self) -> Family {
        match self {
            JwtProvider::Secret(_) => Family::Hmac,
            JwtProvider::PublicKey(_) | JwtProvider::Jwks(_) => Family::Asymmetric,
        }
    }

    pub fn claim_rules(&self) -> &ClaimRules {
        match self {
            JwtProvider::Secret(p) => &p.claims,
            JwtProvider::PublicKey(p) => &p.claims,
            JwtProvider::Jwks(p) => &p.claims,
        }
    }

    /// Check the algorithm pin and the signature of a JWT, returning its
    /// payload. Claims are checked by the pipeline afterwards.
    pub async fn verify(&self, jwt: Jwt<'_>) -> Result<Value, AuthError> {
        let algorithms: &[Algorithm] = match self {
            JwtProvider::Secret(p) => &p.algorithms,
            JwtProvider::PublicKey(p) => &p.algorithms,
            JwtProvider::Jwks(p) => &p.algorithms,
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
            JwtProvider::Secret(p) => {
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
            JwtProvider::PublicKey(p) => check(jwt.jws(), &p.key),
            JwtProvider::Jwks(p) => check(jwt.jws(), &p.cache.key(jwt.kid(), jwt.alg()).await?.decoding),
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
