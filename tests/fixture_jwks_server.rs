//! Self-tests for the JWKS server fixture and the fixture keys as JWKs.

use crate::common::jwks_server;

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{HeaderMap, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, DecodingKey};
use jwks_server::{JwksServer, Route, TestKey, jwk_set};
use serde_json::{Value, json};
use tokio::net::TcpStream;

const JWKS: &str = "/.well-known/jwks.json";

/// One GET on a fresh HTTP/1.1 connection.
async fn get(server: &JwksServer, path: &str) -> Result<(StatusCode, HeaderMap, Bytes), hyper::Error> {
    let authority = server.url().trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&authority).await.expect("connect to the JWKS server");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path).header("host", authority).body(Empty::<Bytes>::new()).expect("request");
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

#[tokio::test]
async fn routes_are_served_and_every_request_is_counted() {
    let server = JwksServer::start().await;
    server.set(JWKS, Route::json(&json!({"keys": []})).with_cache_control("max-age=60"));
    server.set("/moved", Route::status(302).with_location("http://example.test/jwks"));
    server.set("/garbage", Route::status(500).with_body("not json"));

    for _ in 0..2 {
        let (status, headers, body) = get(&server, JWKS).await.expect("answer");
        assert_eq!(status, 200);
        assert_eq!(headers["cache-control"], "max-age=60");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&body).expect("JSON"), json!({"keys": []}));
    }
    let (status, headers, _) = get(&server, "/moved").await.expect("answer");
    assert_eq!((status, &headers["location"]), (StatusCode::FOUND, &"http://example.test/jwks".parse().expect("hv")));
    let (status, _, body) = get(&server, "/garbage?x=1").await.expect("answer");
    assert_eq!((status, &body[..]), (StatusCode::INTERNAL_SERVER_ERROR, &b"not json"[..]));
    let (status, _, body) = get(&server, "/nothing-here").await.expect("answer");
    assert_eq!((status, body.len()), (StatusCode::NOT_FOUND, 0));

    assert_eq!([JWKS, "/moved", "/garbage", "/nothing-here", "/never"].map(|p| server.hits(p)), [2, 1, 1, 1, 0]);
    server.reset_hits();
    assert_eq!(server.hits(JWKS), 0);
    // A route set later replaces the earlier one.
    server.set(JWKS, Route::status(503));
    assert_eq!(get(&server, JWKS).await.expect("answer").0, 503);
    assert_eq!(server.hits(JWKS), 1);
}

