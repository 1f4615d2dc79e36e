//! Providers: one variant per `type` of `[[auth.providers]]`, one file each.
//!
//! The built-in JWT providers are a closed enum, [`JwtProvider`]. Custom
//! strategies are a separate type, [`CustomProvider`], around the one open
//! extension point, [`CheckAuth`], which a program embedding tenantgate
//! implements and registers under a `type = "custom"` provider's name.
//!
//! **Invariant:** this module is the verification code, and only it can
//! make the two proofs that a check ran (rustls's `HandshakeSignatureValid`
//! pattern: a public-in-crate type with a private field).
//! `SignatureValid` comes only from `check`, the signature over the
//! received bytes; without one, a [`Jwt`] does not give up its payload.
//! `VerifiedClaims` comes only from a provider's `verify` (signature, then
//! registered claims, then the preset's checks; or a custom strategy's
//! verdict), and it is the only input a
//! [`SecurityContext`](super::SecurityContext) is built from. Skipping a
//! check is a compile error, not a review comment.

mod custom;
mod jwks;
mod public_key;
mod secret;
mod webhook;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

pub(crate) use custom::CustomProvider;
pub use custom::{BoxFuture, CheckAuth};
pub(crate) use jwks::{CognitoGroups, JwksProvider};
pub(crate) use public_key::PublicKeyProvider;
pub(crate) use secret::SecretProvider;
pub use secret::hmac_key_min;
pub(crate) use webhook::WebhookProvider;
pub use webhook::WebhookStats;

use super::AuthError;
use super::claims::{self, TimeRules};
use super::jwks::keyset::Key;
use super::token::{Jws, Jwt};
use crate::config::{ClaimRules, Secret, SecretProviderConfig};

/// Proof that a JWS's signature verified over the received bytes with a
/// pinned algorithm. Made only by `check`.
pub(crate) struct SignatureValid(());

/// The claims of a token that passed every check of the provider that took
/// it. The only input a [`SecurityContext`](super::SecurityContext) is built
/// from; the fields are private to this module, so nothing else can make
/// one (tests and fuzz targets: `VerifiedClaims::dangerous_assume_verified`).
pub(crate) struct VerifiedClaims {
    claims: Map<String, Value>,
    /// Set by a Cognito provider: applied after the context's generic steps.
    cognito_groups: Option<CognitoGroups>,
    /// Set by a JWKS provider: the key that verified the signature, so the
    /// verification cache serves the token only while that key is current.
    jwks_key: Option<Arc<Key>>,
}

impl VerifiedClaims {
    /// The payload must be a JSON object.
    fn from_payload(payload: Value) -> Result<Self, AuthError> {
        match payload {
            Value::Object(claims) => Ok(VerifiedClaims { claims, cognito_groups: None, jwks_key: None }),
            other => Err(AuthError::ClaimsNotObject(format!(
                "the token payload is {}, not a JSON object",
                super::context::kind(&other)
            ))),
        }
    }

    /// Take a JSON value as if a provider had verified it. For unit tests and
    /// fuzz targets only: compiled under `cfg(test)` or the `fuzzing`
    /// feature, never into the server. The one way to a security context
    /// from unverified JSON.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn dangerous_assume_verified(payload: Value) -> Result<Self, AuthError> {
        Self::from_payload(payload)
    }

    /// A time claim (`exp`, `nbf`), already checked to be a NumericDate.
    pub(crate) fn time_claim(&self, name: &str) -> Option<f64> {
        self.claims.get(name).and_then(Value::as_f64)
    }

    /// The JWKS key that verified the token (none for static keys and
    /// custom strategies).
    pub(crate) fn jwks_key(&self) -> Option<&Arc<Key>> {
        self.jwks_key.as_ref()
    }

    /// The claims, and what the provider's preset adds to the context.
    pub(crate) fn into_parts(self) -> (Map<String, Value>, Option<CognitoGroups>) {
        (self.claims, self.cognito_groups)
    }
}

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

    /// Verify a JWT routed to this provider: the algorithm pin, the
    /// signature, then the registered claims and the preset's checks.
    pub async fn verify(&self, jwt: Jwt<'_>, time: TimeRules, now: f64) -> Result<VerifiedClaims, AuthError> {
        match self {
            JwtProvider::Secret(p) => {
                let valid = p.verify_signature(jwt.jws())?;
                checked_claims(jwt, valid, &p.claims, time, now)
            }
            JwtProvider::PublicKey(p) => {
                let valid = p.verify_signature(jwt.jws())?;
                checked_claims(jwt, valid, &p.claims, time, now)
            }
            JwtProvider::Jwks(p) => p.verify(jwt, time, now).await,
        }
    }
}

