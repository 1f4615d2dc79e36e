//! The attack suite: one table of hostile tokens and requests through the
//! real server, each row with the expected status and code. No row may panic
//! the server or reach a 5xx.

use crate::common;

use common::jwks_server::{JwksServer, Route, TestKey, jwk_set};
use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};

const MODEL: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
      - name: totalAmount
        sql: amount
        type: sum
    dimensions:
      - name: status
        sql: status
        type: string
      - name: userId
        sql: user_id
        type: number
      - name: amount
        sql: amount
        type: number
      - name: paid
        sql: paid
        type: boolean
      - name: createdAt
        sql: created_at
        type: time
"#;

const SEED: &str = "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, tenant_id TEXT, status TEXT,
  amount NUMERIC, paid INTEGER, created_at TEXT);
INSERT INTO orders VALUES (1, 1, 'acme', 'completed', 10, 1, '2024-01-01T00:00:00.000'),
  (2, 2, 'globex', 'completed', 20, 0, '2024-01-02T00:00:00.000');";

/// One row: what is sent and what must come back. `code: None` where the
/// HTTP layer answers before the application (431).
struct Row {
    what: String,
    token: String,
    path: String,
    status: StatusCode,
    code: Option<&'static str>,
    /// Sent as a POST body (queries too long for a URL).
    post: Option<String>,
}

fn row(what: impl Into<String>, token: impl Into<String>, status: StatusCode, code: Option<&'static str>) -> Row {
    Row { what: what.into(), token: token.into(), path: "/tenantgate/v1/whoami".into(), status, code, post: None }
}

fn hs(header: &str, payload: &Value) -> String {
    hmac_token("HS256", header, &payload.to_string(), SECRET.as_bytes())
}

fn load_path(q: &str) -> String {
    format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(q))
}

