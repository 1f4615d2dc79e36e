//! Cube.js model files written in JavaScript, as Cube.js's own docs write
//! them, served by the real server on real SQLite: every answer (`/load`,
//! `/meta`, `/sql`, the refusals) is the one the same model written in YAML
//! gives, a tenant never sees another's rows through the JS model, and
//! `check-config` reports a JS file's errors with the file.

use crate::common;

use common::*;
use http::StatusCode;
use serde_json::{Value, json};

const ORDERS_JS: &str = r#"
// Orders, as in Cube.js's docs: members keyed by name, template literals.
cube(`Orders`, {
  sql: `SELECT * FROM orders WHERE ${SECURITY_CONTEXT.tenant_id.filter('tenant_id')}`,

  joins: {
    Users: {
      relationship: `belongsTo`,
      sql: `${CUBE}.user_id = ${Users}.id`,
    },
  },

  measures: {
    count: {
      type: `count`,
      drillMembers: [id, status, Users.city],
    },
    totalAmount: {
      sql: `amount`,
      type: `sum`,
    },
    paidAmount: {
      sql: `${CUBE}.amount`,
      type: `sum`,
      filters: [{ sql: `${CUBE}.status = 'paid'` }],
    },
  },

  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    status: { sql: `status`, type: `string` },
    tenant: { sql: `${CUBE.tenant_id}`, type: `string` },
    createdAt: { sql: `created_at`, type: `time` },
  },

  segments: {
    paid: { sql: `${CUBE}.status = 'paid'` },
  },
});
"#;

const USERS_JS: &str = r#"
const tenantFilter = (column) => USER_CONTEXT.tenant_id.filter(column);

cube(`Users`, {
  sql: () => `SELECT * FROM users WHERE ${tenantFilter('tenant_id')}`,
  title: `People`,

  measures: {
    count: { type: `count` },
  },

  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    city: { sql: `city`, type: `string` },
    tenant: { sql: (CUBE) => `${CUBE}.tenant_id`, type: `string` },
  },
});
"#;

const SALES_JS: &str = r#"
view(`Sales`, {
  cubes: [
    { join_path: Orders, includes: [`count`, `totalAmount`, `status`, `tenant`] },
    { join_path: Orders.Users, prefix: true, includes: [`city`, `count`, `tenant`] },
  ],
});
"#;

/// The same model in YAML.
const MODEL_YML: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Users
        relationship: many_to_one
        sql: "{CUBE}.user_id = {Users}.id"
    measures:
      - {name: count, type: count, drill_members: [id, status, Users.city]}
      - {name: totalAmount, sql: amount, type: sum}
      - name: paidAmount
        sql: "{CUBE}.amount"
        type: sum
        filters: [{sql: "{CUBE}.status = 'paid'"}]
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: status, sql: status, type: string}
      - {name: tenant, sql: "{CUBE.tenant_id}", type: string}
      - {name: createdAt, sql: created_at, type: time}
    segments:
      - {name: paid, sql: "{CUBE}.status = 'paid'"}
  - name: Users
    sql: SELECT * FROM users WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    title: People
    measures:
      - {name: count, type: count}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: city, sql: city, type: string}
      - {name: tenant, sql: "{CUBE}.tenant_id", type: string}
views:
  - name: Sales
    cubes:
      - join_path: Orders
        includes: [count, totalAmount, status, tenant]
      - join_path: Orders.Users
        prefix: true
        includes: [city, count, tenant]
"#;

/// Two tenants; an acme order whose user is globex's.
const SEED: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT, city TEXT);
INSERT INTO users VALUES (1, 'acme', 'Lyon'), (2, 'acme', 'Paris'), (3, 'globex', 'Lyon');
CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT, user_id INTEGER, status TEXT, amount INTEGER, created_at TEXT);
INSERT INTO orders VALUES
  (10, 'acme', 1, 'paid', 100, '2024-01-05T10:00:00'), (11, 'acme', 1, 'new', 50, '2024-02-01T00:00:00'),
  (12, 'acme', 2, 'paid', 30, '2024-02-10T08:30:00'), (13, 'globex', 3, 'paid', 999, '2024-01-20T12:00:00'),
  (14, 'acme', 3, 'new', 20, '2024-03-03T03:03:03'), (15, 'globex', 3, 'new', 1, '2024-03-04T00:00:00');
