//! The result cache through the real server: what decides a key (tenant,
//! route, session settings), renewQuery, lastRefreshTime, expiry, the byte
//! bound, refresh keys and single flight, on real SQLite and PostgreSQL.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::pg::{TestDb, admin_url};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};

const SEED: &str = r#"
CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, status TEXT NOT NULL);
INSERT INTO orders VALUES (1, 'acme', 'completed'), (2, 'acme', 'shipped'), (3, 'globex', 'completed');
"#;

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
      - name: status
        sql: status
        type: string
  - name: Keyed
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    refresh_key:
      sql: SELECT max(id) FROM orders
    measures:
      - name: count
        type: count
  - name: Slow
    sql: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) SELECT x FROM c WHERE {SECURITY_CONTEXT.tenant_id.filter('x')} OR 1 = 1
    measures:
      - name: count
        type: count
"#;

struct Env {
    dir: tempfile::TempDir,
    server: TestServer,
}

impl Env {
    fn db(&self) -> PathBuf {
        self.dir.path().join("orders.sqlite")
    }

    /// Write to the database behind the server's back.
    fn execute(&self, sql: &str) {
        rusqlite::Connection::open(self.db()).expect("open").execute_batch(sql).expect("write");
    }

    async fn metric(&self, name: &str) -> u64 {
        metric(self.server.addr, name).await
    }
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    metric_of(addr, "result", name).await
}

/// `name{cache="<cache>"}` from /metrics.
async fn metric_of(addr: std::net::SocketAddr, cache: &str, name: &str) -> u64 {
    let text = get_text(addr, "/metrics").await;
    let line = format!("{name}{{cache=\"{cache}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        panic!("no {line} in /metrics:\n{text}");
    })
}

/// The server with `[cache] enabled` and `cache` under it, on SQLite.
async fn start(cache: &str) -> Env {
    start_with(cache, "").await
}

/// `db_extra` goes under `[database]`.
async fn start_with(cache: &str, db_extra: &str) -> Env {
    start_section(&format!("enabled = true\n{cache}"), db_extra).await
}

/// `section` is the whole `[cache]` section.
async fn start_section(section: &str, db_extra: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    let db = dir.path().join("orders.sqlite");
    rusqlite::Connection::open(&db).expect("create").execute_batch(SEED).expect("seed");
    let server = TestServer::start(&config_section(dir.path(), &db, db_extra, section)).await;
    Env { dir, server }
}

fn config(dir: &Path, db: &Path, db_extra: &str, cache: &str) -> String {
    config_section(dir, db, db_extra, &format!("enabled = true\n{cache}"))
}

fn config_section(dir: &Path, db: &Path, db_extra: &str, section: &str) -> String {
    format!(
        "{}\n[model]\npath = \"{}\"\n[database]\npath = \"{}\"\n{db_extra}\n[cache]\n{section}\n",
        secret_config(""),
        dir.join("model").display(),
        db.display(),
    )
}

fn token(tenant: &str) -> String {
    hs256(SECRET, &claims(json!({"tenant_id": tenant})))
}

async fn load(server: &TestServer, token: &str, query: &Value) -> Reply {
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&query.to_string()));
    let reply = server.get(&path, &[("authorization", token)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply
}

fn count() -> Value {
    json!({"measures": ["Orders.count"]})
}

#[tokio::test]
async fn two_tenants_sending_the_same_query_never_get_each_others_cached_rows() {
    let env = start("").await;
    let (acme, globex) = (token("acme"), token("globex"));
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "order": {"Orders.status": "asc"}});
    let a = load(&env.server, &acme, &q).await;
    let g = load(&env.server, &globex, &q).await;
    assert_eq!(
        a.body["data"],
        json!([{"Orders.status": "completed", "Orders.count": 1}, {"Orders.status": "shipped", "Orders.count": 1}])
    );
    assert_eq!(g.body["data"], json!([{"Orders.status": "completed", "Orders.count": 1}]));
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 2, "one entry per tenant");
    // Each tenant's second request is its own hit, with its own rows.
    assert_eq!(load(&env.server, &globex, &q).await.body["data"], g.body["data"]);
    assert_eq!(load(&env.server, &acme, &q).await.body["data"], a.body["data"]);
    assert_eq!(env.metric("tenantgate_cache_hits_total").await, 2);
    env.server.stop().await;
}

