//! Parsing a JWKS document into usable verification keys.
//!
//! Each key is parsed on its own: a key we cannot or must not use (an `oct`
//! HMAC key, an unsupported curve or type, `use` other than `sig`, `key_ops`
//! without `verify`, RSA under 2048 bits) is skipped with a reason and the
//! rest stay usable. Two keys with the same `kid` make that kid unusable.
//! A document that is not a JSON object with a `keys` array, has more than
//! `max_keys` keys, or yields no usable key is refused as a whole, so it
//! never replaces a good set.
//!
//! Pure: bytes in, [`KeySet`] out; no I/O, no clock.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Smallest RSA modulus we accept (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;

/// What a key can verify: the same key types a static PEM key may have.
pub use crate::config::pem::KeyType as KeyKind;

/// One usable verification key.
pub struct Key {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's `alg`, when it names one; the token's must then be equal.
    pub alg: Option<Algorithm>,
    pub decoding: DecodingKey,
}

impl Key {
    /// Whether this key may verify a token with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// A key left out of a set, and why (for the warning log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kid: Option<String>,
    pub reason: String,
}

/// The usable keys of one document.
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    without_kid: Vec<Arc<Key>>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<Key>> {
        self.by_kid.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// For a token without `kid`: every key that fits `alg`.
    pub fn candidates(&self, alg: Algorithm) -> Vec<&Arc<Key>> {
        self.by_kid.values().chain(self.without_kid.iter()).filter(|k| k.accepts(alg)).collect()
    }
}

/// Why a whole document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set is not valid JSON")]
    NotJson,
    #[error("the key set is not an object with a \"keys\" array")]
    NoKeysArray,
    #[error("the key set has {count} keys; the limit is {max}")]
    TooManyKeys { count: usize, max: usize },
    #[error("the key set has no usable key")]
    NoUsableKey,
}

/// Parse a JWKS document.
pub fn parse(bytes: &[u8], max_keys: usize) -> Result<(KeySet, Vec<Skipped>), KeySetError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|_| KeySetError::NotJson)?;
    let Some(Value::Array(keys)) = doc.get("keys") else {
        return Err(KeySetError::NoKeysArray);
    };
    if keys.len() > max_keys {
        return Err(KeySetError::TooManyKeys { count: keys.len(), max: max_keys });
    }
    let mut skipped = Vec::new();
    let mut parsed: Vec<Key> = Vec::new();
    for raw in keys {
        let kid = raw.get("kid").and_then(Value::as_str).map(str::to_owned);
        match key_from_jwk(raw) {
            Ok(key) => parsed.push(key),
            Err(reason) => skipped.push(Skipped { kid, reason }),
        }
    }
    let mut set = KeySet::default();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for raw in keys {
        if let Some(kid) = raw.get("kid").and_then(Value::as_str) {
            *counts.entry(kid.to_owned()).or_default() += 1;
        }
    }
    for key in parsed {
        match &key.kid {
            Some(kid) if counts.get(kid).copied().unwrap_or(0) > 1 => {
                if !skipped.iter().any(|s| s.kid.as_deref() == Some(kid) && s.reason.starts_with("duplicate")) {
                    skipped.push(Skipped { kid: Some(kid.clone()), reason: "duplicate kid in one key set".into() });
                }
            }
            Some(kid) => {
                set.by_kid.insert(kid.clone(), Arc::new(key));
            }
            None => set.without_kid.push(Arc::new(key)),
        }
    }
    if set.is_empty() {
        return Err(KeySetError::NoUsableKey);
    }
    Ok((set, skipped))
}

