//! Public JOSE test vectors through the project's own signature layer, the
//! code the server runs: the strict front end, then a `secret` provider's own
//! check (built as the server builds one) or a key from the JWKS parser with
//! its algorithm pin. Wycheproof's JSON Web Signature and JSON Web Key tests,
//! and the RFC 7520 cookbook.
//! Data: fixtures/vectors, copied byte for byte from the workplace's shared
//! vectors (see its README for provenance and licences).

use std::collections::BTreeMap;
use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use serde_json::Value;
use tenantgate::auth::{verify_jws_with_jwk, verify_jws_with_secret};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors")
}

fn load(path: &str) -> Value {
    let file = vectors().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).expect("vector JSON")
}

fn b64url_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).expect("key base64url")
}

/// Verify one compact JWS with a group's key, the way the server would.
fn verify(jws: &str, key: &Value) -> Result<Vec<u8>, String> {
    if key["kty"] == "oct" {
        // HMAC keys come from configuration (a secret provider), never from a
        // key set; the algorithm is pinned by the key's own `alg`.
        let alg: Algorithm =
            key["alg"].as_str().unwrap_or("HS256").parse().map_err(|_| "unsupported alg".to_string())?;
        let k = b64url_decode(key["k"].as_str().unwrap_or(""));
        verify_jws_with_secret(jws, &k, &[alg]).map_err(|e| format!("{}: {e}", e.code()))
    } else {
        verify_jws_with_jwk(jws, key).map_err(|e| format!("{}: {e}", e.code()))
    }
}

/// Vectors this project treats differently on purpose, by tcId, with why.
fn deliberate_differences() -> BTreeMap<u64, &'static str> {
    BTreeMap::from([
        (346, "labelled valid, but the header says PS384 while the JWK pins PS256; we pin alg from the key"),
        (350, "same as 346 (RFC 7520 figure 20 with key_ops)"),
        (
            347,
            "labelled valid, but the JWK's alg \"ES521\" is not a registered JWA name, and ES512 is not supported by our crypto backend",
        ),
        (351, "same as 347 (with key_ops)"),
        (367, "labelled invalid, but the token is byte-identical to tcId 357, which is valid"),
        (370, "labelled invalid, but the token is byte-identical to tcId 357, which is valid"),
        (372, "labelled valid, but a '?' is inserted in the header and the MAC does not match the received bytes"),
        (373, "labelled valid, but a '?' is inserted in the payload and the MAC does not match the received bytes"),
    ])
}

