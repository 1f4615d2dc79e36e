//! API scopes per token (Cube.js's `contextToApiScopes`) through the real
//! server: which endpoint needs which scope, both configuration forms, the
//! default, and Cube.js's 403 `API scope is missing: <scope>`.

use crate::common;

use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};

const SEED: &str = "CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL);\n\
                    INSERT INTO orders VALUES (1, 'acme'), (2, 'acme'), (3, 'globex');\n";

const MODEL: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
"#;

struct Env {
    _dir: tempfile::TempDir,
    server: TestServer,
}

async fn start(access: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\npath = \"{}\"\nseed = \"{}\"\n\
         [forward_auth]\n[forward_auth.headers]\n\"X-Tenant\" = \"{{SECURITY_CONTEXT.tenant_id}}\"\n{access}\n",
        secret_config(""),
        dir.path().join("model").display(),
        dir.path().join("orders.sqlite").display(),
        dir.path().join("seed.sql").display(),
    );
    let server = TestServer::start(&cfg).await;
    Env { _dir: dir, server }
}

fn token(extra: Value) -> String {
    let mut c = json!({"tenant_id": "acme"});
    if let (Some(m), Value::Object(extra)) = (c.as_object_mut(), extra) {
        m.extend(extra);
    }
    format!("Bearer {}", hs256(SECRET, &claims(c)))
}

const QUERY: &str = r#"{"measures":["Orders.count"]}"#;

/// Every Cube.js endpoint we serve, with the scope Cube.js's api-gateway
/// asserts for it (`assertApiScope` in `load`, `sql`, `dryRun`, `meta`).
fn endpoints() -> Vec<(&'static str, Method, String, &'static str)> {
    let q = tenantgate::server::url::encode(QUERY);
    vec![
        ("GET /load", Method::GET, format!("/cubejs-api/v1/load?query={q}"), "data"),
        ("POST /load", Method::POST, "/cubejs-api/v1/load".into(), "data"),
        ("GET /subscribe", Method::GET, format!("/cubejs-api/v1/subscribe?query={q}"), "data"),
        ("POST /subscribe", Method::POST, "/cubejs-api/v1/subscribe".into(), "data"),
        ("GET /dry-run", Method::GET, format!("/cubejs-api/v1/dry-run?query={q}"), "data"),
        ("POST /dry-run", Method::POST, "/cubejs-api/v1/dry-run".into(), "data"),
        ("GET /sql", Method::GET, format!("/cubejs-api/v1/sql?query={q}"), "sql"),
        ("POST /sql", Method::POST, "/cubejs-api/v1/sql".into(), "sql"),
        ("GET /meta", Method::GET, "/cubejs-api/v1/meta".into(), "meta"),
    ]
}

async fn call(server: &TestServer, method: &Method, path: &str, auth: &str) -> Reply {
    let body = if *method == Method::POST { format!(r#"{{"query":{QUERY}}}"#) } else { String::new() };
    server
        .request(
            method.clone(),
            path,
            &[("authorization", auth), ("content-type", "application/json")],
            Bytes::from(body),
        )
        .await
}

/// For each endpoint: with its scope 200, without it Cube.js's 403.
async fn assert_scopes(server: &TestServer, with: impl Fn(&str) -> String, without: impl Fn(&str) -> String) {
    for (name, method, path, scope) in endpoints() {
        let ok = call(server, &method, &path, &with(scope)).await;
        assert_eq!(ok.status, StatusCode::OK, "{name} with {scope}: {:?}", ok.body);
        let refused = call(server, &method, &path, &without(scope)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{name} without {scope}: {:?}", refused.body);
        assert_eq!(
            refused.body,
            json!({"error": format!("API scope is missing: {scope}"), "code": "api_scope_missing"}),
            "{name}"
        );
    }
}

fn others(scope: &str) -> Vec<&'static str> {
    ["meta", "data", "sql", "explain"].into_iter().filter(|s| *s != scope).collect()
}

#[tokio::test]
async fn each_endpoint_needs_its_cube_js_scope_from_the_scopes_claim() {
    let env = start("[access]\nscopes_key = \"scopes\"\n").await;
    assert_scopes(
        &env.server,
        |scope| token(json!({"scopes": [scope]})),
        |scope| token(json!({"scopes": others(scope)})),
    )
    .await;
    // An OAuth space-separated string counts; a token without the claim, or
    // with it malformed, holds no scope at all.
    let spaced = call(&env.server, &Method::GET, "/cubejs-api/v1/meta", &token(json!({"scopes": "openid meta"}))).await;
    assert_eq!(spaced.status, StatusCode::OK, "{:?}", spaced.body);
    for claims in [json!({}), json!({"scopes": {"meta": true}}), json!({"scopes": 7})] {
        let r = call(&env.server, &Method::GET, "/cubejs-api/v1/meta", &token(claims.clone())).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "api_scope_missing"), "{claims}");
    }
    env.server.stop().await;
}

#[tokio::test]
async fn group_scopes_grant_the_union_of_the_callers_groups() {
    let env = start(
        "[access]\nroles_key = \"groups\"\n[access.group_scopes]\nmeta_only = [\"meta\"]\n\
         data_only = [\"data\"]\nsql_only = [\"sql\"]\nnothing = []\n",
    )
    .await;
    let group = |scope: &str| format!("{scope}_only");
    assert_scopes(
        &env.server,
        |scope| token(json!({"groups": ["nothing", group(scope)]})),
        |scope| {
            token(
                json!({"groups": others(scope).into_iter().filter(|s| *s != "explain").map(group).collect::<Vec<_>>()}),
            )
        },
    )
    .await;
    let none = call(&env.server, &Method::GET, "/cubejs-api/v1/meta", &token(json!({}))).await;
    assert_eq!(none.body["error"], "API scope is missing: meta");
    env.server.stop().await;

    // "*" grants to every caller, groups or not.
    let env = start("[access]\nroles_key = \"groups\"\n[access.group_scopes]\n\"*\" = [\"meta\"]\n").await;
    let r = call(&env.server, &Method::GET, "/cubejs-api/v1/meta", &token(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&env.server, &Method::GET, &endpoints()[0].2, &token(json!({}))).await;
    assert_eq!(r.body["error"], "API scope is missing: data");
    env.server.stop().await;
}

#[tokio::test]
async fn without_a_scope_source_every_scope_is_granted_and_whoami_and_authorize_are_unscoped() {
    let env = start("").await;
    for (name, method, path, _) in endpoints() {
        let r = call(&env.server, &method, &path, &token(json!({"scopes": []}))).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {:?}", r.body);
    }
    env.server.stop().await;

    let env = start("[access]\nscopes_key = \"scopes\"\n").await;
    let bare = token(json!({}));
    let whoami = env.server.get("/tenantgate/v1/whoami", &[("authorization", &bare)]).await;
    assert_eq!(whoami.status, StatusCode::OK);
    let authorize = env.server.get("/tenantgate/v1/authorize", &[("authorization", &bare)]).await;
    assert_eq!(authorize.status, StatusCode::OK, "{:?}", authorize.body);
    assert_eq!(authorize.headers["x-tenant"], "acme");
    // The scope is judged after authentication: a bad token is still 401.
    let forged = format!("Bearer {}", hs256("another-secret-another-secret-another", &claims(json!({}))));
    let r = call(&env.server, &Method::GET, "/cubejs-api/v1/meta", &forged).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_signature"));
    env.server.stop().await;
}
