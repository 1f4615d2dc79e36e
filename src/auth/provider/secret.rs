//! `type = "secret"`: HMAC with one or more shared secrets (rotation: every
//! secret is tried). Cube.js's `CUBEJS_API_SECRET`, `CUBEJS_API_SECRETS` and a
//! non-PEM `CUBEJS_JWT_KEY` build this provider.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::{Family, SignatureValid, check, pin};
use crate::auth::AuthError;
use crate::auth::token::Jws;
use crate::config::{ClaimRules, SecretProviderConfig};

pub(crate) struct SecretProvider {
    pub name: Arc<str>,
    /// Pinned by configuration: HS256/HS384/HS512 only, never from the token.
    pub algorithms: Vec<Algorithm>,
    /// Built once at startup, one per secret, with the secret's length.
    pub keys: Vec<(DecodingKey, usize)>,
    pub claims: ClaimRules,
}

impl SecretProvider {
    pub fn new(name: &str, cfg: &SecretProviderConfig) -> Result<Self, String> {
        // The config build already refuses these; `verify_jws_with_secret`
        // takes algorithms from its caller.
        if let Some(alg) = cfg.algorithms.iter().find(|a| Family::of(**a) != Family::Hmac) {
            return Err(format!("provider {name:?}: {alg:?} is not an HMAC algorithm"));
        }
        let keys = cfg
            .secrets
            .iter()
            .map(|s| {
                DecodingKey::from_secret(s.expose())
                    .map(|k| (k, s.len()))
                    .map_err(|e| format!("provider {name:?}: unusable secret: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SecretProvider { name: name.into(), algorithms: cfg.algorithms.clone(), keys, claims: cfg.claims.clone() })
    }

    /// The pin, the key length and the signature. A secret shorter than the
    /// algorithm's hash never verifies it; every long-enough secret is tried
    /// (rotation).
    pub fn verify_signature(&self, jws: &Jws<'_>) -> Result<SignatureValid, AuthError> {
        pin(&self.name, &self.algorithms, jws.alg())?;
        let min = hmac_key_min(jws.alg());
        if self.keys.iter().all(|(_, len)| *len < min) {
            return Err(AuthError::AlgorithmNotAllowed(format!(
                "{:?} needs a secret of at least {min} bytes and provider {:?} has none",
                jws.alg(),
                self.name.as_ref()
            )));
        }
        self.keys
            .iter()
            .filter(|(_, len)| *len >= min)
            .find_map(|(key, _)| check(jws, key))
            .ok_or(AuthError::InvalidSignature)
    }
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
