//! The query engine through the real server on real SQLite: endpoints,
//! errors, tenant isolation (including a randomized property test), the
//! statement timeout and the concurrency cap.

use crate::common;

use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};

/// A small seed: three tenants, users spread across them.
const SEED: &str = r#"
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, tenant_id TEXT NOT NULL,
  amount NUMERIC NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO orders VALUES
 (1, 1, 'acme', 10.50, 'completed', '2024-01-05T10:00:00.000Z'),
 (2, 1, 'acme', 20.00, 'shipped', '2024-01-20T10:00:00.000Z'),
 (3, 2, 'acme', 5.25, 'completed', '2024-02-01T08:30:00.000Z'),
 (4, 3, 'globex', 100.00, 'completed', '2024-02-02T09:00:00.000Z'),
 (5, 3, 'globex', 7.00, 'cancelled', '2024-03-03T09:00:00.000Z'),
 (6, 4, 'initech', 1.00, 'completed', '2024-03-04T09:00:00.000Z'),
 (7, 0, 'initech', 2.00, 'completed', '2024-03-05T09:00:00.000Z'),
 (8, 5, '', 3.00, 'completed', '2024-03-06T09:00:00.000Z'),
 (9, 6, '42 OR 1=1', 4.00, 'completed', '2024-03-07T09:00:00.000Z');
-- Users of several tenants; user 3 (globex's orders) is filed under acme,
-- so a join that ignored either cube's filter would show it.
CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL);
INSERT INTO users VALUES
 (0, 'initech', 'zero'), (1, 'acme', 'ann'), (2, 'acme', 'bob'), (3, 'acme', 'cid'),
 (4, 'initech', 'dee'), (5, '', 'eve'), (6, '42 OR 1=1', 'fay');
"#;

const MODEL: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Users
        relationship: many_to_one
        sql: "{CUBE}.user_id = {Users.id}"
    measures:
      - name: count
        type: count
      - name: totalAmount
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
        public: true
      - name: tenantId
        sql: tenant_id
        type: string
      - name: userId
        sql: user_id
        type: number
      - name: status
        sql: status
        type: string
      - name: createdAt
        sql: created_at
        type: time
  - name: Users
    sql: SELECT * FROM users WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: tenantId
        sql: tenant_id
        type: string
      - name: name
        sql: name
        type: string
  - name: MyOrders
    sql: SELECT * FROM orders WHERE ${USER_CONTEXT.id.filter('user_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: userId
        sql: user_id
        type: number
  - name: Slow
    sql: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE {SECURITY_CONTEXT.tenant_id.filter('x')} OR 1 = 1
    measures:
      - name: count
        type: count
views:
  - name: Facts
    cubes:
      - {join_path: Orders, includes: "*"}
      - {join_path: Orders.Users, prefix: true, includes: [count, tenantId, name]}
"#;

/// A member of Orders or Users, or with `view` its name in view Facts
/// (`Users.name` -> `Facts.Users_name`).
fn via(member: &str, view: bool) -> String {
    match member.split_once('.') {
        Some(("Orders", m)) if view => format!("Facts.{m}"),
        Some(("Users", m)) if view => format!("Facts.Users_{m}"),
        _ => member.to_string(),
    }
}

struct Env {
    _dir: tempfile::TempDir,
    server: TestServer,
}

async fn start(extra: &str) -> Env {
    start_with(extra, "").await
}

/// `model_extra` goes under `[model]`, `db_extra` under `[database]`.
async fn start_with(extra: &str, db_extra: &str) -> Env {
    start_env(MODEL, extra, &format!("statement_timeout = \"300ms\"\n{db_extra}"), "").await
}

/// The server on `model` and the seed, in a fresh folder that also holds
/// `initech.sqlite` (initech's rows only) for tenant routing; `{INITECH}` in
/// `tail` is its path.
async fn start_env(model: &str, model_extra: &str, db_extra: &str, tail: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), model).expect("model");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let other = dir.path().join("initech.sqlite");
    let conn = rusqlite::Connection::open(&other).expect("create");
    conn.execute_batch(SEED).expect("seed");
    conn.execute_batch("DELETE FROM orders WHERE tenant_id <> 'initech'").expect("trim");
    drop(conn);
    let cfg = format!(
        "{}\n[model]\npath = \"{m}\"\n{model_extra}\n[database]\npath = \"{db}\"\nseed = \"{seed}\"\n{db_extra}\n{}\n",
        secret_config(""),
        tail.replace("{INITECH}", &other.display().to_string()),
        m = dir.path().join("model").display(),
        db = dir.path().join("orders.sqlite").display(),
        seed = dir.path().join("seed.sql").display(),
    );
    let server = TestServer::start(&cfg).await;
    Env { _dir: dir, server }
}

fn token(claims_: Value) -> String {
    hs256(SECRET, &claims(claims_))
}

async fn load(server: &TestServer, token: &str, query: &Value) -> Reply {
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&query.to_string()));
    server.get(&path, &[("authorization", token)]).await
}