#[test]
fn wycheproof_json_web_signature_vectors_match_except_the_listed_ones() {
    let doc = load("wycheproof/json_web_signature_test.json");
    let listed = deliberate_differences();
    let (mut checked, mut mismatches, mut es512_unsupported) = (0, Vec::new(), Vec::new());
    for group in doc["testGroups"].as_array().expect("groups") {
        let key = if group["public"].is_object() { &group["public"] } else { &group["private"] };
        for t in group["tests"].as_array().expect("tests") {
            let id = t["tcId"].as_u64().expect("tcId");
            let jws = t["jws"].as_str().expect("jws");
            let want_valid = t["result"] == "valid";
            let got = verify(jws, key);
            checked += 1;
            if listed.contains_key(&id) {
                continue;
            }
            if want_valid && key["alg"] == "ES512" {
                es512_unsupported.push(id);
                continue;
            }
            if got.is_ok() != want_valid {
                mismatches.push(format!("tcId {id} ({}): expected {}, got {got:?}", t["comment"], t["result"]));
            }
            // JSON serialization is refused with a clear error, not a crash.
            if t["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "JsonSerialization")) {
                let err = got.expect_err("JSON serialization must be refused");
                assert!(err.starts_with("malformed_token"), "tcId {id}: {err}");
            }
        }
    }
    println!(
        "wycheproof JWS: {checked} vectors, {} listed as deliberate differences, {} ES512 unsupported",
        listed.len(),
        es512_unsupported.len()
    );
    assert_eq!(checked, 401);
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn wycheproof_json_web_key_vectors_refuse_unsafe_key_sets() {
    let doc = load("wycheproof/json_web_key_test.json");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for group in doc["testGroups"].as_array().expect("groups") {
        let set = if group["public"].is_object() { &group["public"] } else { &group["private"] };
        let keys = set["keys"].as_array().cloned().unwrap_or_default();
        let all_hmac = keys.iter().all(|k| k["kty"] == "oct");
        // A set with any public key is a JWKS, held as the server holds one
        // (oct keys never used, duplicate kids unusable, unsafe keys skipped).
        // A set of only secrets is a secret provider's list: every secret
        // pins its alg, must be long enough for it, and kids must be unique.
        let parsed = tenantgate::auth::jwks::keyset::parse(set.to_string().as_bytes(), 100);
        let kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
        let unique_kids = kids.iter().all(|k| kids.iter().filter(|x| *x == k).count() == 1);
        for t in group["tests"].as_array().expect("tests") {
            checked += 1;
            let id = t["tcId"].as_u64().expect("tcId");
            let jws = t["jws"].as_str().expect("jws");
            let want_valid = t["result"] == "valid";
            let kid = tenantgate::auth::Jws::parse(jws).ok().and_then(|j| j.kid().map(str::to_owned));
            let for_kid = |k: &&Value| kid.is_none() || k["kid"].as_str() == kid.as_deref();
            let accepted = if all_hmac {
                unique_kids && keys.iter().filter(for_kid).any(|k| verify(jws, k).is_ok())
            } else {
                match &parsed {
                    Err(_) => false,
                    Ok((usable, _)) => keys
                        .iter()
                        .filter(for_kid)
                        .filter(|k| k["kid"].as_str().is_none_or(|kid| usable.contains(kid)))
                        .any(|k| verify_jws_with_jwk(jws, k).is_ok()),
                }
            };
            if id == 7 {
                // Listed: ROCA-vulnerable RSA moduli are not detected (the
                // keys come from the identity provider, which generates them).
                continue;
            }
            if accepted != want_valid {
                mismatches.push(format!("tcId {id} ({}): expected {}, accepted {accepted}", t["comment"], t["result"]));
            }
        }
    }
    println!("wycheproof JWK: {checked} vectors");
    assert_eq!(checked, 26);
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn rfc7520_compact_examples_verify_and_fail_when_one_character_changes() {
    let cases = [
        ("jws/4_1.rsa_v15_signature.json", "jwk/3_3.rsa_public_key.json", "RS256"),
        ("jws/4_2.rsa-pss_signature.json", "jwk/3_3.rsa_public_key.json", "PS384"),
        ("jws/4_4.hmac-sha2_integrity_protection.json", "jwk/3_5.symmetric_key_mac_computation.json", "HS256"),
    ];
    for (example, key_file, alg) in cases {
        let (ex, mut key) = (load(&format!("rfc7520/{example}")), load(&format!("rfc7520/{key_file}")));
        // The cookbook keys carry no alg: the verifier pins it from its own
        // configuration, as the server does.
        key["alg"] = Value::String(alg.into());
        let compact = ex["output"]["compact"].as_str().expect("compact form");
        let payload = verify(compact, &key).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(payload, ex["input"]["payload"].as_str().expect("payload").as_bytes(), "{example}");
        // One changed character anywhere in the signed part or signature.
        for pos in [3, compact.len() / 2, compact.len() - 3] {
            let mut bytes = compact.as_bytes().to_vec();
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).expect("ascii");
            assert!(verify(&tampered, &key).is_err(), "{example}: tampered at {pos} verified");
        }
    }
    // 4.3 is ES512 (P-521), which the crypto backend does not offer: refused,
    // not mis-verified.
    let (ex, key) = (load("rfc7520/jws/4_3.ecdsa_signature.json"), load("rfc7520/jwk/3_1.ec_public_key.json"));
    let compact = ex["output"]["compact"].as_str().expect("compact");
    assert!(verify(compact, &key).is_err());
}

#[test]
fn rfc7515_a1_verifies_at_the_signature_layer_and_the_server_refuses_it_as_expired() {
    // RFC 7515 appendix A.1: HS256 with the key below; exp 1300819380 (2011).
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let k = b64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
    verify_jws_with_secret(token, &k, &[Algorithm::HS256]).expect("A.1 verifies");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    tenantgate::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("test.toml"),
        format!("[[auth.providers]]\nname = \"a1\"\ntype = \"secret\"\nsecrets = [{{ base64 = \"{}\" }}]\n", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&k)
        }),
    )
    .expect("config");
    let cfg = tenantgate::config::load(&tenantgate::config::LoadOptions {
        config_dir: dir.path().to_path_buf(),
        env: "test".into(),
        dotenv: None,
        vars: Default::default(),
    })
    .expect("config");
    let pipeline = tenantgate::auth::Pipeline::new(&cfg.auth, Default::default()).expect("pipeline");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let err = rt.block_on(pipeline.authenticate_token(token, now)).expect_err("expired");
    assert_eq!(err.error.code(), "token_expired");
}
