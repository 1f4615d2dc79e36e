//! `type = "public_key"`: one static PEM public key (RSA, EC P-256/P-384 or
//! Ed25519). A `CUBEJS_JWT_KEY` holding a PEM builds this provider.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::{Family, SignatureValid, check, pin};
use crate::auth::AuthError;
use crate::auth::token::Jws;
use crate::config::{ClaimRules, PublicKeyProviderConfig};

pub(crate) struct PublicKeyProvider {
    pub name: Arc<str>,
    /// Asymmetric only, each fitting the key (checked by the config build).
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
    pub claims: ClaimRules,
}

impl PublicKeyProvider {
    pub fn new(name: &str, cfg: &PublicKeyProviderConfig) -> Result<Self, String> {
        let Some(first) = cfg.algorithms.first() else {
            return Err(format!("provider {name:?}: no algorithms"));
        };
        debug_assert_eq!(Family::of(*first), Family::Asymmetric);
        // The config build parsed the key and fitted every algorithm to it.
        if let Some(alg) = cfg.algorithms.iter().find(|a| a.family() != cfg.key.family()) {
            return Err(format!("provider {name:?}: {alg:?} does not fit its public key"));
        }
        Ok(PublicKeyProvider {
            name: name.into(),
            algorithms: cfg.algorithms.clone(),
            key: cfg.key.clone(),
            claims: cfg.claims.clone(),
        })
    }

    /// The pin and the signature.
    pub fn verify_signature(&self, jws: &Jws<'_>) -> Result<SignatureValid, AuthError> {
        pin(&self.name, &self.algorithms, jws.alg())?;
        check(jws, &self.key).ok_or(AuthError::InvalidSignature)
    }
}