#[tokio::test]
async fn load_returns_only_the_tokens_tenant_with_cube_js_shapes() {
    let env = start("").await;
    let acme = token(json!({"tenant_id": "acme"}));
    let q = json!({"measures": ["Orders.count", "Orders.totalAmount"], "dimensions": ["Orders.status"], "order": {"Orders.status": "asc"}});
    let reply = load(&env.server, &acme, &q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!([
            {"Orders.status": "completed", "Orders.count": 2, "Orders.totalAmount": 15.75},
            // NUMERIC 20.00 is stored as the integer 20 by SQLite.
            {"Orders.status": "shipped", "Orders.count": 1, "Orders.totalAmount": 20},
        ])
    );
    assert_eq!(reply.body["dbType"], "sqlite");
    assert_eq!(reply.body["total"], Value::Null, "total is counted only when asked for");
    // Cube.js's `total: true`: the row count without limit.
    let counted = json!({"dimensions": ["Orders.id"], "limit": 1, "total": true});
    let total = load(&env.server, &acme, &counted).await;
    assert_eq!((total.body["data"].as_array().map(Vec::len), &total.body["total"]), (Some(1), &json!(3)));
    assert_eq!(reply.body["query"]["limit"], 10000);
    assert_eq!(reply.body["annotation"]["measures"]["Orders.count"]["type"], "number");

    // POST with the multi wrapper the official client asks for.
    let body = json!({"query": q, "queryType": "multi"}).to_string();
    let reply = env
        .server
        .request(
            Method::POST,
            "/cubejs-api/v1/load",
            &[("authorization", &acme), ("content-type", "application/json")],
            Bytes::from(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["queryType"], "regularQuery");
    assert_eq!(reply.body["results"][0]["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn time_dimensions_are_truncated_and_filtered_by_date_range() {
    let env = start("").await;
    let acme = token(json!({"tenant_id": "acme"}));
    let q = json!({"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-01-31"]}]});
    let reply = load(&env.server, &acme, &q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!([{"Orders.createdAt.month": "2024-01-01T00:00:00.000", "Orders.createdAt": "2024-01-01T00:00:00.000", "Orders.count": 2}])
    );
}

/// A running total and a rolling window over the same tenant-filtered cube.
const CUMULATIVE_MODEL: &str = r#"
cubes:
  - name: Running
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: total
        sql: amount
        type: running_total
      - name: lastMonth
        type: count
        rolling_window:
          trailing: 1 month
    dimensions:
      - name: createdAt
        sql: created_at
        type: time
"#;

/// Each row's (bucket, running total, rolling count).
fn cumulative_rows(reply: &Reply) -> Vec<(String, Value, Value)> {
    reply.body["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let bucket = r["Running.createdAt.month"].as_str().unwrap_or_default().to_string();
                    (bucket, r["Running.total"].clone(), r["Running.lastMonth"].clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn two_tenants_running_totals_and_rolling_windows_never_mix() {
    let env = start_env(CUMULATIVE_MODEL, "", "", "").await;
    let q = json!({"measures": ["Running.total", "Running.lastMonth"],
        "timeDimensions": [{"dimension": "Running.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-03-31"]}]});
    let month = |m: u8| format!("2024-0{m}-01T00:00:00.000");
    let acme = load(&env.server, &token(json!({"tenant_id": "acme"})), &q).await;
    assert_eq!(acme.status, StatusCode::OK, "{:?}", acme.body);
    // acme: 30.50 in January, 5.25 in February, nothing in March; every
    // bucket of the series answers, an empty window as null (Cube.js's sum).
    assert_eq!(
        cumulative_rows(&acme),
        vec![
            (month(1), json!(30.5), json!(2)),
            (month(2), json!(35.75), json!(1)),
            (month(3), json!(35.75), Value::Null),
        ]
    );
    let globex = load(&env.server, &token(json!({"tenant_id": "globex"})), &q).await;
    assert_eq!(globex.status, StatusCode::OK, "{:?}", globex.body);
    assert_eq!(
        cumulative_rows(&globex),
        // SQLite's date modifiers (as in Cube.js): 2024-03-31 minus a month
        // is 2024-03-02, past March's bucket, so March's window is empty
        // (PostgreSQL's holds March).
        vec![
            (month(1), Value::Null, Value::Null),
            (month(2), json!(100), json!(1)),
            (month(3), json!(107), Value::Null)
        ]
    );
    // The row filed under a tenant id that looks like SQL is that tenant's alone.
    let odd = load(&env.server, &token(json!({"tenant_id": "42 OR 1=1"})), &q).await;
    assert_eq!(cumulative_rows(&odd)[2], (month(3), json!(4), Value::Null), "{:?}", odd.body);
    // Without a date range there is no series: Cube.js's error, a 400.
    let q = json!({"measures": ["Running.total"], "timeDimensions": [{"dimension": "Running.createdAt", "granularity": "day"}]});
    let refused = load(&env.server, &token(json!({"tenant_id": "acme"})), &q).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"], "Time series queries without dateRange aren't supported");
    // A series too long to bind is refused before any SQL runs.
    let q = json!({"measures": ["Running.total"], "timeDimensions": [{"dimension": "Running.createdAt", "granularity": "second", "dateRange": ["2000-01-01", "2024-12-31"]}]});
    let refused = load(&env.server, &token(json!({"tenant_id": "acme"})), &q).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "invalid_query");
    // /meta flags them as Cube.js does.
    let meta = env.server.get("/cubejs-api/v1/meta", &[("authorization", &token(json!({"tenant_id": "acme"})))]).await;
    let measures = &meta.body["cubes"][0]["measures"];
    assert_eq!(
        (&measures[0]["name"], &measures[0]["aggType"], &measures[0]["cumulative"], &measures[0]["cumulativeTotal"]),
        (&json!("Running.total"), &json!("runningTotal"), &json!(true), &json!(true)),
        "{measures}"
    );
    assert_eq!((&measures[1]["aggType"], &measures[1]["cumulative"]), (&json!("count"), &json!(true)));
}

#[tokio::test]
async fn a_token_without_the_filtered_claim_is_refused_not_shown_every_tenant() {
    let env = start("").await;
    let reply = load(&env.server, &token(json!({"sub": "someone"})), &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        json!({"error": "Security context has no 'tenant_id' required by cube Orders", "code": "missing_security_context"})
    );
    // Cube.js's behaviour, when asked for by name: every row.
    let env = start("dangerous_missing_filter_allows_all = true").await;
    let reply = load(&env.server, &token(json!({"sub": "someone"})), &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 9}]));
}

