//! The auth pipeline through the real server over a socket.

use crate::common;

use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::json;

#[tokio::test]
async fn a_valid_token_is_accepted_raw_with_bearer_lowercase_bearer_and_in_x_cube_authorization() {
    let server = TestServer::start(&secret_config("")).await;
    let token = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let path = "/tenantgate/v1/whoami";
    for (header, value) in [
        ("authorization", token.clone()),
        ("authorization", format!("Bearer {token}")),
        ("authorization", format!("bearer {token}")),
        ("x-cube-authorization", token.clone()),
    ] {
        let reply = server.get(path, &[(header, &value)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{header}: {value:.20}... -> {:?}", reply.body);
        assert_eq!(reply.body["securityContext"]["tenant_id"], "acme");
        assert_eq!(reply.body["provider"], "main");
    }
    // X-Cube-Authorization wins over Authorization.
    let reply = server.get(path, &[("authorization", "Bearer garbage"), ("x-cube-authorization", &token)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_missing_token_is_401_with_cube_js_message_and_a_bearer_challenge() {
    let server = TestServer::start(&secret_config("")).await;
    let reply = server.get("/tenantgate/v1/whoami", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body, json!({"error": "Authorization header isn't set", "code": "missing_token"}));
    assert_eq!(reply.headers["www-authenticate"], "Bearer realm=\"tenantgate\"");
    server.stop().await;
}

#[tokio::test]
async fn each_bad_token_is_refused_with_the_code_naming_the_failed_check() {
    let server = TestServer::start(&secret_config("")).await;
    let good = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let (head, rest) = good.split_once('.').expect("dot");
    let (_, sig) = rest.split_once('.').expect("dot");
    let tampered = format!("{head}.{}.{sig}", b64(claims(json!({"tenant_id": "globex"})).to_string().as_bytes()));
    let rs256 = sign_with_pem(jsonwebtoken::Algorithm::RS256, "keys/rsa_private.pem", &claims(json!({})), None);
    let exp_str = hs256(SECRET, &json!({"exp": (now() + 600).to_string()}));

    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "not-a-jwt".into(), "malformed_token"),
        ("two segments", "a.b".into(), "malformed_token"),
        ("wrong secret", hs256("another-secret-another-secret-0123", &claims(json!({}))), "invalid_signature"),
        ("tampered payload", tampered, "invalid_signature"),
        ("expired", hs256(SECRET, &json!({"exp": now() - 3600})), "token_expired"),
        ("nbf in the future", hs256(SECRET, &claims(json!({"nbf": now() + 3600}))), "token_not_yet_valid"),
        ("no exp", hs256(SECRET, &json!({"tenant_id": "acme"})), "missing_exp"),
        ("exp as a string", exp_str, "invalid_claim"),
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims(json!({})).to_string().as_bytes())),
            "algorithm_not_allowed",
        ),
        (
            "alg none with a signature",
            hmac_token("HS256", r#"{"alg":"none"}"#, &claims(json!({})).to_string(), SECRET.as_bytes()),
            "algorithm_not_allowed",
        ),
        ("RS256 against a secret provider", rs256, "algorithm_not_allowed"),
        (
            "duplicate claim",
            hmac_token(
                "HS256",
                r#"{"alg":"HS256"}"#,
                &format!(r#"{{"exp":{},"tenant_id":"a","tenant_id":"b"}}"#, now() + 60),
                SECRET.as_bytes(),
            ),
            "malformed_token",
        ),
        (
            "unknown crit",
            hmac_token(
                "HS256",
                r#"{"alg":"HS256","crit":["x"],"x":1}"#,
                &claims(json!({})).to_string(),
                SECRET.as_bytes(),
            ),
            "malformed_token",
        ),
    ];
    for (what, token, code) in cases {
        let reply = server.whoami(&token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {:?}", reply.body);
        assert_eq!(reply.code(), code, "{what}: {:?}", reply.body);
        assert_eq!(reply.body["error"], "Invalid token", "{what}");
        let challenge = reply.headers["www-authenticate"].to_str().expect("ascii");
        assert!(challenge.starts_with("Bearer realm=\"tenantgate\", error=\"invalid_token\""), "{what}: {challenge}");
    }
    server.stop().await;
}

#[tokio::test]
async fn payloads_that_are_not_json_objects_are_refused_after_the_signature_verifies() {
    let cfg = secret_config("require_exp = false");
    let server = TestServer::start(&cfg).await;
    for payload in ["\"acme\"", "42", "[1,2]", "null", "true"] {
        let token = hmac_token("HS256", r#"{"alg":"HS256"}"#, payload, SECRET.as_bytes());
        let reply = server.whoami(&token).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "claims_not_object"), "{payload}");
        // Forged with another key: the signature is checked first.
        let forged = hmac_token("HS256", r#"{"alg":"HS256"}"#, payload, b"not-the-secret");
        assert_eq!(server.whoami(&forged).await.code(), "invalid_signature", "{payload}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_pem_is_refused() {
    let public_pem = std::fs::read_to_string(fixture("keys/rsa_public.pem")).expect("fixture");
    let token = hmac_token("HS256", r#"{"alg":"HS256"}"#, &claims(json!({})).to_string(), public_pem.as_bytes());
    // Only a public-key provider: no provider takes HMAC tokens at all.
    let cfg = format!(
        "[server]\nport = 0\n[[auth.providers]]\nname = \"pk\"\ntype = \"public_key\"\npem_file = \"{}\"\n",
        fixture("keys/rsa_public.pem")
    );
    let server = TestServer::start(&cfg).await;
    let reply = server.whoami(&token).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "algorithm_not_allowed"));
    // The same key's real RS256 token works.
    let rs256 = sign_with_pem(jsonwebtoken::Algorithm::RS256, "keys/rsa_private.pem", &claims(json!({"id": 1})), None);
    let reply = server.whoami(&rs256).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["provider"], "pk");
    server.stop().await;

    // With a secret provider beside it, the HMAC token goes there and fails
    // its signature: the PEM is never used as an HMAC key.
    let both =
        format!("{cfg}{}", secret_config("").split("[auth]").nth(1).map(|s| format!("[auth]{s}")).unwrap_or_default());
    let server = TestServer::start(&both).await;
    assert_eq!(server.whoami(&token).await.code(), "invalid_signature");
    server.stop().await;
}

#[tokio::test]
async fn the_u_claim_is_merged_and_the_claims_namespace_works_as_object_and_as_string() {
    let server = TestServer::start(&secret_config("")).await;
    let reply = server.whoami(&hs256(SECRET, &claims(json!({"id": 1, "u": {"id": 2, "org": "o"}})))).await;
    assert_eq!(reply.body["securityContext"]["id"], 2);
    assert_eq!(reply.body["securityContext"]["org"], "o");
    assert!(reply.body["securityContext"].get("u").is_none());
    server.stop().await;

    let server = TestServer::start(&secret_config("claims_namespace = \"https://acme.io/claims\"")).await;
    for ns_value in [json!({"tenant_id": "t1"}), json!("{\"tenant_id\":\"t1\"}")] {
        let reply = server.whoami(&hs256(SECRET, &claims(json!({"https://acme.io/claims": ns_value})))).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["securityContext"], json!({"tenant_id": "t1"}));
    }
    let reply = server.whoami(&hs256(SECRET, &claims(json!({"tenant_id": "t1"})))).await;
    assert_eq!(reply.code(), "missing_claims_namespace");
    server.stop().await;
}

#[tokio::test]
async fn every_secret_of_a_rotation_list_is_accepted() {
    let old = "old-secret-old-secret-old-secret-0123";
    let new = "new-secret-new-secret-new-secret-0123";
    let cfg = format!(
        "[server]\nport = 0\n[[auth.providers]]\nname = \"rot\"\ntype = \"secret\"\nsecrets = [\"{new}\", \"{old}\"]\n"
    );
    let server = TestServer::start(&cfg).await;
    for s in [old, new] {
        assert_eq!(server.whoami(&hs256(s, &claims(json!({})))).await.status, StatusCode::OK);
    }
    assert_eq!(server.whoami(&hs256(SECRET, &claims(json!({})))).await.code(), "invalid_signature");
    server.stop().await;

    // The Cube.js variable form of the same rotation.
    let vars = [("CUBEJS_API_SECRETS", "new-secret-new-secret-new-secret-0123,old-secret-old-secret-old-secret-0123")];
    let server = TestServer::start_with("[server]\nport = 0\n", &vars, Default::default()).await;
    for s in [old, new] {
        let reply = server.whoami(&hs256(s, &claims(json!({})))).await;
        assert_eq!((reply.status, reply.body["provider"].as_str()), (StatusCode::OK, Some("cubejs")));
    }
    server.stop().await;
}

#[tokio::test]
async fn dev_mode_gives_an_empty_context_without_a_token_but_still_rejects_a_bad_one() {
    let server = TestServer::start(&secret_config("dev_mode = true")).await;
    let reply = server.get("/tenantgate/v1/whoami", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"securityContext": {}, "provider": null}));
    assert_eq!(server.whoami("garbage").await.code(), "malformed_token");
    assert_eq!(
        server.whoami(&hs256("wrong-wrong-wrong-wrong-wrong-wrong", &claims(json!({})))).await.code(),
        "invalid_signature"
    );
    server.stop().await;
}

