//! JWKS providers through the real server, against a real local JWKS server
//! owned by each test (hit counters, Cache-Control, status, delay, body).
//! Timing runs on real time with millisecond-scale settings; the policy's
//! own timing is unit-tested with synthetic instants in `auth::jwks::policy`.

use crate::common;

use std::time::Duration;

use common::jwks_server::{JwksServer, Route, TestKey, jwk_set};
use common::*;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const JWKS: &str = "/.well-known/jwks.json";
const ISS: &str = "https://idp.example";

/// A `jwks` provider pointed at the local server, with fast timings
/// (`extra` may override the cooldown).
fn jwks_config(url: &str, extra: &str) -> String {
    let cooldown = if extra.contains("refetch_cooldown") { "" } else { "refetch_cooldown = \"300ms\"" };
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
{cooldown}
{extra}
"#
    )
}

fn token_claims(extra: Value) -> Value {
    let mut c = claims(json!({"iss": ISS}));
    if let (Some(m), Value::Object(e)) = (c.as_object_mut(), extra) {
        m.extend(e);
    }
    c
}

/// Wait until `cond` holds, polling; fails the test after `limit`.
async fn eventually(limit: Duration, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ready(server: &TestServer) {
    eventually(Duration::from_secs(5), "readyz", async || server.get("/readyz", &[]).await.status == StatusCode::OK)
        .await;
}

#[tokio::test]
async fn every_supported_algorithm_verifies_with_a_cached_key() {
    let idp = JwksServer::start().await;
    let keys = [
        TestKey::load("rsa_private.pem", Algorithm::RS256, "rs256"),
        TestKey::load("rsa_private.pem", Algorithm::RS384, "rs384"),
        TestKey::load("rsa_private.pem", Algorithm::RS512, "rs512"),
        TestKey::load("rsa2_private.pem", Algorithm::PS256, "ps256"),
        TestKey::load("ec256_private.pem", Algorithm::ES256, "es256"),
        TestKey::load("ec384_private.pem", Algorithm::ES384, "es384"),
        TestKey::load("ed25519_private.pem", Algorithm::EdDSA, "eddsa"),
    ];
    idp.set(JWKS, Route::json(&jwk_set(&keys.iter().map(TestKey::jwk).collect::<Vec<_>>())));
    let cfg =
        jwks_config(&idp.url(), r#"algorithms = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]"#);
    let server = TestServer::start(&cfg).await;
    ready(&server).await;
    for key in &keys {
        let reply = server.whoami(&key.sign(&token_claims(json!({"tenant_id": "acme"})))).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}: {:?}", key.alg, reply.body);
        assert_eq!(reply.body["provider"], "idp");
    }
    assert_eq!(idp.hits(JWKS), 1, "one prefetch, then every key from the cache");
    // An algorithm the provider does not pin is refused even with a good key.
    let server2 = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server2).await;
    assert_eq!(server2.whoami(&keys[4].sign(&token_claims(json!({})))).await.code(), "algorithm_not_allowed");
    server.stop().await;
    server2.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch_and_a_removed_key_is_refused() {
    let idp = JwksServer::start().await;
    let old = TestKey::load("rsa_private.pem", Algorithm::RS256, "old");
    let new = TestKey::load("rsa2_private.pem", Algorithm::RS256, "new");
    idp.set(JWKS, Route::json(&jwk_set(&[old.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server).await;
    assert_eq!(server.whoami(&old.sign(&token_claims(json!({})))).await.status, StatusCode::OK);

    // The identity provider rotates: the new kid is fetched on first sight
    // (once the cooldown that the prefetch started has passed).
    idp.set(JWKS, Route::json(&jwk_set(&[new.jwk()])));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = server.whoami(&new.sign(&token_claims(json!({})))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(idp.hits(JWKS), 2);
    // The refreshed set no longer has the old key.
    let reply = server.whoami(&old.sign(&token_claims(json!({})))).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unknown_kid"));
    assert_eq!(idp.hits(JWKS), 2, "within the cooldown: no fetch");
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_concurrent_requests_on_a_cold_cache_cause_exactly_one_fetch() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])).with_delay(Duration::from_millis(300)));
    // A long cooldown: late arrivals with unknown kids must not refetch.
    let cfg = jwks_config(&idp.url(), "prefetch = false\nrequired = false\nrefetch_cooldown = \"30s\"");
    let server = TestServer::start(&cfg).await;
    let good = key.sign(&token_claims(json!({})));
    let addr = server.addr;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        // A mix of the real kid and kids nobody has.
        let token = if i % 2 == 0 {
            good.clone()
        } else {
            key.sign_with_header(&json!({"kid": format!("unknown-{i}")}), &token_claims(json!({})))
        };
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            send(addr, http::Method::GET, "/tenantgate/v1/whoami", &[("authorization", &auth)], Default::default())
                .await
        }));
    }
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let reply = t.await.expect("task");
        if i % 2 == 0 {
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            ok += 1;
        } else {
            assert_eq!(reply.code(), "unknown_kid");
        }
    }
    assert_eq!(ok, 500);
    assert_eq!(idp.hits(JWKS), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_unknown_kids_within_the_cooldown_cause_at_most_one_fetch() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), "refetch_cooldown = \"30s\"")).await;
    ready(&server).await;
    idp.reset_hits();
    let addr = server.addr;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let token = key.sign_with_header(&json!({"kid": format!("random-{i}")}), &token_claims(json!({})));
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            send(addr, http::Method::GET, "/tenantgate/v1/whoami", &[("authorization", &auth)], Default::default())
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").code(), "unknown_kid");
    }
    assert!(idp.hits(JWKS) <= 1, "{} fetches", idp.hits(JWKS));
    server.stop().await;
}