#[tokio::test]
async fn zero_false_and_empty_values_are_real_filter_values() {
    let env = start("").await;
    let reply = load(&env.server, &token(json!({"tenant_id": ""})), &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 1}]));
    let reply = load(&env.server, &token(json!({"id": 0})), &json!({"measures": ["MyOrders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"MyOrders.count": 1}]));
    let reply = load(&env.server, &token(json!({"tenant_id": []})), &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 0}]), "an empty array matches nothing");
    let reply =
        load(&env.server, &token(json!({"tenant_id": ["acme", "globex"]})), &json!({"measures": ["Orders.count"]}))
            .await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 5}]));
}

#[tokio::test]
async fn bad_queries_get_cube_js_messages_and_400() {
    let env = start("").await;
    let acme = token(json!({"tenant_id": "acme"}));
    let s = &env.server;
    let reply = s.get("/cubejs-api/v1/load", &[("authorization", &acme)]).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (StatusCode::BAD_REQUEST, json!({"error": "query param is required", "code": "invalid_query"}))
    );
    let reply = s.get("/cubejs-api/v1/load?query=%7Bnope", &[("authorization", &acme)]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"].as_str().is_some_and(|e| e.starts_with("Unable to decode query param as JSON, error: ")),
        "{:?}",
        reply.body
    );
    let reply = load(s, &acme, &json!({})).await;
    assert_eq!(
        reply.body["error"],
        "Query should contain either measures, dimensions or timeDimensions with granularities in order to be valid"
    );
    let reply = load(s, &acme, &json!({"measures": ["Orders.nope"]})).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (
            StatusCode::BAD_REQUEST,
            json!({"type": "UserError", "error": "'nope' not found for path 'Orders.nope'", "code": "unknown_member"})
        )
    );
    for (q, needle) in [
        (json!({"measures": ["Orders.count"], "limit": 50001}), "Limit of 50001 is exceeded. Max limit is 50000"),
        (json!({"measures": ["Orders.count"], "offset": -1}), "\"offset\" must be greater than or equal to 0"),
        (
            json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.status", "operator": "likeish", "values": ["x"]}]}),
            "\"filters[0]\" does not match any of the allowed types",
        ),
        (
            json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.userId", "operator": "equals", "values": ["1 OR 1=1"]}]}),
            "is not a valid value",
        ),
        (json!({"measures": ["Orders.count", "MyOrders.count"]}), "Can't find join path to join 'Orders', 'MyOrders'"),
        (json!({"measures": ["Orders.count\"; DROP TABLE orders; --"]}), "fails to match the required pattern"),
    ] {
        let reply = load(s, &acme, &q).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{q}: {:?}", reply.body);
        assert!(reply.body["error"].as_str().is_some_and(|e| e.contains(needle)), "{q}: {:?}", reply.body);
    }
    // Authentication comes first: no token, no parsing.
    let reply = s.get("/cubejs-api/v1/load?query=%7Bnope", &[]).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "missing_token"));
}

