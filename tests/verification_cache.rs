//! The verification cache: a verified token's context served again only
//! while the token would still verify. Through the real server (and its
//! `/metrics`) against a real local JWKS server; where a clock has to move,
//! through the real pipeline built from configuration with a chosen `now`.

use crate::common;

use std::time::Duration;

use common::jwks_server::{JwksServer, Route, TestKey, jwk_set};
use common::*;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::json;
use tenantgate::auth::{Pipeline, Strategies};

const JWKS: &str = "/.well-known/jwks.json";
const ISS: &str = "https://idp.example";

/// One counter of the verification cache from `/metrics`.
async fn counter(addr: std::net::SocketAddr, name: &str) -> u64 {
    let text = get_text(addr, "/metrics").await;
    let line = format!("tenantgate_cache_{name}{{cache=\"verification\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in /metrics:\n{text}"))
}

fn pipeline(toml: &str) -> Pipeline {
    tenantgate::install_crypto_provider();
    let cfg = load_config("test", toml, &[]).unwrap_or_else(|e| panic!("config invalid:\n{e}"));
    Pipeline::new(&cfg.auth, Strategies::new()).expect("pipeline")
}

#[tokio::test]
async fn a_token_that_expires_while_cached_is_refused() {
    const T: f64 = 1_800_000_000.0;
    let token = hs256(SECRET, &json!({"iat": T as i64, "exp": T as i64 + 100, "tenant_id": "acme"}));
    let p = pipeline(&secret_config("leeway = \"0s\""));
    assert!(p.authenticate_token(&token, T).await.is_ok());
    assert!(p.authenticate_token(&token, T + 99.0).await.is_ok(), "served from the cache");
    let counts = p.verification_cache_counts().expect("on by default");
    assert_eq!((counts.hits, counts.misses), (1, 1));
    let refused = p.authenticate_token(&token, T + 100.0).await.expect_err("expired");
    assert_eq!(refused.error.code(), "token_expired");
    assert_eq!(p.verification_cache_counts().expect("on").hits, 1, "an expired entry is never a hit");

    // With a leeway the cache still stops at exp; verification applies the
    // leeway as it would without a cache, and no further.
    let p = pipeline(&secret_config("leeway = \"30s\""));
    assert!(p.authenticate_token(&token, T).await.is_ok());
    assert!(p.authenticate_token(&token, T + 120.0).await.is_ok(), "within the leeway, verified afresh");
    assert_eq!(p.verification_cache_counts().expect("on").hits, 0);
    let refused = p.authenticate_token(&token, T + 130.0).await.expect_err("past the leeway");
    assert_eq!(refused.error.code(), "token_expired");
}

#[tokio::test]
async fn the_cache_can_be_turned_off_and_a_zero_ttl_is_refused() {
    let token = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let off = pipeline(&secret_config("verification_cache_max_bytes = 0"));
    assert!(off.authenticate_token(&token, now() as f64).await.is_ok());
    assert!(off.verification_cache_counts().is_none());
    let errors = load_config("test", &secret_config("verification_cache_ttl = \"0s\""), &[]).expect_err("refused");
    assert!(errors.to_string().contains("auth.verification_cache_ttl"), "{errors}");
}

#[tokio::test]
async fn two_tokens_never_share_an_entry() {
    let server = TestServer::start(&secret_config("")).await;
    let acme = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let globex = hs256(SECRET, &claims(json!({"tenant_id": "globex"})));
    for _ in 0..3 {
        assert_eq!(server.whoami(&acme).await.body["securityContext"]["tenant_id"], "acme");
        assert_eq!(server.whoami(&globex).await.body["securityContext"]["tenant_id"], "globex");
    }
    assert_eq!(counter(server.addr, "hits_total").await, 4);
    assert_eq!(counter(server.addr, "misses_total").await, 2);
    // A cached token with one byte of its signature changed is another
    // token: verified, and refused.
    let mut forged = acme.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert_eq!(server.whoami(&forged).await.code(), "invalid_signature");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_not_cached() {
    let server = TestServer::start(&secret_config("")).await;
    let bad = hs256("another-secret-another-secret-0123456789", &claims(json!({"tenant_id": "acme"})));
    let expired = hs256(SECRET, &json!({"iat": now() - 7200, "exp": now() - 3600, "tenant_id": "acme"}));
    for _ in 0..3 {
        assert_eq!(server.whoami(&bad).await.code(), "invalid_signature");
        assert_eq!(server.whoami(&expired).await.code(), "token_expired");
    }
    assert_eq!(counter(server.addr, "hits_total").await, 0);
    assert_eq!(counter(server.addr, "misses_total").await, 6);
    server.stop().await;
}

fn jwks_config(url: &str) -> String {
    format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "idp"
type = "jwks"
jwks_url = "{url}{JWKS}"
issuer = "{ISS}"
fetch_timeout = "500ms"
refetch_cooldown = "200ms"
"#
    )
}

async fn ready(server: &TestServer) {
    let ok = eventually(Duration::from_secs(5), || async { server.get("/readyz", &[]).await.status == StatusCode::OK })
        .await;
    assert!(ok, "readyz");
}

#[tokio::test]
async fn a_cached_token_whose_kid_left_the_key_set_is_refused() {
    let idp = JwksServer::start().await;
    let old = TestKey::load("rsa_private.pem", Algorithm::RS256, "old");
    let new = TestKey::load("rsa2_private.pem", Algorithm::RS256, "new");
    idp.set(JWKS, Route::json(&jwk_set(&[old.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url())).await;
    ready(&server).await;
    let old_token = old.sign(&claims(json!({"iss": ISS, "tenant_id": "acme"})));
    assert_eq!(server.whoami(&old_token).await.status, StatusCode::OK);
    assert_eq!(server.whoami(&old_token).await.status, StatusCode::OK);
    assert_eq!(counter(server.addr, "hits_total").await, 1, "the second request is served from the cache");

    // The set rotates; a token with the new kid makes the server refetch.
    idp.set(JWKS, Route::json(&jwk_set(&[new.jwk()])));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let new_token = new.sign(&claims(json!({"iss": ISS})));
    assert_eq!(server.whoami(&new_token).await.status, StatusCode::OK);
    assert_eq!(idp.hits(JWKS), 2);

    let reply = server.whoami(&old_token).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unknown_kid"), "{:?}", reply.body);
    assert_eq!(counter(server.addr, "hits_total").await, 1, "the old token's entry was not served");
    server.stop().await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_kid_names_another_key() {
    let idp = JwksServer::start().await;
    let first = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    // The same kid, other key material; and a second kid to force a refetch.
    let replaced = TestKey::load("rsa2_private.pem", Algorithm::RS256, "k1");
    let other = TestKey::load("rsa2_private.pem", Algorithm::RS256, "k2");
    idp.set(JWKS, Route::json(&jwk_set(&[first.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url())).await;
    ready(&server).await;
    let token = first.sign(&claims(json!({"iss": ISS})));
    assert_eq!(server.whoami(&token).await.status, StatusCode::OK);

    idp.set(JWKS, Route::json(&jwk_set(&[replaced.jwk(), other.jwk()])));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(server.whoami(&other.sign(&claims(json!({"iss": ISS})))).await.status, StatusCode::OK);
    assert_eq!(idp.hits(JWKS), 2);

    assert_eq!(server.whoami(&token).await.code(), "invalid_signature");
    assert_eq!(counter(server.addr, "hits_total").await, 0);
    server.stop().await;
}