#[tokio::test]
async fn dev_mode_verifies_a_forged_token_beside_an_empty_x_cube_authorization_or_an_empty_authorization() {
    let server = TestServer::start(&secret_config("dev_mode = true")).await;
    let forged = format!("Bearer {}", hs256("forged-forged-forged-forged-forged-forged", &claims(json!({}))));
    for headers in [
        vec![("x-cube-authorization", ""), ("authorization", forged.as_str())],
        vec![("x-cube-authorization", "Bearer"), ("authorization", forged.as_str())],
        vec![("authorization", ""), ("authorization", forged.as_str())],
    ] {
        let reply = server.get("/tenantgate/v1/whoami", &headers).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{headers:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn failure_status_403_restores_cube_js_status_without_a_challenge() {
    let server = TestServer::start(&secret_config("failure_status = 403")).await;
    let reply = server.get("/tenantgate/v1/whoami", &[]).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "missing_token"));
    assert!(reply.headers.get("www-authenticate").is_none());
    server.stop().await;
}

#[tokio::test]
async fn issuers_route_tokens_to_their_provider_and_unknown_issuers_are_refused() {
    let cfg = format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "a"
type = "secret"
issuer = "https://a.example"
secrets = ["{SECRET}"]
[[auth.providers]]
name = "b"
type = "secret"
issuer = "https://b.example"
secrets = ["b-secret-b-secret-b-secret-b-secret-01"]
"#
    );
    let server = TestServer::start(&cfg).await;
    let a = server.whoami(&hs256(SECRET, &claims(json!({"iss": "https://a.example"})))).await;
    assert_eq!((a.status, a.body["provider"].as_str()), (StatusCode::OK, Some("a")));
    // A's secret with B's issuer goes to B and fails there.
    let cross = server.whoami(&hs256(SECRET, &claims(json!({"iss": "https://b.example"})))).await;
    assert_eq!(cross.code(), "invalid_signature");
    let unknown = server.whoami(&hs256(SECRET, &claims(json!({"iss": "https://evil.example"})))).await;
    assert_eq!(unknown.code(), "unknown_issuer");
    let none = server.whoami(&hs256(SECRET, &claims(json!({})))).await;
    assert_eq!(none.code(), "issuer_mismatch");
    server.stop().await;
}