#[tokio::test]
async fn sql_dry_run_and_meta_answer_in_cube_js_shapes() {
    let env = start("").await;
    let acme = token(json!({"tenant_id": "acme"}));
    let q = json!({"measures": ["Orders.count"]}).to_string();
    let reply = env
        .server
        .get(&format!("/cubejs-api/v1/sql?query={}", tenantgate::server::url::encode(&q)), &[("authorization", &acme)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["sql"]["sql"],
        json!([
            "SELECT count(*) \"orders__count\" FROM (SELECT * FROM orders WHERE tenant_id = ?1) AS \"orders\" LIMIT 10000",
            ["acme"]
        ])
    );
    let reply = env
        .server
        .get(
            &format!("/cubejs-api/v1/dry-run?query={}", tenantgate::server::url::encode(&q)),
            &[("authorization", &acme)],
        )
        .await;
    assert_eq!(reply.body["queryType"], "regularQuery");
    assert_eq!(reply.body["normalizedQueries"][0]["measures"], json!(["Orders.count"]));
    // Cube.js's transformed query, the same object in both answers.
    let transformed = &reply.body["transformedQueries"][0];
    assert_eq!(transformed["measures"], json!(["Orders.count"]));
    assert_eq!(
        transformed["measureToLeafMeasures"],
        json!({"Orders.count": [{"measure": "Orders.count", "additive": true, "type": "count"}]})
    );
    assert_eq!(transformed["filterDimensionsSingleValueEqual"], json!({}));
    let sql = env
        .server
        .get(&format!("/cubejs-api/v1/sql?query={}", tenantgate::server::url::encode(&q)), &[("authorization", &acme)])
        .await;
    assert_eq!(&sql.body["sql"]["canUseTransformedQuery"], transformed);
    // No result cache: no refresh-key query runs.
    assert_eq!(sql.body["sql"]["cacheKeyQueries"], json!([]));
    let reply = env.server.get("/cubejs-api/v1/meta", &[("authorization", &acme)]).await;
    let names: Vec<&str> =
        reply.body["cubes"].as_array().expect("cubes").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Orders", "Users", "MyOrders", "Slow", "Facts"]);
    assert_eq!(reply.body["cubes"][0]["measures"][1]["name"], "Orders.totalAmount");
    assert_eq!(reply.body["cubes"][0]["measures"][1]["aggType"], "sum");
}

#[tokio::test]
async fn a_query_past_the_statement_timeout_is_stopped_with_503() {
    let env = start("").await;
    let reply = load(&env.server, &token(json!({"tenant_id": "1"})), &json!({"measures": ["Slow.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "query_timeout"), "{:?}", reply.body);
    // The connection went back to the pool and still works.
    let reply = load(&env.server, &token(json!({"tenant_id": "acme"})), &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 3}]));
}

#[tokio::test]
async fn past_the_concurrency_cap_requests_get_503_with_retry_after() {
    let env = start_with("", "max_concurrent_queries = 1\nqueue_timeout = \"50ms\"").await;
    let slow_token = token(json!({"tenant_id": "1"}));
    let addr = env.server.addr;
    let hog = tokio::spawn(async move {
        let path = format!(
            "/cubejs-api/v1/load?query={}",
            tenantgate::server::url::encode(&json!({"measures": ["Slow.count"]}).to_string())
        );
        send(addr, Method::GET, &path, &[("authorization", &slow_token)], Bytes::new()).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acme = token(json!({"tenant_id": "acme"}));
    let reply = load(&env.server, &acme, &json!({"measures": ["Orders.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "db_unavailable"), "{:?}", reply.body);
    assert_eq!(reply.headers["retry-after"], "1");
    assert_eq!(hog.await.expect("task").code(), "query_timeout");
    // The slot is free again.
    assert_eq!(load(&env.server, &acme, &json!({"measures": ["Orders.count"]})).await.status, StatusCode::OK);
}

/// A tiny deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[tokio::test]
async fn random_tokens_and_hostile_queries_never_see_another_tenants_rows() {
    let env = start("").await;
    let hostile = [
        json!("acme"),
        json!("globex"),
        json!("initech"),
        json!(""),
        json!("42 OR 1=1"),
        json!("'; DROP TABLE orders; --"),
        json!("acme' OR '1'='1"),
        json!("ünïcødé ✓"),
        json!(0),
        json!(42),
        json!(false),
        json!(null),
        json!(["acme"]),
        json!(["acme", "globex"]),
        json!([]),
        json!({"$ne": ""}),
        json!([{"tenant": "acme"}]),
    ];
    let filter_values = [
        "completed",
        "completed' OR '1'='1",
        "%",
        "_",
        "\\",
        "globex",
        "acme",
        "'; DROP TABLE orders; --",
        "ünïcødé",
        "0",
        "",
    ];
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (mut ok, mut refused) = (0, 0);
    for i in 0..400 {
        let claim = rng.pick(&hostile).clone();
        let mut extra = json!({"sub": format!("user-{i}")});
        if !rng.chance(10) {
            extra["tenant_id"] = claim.clone();
        }
        let token = token(extra.clone());
        // Half the queries name every member through view Facts.
        let view = rng.chance(50);
        let name = |m: &str| via(m, view);
        let mut filters = Vec::new();
        for _ in 0..(rng.next() % 3) {
            const FILTERED: [&str; 4] = ["Orders.status", "Orders.tenantId", "Users.tenantId", "Users.name"];
            let picked: &&str = rng.pick(&FILTERED);
            let member = via(picked, view);
            let op = *rng.pick(&["equals", "notEquals", "contains", "startsWith", "notContains"]);
            let value = *rng.pick(&filter_values);
            filters.push(json!({"member": member, "operator": op, "values": [value]}));
        }
        if rng.chance(30) {
            filters = vec![json!({"or": [{"and": filters}, {"member": name("Orders.tenantId"), "operator": "set"}]})];
        }
        let mut dims = vec![name("Orders.tenantId")];
        if rng.chance(50) {
            dims.push(name("Orders.status"));
        }
        // Joined: the users' tenant beside the orders', and a measure of the
        // joined cube (a many-to-one target, so counted through its keys).
        if rng.chance(50) {
            dims.push(name("Users.tenantId"));
        }
        let mut measures = vec![name("Orders.count")];
        if rng.chance(40) {
            measures.push(name("Users.count"));
        }
        let q = json!({"measures": measures, "dimensions": dims, "filters": filters});
        let reply = load(&env.server, &token, &q).await;
        assert!(reply.status.as_u16() < 500, "token {extra} query {q}: {} {:?}", reply.status, reply.body);

        let allowed: Option<Vec<String>> = match extra.get("tenant_id") {
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                Some(a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            }
            // Numbers and booleans are bound as such; no tenant is named
            // 0, 42 or false, so they may match nothing.
            Some(Value::Number(_) | Value::Bool(_)) => Some(Vec::new()),
            _ => None,
        };
        match (reply.status, allowed) {
            (StatusCode::OK, Some(allowed)) => {
                ok += 1;
                for row in reply.body["data"].as_array().expect("rows") {
                    let tenant = row[name("Orders.tenantId")].as_str().unwrap_or("<none>");
                    assert!(allowed.iter().any(|a| a == tenant), "token {extra} saw tenant {tenant:?} with query {q}");
                    // A user of another tenant is never joined in: NULL instead.
                    if let Some(user_tenant) = row.get(name("Users.tenantId")).filter(|v| !v.is_null()) {
                        let t = user_tenant.as_str().unwrap_or("<none>");
                        assert!(allowed.iter().any(|a| a == t), "token {extra} saw user tenant {t:?} with query {q}");
                    }
                }
            }
            (StatusCode::FORBIDDEN, None) => {
                refused += 1;
                assert_eq!(reply.code(), "missing_security_context", "{extra}");
            }
            (StatusCode::BAD_REQUEST, None) => {
                refused += 1;
                assert_eq!(reply.code(), "invalid_security_context", "{extra}");
            }
            (status, allowed) => {
                panic!("token {extra} query {q}: unexpected {status} (allowed {allowed:?}): {:?}", reply.body)
            }
        }
    }
    assert!(ok > 200 && refused > 20, "the generator must exercise both outcomes ({ok} ok, {refused} refused)");
    // Nothing was ever executed from a value: the table is intact.
    let db = env._dir.path().join("orders.sqlite");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let n: i64 = conn.query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 9);
}

/// A model with no filter at all, guarded by configuration instead.
const UNFILTERED: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - name: count
        type: count
      - name: totalAmount
        sql: amount
        type: sum
    dimensions:
      - name: tenantId
        sql: tenant_id
        type: string
      - name: status
        sql: status
        type: string
"#;

async fn start_unfiltered(config: &str) -> Env {
    start_env(UNFILTERED, "", "", config).await
}

#[tokio::test]
async fn access_rules_force_the_tenant_filter_into_every_query() {
    let env = start_unfiltered(
        "[[access.rules]]\ncube = \"Orders\"\nmember = \"Orders.tenantId\"\noperator = \"equals\"\nvalue = \"{SECURITY_CONTEXT.tenant_id}\"\n",
    )
    .await;
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.tenantId"]});
    let reply = load(&env.server, &token(json!({"tenant_id": "globex"})), &q).await;
    assert_eq!(reply.body["data"], json!([{"Orders.tenantId": "globex", "Orders.count": 2}]));
    // A filter the client adds cannot widen the rule: both must hold.
    let widen = json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.tenantId", "operator": "equals", "values": ["acme"]}]});
    let reply = load(&env.server, &token(json!({"tenant_id": "globex"})), &widen).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 0}]));
    let reply = load(&env.server, &token(json!({"sub": "x"})), &q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "missing_security_context"));
}

#[tokio::test]
async fn roles_grant_members_and_meta_shows_only_what_they_grant() {
    let env = start_unfiltered(
        "[access]\nroles_key = \"groups\"\n\
         [[access.roles]]\nname = \"analyst\"\ncubes = [\"Orders\"]\n\
         [[access.roles]]\nname = \"viewer\"\nmembers = [\"Orders.count\", \"Orders.status\"]\n",
    )
    .await;
    let viewer = token(json!({"groups": ["viewer"]}));
    let reply =
        load(&env.server, &viewer, &json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let reply = load(&env.server, &viewer, &json!({"measures": ["Orders.totalAmount"]})).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (
            StatusCode::FORBIDDEN,
            json!({"error": "Member 'Orders.totalAmount' is not granted to this token's roles", "code": "member_not_allowed"})
        )
    );
    // A filter on an ungranted member is refused too.
    let sneaky = json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.tenantId", "operator": "equals", "values": ["acme"]}]});
    assert_eq!(load(&env.server, &viewer, &sneaky).await.code(), "member_not_allowed");
    let q = tenantgate::server::url::encode(&json!({"measures": ["Orders.totalAmount"]}).to_string());
    let reply = env.server.get(&format!("/cubejs-api/v1/sql?query={q}"), &[("authorization", &viewer)]).await;
    assert_eq!(reply.code(), "member_not_allowed");

    let meta = env.server.get("/cubejs-api/v1/meta", &[("authorization", &viewer)]).await;
    let names = |kind: &str| -> Vec<String> {
        meta.body["cubes"][0][kind]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        (names("measures"), names("dimensions")),
        (vec!["Orders.count".to_string()], vec!["Orders.status".to_string()])
    );
    let analyst = token(json!({"groups": "analyst"}));
    assert_eq!(load(&env.server, &analyst, &json!({"measures": ["Orders.totalAmount"]})).await.status, StatusCode::OK);
    let nobody = token(json!({}));
    let meta = env.server.get("/cubejs-api/v1/meta", &[("authorization", &nobody)]).await;
    assert_eq!(meta.body["cubes"], json!([]));
}

#[tokio::test]
async fn tenants_are_routed_to_their_own_database_or_refused() {
    let env = start_unfiltered(
        "[tenancy]\ntenant_key = \"tenant_id\"\nrequire_known_tenant = true\n[tenants.initech]\nsqlite_path = \"{INITECH}\"\n[tenants.acme]\nsqlite_path = \"{INITECH}\"\n",
    )
    .await;
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.tenantId"]});
    // initech's own file holds only initech's rows.
    let reply = load(&env.server, &token(json!({"tenant_id": "initech"})), &q).await;
    assert_eq!(reply.body["data"], json!([{"Orders.tenantId": "initech", "Orders.count": 2}]));
    let reply = load(&env.server, &token(json!({"tenant_id": "umbrella"})), &q).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (StatusCode::FORBIDDEN, json!({"error": "Tenant 'umbrella' is not configured", "code": "unknown_tenant"}))
    );
    for bad in [json!(["acme"]), json!({"id": "acme"}), json!(null), json!(true), json!("")] {
        let reply = load(&env.server, &token(json!({"tenant_id": bad.clone()})), &q).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "invalid_tenant"), "{bad}");
    }
    let reply = load(&env.server, &token(json!({"sub": "no tenant"})), &q).await;
    assert_eq!(reply.code(), "invalid_tenant");
}