#[tokio::test]
async fn known_kids_keep_working_through_every_kind_of_endpoint_failure() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    let good_set = Route::json(&jwk_set(&[key.jwk()]));
    let failures: Vec<(&str, Route)> = vec![
        ("500", Route::status(500)),
        ("garbage", Route::status(200).with_body("<html>not json</html>")),
        ("empty set", Route::json(&json!({"keys": []}))),
        ("only an oct key", Route::json(&json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}))),
        ("hang past the timeout", good_set.clone().with_delay(Duration::from_secs(3))),
        ("connection reset", Route::reset()),
        ("10 MB body", Route::status(200).with_body(vec![b' '; 10 << 20])),
        ("redirect", Route::status(302).with_location("https://attacker.example/jwks.json")),
    ];
    let cfg = jwks_config(
        &idp.url(),
        "ttl_min = \"100ms\"\nttl_default = \"200ms\"\nrefresh_at = 0.5\nrefetch_cooldown = \"100ms\"",
    );
    let server = TestServer::start(&cfg).await;
    idp.set(JWKS, good_set.clone());
    ready(&server).await;
    let token = key.sign(&token_claims(json!({})));
    let stranger = key.sign_with_header(&json!({"kid": "stranger"}), &token_claims(json!({})));
    for (what, route) in failures {
        idp.set(JWKS, route);
        let before = idp.hits(JWKS);
        // Let at least one background refresh run into the failure.
        eventually(Duration::from_secs(10), what, async || idp.hits(JWKS) >= before + 2).await;
        let reply = server.whoami(&token).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {:?}", reply.body);
        let reply = server.whoami(&stranger).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "jwks_unavailable"), "{what}");
        assert!(reply.headers.contains_key("retry-after"), "{what}");
        assert_eq!(server.get("/readyz", &[]).await.status, StatusCode::OK, "{what}: an outage never makes us unready");
        idp.set(JWKS, good_set.clone());
    }
    server.stop().await;
}

#[tokio::test]
async fn past_max_stale_every_kid_is_answered_503() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let cfg = jwks_config(
        &idp.url(),
        "ttl_min = \"100ms\"\nttl_default = \"200ms\"\nrefetch_cooldown = \"100ms\"\nmax_stale = \"600ms\"",
    );
    let server = TestServer::start(&cfg).await;
    ready(&server).await;
    let token = key.sign(&token_claims(json!({})));
    idp.set(JWKS, Route::status(503));
    assert_eq!(server.whoami(&token).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reply = server.whoami(&token).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "jwks_unavailable"));
    // The endpoint comes back: served again without a restart.
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    eventually(Duration::from_secs(5), "recovery", async || server.whoami(&token).await.status == StatusCode::OK).await;
    server.stop().await;
}

