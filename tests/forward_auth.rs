//! `/tenantgate/v1/authorize`: forward auth for gateways, directly and
//! behind a real nginx (`auth_request`) and a real Caddy (`forward_auth`).

use crate::common;

use common::gateway::{self, Echo};
use common::{SECRET, TestServer, claims, hs256};
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::json;

fn config(extra: &str) -> String {
    format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[access]
roles_key = "groups"
[forward_auth]
scopes_key = "scope"
[forward_auth.headers]
"X-Tenant-Id" = "{{SECURITY_CONTEXT.tenant_id}}"
"X-Gateway" = "tenantgate"
{extra}
"#
    )
}

const ROUTES: &str = r#"
[[forward_auth.routes]]
path_prefix = "/admin"
require_groups = ["admin"]
[[forward_auth.routes]]
path_prefix = "/reports"
methods = ["GET"]
require_scopes = ["reports:read"]
[[forward_auth.routes]]
path_prefix = "/"
"#;

fn token(extra: serde_json::Value) -> String {
    format!("Bearer {}", hs256(SECRET, &claims(extra)))
}

async fn authorize(server: &TestServer, method: &str, uri: &str, auth: &str) -> common::Reply {
    server
        .request(
            Method::GET,
            "/tenantgate/v1/authorize",
            &[("authorization", auth), ("x-forwarded-method", method), ("x-forwarded-uri", uri)],
            Bytes::new(),
        )
        .await
}