/// Two cubes over one table: `Catalog` is granted whole to the viewer,
/// `Orders` only in part. Used by the filter-prefix and rules tests.
const TWO_CUBES: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: amount
        sql: amount
        type: number
      - name: status
        sql: status
        type: string
      - name: tenantId
        sql: tenant_id
        type: string
  - name: Catalog
    sql_table: orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: amount
        sql: amount
        type: number
"#;

const VIEWER_ROLES: &str = "[access]\nroles_key = \"groups\"\n\
     [[access.roles]]\nname = \"viewer\"\ncubes = [\"Catalog\"]\nmembers = [\"Orders.count\", \"Orders.status\"]\n";

#[tokio::test]
async fn a_filter_on_another_cubes_member_never_resolves_to_the_queried_cube() {
    let env = start_env(TWO_CUBES, "", "", VIEWER_ROLES).await;
    let viewer = token(json!({"groups": ["viewer"]}));
    // Before the fix this ran as `"orders".amount > ?` and let a role that
    // grants all of Catalog bisect Orders.amount, which it is not granted.
    for (op, nested) in [("gt", false), ("gte", true)] {
        let f = json!({"member": "Catalog.amount", "operator": op, "values": [400]});
        let filters = if nested { json!([{"or": [{"and": [f]}]}]) } else { json!([f]) };
        let q = json!({"measures": ["Orders.count"], "filters": filters});
        let reply = load(&env.server, &viewer, &q).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{op}: {:?}", reply.body);
        assert_eq!(
            reply.body,
            json!({"type": "UserError", "error": "Can't find join path to join 'Orders', 'Catalog'", "code": "no_join_path"})
        );
    }
    // A cube that does not exist is an unknown member, not a silent match.
    let q =
        json!({"measures": ["Orders.count"], "filters": [{"member": "Nope.amount", "operator": "gt", "values": [1]}]});
    assert_eq!(load(&env.server, &viewer, &q).await.code(), "unknown_member");
    // The member of the queried cube is judged by the grants as it is.
    let q = json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.amount", "operator": "gt", "values": [1]}]});
    assert_eq!(load(&env.server, &viewer, &q).await.code(), "member_not_allowed");
    // Ordering by a member reveals as much as selecting it: judged alike.
    let q = json!({"dimensions": ["Orders.status"], "ungrouped": true, "order": {"Orders.amount": "desc"}});
    assert_eq!(load(&env.server, &viewer, &q).await.code(), "member_not_allowed");
    // And what the role grants still works.
    let q = json!({"measures": ["Catalog.count"], "filters": [{"member": "Catalog.amount", "operator": "gt", "values": [50]}]});
    let reply = load(&env.server, &viewer, &q).await;
    assert_eq!(reply.body["data"], json!([{"Catalog.count": 1}]), "{:?}", reply.body);
}