#[tokio::test]
async fn every_attack_row_gets_its_pinned_answer_and_never_a_5xx() {
    let idp = JwksServer::start().await;
    let rsa = TestKey::load("rsa_private.pem", jsonwebtoken::Algorithm::RS256, "idp-key");
    let ec = TestKey::load("ec256_private.pem", jsonwebtoken::Algorithm::ES256, "ec-key");
    idp.set("/jwks.json", Route::json(&jwk_set(&[rsa.jwk(), ec.jwk()])));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        r#"
[server]
port = 0
max_header_bytes = 16384
[auth]
max_token_bytes = 8192
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
[[auth.providers]]
name = "partner"
type = "public_key"
issuer = "https://partner"
pem_file = "{pem}"
[[auth.providers]]
name = "idp"
type = "jwks"
issuer = "https://idp"
algorithms = ["RS256", "ES256"]
jwks_url = "{jwks}/jwks.json"
refetch_cooldown = "30s"
[model]
path = "{model}"
[database]
path = "{db}"
seed = "{seed}"
[tenancy]
tenant_key = "tenant_id"
"#,
        pem = fixture("keys/rsa_public.pem"),
        jwks = idp.url(),
        model = dir.path().join("model").display(),
        db = dir.path().join("db.sqlite").display(),
        seed = dir.path().join("seed.sql").display(),
    );
    let server = TestServer::start(&cfg).await;
    eventually_ready(&server).await;

    let now = now();
    let ok = |extra: Value| {
        claims(json!({"tenant_id": "acme"}))
            .as_object()
            .cloned()
            .map(|mut m| {
                if let Value::Object(e) = extra {
                    m.extend(e);
                }
                Value::Object(m)
            })
            .unwrap_or_default()
    };
    let valid = hs(r#"{"alg":"HS256","typ":"JWT"}"#, &ok(json!({})));
    let rsa_pem = std::fs::read(fixture("keys/rsa_public.pem")).expect("pem");
    let ec_pem = std::fs::read(fixture("keys/ec256_public.pem")).expect("pem");
    let (rsa_jwk, ec_jwk) = (rsa.jwk().to_string(), ec.jwk().to_string());
    let body = ok(json!({})).to_string();
    let u = StatusCode::UNAUTHORIZED;
    let (f, bad, ok_) = (StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST, StatusCode::OK);
    let b64 = |s: &str| common::b64(s.as_bytes());
    let sig = valid.rsplit('.').next().unwrap_or("").to_string();

    let mut rows = vec![row("control: a valid token", valid.clone(), ok_, None)];
    for alg in ["none", "None", "NONE", "nOnE"] {
        rows.push(row(
            format!("alg {alg}"),
            format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&body)),
            u,
            Some("algorithm_not_allowed"),
        ));
        rows.push(row(
            format!("alg {alg} with a signature"),
            format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&body)),
            u,
            Some("algorithm_not_allowed"),
        ));
    }
    // HMAC keyed with public key bytes, aimed at the JWKS and static-key
    // providers by their issuers: HMAC never reaches them. It goes to the
    // HMAC family's issuer-less provider ("main"), where the signature fails
    // (HS512 is refused before that: main's secret is shorter than 64 bytes).
    for (alg, hmac_alg, code) in [
        ("HS256", "HS256", "invalid_signature"),
        ("HS384", "HS384", "invalid_signature"),
        ("HS512", "HS512", "algorithm_not_allowed"),
    ] {
        for (key_name, key) in [
            ("RSA PEM", rsa_pem.as_slice()),
            ("EC PEM", ec_pem.as_slice()),
            ("RSA JWK", rsa_jwk.as_bytes()),
            ("EC JWK", ec_jwk.as_bytes()),
        ] {
            for iss in ["https://idp", "https://partner"] {
                let header = format!(r#"{{"alg":"{alg}","kid":"idp-key"}}"#);
                let payload = ok(json!({"iss": iss})).to_string();
                rows.push(row(
                    format!("{alg} keyed with the {key_name} for {iss}"),
                    hmac_token(hmac_alg, &header, &payload, key),
                    u,
                    Some(code),
                ));
            }
        }
    }
    // kid values: harmless for a secret provider (kid is not used to find a
    // file or a row), refused where they are malformed, unknown for JWKS.
    for kid in ["../../etc/passwd", "' OR 1=1 --", "", "ünïcødé ✓"] {
        let header = json!({"alg": "HS256", "kid": kid}).to_string();
        rows.push(row(format!("kid {kid:?} on the secret provider"), hs(&header, &ok(json!({}))), ok_, None));
        let t = rsa.sign_with_header(&json!({"kid": kid}), &ok(json!({"iss": "https://idp"})));
        rows.push(row(format!("kid {kid:?} on the JWKS provider"), t, u, Some("unknown_kid")));
    }
    // Key URLs in the header point at an attacker's key: never followed.
    let attacker = TestKey::load("rsa2_private.pem", jsonwebtoken::Algorithm::RS256, "attacker");
    let evil_jku = format!("{}/jwks.json", idp.url().replace("127.0.0.1", "localhost"));
    for (field, value) in [
        ("jku", json!(evil_jku)),
        ("x5u", json!(evil_jku)),
        ("jwk", attacker.jwk()),
        ("x5c", json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"])),
    ] {
        let own_kid = attacker.sign_with_header(&json!({ field: value.clone() }), &ok(json!({"iss": "https://idp"})));
        rows.push(row(format!("{field} with the attacker's kid"), own_kid, u, Some("unknown_kid")));
        let real_kid =
            attacker.sign_with_header(&json!({ field: value, "kid": "idp-key" }), &ok(json!({"iss": "https://idp"})));
        rows.push(row(format!("{field} with the real kid"), real_kid, u, Some("invalid_signature")));
    }
    // A token of one issuer presented with another's iss: verified by the
    // provider its iss names, with that provider's pins and keys.
    rows.push(row(
        "idp's ES256 token claiming partner's iss",
        ec.sign(&ok(json!({"iss": "https://partner"}))),
        u,
        Some("algorithm_not_allowed"),
    ));
    rows.push(row(
        "idp's RS256 token claiming an unknown iss",
        rsa.sign(&ok(json!({"iss": "https://evil"}))),
        u,
        Some("unknown_issuer"),
    ));
    rows.push(row("kid null means no kid", hs(r#"{"alg":"HS256","kid":null}"#, &ok(json!({}))), ok_, None));
    rows.push(row(
        "kid of 300 bytes",
        hs(&json!({"alg": "HS256", "kid": "k".repeat(300)}).to_string(), &ok(json!({}))),
        u,
        Some("malformed_token"),
    ));
    rows.push(row(
        "kid of 10 KB",
        hs(&json!({"alg": "HS256", "kid": "k".repeat(10_000)}).to_string(), &ok(json!({}))),
        u,
        Some("token_too_large"),
    ));
    rows.push(row("kid as a number", hs(r#"{"alg":"HS256","kid":7}"#, &ok(json!({}))), u, Some("malformed_token")));
    rows.push(row(
        "unknown crit",
        hs(r#"{"alg":"HS256","crit":["x-evil"],"x-evil":1}"#, &ok(json!({}))),
        u,
        Some("malformed_token"),
    ));
    rows.push(row(
        "duplicate names in the header",
        hs(r#"{"alg":"HS256","alg":"HS256"}"#, &ok(json!({}))),
        u,
        Some("malformed_token"),
    ));
    rows.push(row(
        "duplicate names in the payload",
        hmac_token(
            "HS256",
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"exp":{},"tenant_id":"acme","tenant_id":"globex"}}"#, now + 60),
            SECRET.as_bytes(),
        ),
        u,
        Some("malformed_token"),
    ));
    for (claim, value) in [
        ("exp", json!("99999999999")),
        ("exp", json!(-1)),
        ("exp", json!(1e300)),
        ("exp", json!(u64::MAX)),
        ("nbf", json!("0")),
        ("nbf", json!(-5)),
        ("iat", json!(1e300)),
        ("iat", json!([1])),
        ("exp", json!(null)),
    ] {
        rows.push(row(
            format!("{claim} = {value}"),
            hs(r#"{"alg":"HS256"}"#, &ok(json!({claim: value}))),
            u,
            Some("invalid_claim"),
        ));
    }
    rows.push(row(
        "exp beyond i64 as a literal",
        hmac_token(
            "HS256",
            r#"{"alg":"HS256"}"#,
            r#"{"tenant_id":"acme","exp":99999999999999999999999}"#,
            SECRET.as_bytes(),
        ),
        u,
        Some("invalid_claim"),
    ));
    rows.push(row(
        "exp as a float is fine",
        hs(r#"{"alg":"HS256"}"#, &ok(json!({"exp": now as f64 + 60.5}))),
        ok_,
        None,
    ));
    let (h, p) = (b64(r#"{"alg":"HS256"}"#), b64(&body));
    for (what, t) in [
        ("padding", format!("{h}=.{p}.{sig}")),
        ("+ and /", format!("{}.{p}.{sig}", h.replace('-', "+").replace('_', "/") + "+")),
        ("whitespace inside", format!("{h}.{} .{sig}", p)),
        ("a trailing dot", format!("{valid}.")),
        ("four segments", format!("{valid}.{sig}")),
        ("two segments", format!("{h}.{p}")),
    ] {
        rows.push(row(format!("base64: {what}"), t, u, Some("malformed_token")));
    }
    rows.push(row("a 1 MB token", "a".repeat(1 << 20), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, None));
    // The security context tries to pick a tenant through claims.
    for (what, tenant) in
        [("an array", json!(["acme", "globex"])), ("an object", json!({"$ne": ""})), ("null", json!(null))]
    {
        let t = hs(r#"{"alg":"HS256"}"#, &claims(json!({"tenant_id": tenant})));
        rows.push(Row {
            what: format!("tenant_id as {what}"),
            token: t,
            path: load_path(r#"{"measures":["Orders.count"]}"#),
            status: f,
            code: Some("invalid_tenant"),
            post: None,
        });
    }
    let t42 = hs(r#"{"alg":"HS256"}"#, &claims(json!({"tenant_id": 42})));
    rows.push(Row {
        what: "tenant_id as a number is a tenant (none is named 42)".into(),
        token: t42,
        path: load_path(r#"{"measures":["Orders.count"]}"#),
        status: ok_,
        code: None,
        post: None,
    });
    // Hostile queries.
    let mut deep = json!({"member": "Orders.status", "operator": "set"});
    for _ in 0..10 {
        deep = json!({"and": [deep]});
    }
    let many: Vec<String> = (0..10_000).map(|i| format!("Orders.m{i}")).collect();
    for (what, q, status, code) in [
        ("filters 10 levels deep", json!({"measures": ["Orders.count"], "filters": [deep]}).to_string(), bad, "invalid_query"),
        ("10,000 members", json!({"measures": many}).to_string(), bad, "invalid_query"),
        ("a huge limit", r#"{"measures":["Orders.count"],"limit":99999999999}"#.to_string(), bad, "invalid_query"),
        ("a negative offset", r#"{"measures":["Orders.count"],"offset":-1}"#.to_string(), bad, "invalid_query"),
        ("an unknown operator", r#"{"measures":["Orders.count"],"filters":[{"member":"Orders.status","operator":"regex","values":[".*"]}]}"#.to_string(), bad, "invalid_query"),
        ("SQL in a member name", r#"{"measures":["Orders.count; DROP TABLE orders"]}"#.to_string(), bad, "unknown_member"),
        ("SQL in a number value", r#"{"measures":["Orders.count"],"filters":[{"member":"Orders.userId","operator":"equals","values":["1 OR 1=1"]}]}"#.to_string(), bad, "invalid_query"),
    ] {
        // Long queries go by POST, as clients send them.
        let (path, post) = if q.len() > 4000 {
            ("/cubejs-api/v1/load".to_string(), Some(format!(r#"{{"query":{q}}}"#)))
        } else {
            (load_path(&q), None)
        };
        rows.push(Row { what: what.into(), token: valid.clone(), path, status, code: Some(code), post });
    }
    // Shapes that used to reach the database and come back as a 5xx.
    for (what, q) in common::hostile::client_queries_that_must_be_400() {
        let q = q.to_string();
        let (path, post) = if q.len() > 4000 {
            ("/cubejs-api/v1/load".to_string(), Some(format!(r#"{{"query":{q}}}"#)))
        } else {
            (load_path(&q), None)
        };
        rows.push(Row { what, token: valid.clone(), path, status: bad, code: Some("invalid_query"), post });
    }
    rows.push(Row {
        what: "SQL in a string value is only a value".into(),
        token: valid.clone(),
        path: load_path(r#"{"measures":["Orders.count"],"filters":[{"member":"Orders.status","operator":"equals","values":["x' OR '1'='1"]}]}"#),
        status: ok_,
        code: None,
        post: None,
    });

    let mut failures = Vec::new();
    for r in &rows {
        let auth = format!("Bearer {}", r.token);
        let reply = match &r.post {
            None => server.get(&r.path, &[("authorization", &auth)]).await,
            Some(body) => {
                server.request(Method::POST, &r.path, &[("authorization", &auth)], Bytes::from(body.clone())).await
            }
        };
        let ok_status = reply.status == r.status;
        let ok_code = r.code.is_none_or(|c| reply.code() == c);
        if reply.status.is_server_error() || !ok_status || !ok_code {
            failures.push(format!("{}: want {} {:?}, got {} {}", r.what, r.status, r.code, reply.status, reply.body));
        }
    }
    // A 64 KB header of any name is refused by the HTTP layer.
    let reply = server.get("/livez", &[("x-padding", &"p".repeat(64 * 1024))]).await;
    if reply.status != StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        failures.push(format!("64 KB header: got {}", reply.status));
    }
    // The server is still healthy after all of it.
    assert_eq!(server.get("/livez", &[]).await.status, StatusCode::OK);
    println!("attack suite: {} rows", rows.len() + 1);
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
    server.stop().await;
}

async fn eventually_ready(server: &TestServer) {
    for _ in 0..100 {
        if server.get("/readyz", &[]).await.status == StatusCode::OK {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server not ready");
}