#[tokio::test]
async fn a_delayed_route_answers_no_sooner_than_its_delay() {
    let server = JwksServer::start().await;
    server.set(JWKS, Route::json(&json!({"keys": []})).with_delay(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let (status, _, _) = get(&server, JWKS).await.expect("answer");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.hits(JWKS), 1);
}

#[tokio::test]
async fn a_reset_route_closes_the_connection_without_an_answer() {
    let server = JwksServer::start().await;
    server.set(JWKS, Route::reset());
    assert!(get(&server, JWKS).await.is_err());
    assert_eq!(server.hits(JWKS), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_are_all_answered() {
    let server = std::sync::Arc::new(JwksServer::start().await);
    server.set(JWKS, Route::json(&json!({"keys": []})).with_delay(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { get(&server, JWKS).await.expect("answer").0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("client task"), 200);
    }
    assert_eq!(server.hits(JWKS), 1000);
    // Serialized, 1000 answers delayed 200 ms each would take minutes.
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = JwksServer::start().await;
    let addr = server.url().trim_start_matches("http://").to_string();
    drop(server);
    for _ in 0..100 {
        if TcpStream::connect(&addr).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("still accepting connections after drop");
}

/// The JWS signing input and signature of a compact token.
fn split(token: &str) -> (&str, &str) {
    token.rsplit_once('.').expect("a compact JWS")
}

fn header(token: &str) -> Value {
    use base64::Engine as _;
    let b64 = token.split('.').next().expect("header part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

fn verifies(token: &str, jwk: &Value, alg: Algorithm) -> bool {
    let jwk = serde_json::from_value(jwk.clone()).expect("a JWK jsonwebtoken reads");
    let key = DecodingKey::from_jwk(&jwk).expect("a decoding key");
    let (input, signature) = split(token);
    jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, alg).expect("verify runs")
}

#[test]
fn each_fixture_key_signs_tokens_its_jwk_verifies() {
    let cases = [
        ("rsa_private.pem", Algorithm::RS256, "RSA"),
        ("rsa_private.pem", Algorithm::RS384, "RSA"),
        ("rsa_private.pem", Algorithm::RS512, "RSA"),
        ("rsa_private.pem", Algorithm::PS256, "RSA"),
        ("rsa2_private.pem", Algorithm::PS512, "RSA"),
        ("ec256_private.pem", Algorithm::ES256, "EC"),
        ("ec384_private.pem", Algorithm::ES384, "EC"),
        ("ed25519_private.pem", Algorithm::EdDSA, "OKP"),
    ];
    let claims = json!({"sub": "alice", "tenant": "acme"});
    for (file, alg, kty) in cases {
        let key = TestKey::load(file, alg, "k1");
        let jwk = key.jwk();
        let name = serde_json::to_value(alg).expect("alg name");
        assert_eq!(
            (&jwk["kty"], &jwk["kid"], &jwk["alg"], &jwk["use"]),
            (&json!(kty), &json!("k1"), &name, &json!("sig"))
        );

        let token = key.sign(&claims);
        assert_eq!(header(&token), json!({"typ": "JWT", "alg": name, "kid": "k1"}), "{file} {alg:?}");
        assert!(verifies(&token, &jwk, alg), "{file} {alg:?}");
        // jsonwebtoken's own decoder accepts it too, so the token is a standard JWT.
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).expect("jwk")).expect("key"),
            &validation,
        )
        .expect("decodes");
        assert_eq!(decoded.claims, claims);

        let no_kid = key.sign_without_kid(&claims);
        assert_eq!(header(&no_kid), json!({"typ": "JWT", "alg": name}));
        assert!(verifies(&no_kid, &jwk, alg));
    }
}

#[test]
fn extra_header_members_are_merged_and_signed() {
    let key = TestKey::load("ec256_private.pem", Algorithm::ES256, "p256");
    let token =
        key.sign_with_header(&json!({"jku": "http://evil.test/jwks", "crit": ["exp"], "typ": null}), &json!({}));
    assert_eq!(header(&token), json!({"alg": "ES256", "kid": "p256", "jku": "http://evil.test/jwks", "crit": ["exp"]}));
    assert!(verifies(&token, &key.jwk(), Algorithm::ES256));
}

#[test]
fn the_two_rsa_fixture_keys_are_different_keys() {
    let one = TestKey::load("rsa_private.pem", Algorithm::RS256, "one");
    let two = TestKey::load("rsa2_private.pem", Algorithm::RS256, "two");
    assert_ne!(one.jwk()["n"], two.jwk()["n"]);
    assert!(!verifies(&one.sign(&json!({})), &two.jwk(), Algorithm::RS256));
    assert_eq!(jwk_set(&[one.jwk(), two.jwk()])["keys"].as_array().map(Vec::len), Some(2));
}

#[test]
fn the_short_rsa_key_signs_validly_though_jsonwebtoken_refuses_it() {
    use aws_lc_rs::signature::{self, RsaPublicKeyComponents};
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.as_str().expect("string")).expect("base64url")
    };
    for (alg, legacy) in [
        (Algorithm::RS256, &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
        (Algorithm::RS512, &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
    ] {
        let key = TestKey::load("rsa1024_private.pem", alg, "short");
        let jwk = key.jwk();
        let public = RsaPublicKeyComponents { n: b64(&jwk["n"]), e: b64(&jwk["e"]) };
        assert_eq!(public.n.len() * 8, 1024);
        assert_eq!(
            (&jwk["kty"], &jwk["alg"], &jwk["kid"], &jwk["use"]),
            (&json!("RSA"), &json!(alg), &json!("short"), &json!("sig"))
        );

        let token = key.sign(&json!({"sub": "alice"}));
        let (input, sig) = split(token.as_str());
        let sig = b64(&json!(sig));
        public.verify(legacy, input.as_bytes(), &sig).expect("a valid signature under the 1024-bit key");
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert!(public.verify(legacy, input.as_bytes(), &tampered).is_err());

        // Why TestKey signs this one by hand: aws-lc-rs will not load it.
        let pem =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/rsa1024_private.pem")).expect("pem");
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("PEM parses");
        assert!(jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg).is_err());
        assert!(jsonwebtoken::crypto::sign(b"x", &encoding, alg).is_err());

        let jwk = serde_json::from_value(jwk).expect("jwk");
        let refused = DecodingKey::from_jwk(&jwk)
            .and_then(|k| jsonwebtoken::crypto::verify(split(&token).1, input.as_bytes(), &k, alg));
        assert!(!matches!(refused, Ok(true)), "jsonwebtoken accepted a 1024-bit key: {refused:?}");
    }
}

#[tokio::test]
async fn a_jwks_document_round_trips_through_the_server() {
    let key = TestKey::load("ed25519_private.pem", Algorithm::EdDSA, "ed");
    let server = JwksServer::start().await;
    server.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let (_, _, body) = get(&server, JWKS).await.expect("answer");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body).expect("a JWK set");
    let jwk = set.find("ed").expect("kid ed");
    let token = key.sign(&json!({"sub": "bob"}));
    let (input, sig) = split(&token);
    let decoding = DecodingKey::from_jwk(jwk).expect("key");
    assert!(jsonwebtoken::crypto::verify(sig, input.as_bytes(), &decoding, Algorithm::EdDSA).expect("verify"));
}