/// The header's `alg` must be one the provider's configuration pins.
fn pin(provider: &str, algorithms: &[Algorithm], alg: Algorithm) -> Result<(), AuthError> {
    if algorithms.contains(&alg) {
        return Ok(());
    }
    Err(AuthError::AlgorithmNotAllowed(format!(
        "alg {alg:?} is not allowed by provider {provider:?} (allowed: {})",
        algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ")
    )))
}

/// After the signature, the claims: a forger learns nothing but
/// `invalid_signature`.
fn checked_claims(
    jwt: Jwt<'_>,
    valid: SignatureValid,
    rules: &ClaimRules,
    time: TimeRules,
    now: f64,
) -> Result<VerifiedClaims, AuthError> {
    let verified = VerifiedClaims::from_payload(jwt.into_payload(valid))?;
    claims::check(&verified.claims, rules, time, now)?;
    Ok(verified)
}

/// A key that does not fit the algorithm counts as a failed check, never as
/// a server error.
fn check(jws: &Jws<'_>, key: &DecodingKey) -> Option<SignatureValid> {
    jsonwebtoken::crypto::verify(jws.signature(), jws.signing_input().as_bytes(), key, jws.alg())
        .unwrap_or(false)
        .then_some(SignatureValid(()))
}

/// The signature layer on its own (for JWS test vectors and tools): the
/// strict front end, a key parsed by the JWKS parser, the algorithm pinned by
/// it as a JWKS provider's key lookup pins it (its `alg`, type and curve;
/// `use`/`key_ops` honoured; `oct` refused), and the signature over the
/// received bytes. No claims, no routing. Returns the payload bytes.
pub fn verify_jws_with_jwk(token: &str, jwk: &Value) -> Result<Vec<u8>, AuthError> {
    let key = crate::auth::jwks::keyset::key_from_jwk(jwk).map_err(AuthError::AlgorithmNotAllowed)?;
    let jws = Jws::parse(token)?;
    if !key.accepts(jws.alg()) {
        return Err(AuthError::AlgorithmNotAllowed(format!("the key cannot verify {:?}", jws.alg())));
    }
    check(&jws, &key.decoding).ok_or(AuthError::InvalidSignature)?;
    Ok(jws.payload().to_vec())
}

/// The same for a shared secret with pinned HMAC algorithms: a `secret`
/// provider built as the server builds one, and its own signature check (the
/// pin, the key length, the signature). Returns the payload bytes.
pub fn verify_jws_with_secret(token: &str, secret: &[u8], algorithms: &[Algorithm]) -> Result<Vec<u8>, AuthError> {
    let jws = Jws::parse(token)?;
    let cfg = SecretProviderConfig {
        secrets: vec![Secret::new(secret.to_vec())],
        algorithms: algorithms.to_vec(),
        claims: ClaimRules::default(),
    };
    // An empty secret (which configuration refuses) or a non-HMAC algorithm.
    let provider = SecretProvider::new("jws", &cfg).map_err(AuthError::AlgorithmNotAllowed)?;
    provider.verify_signature(&jws)?;
    Ok(jws.payload().to_vec())
}