#[tokio::test]
async fn readiness_waits_for_the_first_key_set_then_never_drops() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    idp.set(JWKS, Route::status(500));
    let server = TestServer::start(&jwks_config(&idp.url(), "refetch_cooldown = \"100ms\"")).await;
    let reply = server.get("/readyz", &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, json!({"status": "not_ready", "waiting_for": ["idp"]}));
    assert_eq!(server.get("/livez", &[]).await.status, StatusCode::OK, "liveness never depends on upstreams");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    ready(&server).await;
    idp.set(JWKS, Route::status(500));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.get("/readyz", &[]).await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_interval() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])).with_cache_control("public, max-age=1"));
    // ttl_min 1s lets max-age=1 through; refresh at half of it.
    let server = TestServer::start(&jwks_config(&idp.url(), "ttl_min = \"1s\"\nrefresh_at = 0.5")).await;
    ready(&server).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let hits = idp.hits(JWKS);
    assert!((2..=4).contains(&hits), "expected about two refreshes in 1.3 s with a 1 s max-age, got {hits}");
    server.stop().await;
}

#[tokio::test]
async fn cognito_checks_token_use_and_the_client_id_and_maps_groups() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "cog");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let pool_issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC";
    let provider = |token_use: &str| {
        format!(
            r#"
[server]
port = 0
[[auth.providers]]
name = "cognito"
type = "cognito"
region = "eu-west-1"
user_pool_id = "eu-west-1_AbC"
client_ids = ["client-1"]
token_use = "{token_use}"
jwks_url = "{}{JWKS}"
[auth.providers.claims]
tenant_id = "/custom:tenant_id"
"#,
            idp.url()
        )
    };
    let id_token = key.sign(&claims(json!({
        "iss": pool_issuer, "token_use": "id", "aud": "client-1",
        "custom:tenant_id": "acme", "cognito:groups": ["analyst"], "email": "a@acme.io"
    })));
    let access_token = key.sign(&claims(json!({
        "iss": pool_issuer, "token_use": "access", "client_id": "client-1", "custom:tenant_id": "acme"
    })));
    let wrong_client = key.sign(&claims(json!({"iss": pool_issuer, "token_use": "id", "aud": "client-2"})));
    let access_wrong_client =
        key.sign(&claims(json!({"iss": pool_issuer, "token_use": "access", "client_id": "client-2"})));

    let server = TestServer::start(&provider("id")).await;
    ready(&server).await;
    let reply = server.whoami(&id_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["securityContext"], json!({"tenant_id": "acme", "groups": ["analyst"]}));
    assert_eq!(server.whoami(&access_token).await.code(), "token_use_mismatch");
    assert_eq!(server.whoami(&wrong_client).await.code(), "client_id_mismatch");
    server.stop().await;

    let server = TestServer::start(&provider("access")).await;
    ready(&server).await;
    assert_eq!(server.whoami(&access_token).await.status, StatusCode::OK);
    assert_eq!(server.whoami(&id_token).await.code(), "token_use_mismatch");
    assert_eq!(server.whoami(&access_wrong_client).await.code(), "client_id_mismatch");
    server.stop().await;
}

#[tokio::test]
async fn auth0_tokens_with_namespaced_claims_are_mapped_into_the_context() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "a0");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let cfg = format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "auth0"
type = "auth0"
domain = "acme.eu.auth0.com"
audience = ["https://api.acme.io"]
jwks_url = "{}{JWKS}"
[auth.providers.claims]
tenant_id = "/https:~1~1acme.io~1tenant_id"
roles = {{ path = "/https:~1~1acme.io~1roles", json = true }}
plan = {{ path = "/https:~1~1acme.io~1plan", default = "free" }}
"#,
        idp.url()
    );
    let server = TestServer::start(&cfg).await;
    ready(&server).await;
    let token = key.sign(&claims(json!({
        "iss": "https://acme.eu.auth0.com/", "aud": ["https://api.acme.io", "https://acme.eu.auth0.com/userinfo"],
        "https://acme.io/tenant_id": "t-7", "https://acme.io/roles": "[\"admin\"]"
    })));
    let reply = server.whoami(&token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["securityContext"], json!({"tenant_id": "t-7", "roles": ["admin"], "plan": "free"}));
    let wrong_aud = key.sign(&claims(json!({"iss": "https://acme.eu.auth0.com/", "aud": "https://other"})));
    assert_eq!(server.whoami(&wrong_aud).await.code(), "audience_mismatch");
    server.stop().await;
}