#[tokio::test]
async fn forced_rule_filters_are_not_judged_against_the_callers_role_grants() {
    let rules = "[[access.rules]]\ncube = \"Orders\"\nmember = \"Orders.tenantId\"\noperator = \"equals\"\nvalue = \"{SECURITY_CONTEXT.tenant_id}\"\n";
    let env = start_env(TWO_CUBES, "", "", &format!("{VIEWER_ROLES}{rules}")).await;
    let viewer = token(json!({"groups": ["viewer"], "tenant_id": "globex"}));
    // Orders.tenantId is not granted, but the rule that forces it is ours.
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "order": {"Orders.status": "asc"}});
    let reply = load(&env.server, &viewer, &q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!([{"Orders.status": "cancelled", "Orders.count": 1}, {"Orders.status": "completed", "Orders.count": 1}])
    );
    // The client naming it itself is still refused.
    let q = json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.tenantId", "operator": "set"}]});
    assert_eq!(load(&env.server, &viewer, &q).await.code(), "member_not_allowed");
}

#[tokio::test]
async fn results_past_the_cell_budget_or_the_response_cap_are_refused_with_result_too_large() {
    let env = start_with("", "max_result_cells = 10\nmax_response_bytes = 4000").await;
    let acme = token(json!({"tenant_id": "acme"}));
    // acme has 3 orders: 3 rows x 2 columns = 6 cells, within 10.
    let q = json!({"dimensions": ["Orders.id", "Orders.status"], "order": {"Orders.id": "asc"}});
    let reply = load(&env.server, &acme, &q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["data"].as_array().map(Vec::len), Some(3));
    // Two such results in one request (a blend, so by day): 12 cells, over
    // the budget.
    let daily = json!({"dimensions": ["Orders.id"], "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "day"}]});
    let body = Bytes::from(json!({"query": [daily, daily], "queryType": "multi"}).to_string());
    let reply = env.server.request(Method::POST, "/cubejs-api/v1/load", &[("authorization", &acme)], body).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "result_too_large"), "{:?}", reply.body);
    assert!(reply.body["error"].as_str().unwrap_or("").contains("10 cells"), "{:?}", reply.body);

    // The byte cap: a result whose JSON passes 600 bytes.
    let env = start_with("", "max_response_bytes = 600").await;
    let reply = load(&env.server, &acme, &q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "result_too_large"), "{:?}", reply.body);
    assert!(reply.body["error"].as_str().unwrap_or("").contains("600 bytes"), "{:?}", reply.body);
    // A small one still fits.
    let reply = load(&env.server, &acme, &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 3}]), "{:?}", reply.body);
}

