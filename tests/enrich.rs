//! `[[auth.enrich]]`: claims fetched after verification from a real local
//! server (the JWKS fixture server, which counts hits per path).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::jwks_server::{JwksServer, Route};
use common::{SECRET, TestServer, claims, hs256, now};
use http::StatusCode;
use serde_json::json;

fn config(hook: &JwksServer, extra: &str) -> String {
    format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[[auth.enrich]]
key = "sub"
url = "{}/entitlements/{{sub}}"
ttl = "1s"
{extra}
"#,
        hook.url()
    )
}

async fn start(extra: &str) -> (JwksServer, TestServer) {
    let hook = JwksServer::start().await;
    hook.set("/entitlements/u1", Route::json(&json!({"tenant_id": "looked-up", "groups": ["analysts"]})));
    let server = TestServer::start(&config(&hook, extra)).await;
    (hook, server)
}

fn token(extra: serde_json::Value) -> String {
    hs256(SECRET, &claims(extra))
}

#[tokio::test]
async fn fetched_claims_are_merged_at_the_root_without_overriding_verified_ones() {
    let (hook, server) = start("").await;
    let r = server.whoami(&token(json!({"sub": "u1", "tenant_id": "signed"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["securityContext"]["tenant_id"], "signed", "a verified claim wins");
    assert_eq!(r.body["securityContext"]["groups"], json!(["analysts"]));
    assert_eq!(hook.hits("/entitlements/u1"), 1);
    server.stop().await;

    let (_hook, server) = start("override = true").await;
    let r = server.whoami(&token(json!({"sub": "u1", "tenant_id": "signed"}))).await;
    assert_eq!(r.body["securityContext"]["tenant_id"], "looked-up", "override = true");
    server.stop().await;

    let (_hook, server) = start("into = \"entitlements\"").await;
    let r = server.whoami(&token(json!({"sub": "u1", "tenant_id": "signed"}))).await;
    assert_eq!(r.body["securityContext"]["tenant_id"], "signed");
    assert_eq!(r.body["securityContext"]["entitlements"]["groups"], json!(["analysts"]));
    server.stop().await;
}

#[tokio::test]
async fn whoami_shows_the_current_lookup_for_a_token_the_verification_cache_holds() {
    // The context's JSON is kept with the verified token; an enriched
    // context is a different one, written afresh for each request.
    let (hook, server) = start("").await;
    let t = token(json!({"sub": "u1"}));
    assert_eq!(server.whoami(&t).await.body["securityContext"]["groups"], json!(["analysts"]));
    hook.set("/entitlements/u1", Route::json(&json!({"groups": ["admins"]})));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = server.whoami(&t).await;
    assert_eq!(r.body["securityContext"]["groups"], json!(["admins"]), "{:?}", r.body);
    assert_eq!(hook.hits("/entitlements/u1"), 2);
    server.stop().await;
}

#[tokio::test]
async fn the_key_value_is_percent_encoded_into_one_path_segment() {
    let (hook, server) = start("").await;
    hook.set("/entitlements/auth0%7Cx%2F..%2Fadmin%3Fq", Route::json(&json!({"tenant_id": "t9"})));
    let r = server.whoami(&token(json!({"sub": "auth0|x/../admin?q"}))).await;
    assert_eq!((r.status, r.body["securityContext"]["tenant_id"].as_str()), (StatusCode::OK, Some("t9")));
    server.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_never_enriched_and_a_token_without_the_key_is_left_as_is() {
    let (hook, server) = start("").await;
    let expired = hs256(SECRET, &json!({"sub": "u1", "exp": now() - 3600}));
    assert_eq!(server.whoami(&expired).await.code(), "token_expired");
    let forged = hs256("another-secret-another-secret-another", &claims(json!({"sub": "u1"})));
    assert_eq!(server.whoami(&forged).await.code(), "invalid_signature");
    assert_eq!(hook.hits("/entitlements/u1"), 0);
    let r = server.whoami(&token(json!({"tenant_id": "t"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["securityContext"]["groups"].is_null(), "no sub: nothing looked up");
    assert_eq!(hook.hits("/entitlements/u1"), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_failed_lookup_is_503_unless_on_error_is_continue_and_is_never_cached() {
    let (hook, server) = start("timeout = \"300ms\"").await;
    let t = token(json!({"sub": "u1", "tenant_id": "signed"}));
    for (name, route) in [
        ("500", Route::status(500)),
        ("404", Route::status(404)),
        ("redirect", Route::status(302).with_location("http://127.0.0.1:1/")),
        ("garbage", Route::status(200).with_body("nope")),
        ("timeout", Route::json(&json!({})).with_delay(Duration::from_secs(2))),
    ] {
        hook.set("/entitlements/u1", route);
        let r = server.whoami(&t).await;
        assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "enrichment_unavailable"), "{name}");
    }
    assert_eq!(hook.hits("/entitlements/u1"), 5, "failures are not cached");
    server.stop().await;

    let (hook, server) = start("on_error = \"continue\"").await;
    hook.set("/entitlements/u1", Route::status(500));
    let r = server.whoami(&t).await;
    assert_eq!((r.status, r.body["securityContext"]["tenant_id"].as_str()), (StatusCode::OK, Some("signed")));
    assert!(r.body["securityContext"]["groups"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn lookups_are_cached_per_key_for_ttl_and_concurrent_cold_ones_make_one_call() {
    let (hook, server) = start("").await;
    hook.set("/entitlements/u1", Route::json(&json!({"groups": ["analysts"]})).with_delay(Duration::from_millis(150)));
    let server = Arc::new(server);
    let t = token(json!({"sub": "u1"}));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (s, t) = (Arc::clone(&server), t.clone());
        tasks.spawn(async move { s.whoami(&t).await.body["securityContext"]["groups"].clone() });
    }
    while let Some(groups) = tasks.join_next().await {
        assert_eq!(groups.expect("task"), json!(["analysts"]));
    }
    assert_eq!(hook.hits("/entitlements/u1"), 1, "single flight");
    server.whoami(&t).await;
    assert_eq!(hook.hits("/entitlements/u1"), 1, "a cache hit");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.whoami(&t).await;
    assert_eq!(hook.hits("/entitlements/u1"), 2, "expired after ttl");
    let text = common::get_text(server.addr, "/metrics").await;
    assert!(text.contains("tenantgate_enrichment_calls_total{enrich=\"auth.enrich[0]\",outcome=\"ok\"} 2"), "{text}");
    assert!(text.contains("tenantgate_enrichment_cache_hits_total{enrich=\"auth.enrich[0]\"} 1"), "{text}");
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
}

#[test]
fn bad_enrich_settings_name_their_key() {
    let toml = r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["0123456789abcdef0123456789abcdef"]
[[auth.enrich]]
key = "sub"
url = "https://users.internal/entitlements"
providers = ["nope"]
on_error = "ignore"
[[auth.enrich]]
sql = "SELECT 1"
"#;
    let errors = common::load_config("test", toml, &[]).expect_err("invalid").messages();
    let f = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, rest)| rest.to_string());
    assert_eq!(
        errors.iter().map(|e| f(e)).collect::<Vec<_>>(),
        vec![
            "auth.enrich[0].url: must hold {sub} exactly once",
            "auth.enrich[0].providers: no provider is named \"nope\"",
            "auth.enrich[0].on_error: expected \"fail\" or \"continue\"",
            "auth.enrich[1].key: required: the verified claim to look up by, such as \"sub\"",
            "auth.enrich[1].sql: must use the key's value as its one parameter, $1 (bound, never formatted into the text), and no other",
        ]
    );
}