#[tokio::test]
async fn oidc_discovers_the_key_url_from_the_issuer() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("ec256_private.pem", Algorithm::ES256, "oidc");
    let issuer = idp.url();
    idp.set(
        "/.well-known/openid-configuration",
        Route::json(&json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")})),
    );
    idp.set("/keys", Route::json(&jwk_set(&[key.jwk()])));
    let cfg = format!(
        "[server]\nport = 0\n[[auth.providers]]\nname = \"oidc\"\ntype = \"oidc\"\nissuer = \"{issuer}\"\nalgorithms = [\"ES256\"]\n"
    );
    let server = TestServer::start(&cfg).await;
    ready(&server).await;
    let reply = server.whoami(&key.sign(&claims(json!({"iss": issuer, "sub": "u1"})))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!((idp.hits("/.well-known/openid-configuration"), idp.hits("/keys")), (1, 1));
    server.stop().await;
}

#[tokio::test]
async fn hmac_tokens_signed_with_the_public_key_never_reach_a_jwks_provider() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "rsa");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk(), json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"})])));
    let server = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server).await;
    let public_pem = std::fs::read_to_string(fixture("keys/rsa_public.pem")).expect("fixture");
    let payload = token_claims(json!({})).to_string();
    for header in [r#"{"alg":"HS256","kid":"rsa"}"#, r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","kid":"hmac"}"#] {
        let forged = hmac_token("HS256", header, &payload, public_pem.as_bytes());
        assert_eq!(server.whoami(&forged).await.code(), "algorithm_not_allowed", "{header}");
    }
    let forged_with_oct = hmac_token("HS256", r#"{"alg":"HS256","kid":"hmac"}"#, &payload, b"secret");
    assert_eq!(server.whoami(&forged_with_oct).await.code(), "algorithm_not_allowed");
    // The RSA key beside the oct key still works.
    assert_eq!(server.whoami(&key.sign(&token_claims(json!({})))).await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_token_claiming_issuer_a_signed_with_issuer_b_key_is_refused() {
    let idp_a = JwksServer::start().await;
    let idp_b = JwksServer::start().await;
    let key_a = TestKey::load("rsa_private.pem", Algorithm::RS256, "a");
    let key_b = TestKey::load("rsa2_private.pem", Algorithm::RS256, "b");
    idp_a.set(JWKS, Route::json(&jwk_set(&[key_a.jwk()])));
    idp_b.set(JWKS, Route::json(&jwk_set(&[key_b.jwk()])));
    let cfg = format!(
        "[server]\nport = 0\n\
         [[auth.providers]]\nname = \"a\"\ntype = \"jwks\"\nissuer = \"https://a\"\njwks_url = \"{}{JWKS}\"\n\
         [[auth.providers]]\nname = \"b\"\ntype = \"jwks\"\nissuer = \"https://b\"\njwks_url = \"{}{JWKS}\"\n",
        idp_a.url(),
        idp_b.url()
    );
    let server = TestServer::start(&cfg).await;
    ready(&server).await;
    let b_as_a = key_b.sign(&claims(json!({"iss": "https://a"})));
    let reply = server.whoami(&b_as_a).await;
    assert_eq!((reply.code(), reply.body["detail"].as_str().map(|d| d.contains("\"b\""))), ("unknown_kid", Some(true)));
    assert_eq!(server.whoami(&key_b.sign(&claims(json!({"iss": "https://b"})))).await.status, StatusCode::OK);
    // A's kid with A's key but B's issuer: B has no such key.
    assert_eq!(server.whoami(&key_a.sign(&claims(json!({"iss": "https://b"})))).await.code(), "unknown_kid");
    server.stop().await;
}

#[tokio::test]
async fn a_jwk_whose_alg_differs_from_the_token_is_refused() {
    let idp = JwksServer::start().await;
    let rs256 = TestKey::load("rsa_private.pem", Algorithm::RS256, "k");
    let rs512 = TestKey::load("rsa_private.pem", Algorithm::RS512, "k");
    idp.set(JWKS, Route::json(&jwk_set(&[rs256.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), r#"algorithms = ["RS256", "RS512"]"#)).await;
    ready(&server).await;
    assert_eq!(server.whoami(&rs512.sign(&token_claims(json!({})))).await.code(), "algorithm_not_allowed");
    assert_eq!(server.whoami(&rs256.sign(&token_claims(json!({})))).await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_token_without_kid_is_accepted_only_when_exactly_one_key_fits() {
    let idp = JwksServer::start().await;
    let k1 = TestKey::load("rsa_private.pem", Algorithm::RS256, "k1");
    let k2 = TestKey::load("rsa2_private.pem", Algorithm::RS256, "k2");
    let ec = TestKey::load("ec256_private.pem", Algorithm::ES256, "ec");
    idp.set(JWKS, Route::json(&jwk_set(&[k1.jwk(), ec.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server).await;
    assert_eq!(server.whoami(&k1.sign_without_kid(&token_claims(json!({})))).await.status, StatusCode::OK);
    server.stop().await;

    idp.set(JWKS, Route::json(&jwk_set(&[k1.jwk(), k2.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server).await;
    let reply = server.whoami(&k1.sign_without_kid(&token_claims(json!({})))).await;
    assert_eq!(
        (reply.code(), reply.body["detail"].as_str()),
        ("unknown_kid", Some("the token has no kid and 2 keys of the provider's set fit it"))
    );
    server.stop().await;
}

#[tokio::test]
async fn key_urls_in_the_token_header_are_ignored() {
    let idp = JwksServer::start().await;
    let attacker = JwksServer::start().await;
    let real = TestKey::load("rsa_private.pem", Algorithm::RS256, "real");
    let evil = TestKey::load("rsa2_private.pem", Algorithm::RS256, "evil");
    idp.set(JWKS, Route::json(&jwk_set(&[real.jwk()])));
    attacker.set(JWKS, Route::json(&jwk_set(&[evil.jwk()])));
    let server = TestServer::start(&jwks_config(&idp.url(), "")).await;
    ready(&server).await;
    let jku = format!("{}{JWKS}", attacker.url());
    for header in [
        json!({"jku": jku}),
        json!({"x5u": jku}),
        json!({"jwk": evil.jwk()}),
        json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ] {
        let token = evil.sign_with_header(&header, &token_claims(json!({})));
        assert_eq!(server.whoami(&token).await.code(), "unknown_kid", "{header}");
        // With the real kid: the real key is used, and the forgery fails.
        let mut h = header.clone();
        h["kid"] = json!("real");
        let token = evil.sign_with_header(&h, &token_claims(json!({})));
        assert_eq!(server.whoami(&token).await.code(), "invalid_signature", "{header}");
    }
    assert_eq!(attacker.hits(JWKS), 0);
    server.stop().await;
}

#[tokio::test]
async fn cubejs_jwk_url_builds_a_jwks_provider_and_the_api_secret_is_not_used() {
    let idp = JwksServer::start().await;
    let key = TestKey::load("rsa_private.pem", Algorithm::RS256, "k");
    idp.set(JWKS, Route::json(&jwk_set(&[key.jwk()])));
    let url = format!("{}{JWKS}", idp.url());
    let vars = [
        ("CUBEJS_JWK_URL", url.as_str()),
        ("CUBEJS_JWT_ISSUER", ISS),
        ("CUBEJS_JWT_AUDIENCE", "cube"),
        ("CUBEJS_API_SECRET", SECRET),
    ];
    let server = TestServer::start_with("[server]\nport = 0\n", &vars, Default::default()).await;
    ready(&server).await;
    let reply = server.whoami(&key.sign(&token_claims(json!({"aud": "cube"})))).await;
    assert_eq!((reply.status, reply.body["provider"].as_str()), (StatusCode::OK, Some("cubejs")));
    assert_eq!(
        server.whoami(&hs256(SECRET, &token_claims(json!({"aud": "cube"})))).await.code(),
        "algorithm_not_allowed"
    );
    server.stop().await;
}
