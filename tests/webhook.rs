//! `type = "webhook"` providers against a real local webhook server (the
//! JWKS fixture server, whose routes answer any path and count hits).

use crate::common;

use std::time::Duration;

use common::jwks_server::{JwksServer, Route};
use common::{SECRET, TestServer, claims, hs256};
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::json;

const CHECK: &str = "/check";

fn config(hook: &JwksServer, extra: &str) -> String {
    format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[[auth.providers]]
name = "keys"
type = "webhook"
url = "{}{CHECK}"
token_prefix = "sk_"
timeout = "300ms"
{extra}
"#,
        hook.url()
    )
}

async fn start(extra: &str) -> (JwksServer, TestServer) {
    let hook = JwksServer::start().await;
    let server = TestServer::start(&config(&hook, extra)).await;
    (hook, server)
}

fn allow() -> Route {
    Route::json(&json!({"tenant_id": "t1", "sub": "key-1", "groups": ["api"]}))
}

#[tokio::test]
async fn a_200_object_is_the_claim_set_and_jwts_still_go_to_their_provider() {
    let (hook, server) = start("").await;
    hook.set(CHECK, allow().with_cache_control("max-age=60"));
    let r = server.whoami("sk_live_1").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["securityContext"]["tenant_id"], "t1");
    assert_eq!(r.body["provider"], "keys");
    let seen = hook.last(CHECK).expect("the webhook was called");
    assert_eq!((seen.method.as_str(), seen.headers["authorization"].to_str().ok()), ("GET", Some("Bearer sk_live_1")));

    // A JWT is not the webhook's: the secret provider takes it.
    let jwt = hs256(SECRET, &claims(json!({"tenant_id": "t2"})));
    let r = server.whoami(&jwt).await;
    assert_eq!((r.status, r.body["provider"].as_str()), (StatusCode::OK, Some("main")));
    // An opaque token without the prefix is no one's.
    let r = server.whoami("pk_other").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "malformed_token"));
    assert_eq!(hook.hits(CHECK), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_401_or_403_is_webhook_denied_without_the_reason_and_remembered_briefly() {
    for status in [401, 403] {
        let (hook, server) = start("negative_cache_ttl = \"1s\"").await;
        hook.set(CHECK, Route::status(status).with_body("key revoked: secret-reason-xyz"));
        let r = server.whoami("sk_revoked").await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "webhook_denied"), "{status}");
        assert!(!r.body.to_string().contains("secret-reason-xyz"), "the webhook's reason is not echoed");
        assert!(r.headers.contains_key("www-authenticate"));
        let r = server.whoami("sk_revoked").await;
        assert_eq!(r.code(), "webhook_denied");
        assert_eq!(hook.hits(CHECK), 1, "{status}: the denial is cached");
        // The negative cache is short: once it expires the webhook is asked again.
        hook.set(CHECK, allow());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(server.whoami("sk_revoked").await.status, StatusCode::OK);
        assert_eq!(hook.hits(CHECK), 2);
        server.stop().await;
    }
}