#[tokio::test]
async fn a_cached_result_reports_when_it_was_computed_and_renew_query_computes_afresh() {
    let env = start("ttl = \"1h\"").await;
    let acme = token("acme");
    let before = now();
    let first = load(&env.server, &acme, &count()).await;
    assert_eq!(first.body["data"], json!([{"Orders.count": 2}]));
    let computed = first.body["lastRefreshTime"].as_str().expect("lastRefreshTime").to_string();
    assert!(computed.as_str() >= tenantgate::db::iso_utc_millis((before - 1) * 1000).as_str(), "{computed}");

    env.execute("INSERT INTO orders VALUES (10, 'acme', 'new')");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cached = load(&env.server, &acme, &count()).await;
    assert_eq!(cached.body["data"], json!([{"Orders.count": 2}]), "served from the cache");
    assert_eq!(cached.body["lastRefreshTime"], first.body["lastRefreshTime"], "the time it was computed");

    let renewed = load(&env.server, &acme, &json!({"measures": ["Orders.count"], "renewQuery": true})).await;
    assert_eq!(renewed.body["data"], json!([{"Orders.count": 3}]));
    assert!(renewed.body["lastRefreshTime"].as_str() > Some(computed.as_str()), "{:?}", renewed.body);
    // The renewed result replaced the entry.
    let after = load(&env.server, &acme, &count()).await;
    assert_eq!(after.body["data"], json!([{"Orders.count": 3}]));
    assert_eq!(after.body["lastRefreshTime"], renewed.body["lastRefreshTime"]);
    env.server.stop().await;
}

#[tokio::test]
async fn a_result_expires_after_the_ttl() {
    let env = start("ttl = \"300ms\"").await;
    let acme = token("acme");
    assert_eq!(load(&env.server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    env.execute("INSERT INTO orders VALUES (10, 'acme', 'new')");
    assert_eq!(load(&env.server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(load(&env.server, &acme, &count()).await.body["data"], json!([{"Orders.count": 3}]));
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 2);
    env.server.stop().await;
}

#[tokio::test]
async fn the_byte_bound_evicts_older_results() {
    // Each `Orders.id` result is about 150 bytes with its overhead; 1 KiB
    // holds a few, not twenty.
    let env = start("max_bytes = 1024\nttl = \"1h\"").await;
    let acme = token("acme");
    for limit in 1..=20 {
        load(&env.server, &acme, &json!({"dimensions": ["Orders.id"], "limit": limit})).await;
    }
    assert!(env.metric("tenantgate_cache_evictions_total").await > 0);
    assert!(env.metric("tenantgate_cache_bytes").await <= 1024);
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 20);
    // Whatever was evicted is computed again, and still right.
    let mut misses = 20;
    for limit in 1..=20 {
        let reply = load(&env.server, &acme, &json!({"dimensions": ["Orders.id"], "limit": limit})).await;
        assert_eq!(reply.body["data"].as_array().map(Vec::len), Some((limit as usize).min(2)));
        misses = env.metric("tenantgate_cache_misses_total").await;
    }
    assert!(misses > 30, "most were evicted and recomputed ({misses} misses)");
    env.server.stop().await;
}

#[tokio::test]
async fn a_sql_refresh_key_keeps_a_result_until_its_value_changes() {
    let env = start("ttl = \"100ms\"\nrefresh_key_check = \"200ms\"").await;
    let acme = token("acme");
    let q = json!({"measures": ["Keyed.count"]});
    let first = load(&env.server, &acme, &q).await;
    assert_eq!(first.body["data"], json!([{"Keyed.count": 2}]));
    // Past ttl, but the refresh key is unchanged: still the cached result.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let same = load(&env.server, &acme, &q).await;
    assert_eq!(same.body["lastRefreshTime"], first.body["lastRefreshTime"]);
    // A new max(id): a new key once the refresh key is checked again.
    env.execute("INSERT INTO orders VALUES (10, 'acme', 'new')");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(load(&env.server, &acme, &q).await.body["data"], json!([{"Keyed.count": 3}]));
    env.server.stop().await;
}

/// `/sql`'s `cacheKeyQueries` lists the refresh-key query the cache runs
/// for the query's cube, in Cube.js's shape, and nothing for a cube whose
/// results live for a time (no query runs for it).
#[tokio::test]
async fn sql_lists_the_refresh_key_query_the_cache_runs_and_none_for_a_time_to_live() {
    let env = start("refresh_key_check = \"30s\"").await;
    let acme = token("acme");
    let sql = |q: Value| {
        let path = format!("/cubejs-api/v1/sql?query={}", tenantgate::server::url::encode(&q.to_string()));
        let (server, acme) = (&env.server, acme.clone());
        async move { server.get(&path, &[("authorization", &acme)]).await }
    };
    let keyed = sql(json!({"measures": ["Keyed.count"]})).await;
    assert_eq!(keyed.status, StatusCode::OK, "{:?}", keyed.body);
    assert_eq!(
        keyed.body["sql"]["cacheKeyQueries"],
        json!([["SELECT max(id) FROM orders", [], {"external": false, "renewalThreshold": 30}]])
    );
    let ttl = sql(count()).await;
    assert_eq!(ttl.body["sql"]["cacheKeyQueries"], json!([]));
    env.server.stop().await;
}

#[tokio::test]
async fn identical_queries_in_flight_at_once_run_once() {
    let env = start("ttl = \"1h\"").await;
    let acme = token("acme");
    let q = json!({"measures": ["Slow.count"]});
    let replies = futures_join(&env.server, &acme, &q, 5).await;
    for r in &replies {
        assert_eq!(r.body["data"], json!([{"Slow.count": 400_000}]));
    }
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 1);
    assert_eq!(env.metric("tenantgate_cache_hits_total").await, 4);
    env.server.stop().await;
}

async fn futures_join(server: &TestServer, token: &str, q: &Value, n: usize) -> Vec<Reply> {
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&q.to_string()));
    let auth = token.to_string();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (addr, path, auth) = (server.addr, path.clone(), auth.clone());
            tokio::spawn(async move {
                send(addr, http::Method::GET, &path, &[("authorization", &auth)], Default::default()).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn a_refused_statement_is_not_cached() {
    let env = start_with("ttl = \"1h\"", "max_rows = 1").await;
    let acme = token("acme");
    let path = format!(
        "/cubejs-api/v1/load?query={}",
        tenantgate::server::url::encode(&json!({"dimensions": ["Orders.id"]}).to_string())
    );
    // acme has two rows, one more than max_rows: refused each time, and
    // each time computed (neither a cached success nor a cached error).
    for _ in 0..2 {
        let reply = env.server.get(&path, &[("authorization", &acme)]).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "result_too_large"), "{:?}", reply.body);
    }
    assert_eq!(env.metric("tenantgate_cache_entries").await, 0);
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 2);
    env.server.stop().await;
}