";

const QUERIES: &[&str] = &[
    r#"{"measures": ["Orders.count", "Orders.totalAmount"], "dimensions": ["Orders.status"]}"#,
    r#"{"measures": ["Orders.count", "Orders.paidAmount"], "dimensions": ["Users.city"], "order": {"Users.city": "asc"}}"#,
    r#"{"measures": ["Orders.totalAmount"], "segments": ["Orders.paid"], "dimensions": ["Orders.tenant"]}"#,
    r#"{"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-03-31"]}]}"#,
    r#"{"measures": ["Users.count"], "filters": [{"member": "Users.city", "operator": "equals", "values": ["Lyon"]}]}"#,
    r#"{"measures": ["Sales.count", "Sales.Users_count"], "dimensions": ["Sales.Users_city"]}"#,
    r#"{"measures": ["Sales.totalAmount"], "dimensions": ["Sales.tenant", "Sales.Users_tenant", "Sales.status"]}"#,
    r#"{"dimensions": ["Users.tenant", "Users.city"], "limit": 10}"#,
    r#"{"measures": ["Orders.nope"]}"#,
    r#"{"dimensions": ["Orders.id"]}"#,
];

struct Served {
    server: TestServer,
    _dir: tempfile::TempDir,
}

/// The server over `files` in a fresh model folder and a fresh database.
async fn serve(files: &[(&str, &str)]) -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).expect("model dir");
    for (name, text) in files {
        std::fs::write(model.join(name), text).expect("model file");
    }
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\npath = \"{}\"\nseed = \"{}\"\n",
        secret_config(""),
        model.display(),
        dir.path().join("shop.sqlite").display(),
        dir.path().join("seed.sql").display()
    );
    Served { server: TestServer::start(&cfg).await, _dir: dir }
}

async fn get(server: &TestServer, endpoint: &str, token: &str, query: &str) -> Reply {
    let path = format!("/cubejs-api/v1/{endpoint}?query={}", tenantgate::server::url::encode(query));
    server.get(&path, &[("authorization", token)]).await
}

/// What differs between two runs of the same query: the refresh time.
fn settled(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("lastRefreshTime");
        for (_, x) in o.iter_mut() {
            *x = settled(std::mem::take(x));
        }
    } else if let Some(a) = v.as_array_mut() {
        for x in a.iter_mut() {
            *x = settled(std::mem::take(x));
        }
    }
    v
}

fn js_files() -> [(&'static str, &'static str); 3] {
    [("orders.js", ORDERS_JS), ("users.js", USERS_JS), ("sales.js", SALES_JS)]
}

#[tokio::test]
async fn a_js_model_answers_exactly_as_the_same_model_in_yaml() {
    let js = serve(&js_files()).await;
    let yaml = serve(&[("model.yml", MODEL_YML)]).await;
    for tenant in ["acme", "globex"] {
        let token = hs256(SECRET, &claims(json!({"tenant_id": tenant})));
        for q in QUERIES {
            for endpoint in ["load", "sql", "dry-run"] {
                let (a, b) = (get(&js.server, endpoint, &token, q).await, get(&yaml.server, endpoint, &token, q).await);
                assert_eq!(a.status, b.status, "{tenant} {endpoint} {q}: {:?}", a.body);
                // The last two are refusals (an unknown member, a hidden one).
                let refusal = QUERIES[QUERIES.len() - 2..].contains(q);
                assert_eq!(a.status == StatusCode::OK, !refusal, "{tenant} {endpoint} {q}: {:?}", a.body);
                assert_eq!(settled(a.body), settled(b.body), "{tenant} {endpoint} {q}");
            }
        }
        let (a, b) = (
            js.server.get("/cubejs-api/v1/meta", &[("authorization", &token)]).await,
            yaml.server.get("/cubejs-api/v1/meta", &[("authorization", &token)]).await,
        );
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.body, b.body, "/meta");
    }
    // The answers are real ones, not two equal errors.
    let token = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let reply = get(&js.server, "load", &token, QUERIES[0]).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let mut rows: Vec<(String, Value)> = reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| (r["Orders.status"].as_str().unwrap_or("").to_string(), r["Orders.totalAmount"].clone()))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let amounts: Vec<String> =
        rows.iter().map(|(s, v)| format!("{s}={}", v.as_str().map_or(v.to_string(), str::to_owned))).collect();
    assert_eq!(amounts, ["new=70", "paid=130"]);
    js.server.stop().await;
    yaml.server.stop().await;
}