#[tokio::test]
async fn anything_but_a_verdict_fails_closed_with_503_and_is_not_cached() {
    let (hook, server) = start("max_body_bytes = 1024").await;
    let cases = [
        ("500", Route::status(500)),
        ("redirect", Route::status(302).with_location("http://127.0.0.1:1/allow")),
        ("garbage", Route::status(200).with_body("<html>ok</html>")),
        ("array", Route::json(&json!([{"tenant_id": "t1"}]))),
        ("oversized", Route::json(&json!({"pad": "x".repeat(4096)}))),
        ("timeout", allow().with_delay(Duration::from_secs(2))),
        ("reset", Route::reset()),
        ("204", Route::status(204)),
    ];
    let mut hits = 0;
    for (name, route) in cases {
        hook.set(CHECK, route.with_cache_control("max-age=60"));
        for _ in 0..2 {
            let r = server.whoami("sk_any").await;
            assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "auth_upstream_unavailable"), "{name}");
            assert!(r.headers.contains_key("retry-after"), "{name}");
            assert!(r.body["securityContext"].is_null(), "{name}: never open");
        }
        hits += 2;
        assert_eq!(hook.hits(CHECK), hits, "{name}: failures are never cached");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_cache_follows_max_age_capped_by_max_cache_ttl_and_honours_no_store() {
    let (hook, server) = start("max_cache_ttl = \"1s\"").await;
    hook.set(CHECK, allow().with_cache_control("public, max-age=3600"));
    assert_eq!(server.whoami("sk_a").await.status, StatusCode::OK);
    assert_eq!(server.whoami("sk_a").await.status, StatusCode::OK);
    assert_eq!(hook.hits(CHECK), 1, "a hit");
    // Per credential: another key is its own entry.
    assert_eq!(server.whoami("sk_b").await.status, StatusCode::OK);
    assert_eq!(hook.hits(CHECK), 2);
    // max-age=3600, capped at 1s: expired.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.whoami("sk_a").await.status, StatusCode::OK);
    assert_eq!(hook.hits(CHECK), 3, "expired after max_cache_ttl");

    hook.set(CHECK, allow().with_cache_control("no-store"));
    assert_eq!(server.whoami("sk_c").await.status, StatusCode::OK);
    assert_eq!(server.whoami("sk_c").await.status, StatusCode::OK);
    assert_eq!(hook.hits(CHECK), 5, "no-store is never reused");
    hook.set(CHECK, allow());
    assert_eq!(server.whoami("sk_d").await.status, StatusCode::OK);
    assert_eq!(server.whoami("sk_d").await.status, StatusCode::OK);
    assert_eq!(hook.hits(CHECK), 7, "without max-age, nothing is reused");

    let text = common::get_text(server.addr, "/metrics").await;
    assert!(text.contains("tenantgate_webhook_calls_total{provider=\"keys\",outcome=\"allow\"} 7"), "{text}");
    assert!(text.contains("tenantgate_webhook_calls_total{provider=\"keys\",outcome=\"error\"} 0"), "{text}");
    assert!(text.contains("tenantgate_webhook_cache_hits_total{provider=\"keys\"} 1"), "{text}");
    assert!(!text.contains("sk_"), "no credential in metrics");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_cold_requests_for_one_credential_make_one_call() {
    let (hook, server) = start("").await;
    hook.set(CHECK, allow().with_cache_control("max-age=60").with_delay(Duration::from_millis(150)));
    let server = std::sync::Arc::new(server);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let s = std::sync::Arc::clone(&server);
        tasks.spawn(async move { s.whoami("sk_cold").await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), StatusCode::OK);
    }
    assert_eq!(hook.hits(CHECK), 1, "single flight");

    // Denials are shared the same way.
    hook.set(CHECK, Route::status(401).with_delay(Duration::from_millis(150)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let s = std::sync::Arc::clone(&server);
        tasks.spawn(async move { s.whoami("sk_cold_denied").await.code().to_string() });
    }
    while let Some(code) = tasks.join_next().await {
        assert_eq!(code.expect("task"), "webhook_denied");
    }
    assert_eq!(hook.hits(CHECK), 2);
    if let Ok(server) = std::sync::Arc::try_unwrap(server) {
        server.stop().await;
    }
}

#[tokio::test]
async fn a_header_webhook_takes_requests_without_a_token_and_posts_the_forwarded_headers() {
    let hook = JwksServer::start().await;
    let toml = config(&hook, "method = \"POST\"\nforward_headers = [\"Cookie\"]\n")
        .replace("token_prefix = \"sk_\"", "header = \"X-Api-Key\"");
    let server = TestServer::start(&toml).await;
    hook.set(CHECK, allow());
    let r = server
        .request(
            Method::GET,
            "/tenantgate/v1/whoami",
            &[("x-api-key", "key-123"), ("cookie", "session=abc"), ("x-other", "not sent")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["securityContext"]["sub"], "key-1");
    let seen = hook.last(CHECK).expect("called");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.headers["x-api-key"], "key-123");
    assert_eq!(seen.headers["cookie"], "session=abc");
    assert!(seen.headers.get("x-other").is_none(), "only the listed headers");
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("JSON body");
    assert_eq!(body, json!({"headers": {"cookie": "session=abc", "x-api-key": "key-123"}}));
    // Without the header the request is the other providers' (no token here).
    let r = server.get("/tenantgate/v1/whoami", &[]).await;
    assert_eq!(r.code(), "missing_token");
    server.stop().await;
}

#[test]
fn bad_webhook_settings_name_their_key() {
    let toml = r#"
[server]
port = 0
[[auth.providers]]
name = "hook"
type = "webhook"
url = "http://users.internal/check"
method = "PUT"
token_prefix = "sk_"
header = "X-Api-Key"
forward_headers = ["Bad Header"]
timeout = "0s"
colour = "blue"
[[auth.providers]]
name = "nourl"
type = "webhook"
"#;
    let errors = common::load_config("test", toml, &[]).expect_err("invalid").messages();
    let f = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, rest)| rest.to_string());
    assert_eq!(
        errors.iter().map(|e| f(e)).collect::<Vec<_>>(),
        vec![
            "auth.providers[hook].colour: unknown key",
            "auth.providers[hook].url: plain http:// is allowed only to loopback hosts; use https:// or set dangerous_allow_http = true (got \"http://users.internal/check\")",
            "auth.providers[hook].method: expected \"GET\" or \"POST\"",
            "auth.providers[hook].forward_headers: \"Bad Header\" is not a header name",
            "auth.providers[hook].header: set either token_prefix or header, not both",
            "auth.providers[hook].timeout: must be above zero",
            "auth.providers[nourl].url: required for type = \"webhook\"",
        ]
    );
}