#[tokio::test]
async fn session_settings_are_part_of_the_key_on_postgres() {
    let Some(admin) = admin_url("session_settings_are_part_of_the_key_on_postgres") else { return };
    let db = TestDb::create(&admin, "cache_rls").await;
    let role = format!("{}_app", db.name);
    db.execute(
        "CREATE TABLE orders (id int4 PRIMARY KEY, tenant_id text NOT NULL);
         INSERT INTO orders VALUES (1, 'acme'), (2, 'acme'), (3, 'globex');",
    )
    .await;
    db.execute(&format!(
        "DROP ROLE IF EXISTS {role};
         CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS;
         GRANT SELECT ON orders TO {role};
         ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
         ALTER TABLE orders FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant_wall ON orders USING (tenant_id = current_setting('app.tenant_id', true));"
    ))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    // No SECURITY_CONTEXT in the model: the SQL and its parameters are the
    // same for every token; only the session setting differs.
    std::fs::write(
        dir.path().join("model/orders.yml"),
        "cubes:\n  - name: Unfiltered\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n",
    )
    .expect("model");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{}\"\n\
         [database.session]\n\"app.tenant_id\" = \"{{SECURITY_CONTEXT.tenant_id}}\"\n[cache]\nenabled = true\nttl = \"1h\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        db.url(Some(&role)),
    );
    let server = TestServer::start(&cfg).await;
    let q = json!({"measures": ["Unfiltered.count"]});
    assert_eq!(load(&server, &token("acme"), &q).await.body["data"], json!([{"Unfiltered.count": "2"}]));
    assert_eq!(load(&server, &token("globex"), &q).await.body["data"], json!([{"Unfiltered.count": "1"}]));
    assert_eq!(load(&server, &token("acme"), &q).await.body["data"], json!([{"Unfiltered.count": "2"}]));
    assert_eq!(metric(server.addr, "tenantgate_cache_misses_total").await, 2);
    assert_eq!(metric(server.addr, "tenantgate_cache_hits_total").await, 1);
    server.stop().await;
    db.drop_now().await;
    let admin_client = common::pg::connect(&admin).await;
    let _ = admin_client.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).await;
}