/// One JWK to a usable verification key, with the same checks as a key
/// set's member; the error says why the key is unusable.
pub fn key_from_jwk(raw: &Value) -> Result<Key, String> {
    let kty = raw.get("kty").and_then(Value::as_str).unwrap_or("");
    if kty == "oct" {
        return Err("symmetric (oct) keys are never used from a key set".into());
    }
    if let Some(u) = raw.get("use")
        && u.as_str() != Some("sig")
    {
        return Err(format!("use is {u}, not \"sig\""));
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| format!("not a usable JWK: {e}"))?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("use is not \"sig\"".into());
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("key_ops does not include \"verify\"".into());
    }
    let alg = match raw.get("alg") {
        None => None,
        Some(Value::String(a)) => {
            Some(a.parse::<Algorithm>().map_err(|_| format!("alg {a:?} is not a signature algorithm we support"))?)
        }
        Some(_) => return Err("alg is not a string".into()),
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).map_err(|_| "RSA modulus is not base64url")?;
            let bits = n.iter().position(|b| *b != 0).map_or(0, |i| (n.len() - i) * 8);
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA key of about {bits} bits; at least {MIN_RSA_BITS} are required"));
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::EcP256,
            EllipticCurve::P384 => KeyKind::EcP384,
            ref c => return Err(format!("curve {c:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => KeyKind::Ed25519,
            ref c => return Err(format!("curve {c:?} is not supported")),
        },
        AlgorithmParameters::OctetKey(_) => return Err("symmetric (oct) keys are never used from a key set".into()),
        _ => return Err(format!("key type {kty:?} is not supported")),
    };
    if let Some(a) = alg
        && !kind.fits(a)
    {
        return Err(format!("alg {a:?} does not fit a {kind:?} key"));
    }
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key material: {e}"))?;
    Ok(Key { kid: jwk.common.key_id, kind, alg, decoding })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    /// The public JWK of a fixture private key, with kid and alg.
    pub(crate) fn fixture_jwk(file: &str, alg: Algorithm, kid: &str) -> Value {
        crate::install_crypto_provider();
        let pem = std::fs::read(format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
        let key = match alg.family() {
            jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
            jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .expect("fixture key");
        let mut v = serde_json::to_value(Jwk::from_encoding_key(&key, alg).expect("jwk")).expect("json");
        v["kid"] = json!(kid);
        v
    }

    fn doc(keys: Vec<Value>) -> Vec<u8> {
        json!({ "keys": keys }).to_string().into_bytes()
    }

    #[test]
    fn each_supported_key_type_parses_and_fits_its_algorithms() {
        let keys = vec![
            fixture_jwk("rsa_private.pem", Algorithm::RS256, "rsa"),
            fixture_jwk("ec256_private.pem", Algorithm::ES256, "p256"),
            fixture_jwk("ec384_private.pem", Algorithm::ES384, "p384"),
            fixture_jwk("ed25519_private.pem", Algorithm::EdDSA, "ed"),
        ];
        let (set, skipped) = parse(&doc(keys), 100).expect("valid set");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(set.len(), 4);
        assert!(set.get("rsa").is_some_and(|k| k.accepts(Algorithm::RS256) && !k.accepts(Algorithm::PS256)));
        assert!(set.get("p256").is_some_and(|k| k.accepts(Algorithm::ES256) && !k.accepts(Algorithm::ES384)));
        assert!(set.get("ed").is_some_and(|k| k.accepts(Algorithm::EdDSA)));
    }

    #[test]
    fn unusable_keys_are_skipped_one_by_one_and_the_rest_stay() {
        let mut enc = fixture_jwk("rsa_private.pem", Algorithm::RS256, "enc");
        enc["use"] = json!("enc");
        let mut ops = fixture_jwk("rsa_private.pem", Algorithm::RS256, "ops");
        ops["key_ops"] = json!(["encrypt"]);
        let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let ed448 = json!({"kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": "AAAA"});
        let pq = json!({"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "pub": "AAAA"});
        // aws-lc will not even load a 1024-bit private key, so the short
        // public key is a 2048-bit JWK with its modulus cut to 1024 bits.
        let mut short = fixture_jwk("rsa_private.pem", Algorithm::RS256, "short");
        short["n"] = json!(URL_SAFE_NO_PAD.encode([0xC5u8; 128]));
        let mut wrong_alg = fixture_jwk("ec256_private.pem", Algorithm::ES256, "wrong");
        wrong_alg["alg"] = json!("RS256");
        let good = fixture_jwk("ec256_private.pem", Algorithm::ES256, "good");
        let (set, skipped) =
            parse(&doc(vec![enc, ops, oct, ed448, pq, short, wrong_alg, good]), 100).expect("one usable");
        assert_eq!(set.len(), 1);
        assert!(set.contains("good"));
        let kids: Vec<_> = skipped.iter().map(|s| s.kid.as_deref().unwrap_or("")).collect();
        assert_eq!(kids, ["enc", "ops", "hmac", "ed448", "pq", "short", "wrong"]);
    }

    #[test]
    fn a_duplicated_kid_is_unusable_but_other_keys_stay() {
        let a = fixture_jwk("rsa_private.pem", Algorithm::RS256, "dup");
        let b = fixture_jwk("rsa2_private.pem", Algorithm::RS256, "dup");
        let c = fixture_jwk("rsa2_private.pem", Algorithm::RS256, "other");
        let (set, skipped) = parse(&doc(vec![a, b, c]), 100).expect("valid");
        assert!(!set.contains("dup") && set.contains("other"));
        assert_eq!(skipped, vec![Skipped { kid: Some("dup".into()), reason: "duplicate kid in one key set".into() }]);
    }

    #[test]
    fn documents_that_are_not_usable_key_sets_are_refused_whole() {
        assert_eq!(parse(b"<html>", 100).err(), Some(KeySetError::NotJson));
        assert_eq!(parse(b"[]", 100).err(), Some(KeySetError::NoKeysArray));
        assert_eq!(parse(br#"{"keys":{}}"#, 100).err(), Some(KeySetError::NoKeysArray));
        assert_eq!(parse(br#"{"keys":[]}"#, 100).err(), Some(KeySetError::NoUsableKey));
        let many: Vec<Value> = (0..3).map(|i| json!({"kty": "oct", "kid": i.to_string()})).collect();
        assert_eq!(parse(&doc(many), 2).err(), Some(KeySetError::TooManyKeys { count: 3, max: 2 }));
    }
}
