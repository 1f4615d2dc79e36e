//! `type = "public_key"`.

use super::{HMAC_ALGS, algorithms, claim_rules};
use crate::config::PublicKeyProviderConfig;
use crate::config::layers::Source;
use crate::config::pem::{KeyType, parse_public_key};
use crate::config::schema::{Cx, Section};

pub(super) fn public_key_provider(
    cx: &mut Cx,
    s: &Section<'_>,
    table_source: &Source,
) -> Option<PublicKeyProviderConfig> {
    let parsed = pem(cx, s, table_source).and_then(|(pem, pem_source, pem_key)| match parse_public_key(&pem) {
        Some(parsed) => Some(parsed),
        None => {
            cx.invalid(&pem_source, &s.key(pem_key), "not a PEM public key (RSA, EC P-256/P-384 or Ed25519)");
            None
        }
    });
    let Some((key_type, key)) = parsed else {
        // Without a key, the algorithms cannot be judged; the claim checks can.
        s.skip("algorithms");
        let _ = claim_rules(cx, s);
        return None;
    };
    let algorithms = if s.get("algorithms").is_some() {
        algorithms(cx, s, |name, alg| {
            if HMAC_ALGS.contains(&alg) {
                Err(format!("{name:?} is an HMAC algorithm; a public_key provider accepts only asymmetric algorithms"))
            } else if !key_type.fits(alg) {
                Err(format!("{name:?} does not fit this {} key", key_type.describe()))
            } else {
                Ok(())
            }
        })
    } else {
        Some(vec![key_type.default_algorithm()])
    };
    let claims = claim_rules(cx, s);
    Some(PublicKeyProviderConfig { key_type, key, algorithms: algorithms?, claims })
}

/// The PEM text from `pem` or `pem_file` (exactly one), with who set it and
/// under which key.
fn pem(cx: &mut Cx, s: &Section<'_>, table_source: &Source) -> Option<(String, Source, &'static str)> {
    let pem_inline = cx.string(s, "pem");
    let pem_file = cx.string(s, "pem_file");
    match (pem_inline, pem_file) {
        (Some(pem), None) => Some((pem, s.source_or("pem", table_source), "pem")),
        (None, Some(file)) => {
            let src = s.source_or("pem_file", table_source);
            match std::fs::read_to_string(&file) {
                Ok(pem) => Some((pem, src, "pem_file")),
                Err(e) => {
                    cx.invalid(&src, &s.key("pem_file"), format!("cannot read {file}: {e}"));
                    None
                }
            }
        }
        (Some(_), Some(_)) => {
            let src = s.source_or("pem_file", table_source);
            cx.invalid(&src, &s.key("pem_file"), "set either pem or pem_file, not both");
            None
        }
        (None, None) => {
            cx.invalid(table_source, &s.key("pem"), "a public_key provider needs pem or pem_file");
            None
        }
    }
}

impl KeyType {
    fn describe(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcP256 => "EC P-256",
            KeyType::EcP384 => "EC P-384",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}