async fn statements_running(server: &TestServer) -> Option<u64> {
    let text = get_text(server.addr, "/metrics").await;
    text.lines().find_map(|l| l.strip_prefix("tenantgate_db_statements_running ")).and_then(|n| n.trim().parse().ok())
}

#[tokio::test]
async fn a_statement_whose_client_disconnects_is_interrupted_and_frees_its_slot() {
    // A statement timeout far beyond the test: only the interrupt can stop it.
    let env =
        start_env(MODEL, "", "statement_timeout = \"60s\"\nmax_concurrent_queries = 1\nqueue_timeout = \"100ms\"", "")
            .await;
    let addr = env.server.addr;
    let slow_token = token(json!({"tenant_id": "1"}));
    let path = format!(
        "/cubejs-api/v1/load?query={}",
        tenantgate::server::url::encode(&json!({"measures": ["Slow.count"]}).to_string())
    );
    let hog = send_and_hold(addr, &path, &slow_token).await;
    // Wait until it runs, then hang up.
    let seen = eventually(Duration::from_secs(1), || async { statements_running(&env.server).await == Some(1) }).await;
    assert!(seen, "the slow statement never started");
    drop(hog);
    let stopped =
        eventually(Duration::from_secs(2), || async { statements_running(&env.server).await == Some(0) }).await;
    assert!(stopped, "the abandoned statement kept running");
    // Its slot is free: with a cap of 1, the next query runs.
    let acme = token(json!({"tenant_id": "acme"}));
    let reply = load(&env.server, &acme, &json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 3}]), "{:?}", reply.body);
}