/// Redis for tests: `TENANTGATE_TEST_REDIS_URL`, else the local default
/// when it answers; without either the test is skipped with a `SKIPPED`
/// line, unless `TENANTGATE_REQUIRE_REDIS=1` (set by `.ci/run`).
fn redis_url(test: &str) -> Option<String> {
    use std::io::Write as _;
    if let Ok(url) = std::env::var("TENANTGATE_TEST_REDIS_URL")
        && !url.is_empty()
    {
        return Some(url);
    }
    let addr = "127.0.0.1:6379".parse().expect("address");
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return Some("redis://127.0.0.1:6379".into());
    }
    assert!(std::env::var("TENANTGATE_REQUIRE_REDIS").as_deref() != Ok("1"), "TENANTGATE_REQUIRE_REDIS=1 but no Redis");
    let _ =
        writeln!(std::io::stderr(), "SKIPPED {test}: no Redis at 127.0.0.1:6379 and TENANTGATE_TEST_REDIS_URL unset");
    None
}

#[tokio::test]
async fn a_result_computed_by_one_replica_is_served_by_another_through_redis() {
    let Some(url) = redis_url("a_result_computed_by_one_replica_is_served_by_another_through_redis") else { return };
    let first = start(&format!("ttl = \"1h\"\nbackend = \"redis\"\nurl = \"{url}\"")).await;
    // The second replica: the same model and database file, its own memory.
    let cfg = config(first.dir.path(), &first.db(), "", &format!("ttl = \"1h\"\nbackend = \"redis\"\nurl = \"{url}\""));
    let second = TestServer::start(&cfg).await;
    let acme = token("acme");
    let computed = load(&first.server, &acme, &count()).await;
    assert_eq!(computed.body["data"], json!([{"Orders.count": 2}]));
    // The write to Redis is off the response's path.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Were the second replica to ask the database, it would count 3.
    first.execute("INSERT INTO orders VALUES (10, 'acme', 'new')");
    let shared = load(&second, &acme, &count()).await;
    assert_eq!(shared.body["data"], json!([{"Orders.count": 2}]), "served from Redis, not the database");
    assert_eq!(shared.body["lastRefreshTime"], computed.body["lastRefreshTime"]);
    assert_eq!(metric(second.addr, "tenantgate_cache_misses_total").await, 0);
    assert_eq!(metric(second.addr, "tenantgate_cache_hits_total").await, 1);
    // Another tenant's query is not the first replica's entry.
    let globex = load(&second, &token("globex"), &count()).await;
    assert_eq!(globex.body["data"], json!([{"Orders.count": 1}]));
    second.stop().await;
    first.server.stop().await;
}

#[tokio::test]
async fn with_redis_down_requests_are_answered_from_memory_and_the_database() {
    // Nothing listens on port 1.
    let env = start("ttl = \"1h\"\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:1\"").await;
    let acme = token("acme");
    assert_eq!(load(&env.server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    assert_eq!(load(&env.server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    assert_eq!(env.metric("tenantgate_cache_misses_total").await, 1);
    assert_eq!(env.metric("tenantgate_cache_hits_total").await, 1);
    env.server.stop().await;
}

/// A model whose SQL and parameters are the same for every tenant: only the
/// route (a tenant's schema or file) tells their rows apart.
const UNFILTERED: &str =
    "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n";

/// Each tenant's request twice (the second a hit), in turns.
async fn each_tenant_gets_its_own_rows(server: &TestServer, expected: &[(&str, i64)]) {
    let q = json!({"measures": ["Orders.count"]});
    for _ in 0..2 {
        for (tenant, rows) in expected {
            let reply = load(server, &token(tenant), &q).await;
            // A number on SQLite, a string on PostgreSQL (int8, as node-pg).
            let count = &reply.body["data"][0]["Orders.count"];
            let count = count.as_i64().or_else(|| count.as_str().and_then(|s| s.parse().ok()));
            assert_eq!((reply.body["data"].as_array().map(Vec::len), count), (Some(1), Some(*rows)), "{tenant}");
        }
    }
    let n = expected.len() as u64;
    assert_eq!(metric(server.addr, "tenantgate_cache_misses_total").await, n, "one entry per tenant");
    assert_eq!(metric(server.addr, "tenantgate_cache_hits_total").await, n);
}

#[tokio::test]
async fn tenants_with_their_own_sqlite_files_never_share_a_cached_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), UNFILTERED).expect("model");
    let mut tenants = String::from("[tenancy]\ntenant_key = \"tenant_id\"\n");
    for (tenant, rows) in [("acme", 2), ("globex", 1)] {
        let file = dir.path().join(format!("{tenant}.sqlite"));
        let conn = rusqlite::Connection::open(&file).expect("create");
        conn.execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY);").expect("table");
        for id in 0..rows {
            conn.execute("INSERT INTO orders VALUES (?1)", [id]).expect("row");
        }
        tenants.push_str(&format!("[tenants.{tenant}]\nsqlite_path = \"{}\"\n", file.display()));
    }
    let default_db = dir.path().join("default.sqlite");
    rusqlite::Connection::open(&default_db).expect("create").execute_batch(SEED).expect("seed");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\npath = \"{}\"\n{tenants}[cache]\nenabled = true\nttl = \"1h\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        default_db.display(),
    );
    let server = TestServer::start(&cfg).await;
    each_tenant_gets_its_own_rows(&server, &[("acme", 2), ("globex", 1)]).await;
    server.stop().await;
}

