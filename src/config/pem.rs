//! Recognising a PEM public key (RSA, EC P-256, EC P-384 or Ed25519) and
//! our own PKCS#8 signing key (Ed25519 or EC P-256).

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// DER encodings of the named-curve OIDs inside an EC SubjectPublicKeyInfo.
const OID_P256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: [u8; 7] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];

impl KeyType {
    pub fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (KeyType::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (KeyType::EcP256, ES256)
                | (KeyType::EcP384, ES384)
                | (KeyType::Ed25519, EdDSA)
        )
    }

    /// The algorithm used when the configuration names none.
    pub fn default_algorithm(self) -> Algorithm {
        match self {
            KeyType::Rsa => Algorithm::RS256,
            KeyType::EcP256 => Algorithm::ES256,
            KeyType::EcP384 => Algorithm::ES384,
            KeyType::Ed25519 => Algorithm::EdDSA,
        }
    }
}

/// The key's type and the parsed key, if `pem` is a public key
/// jsonwebtoken can use. Parsed once, at configuration time.
pub fn parse_public_key(pem: &str) -> Option<(KeyType, DecodingKey)> {
    if !pem.contains("PUBLIC KEY-----") {
        return None;
    }
    let bytes = pem.as_bytes();
    if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        return Some((KeyType::Rsa, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        let der = pem_body(pem)?;
        if contains(&der, &OID_P256) {
            return Some((KeyType::EcP256, key));
        }
        if contains(&der, &OID_P384) {
            return Some((KeyType::EcP384, key));
        }
        return None;
    }
    if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
        return Some((KeyType::Ed25519, key));
    }
    None
}

/// The key's type and the parsed key, if `pem` is an unencrypted PKCS#8
/// private key (`-----BEGIN PRIVATE KEY-----`) for Ed25519 or EC P-256.
pub fn parse_private_key(pem: &str) -> Option<(KeyType, EncodingKey)> {
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return None;
    }
    let bytes = pem.as_bytes();
    if let Ok(key) = EncodingKey::from_ed_pem(bytes) {
        return Some((KeyType::Ed25519, key));
    }
    if let Ok(key) = EncodingKey::from_ec_pem(bytes)
        && contains(&pem_body(pem)?, &OID_P256)
    {
        return Some((KeyType::EcP256, key));
    }
    None
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