#[tokio::test]
async fn listed_tenants_refuse_an_unlisted_one_by_default_and_explicit_false_keeps_the_default_database() {
    let tenants = "[tenants.initech]\nsqlite_path = \"{INITECH}\"\n";
    let q = json!({"measures": ["Orders.count"]});
    let umbrella = token(json!({"tenant_id": "umbrella"}));
    let env = start_unfiltered(&format!("[tenancy]\ntenant_key = \"tenant_id\"\n{tenants}")).await;
    let reply = load(&env.server, &umbrella, &q).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (StatusCode::FORBIDDEN, json!({"error": "Tenant 'umbrella' is not configured", "code": "unknown_tenant"}))
    );
    let reply = load(&env.server, &token(json!({"tenant_id": "initech"})), &q).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 2}]));
    env.server.stop().await;

    // Opting out: an unlisted tenant reads the default database (here,
    // with an unfiltered model, every row of it).
    let env =
        start_unfiltered(&format!("[tenancy]\ntenant_key = \"tenant_id\"\nrequire_known_tenant = false\n{tenants}"))
            .await;
    let reply = load(&env.server, &umbrella, &q).await;
    assert_eq!((reply.status, reply.body["data"].clone()), (StatusCode::OK, json!([{"Orders.count": 9}])));
    env.server.stop().await;
}

/// Visibility and documentation keys, and a member tenantgate cannot answer.
const DOCUMENTED: &str = r#"
cubes:
  - name: Orders
    sql_table: orders
    description: Every order
    meta:
      owner: sales
    measures:
      - name: count
        type: count
        description: Orders placed
        format: number
        drill_members: [id, status]
      - name: staged
        sql: amount
        type: sum
        multi_stage: true
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
        meta:
          colour: green
      - name: tenantId
        sql: tenant_id
        type: string
        public: false
  - name: Internal
    sql_table: orders
    shown: false
    measures:
      - name: count
        type: count
"#;

#[tokio::test]
async fn hidden_and_unsupported_members_are_400_and_meta_carries_docs_without_hidden_members() {
    let env = start_env(DOCUMENTED, "", "", "").await;
    let t = token(json!({"sub": "x"}));
    for (q, code, message) in [
        (
            json!({"dimensions": ["Orders.id"]}),
            "hidden_member",
            "You requested hidden member: 'Orders.id'. Please make it visible using `public: true`. Please note primaryKey fields are `public: false` by default: https://cube.dev/docs/schema/reference/joins#setting-a-primary-key.",
        ),
        (
            json!({"measures": ["Internal.count"]}),
            "hidden_member",
            "You requested hidden member: 'Internal.count'. Please make it visible using `public: true`. Please note primaryKey fields are `public: false` by default: https://cube.dev/docs/schema/reference/joins#setting-a-primary-key.",
        ),
        (
            json!({"measures": ["Orders.staged"]}),
            "member_not_supported",
            "Member 'Orders.staged' uses multi_stage, which tenantgate does not support",
        ),
    ] {
        let reply = load(&env.server, &t, &q).await;
        assert_eq!(
            (reply.status, reply.body.clone()),
            (StatusCode::BAD_REQUEST, json!({"error": message, "code": code}))
        );
    }
    // Hidden members may still be filtered on, as in Cube.js.
    let q = json!({"measures": ["Orders.count"], "filters": [
        {"member": "Orders.id", "operator": "lte", "values": [3]},
        {"member": "Orders.tenantId", "operator": "equals", "values": ["acme"]}
    ]});
    let reply = load(&env.server, &t, &q).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 3}]), "{:?}", reply.body);

    let meta = env.server.get("/cubejs-api/v1/meta", &[("authorization", &t)]).await;
    let cubes = meta.body["cubes"].as_array().expect("cubes");
    assert_eq!(cubes.len(), 1, "a hidden cube is absent: {cubes:?}");
    let orders = &cubes[0];
    assert_eq!((&orders["description"], &orders["meta"]), (&json!("Every order"), &json!({"owner": "sales"})));
    let count = &orders["measures"][0];
    assert_eq!(
        (&count["description"], &count["format"], &count["drillMembers"], &count["drillMembersGrouped"]),
        (
            &json!("Orders placed"),
            &json!("number"),
            &json!(["Orders.id", "Orders.status"]),
            &json!({"measures": [], "dimensions": ["Orders.id", "Orders.status"]})
        )
    );
    let dims: Vec<&str> =
        orders["dimensions"].as_array().expect("dims").iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(dims, ["Orders.status"], "the primary key and the public: false dimension are absent");
    assert_eq!(orders["dimensions"][0]["meta"], json!({"colour": "green"}));
    assert!(orders["dimensions"][0].get("description").is_none(), "unset keys stay out, as in Cube.js");
}
