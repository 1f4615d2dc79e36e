//! `type = "public_key"`.

use super::{HMAC_ALGS, algorithms, claim_rules};
use crate::config::PublicKeyProviderConfig;
use crate::config::layers::{Source, Table, get};
use crate::config::pem::{KeyType, detect_public_key};
use crate::config::schema::{Cx, join};

pub(super) fn public_key_provider(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    table_source: &Source,
) -> Option<PublicKeyProviderConfig> {
    cx.known_keys(
        t,
        path,
        &["name", "type", "claims", "pem", "pem_file", "algorithms", "issuer", "audience", "subject"],
    );
    let pem_inline = cx.string(t, path, "pem");
    let pem_file = cx.string(t, path, "pem_file");
    let (pem, pem_source, pem_key) = match (pem_inline, pem_file) {
        (Some(pem), None) => (pem, get(t, "pem").map(|n| n.source.clone()), "pem"),
        (None, Some(file)) => {
            let src = get(t, "pem_file").map(|n| n.source.clone());
            match std::fs::read_to_string(&file) {
                Ok(pem) => (pem, src, "pem_file"),
                Err(e) => {
                    cx.invalid(
                        src.as_ref().unwrap_or(table_source),
                        &join(path, "pem_file"),
                        format!("cannot read {file}: {e}"),
                    );
                    return None;
                }
            }
        }
        (Some(_), Some(_)) => {
            let src = get(t, "pem_file").map_or_else(|| table_source.clone(), |n| n.source.clone());
            cx.invalid(&src, &join(path, "pem_file"), "set either pem or pem_file, not both");
            return None;
        }
        (None, None) => {
            cx.invalid(table_source, &join(path, "pem"), "a public_key provider needs pem or pem_file");
            return None;
        }
    };
    let pem_source = pem_source.unwrap_or_else(|| table_source.clone());
    let Some(key_type) = detect_public_key(&pem) else {
        cx.invalid(&pem_source, &join(path, pem_key), "not a PEM public key (RSA, EC P-256/P-384 or Ed25519)");
        let _ = claim_rules(cx, t, path);
        return None;
    };
    let algorithms = if get(t, "algorithms").is_some() {
        algorithms(cx, t, path, |name, alg| {
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
    let claims = claim_rules(cx, t, path);
    Some(PublicKeyProviderConfig { pem, algorithms: algorithms?, claims })
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
