//! `/tenantgate/v1/authorize`: forward auth for gateways, directly and
//! behind a real nginx (`auth_request`) and a real Caddy (`forward_auth`).

mod common;

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

async fn a_gateway_replaces_the_client_tenant_header(name: &str) {
    let server = TestServer::start(&config(ROUTES)).await;
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

    let r = through(&gw, "/home", &[("x-tenant-id", "evil")]).await;
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