#[tokio::test]
async fn a_verified_token_is_answered_with_headers_built_from_its_context() {
    let server = TestServer::start(&config("")).await;
    let r = authorize(&server, "GET", "/x", &token(json!({"tenant_id": "t1"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-tenant-id"], "t1");
    assert_eq!(r.headers["x-gateway"], "tenantgate");
    // Any method, and X-Cube-Authorization as everywhere else.
    let t = hs256(SECRET, &claims(json!({"tenant_id": "t2"})));
    let r =
        server.request(Method::POST, "/tenantgate/v1/authorize", &[("x-cube-authorization", &t)], Bytes::new()).await;
    assert_eq!((r.status, r.headers["x-tenant-id"].to_str().ok()), (StatusCode::OK, Some("t2")));
    server.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_request_gets_401_with_a_challenge_and_a_missing_value_403() {
    let server = TestServer::start(&config("")).await;
    let r = authorize(&server, "GET", "/x", "").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_token"));
    assert!(r.headers.contains_key("www-authenticate"));
    let r = authorize(&server, "GET", "/x", "Bearer nope").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "malformed_token"));
    let r = authorize(&server, "GET", "/x", &token(json!({"sub": "no-tenant"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forward_header_missing"));
    assert!(r.headers.get("x-tenant-id").is_none());
    let r = authorize(&server, "GET", "/x", &token(json!({"tenant_id": "t1\r\nX-Admin: yes"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forward_header_invalid"));
    assert!(r.headers.get("x-admin").is_none() && r.headers.get("x-tenant-id").is_none());
    server.stop().await;
}

#[tokio::test]
async fn route_rules_judge_the_normalised_path_groups_scopes_and_method() {
    let server = TestServer::start(&config(ROUTES)).await;
    let user = token(json!({"tenant_id": "t1", "groups": ["staff"], "scope": "reports:read"}));
    let admin = token(json!({"tenant_id": "t1", "groups": ["admin"]}));
    for (method, uri, auth, want) in [
        ("GET", "/home", &user, "200"),
        ("GET", "/admin/users", &user, "forward_group_required"),
        ("GET", "/public/../admin/users", &user, "forward_group_required"),
        ("GET", "//admin", &user, "forward_group_required"),
        ("GET", "/%61dmin", &user, "forward_group_required"),
        ("GET", "/admin/users", &admin, "200"),
        ("GET", "/reports/q1", &user, "200"),
        ("GET", "/reports/q1", &admin, "forward_scope_required"),
        // POST is not covered by the /reports rule: the catch-all allows it.
        ("POST", "/reports/q1", &admin, "200"),
        ("GET", "/admin;jsessionid=x/users", &user, "forward_group_required"),
        ("GET", "/../etc/passwd", &admin, "forward_uri_invalid"),
        ("GET", "/public/..;/admin", &admin, "forward_uri_invalid"),
        ("GET", "/public%2F..%2Fadmin", &admin, "forward_uri_invalid"),
    ] {
        let r = authorize(&server, method, uri, auth).await;
        let got = if r.status == StatusCode::OK { "200".to_string() } else { r.code().to_string() };
        assert_eq!(got, want, "{method} {uri}");
    }
    server.stop().await;
}

#[tokio::test]
async fn with_routes_and_no_default_an_unlisted_path_is_denied_and_default_allow_opens_it() {
    let routes = "[[forward_auth.routes]]\npath_prefix = \"/app\"\n";
    let deny = TestServer::start(&config(routes)).await;
    let t = token(json!({"tenant_id": "t1"}));
    assert_eq!(authorize(&deny, "GET", "/app/x", &t).await.status, StatusCode::OK);
    let r = authorize(&deny, "GET", "/other", &t).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forward_route_denied"));
    deny.stop().await;
    // `default` is a key of [forward_auth], so it goes before the tables.
    let allow = TestServer::start(&config(routes).replace("scopes_key", "default = \"allow\"\nscopes_key")).await;
    assert_eq!(authorize(&allow, "GET", "/other", &t).await.status, StatusCode::OK);
    allow.stop().await;
}

#[tokio::test]
async fn without_a_forward_auth_section_the_endpoint_does_not_exist() {
    let server = TestServer::start(&common::secret_config("")).await;
    let r = authorize(&server, "GET", "/x", &token(json!({"tenant_id": "t1"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    server.stop().await;
}

#[test]
fn bad_forward_auth_settings_are_reported_together() {
    let toml = format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[forward_auth]
default = "maybe"
[forward_auth.headers]
"Bad Name" = "x"
"Content-Length" = "1"
"X-A" = "{{SECURITY_CONTEXT.}}"
[[forward_auth.routes]]
path_prefix = "admin"
[[forward_auth.routes]]
path_prefix = "/a/../b"
[[forward_auth.routes]]
path_prefix = "/x"
require_groups = ["admin"]
require_scopes = ["s"]
colour = "blue"
"#
    );
    let errors = common::load_config("test", &toml, &[]).expect_err("invalid").messages();
    let f = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, rest)| rest.to_string());
    assert_eq!(
        errors.iter().map(|e| f(e)).collect::<Vec<_>>(),
        vec![
            "forward_auth.headers.Bad Name: not a valid header name",
            "forward_auth.headers.Content-Length: a framing, hop-by-hop or CORS header cannot be set",
            "forward_auth.headers.X-A: \"{SECURITY_CONTEXT.}\": expected {SECURITY_CONTEXT.<path>} or a literal",
            "forward_auth.routes[0].path_prefix: \"admin\" must start with /",
            "forward_auth.routes[1].path_prefix: \"/a/../b\" has an empty, . or .. segment",
            "forward_auth.routes[2].colour: unknown key",
            "forward_auth.routes[2].require_groups: needs [access] roles_key, the context path holding the groups",
            "forward_auth.routes[2].require_scopes: needs [forward_auth] scopes_key, the context path holding the scopes",
            "forward_auth.default: expected \"allow\" or \"deny\"",
        ]
    );
}

/// Through a gateway: what the upstream saw, as the echo server reports it.
async fn through(gw: &gateway::Gateway, path: &str, headers: &[(&str, &str)]) -> common::Reply {
    gateway::get(gw.addr, path, headers).await
}

/// `[forward_auth.internal_token]` with the fixture keys: Ed25519 signs,
/// P-256 is the rotation key.
fn internal_token() -> String {
    format!(
        "[forward_auth.internal_token]\nkey_file = {:?}\nkid = \"tg-2\"\nrotation_key_file = {:?}\n\
         rotation_kid = \"tg-1\"\naudience = \"upstreams\"\nttl = \"30s\"\n",
        common::fixture("keys/ed25519_private.pem"),
        common::fixture("keys/ec256_private.pem"),
    )
}

/// Verify an internal token the way an upstream would: by its `kid`, in the
/// key set the server publishes, with the algorithm the JWK names.
async fn verify_internal_token(server: &TestServer, token: &str) -> serde_json::Value {
    use jsonwebtoken::jwk::JwkSet;
    let r = server.get("/.well-known/jwks.json", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let set: JwkSet = serde_json::from_value(r.body).expect("a JWK set");
    let kid = jsonwebtoken::decode_header(token).expect("header").kid.expect("kid");
    let jwk = set.find(&kid).expect("the token's kid is published");
    let alg = jwk.common.key_algorithm.expect("alg").to_string().parse().expect("algorithm");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&["tenantgate"]);
    v.set_audience(&["upstreams"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).expect("the internal token verifies").claims
}

#[tokio::test]
async fn the_internal_token_carries_the_context_and_verifies_against_the_served_jwks() {
    let server = TestServer::start(&config(&internal_token())).await;
    let r = server.get("/.well-known/jwks.json", &[]).await;
    let kids: Vec<&str> = r.body["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, ["tg-2", "tg-1"], "the signing key, then the rotation key");
    for k in r.body["keys"].as_array().expect("keys") {
        assert!(k.get("d").is_none(), "never a private part: {k}");
        assert_eq!(k["use"], "sig");
    }
    assert_eq!(r.body["keys"][0]["alg"], "EdDSA");
    assert_eq!(r.body["keys"][1]["alg"], "ES256");

    let r = authorize(&server, "GET", "/x", &token(json!({"tenant_id": "t1", "sub": "u1", "groups": ["a"]}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.headers["x-security-context-token"].to_str().expect("ascii");
    assert_eq!(jsonwebtoken::decode_header(t).expect("header").kid.as_deref(), Some("tg-2"));
    let claims = verify_internal_token(&server, t).await;
    assert_eq!(claims["securityContext"]["tenant_id"], "t1");
    assert_eq!(claims["securityContext"]["groups"], json!(["a"]));
    let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
    assert_eq!(exp - iat, 30, "ttl");
    assert!((iat - common::now()).abs() <= 5);

    // A refused request carries no token.
    let r = authorize(&server, "GET", "/x", &token(json!({"sub": "no-tenant"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get("x-security-context-token").is_none());
    server.stop().await;
}

#[tokio::test]
async fn without_an_internal_token_there_is_no_key_set() {
    let server = TestServer::start(&config("")).await;
    assert_eq!(server.get("/.well-known/jwks.json", &[]).await.status, StatusCode::NOT_FOUND);
    let r = authorize(&server, "GET", "/x", &token(json!({"tenant_id": "t1"}))).await;
    assert!(r.headers.get("x-security-context-token").is_none());
    server.stop().await;
}

#[test]
fn bad_internal_token_settings_name_their_key() {
    let toml = format!(
        r#"
[server]
port = 0
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[forward_auth.internal_token]
key_file = {rsa:?}
kid = "a"
rotation_key_file = {pubkey:?}
rotation_kid = "b"
ttl = "2h"
"#,
        rsa = common::fixture("keys/rsa_private.pem"),
        pubkey = common::fixture("keys/ed25519_public.pem"),
    );
    let errors = common::load_config("test", &toml, &[]).expect_err("invalid").messages();
    let f = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, rest)| rest.to_string());
    let rsa = common::fixture("keys/rsa_private.pem");
    let pubkey = common::fixture("keys/ed25519_public.pem");
    assert_eq!(
        errors.iter().map(|e| f(e)).collect::<Vec<_>>(),
        vec![
            format!(
                "forward_auth.internal_token.key_file: {rsa} is not a PKCS#8 PEM private key (Ed25519 or EC P-256)"
            ),
            format!(
                "forward_auth.internal_token.rotation_key_file: {pubkey} is not a PKCS#8 PEM private key (Ed25519 or EC P-256)"
            ),
            "forward_auth.internal_token.ttl: must be at most 1h: the token is a per-request credential".to_string(),
        ]
    );
    let missing = toml.replace("kid = \"a\"\n", "");
    let errors = common::load_config("test", &missing, &[]).expect_err("invalid").messages();
    assert!(
        errors.iter().any(
            |e| e.ends_with("forward_auth.internal_token.kid: needed beside key_file: the key's id in the key set")
        ),
        "{errors:?}"
    );
}

async fn a_gateway_replaces_the_client_tenant_header(name: &str) {
    let server = TestServer::start(&config(&format!("{}{ROUTES}", internal_token()))).await;
    let echo = Echo::start().await;
    let gw = match name {
        "nginx" => gateway::nginx(server.addr, echo.addr).await,
        _ => gateway::caddy(server.addr, echo.addr).await,
    };
    let user = token(json!({"tenant_id": "t1", "groups": ["staff"]}));

    let r = through(&gw, "/home?x=1", &[("authorization", &user), ("x-tenant-id", "evil")]).await;
    assert_eq!(r.status, StatusCode::OK, "{name}: {r:?}\n{}", gw.log());
    assert_eq!(r.body["headers"]["x-tenant-id"], "t1", "{name}: the client's X-Tenant-Id must be replaced");
    assert_eq!(r.body["uri"], "/home?x=1", "{name}");
    let forwarded =
        r.body["headers"]["x-security-context-token"].as_str().expect("the internal token reaches the upstream");
    assert_eq!(verify_internal_token(&server, forwarded).await["securityContext"]["tenant_id"], "t1", "{name}");

    let r = through(&gw, "/home", &[("x-tenant-id", "evil"), ("x-security-context-token", "forged")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
    assert!(r.headers.contains_key("www-authenticate"), "{name}: the challenge reaches the client");

    for path in ["/admin/users", "/public/../admin/users", "/%61dmin", "/public/..;/admin", "/public%2F..%2Fadmin"] {
        let r = through(&gw, path, &[("authorization", &user)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {path}");
    }
    let admin = token(json!({"tenant_id": "t9", "groups": ["admin"]}));
    let r = through(&gw, "/admin/users", &[("authorization", &admin)]).await;
    assert_eq!((r.status, r.body["headers"]["x-tenant-id"].as_str()), (StatusCode::OK, Some("t9")), "{name}");
    drop(gw);
    server.stop().await;
}

#[tokio::test]
async fn nginx_auth_request_passes_the_verified_tenant_and_refuses_the_rest() {
    if !gateway::available("nginx", "nginx_auth_request_passes_the_verified_tenant_and_refuses_the_rest") {
        return;
    }
    a_gateway_replaces_the_client_tenant_header("nginx").await;
}

#[tokio::test]
async fn caddy_forward_auth_passes_the_verified_tenant_and_refuses_the_rest() {
    if !gateway::available("caddy", "caddy_forward_auth_passes_the_verified_tenant_and_refuses_the_rest") {
        return;
    }
    a_gateway_replaces_the_client_tenant_header("caddy").await;
}