#[tokio::test]
async fn through_a_js_model_a_tenant_never_sees_another_tenants_rows() {
    let js = serve(&js_files()).await;
    let tenant_members = ["Orders.tenant", "Users.tenant", "Sales.tenant", "Sales.Users_tenant"];
    for tenant in ["acme", "globex"] {
        let token = hs256(SECRET, &claims(json!({"tenant_id": tenant})));
        for q in [
            r#"{"dimensions": ["Orders.tenant", "Users.tenant"], "measures": ["Orders.count"]}"#,
            r#"{"dimensions": ["Users.tenant"], "measures": ["Users.count"]}"#,
            r#"{"dimensions": ["Sales.tenant", "Sales.Users_tenant"], "measures": ["Sales.Users_count"]}"#,
            r#"{"dimensions": ["Sales.Users_tenant", "Sales.Users_city"]}"#,
        ] {
            let reply = get(&js.server, "load", &token, q).await;
            assert_eq!(reply.status, StatusCode::OK, "{q}: {:?}", reply.body);
            let data = reply.body["data"].as_array().expect("data");
            assert!(!data.is_empty(), "{tenant} {q}: no rows at all");
            for row in data {
                for m in tenant_members {
                    assert!(row[m].is_null() || row[m] == json!(tenant), "{tenant} saw {row} through {q}");
                }
            }
        }
    }
    // acme's order 14 belongs to globex's user 3: joined, the user is not acme's to see.
    let acme = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let reply = get(&js.server, "load", &acme, r#"{"measures": ["Orders.count"], "dimensions": ["Users.city"]}"#).await;
    let mut rows: Vec<String> = reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| format!("{}:{}", r["Users.city"], r["Orders.count"]))
        .collect();
    rows.sort();
    assert_eq!(rows, [r#""Lyon":2"#, r#""Paris":1"#, "null:1"]);
    // No tenant in the token: refused, not everything.
    let none = hs256(SECRET, &claims(json!({})));
    let reply = get(&js.server, "load", &none, QUERIES[0]).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "missing_security_context"), "{:?}", reply.body);
    js.server.stop().await;
}

fn check_config(files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).expect("model dir");
    for (name, text) in files {
        std::fs::write(model.join(name), text).expect("model file");
    }
    let toml = format!("{}\n[model]\npath = \"{}\"\n", secret_config(""), model.display());
    std::fs::write(dir.path().join("test.toml"), toml).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .args(["check-config", "--env", "test", "--config-dir"])
        .arg(dir.path())
        .current_dir(dir.path())
        .env_clear()
        .output()
        .expect("run tenantgate");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", model.display()), "");
    (out.status.code(), stderr)
}

#[test]
fn check_config_reports_each_js_error_with_its_file() {
    let (code, stderr) = check_config(&[
        ("orders.js", ORDERS_JS),
        ("users.js", USERS_JS),
        ("broken.js", "cube(`Broken`, {\n  sql: `SELECT 1`,\n  measures: { count: { type: `count` } \n});\n"),
        ("loop.js", "while (true) {}"),
        ("network.js", "const x = require('./secrets');"),
        ("empty.js", "const helpers = {};"),
        ("typo.js", "cube(`Typo`, { sqlTable: `t`, measures: { n: { type: `tally` } } });"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    for want in [
        "broken.js: JavaScript: SyntaxError:",
        "loop.js: JavaScript: evaluation took longer than the 2000 ms time limit and was stopped",
        "network.js: JavaScript: Error: require is not available in a model file",
        "empty.js: defines no cube or view",
        "typo.js: cube Typo: measure n: type \"tally\" is not one of",
    ] {
        assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("orders.js") && !stderr.contains("users.js"), "{stderr}");

    let (code, stderr) = check_config(&js_files());
    assert_eq!(code, Some(0), "{stderr}");
}