#[tokio::test]
async fn tenants_on_different_schemas_never_share_a_cached_result_on_postgres() {
    let Some(admin) = admin_url("tenants_on_different_schemas_never_share_a_cached_result_on_postgres") else {
        return;
    };
    let db = TestDb::create(&admin, "cache_schemas").await;
    db.execute(
        "CREATE SCHEMA acme_s; CREATE SCHEMA globex_s;
         CREATE TABLE acme_s.orders (id int4); INSERT INTO acme_s.orders VALUES (1), (2), (3);
         CREATE TABLE globex_s.orders (id int4); INSERT INTO globex_s.orders VALUES (4);",
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(dir.path().join("model/orders.yml"), UNFILTERED).expect("model");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{}\"\n\
         [tenancy]\ntenant_key = \"tenant_id\"\n[tenants.acme]\nschema = \"acme_s\"\n[tenants.globex]\nschema = \"globex_s\"\n\
         [cache]\nenabled = true\nttl = \"1h\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        db.url(None),
    );
    let server = TestServer::start(&cfg).await;
    each_tenant_gets_its_own_rows(&server, &[("acme", 3), ("globex", 1)]).await;
    server.stop().await;
    db.drop_now().await;
}

/// The result cache off, so every request reads the database: a plan
/// served to the wrong caller would show as the wrong tenant's rows.
async fn start_without_result_cache(cache: &str) -> Env {
    start_section(&format!("enabled = false\n{cache}"), "").await
}

#[tokio::test]
async fn plans_are_kept_per_security_context_and_never_shared_between_tenants() {
    let env = start_without_result_cache("").await;
    let server = &env.server;
    let (acme, globex) = (token("acme"), token("globex"));
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "order": {"Orders.status": "asc"}});
    let acme_rows =
        json!([{"Orders.status": "completed", "Orders.count": 1}, {"Orders.status": "shipped", "Orders.count": 1}]);
    let globex_rows = json!([{"Orders.status": "completed", "Orders.count": 1}]);
    for _ in 0..3 {
        assert_eq!(load(server, &acme, &q).await.body["data"], acme_rows);
        assert_eq!(load(server, &globex, &q).await.body["data"], globex_rows);
    }
    let plan = |name| metric_of(server.addr, "plan", name);
    assert_eq!((plan("tenantgate_cache_misses_total").await, plan("tenantgate_cache_hits_total").await), (2, 4));
    assert_eq!(plan("tenantgate_cache_entries").await, 2, "one plan per caller");
    // A context that differs in any claim is planned afresh, even for the
    // same tenant; so is another query.
    let other = hs256(SECRET, &claims(json!({"tenant_id": "acme", "sub": "someone-else"})));
    assert_eq!(load(server, &other, &q).await.body["data"], acme_rows);
    assert_eq!(load(server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    assert_eq!(plan("tenantgate_cache_misses_total").await, 4);
    // A refused query is never kept: asked twice, planned twice.
    let bad = json!({"measures": ["Orders.nope"]});
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&bad.to_string()));
    for _ in 0..2 {
        assert_eq!(server.get(&path, &[("authorization", &acme)]).await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(plan("tenantgate_cache_misses_total").await, 6);
    assert_eq!(plan("tenantgate_cache_entries").await, 4);
    env.server.stop().await;
}

#[tokio::test]
async fn plan_max_bytes_0_turns_the_plan_cache_off() {
    let env = start_without_result_cache("plan_max_bytes = 0").await;
    let server = &env.server;
    let acme = token("acme");
    for _ in 0..2 {
        assert_eq!(load(server, &acme, &count()).await.body["data"], json!([{"Orders.count": 2}]));
    }
    assert!(!get_text(server.addr, "/metrics").await.contains("cache=\"plan\""));
    env.server.stop().await;
}