#[tokio::test]
async fn audience_and_subject_are_checked_when_configured() {
    let cfg = format!(
        "[server]\nport = 0\n[[auth.providers]]\nname = \"m\"\ntype = \"secret\"\naudience = [\"api\"]\nsubject = \"svc\"\nsecrets = [\"{SECRET}\"]\n"
    );
    let server = TestServer::start(&cfg).await;
    assert_eq!(
        server.whoami(&hs256(SECRET, &claims(json!({"aud": ["x", "api"], "sub": "svc"})))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server.whoami(&hs256(SECRET, &claims(json!({"aud": "web", "sub": "svc"})))).await.code(),
        "audience_mismatch"
    );
    assert_eq!(
        server.whoami(&hs256(SECRET, &claims(json!({"aud": "api", "sub": "x"})))).await.code(),
        "subject_mismatch"
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_tokens_get_token_too_large_and_oversized_headers_get_431() {
    let server = TestServer::start(&secret_config("max_token_bytes = 1024")).await;
    let big = "a".repeat(2000);
    let reply = server.whoami(&big).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "token_too_large"));
    let huge = "a".repeat(64 * 1024);
    let reply = server.whoami(&huge).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    server.stop().await;
}

#[tokio::test]
async fn health_endpoints_need_no_token_and_unknown_paths_are_404() {
    let server = TestServer::start(&secret_config("")).await;
    assert_eq!(server.get("/livez", &[]).await.body, json!({"status": "ok"}));
    assert_eq!(server.get("/readyz", &[]).await.body, json!({"status": "ready"}));
    let reply = server.get("/nope", &[]).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"));
    let reply = server.request(Method::DELETE, "/tenantgate/v1/whoami", &[], Bytes::new()).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    server.stop().await;
}

#[tokio::test]
async fn cors_preflight_is_204_and_every_response_has_cors_and_a_request_id() {
    let server = TestServer::start(&secret_config("")).await;
    let reply = server
        .request(
            Method::OPTIONS,
            "/cubejs-api/v1/load",
            &[("origin", "https://app.example"), ("access-control-request-method", "POST")],
            Bytes::new(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert!(reply.headers["access-control-allow-headers"].to_str().expect("ascii").contains("x-cube-authorization"));
    let reply = server.get("/tenantgate/v1/whoami", &[("x-request-id", "abc-123")]).await;
    assert_eq!(reply.headers["x-request-id"], "abc-123");
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let reply = server.get("/livez", &[("x-request-id", "has spaces")]).await;
    assert_ne!(reply.headers["x-request-id"], "has spaces");
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_anything_else() {
    let cfg = secret_config("").replace("port = 0", "port = 0\nmax_body_bytes = 16");
    let server = TestServer::start(&cfg).await;
    let reply = server.request(Method::POST, "/tenantgate/v1/whoami", &[], Bytes::from(vec![b'x'; 64])).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_refusals_by_code_and_provider_without_a_token() {
    let server = TestServer::start(&secret_config("")).await;
    server.whoami(&hs256(SECRET, &claims(json!({})))).await;
    server.whoami(&hs256(SECRET, &json!({"exp": now() - 3600}))).await;
    server.whoami(&hs256(SECRET, &json!({"exp": now() - 3600}))).await;
    let addr = server.addr;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("h1");
    tokio::spawn(conn);
    let req = http::Request::get("/metrics")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("req");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let text =
        String::from_utf8(http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes().to_vec())
            .expect("utf8");
    assert!(
        text.contains("tenantgate_requests_total{status=\"401\",code=\"token_expired\",provider=\"main\"} 2"),
        "{text}"
    );
    assert!(text.contains("tenantgate_requests_total{status=\"200\",code=\"\",provider=\"main\"} 1"), "{text}");
    assert!(text.contains("tenantgate_ready 1"), "{text}");
    server.stop().await;
}
