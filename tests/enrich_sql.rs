//! `[[auth.enrich]]`'s `sql` form: claims looked up by a parameterized
//! statement on the configured database, SQLite and PostgreSQL, through the
//! real server. The claim value is always a bound parameter: hostile values
//! find nothing and change nothing.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::pg::{TestDb, admin_url};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};

const SEED: &str = "CREATE TABLE entitlements (sub TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, groups TEXT NOT NULL, level INTEGER NOT NULL);\n\
     INSERT INTO entitlements VALUES ('u1', 'looked-up', '[\"analysts\"]', 3), ('u2', 'other', '[]', 1), ('o''brien', 'quoted', '[]', 2);\n";

const LOOKUP: &str = "SELECT tenant_id, groups, level FROM entitlements WHERE sub = $1";

fn enrich(sql: &str, extra: &str) -> String {
    format!("[[auth.enrich]]\nkey = \"sub\"\nsql = \"{sql}\"\njson_columns = [\"groups\"]\nttl = \"1s\"\n{extra}\n")
}

struct Env {
    dir: tempfile::TempDir,
    server: TestServer,
}

impl Env {
    /// A writable connection to the server's SQLite file (it reads it
    /// read-only), to change the data under it.
    fn write(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.dir.path().join("data.sqlite")).expect("open");
        conn.execute_batch(sql).expect("write");
    }
}

async fn sqlite(enrich: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        "{}\n[database]\npath = \"{}\"\nseed = \"{}\"\n{enrich}",
        secret_config(""),
        dir.path().join("data.sqlite").display(),
        dir.path().join("seed.sql").display()
    );
    let server = TestServer::start(&cfg).await;
    Env { dir, server }
}

async fn postgres(url: &str, enrich: &str) -> TestServer {
    let cfg = format!("{}\n[database]\ntype = \"postgres\"\nurl = \"{url}\"\n{enrich}", secret_config(""));
    TestServer::start(&cfg).await
}

fn token(extra: Value) -> String {
    hs256(SECRET, &claims(extra))
}

fn ctx(r: &Reply) -> &Value {
    &r.body["securityContext"]
}

/// The behaviour both databases share.
async fn found_missing_and_hostile(server: &TestServer) {
    let r = server.whoami(&token(json!({"sub": "u1", "tenant_id": "signed"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(ctx(&r)["tenant_id"], "signed", "a verified claim wins");
    assert_eq!((&ctx(&r)["groups"], &ctx(&r)["level"]), (&json!(["analysts"]), &json!(3)), "json_columns parsed");

    let r = server.whoami(&token(json!({"sub": "nobody"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "enrichment_not_found"), "{:?}", r.body);

    // Quotes in a value are data: the row whose key holds one is found...
    let r = server.whoami(&token(json!({"sub": "o'brien"}))).await;
    assert_eq!(ctx(&r)["tenant_id"], "quoted", "{:?}", r.body);
    // ...and values that would rewrite a formatted statement find nothing
    // and change nothing.
    for hostile in ["nobody' OR '1'='1", "u1' --", "x'; DROP TABLE entitlements; --", "u1\0"] {
        let r = server.whoami(&token(json!({"sub": hostile}))).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "enrichment_not_found"), "{hostile:?}: {:?}", r.body);
    }
    let r = server.whoami(&token(json!({"sub": "u2"}))).await;
    assert_eq!(ctx(&r)["tenant_id"], "other", "the table is intact: {:?}", r.body);
    // A token without the key is left as it is.
    let r = server.whoami(&token(json!({"tenant_id": "t"}))).await;
    assert_eq!((r.status, ctx(&r).get("level")), (StatusCode::OK, None));
}

#[tokio::test]
async fn sqlite_lookups_bind_the_claim_and_merge_the_one_row() {
    let env = sqlite(&enrich(LOOKUP, "")).await;
    found_missing_and_hostile(&env.server).await;
    env.server.stop().await;

    let env = sqlite(&enrich(LOOKUP, "into = \"entitlements\"\non_error = \"continue\"")).await;
    let r = env.server.whoami(&token(json!({"sub": "u1"}))).await;
    assert_eq!(ctx(&r)["entitlements"]["tenant_id"], "looked-up");
    let r = env.server.whoami(&token(json!({"sub": "nobody", "tenant_id": "signed"}))).await;
    assert_eq!((r.status, ctx(&r)["tenant_id"].as_str()), (StatusCode::OK, Some("signed")), "on_error = continue");
    env.server.stop().await;
}

#[tokio::test]
async fn a_numeric_key_is_bound_as_a_number() {
    let sql = "SELECT tenant_id, groups FROM entitlements WHERE level = $1";
    let env = sqlite(&enrich(sql, "").replace("key = \"sub\"", "key = \"lvl\"")).await;
    let r = env.server.whoami(&token(json!({"lvl": 3}))).await;
    assert_eq!(ctx(&r)["tenant_id"], "looked-up", "{:?}", r.body);
    let r = env.server.whoami(&token(json!({"lvl": "3 OR 1=1"}))).await;
    assert_eq!(r.code(), "enrichment_not_found", "{:?}", r.body);
    env.server.stop().await;
}

#[tokio::test]
async fn a_database_error_fails_closed_and_is_never_cached() {
    let env = sqlite(&enrich("SELECT tenant_id, groups FROM later WHERE sub = $1", "")).await;
    let t = token(json!({"sub": "u1"}));
    for _ in 0..2 {
        let r = env.server.whoami(&t).await;
        assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "enrichment_unavailable"), "{:?}", r.body);
        assert!(!r.body.to_string().contains("later"), "the database's words stay in the log: {:?}", r.body);
    }
    env.write(
        "CREATE TABLE later (sub TEXT, tenant_id TEXT, groups TEXT); INSERT INTO later VALUES ('u1', 'now', '[]');",
    );
    let r = env.server.whoami(&t).await;
    assert_eq!(ctx(&r)["tenant_id"], "now", "the failure was not cached: {:?}", r.body);
    // Two rows for one key is not an answer either.
    env.write("INSERT INTO later VALUES ('u2', 'a', '[]'), ('u2', 'b', '[]');");
    let r = env.server.whoami(&token(json!({"sub": "u2"}))).await;
    assert_eq!(r.code(), "enrichment_unavailable", "{:?}", r.body);
    // A json column that is not JSON.
    env.write("INSERT INTO later VALUES ('u3', 'a', 'not json');");
    let r = env.server.whoami(&token(json!({"sub": "u3"}))).await;
    assert_eq!(r.code(), "enrichment_unavailable", "{:?}", r.body);
    env.server.stop().await;
}

#[tokio::test]
async fn a_slow_statement_is_cut_at_the_timeout() {
    let slow = "SELECT tenant_id, groups FROM entitlements, (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT max(x) AS m FROM c) WHERE sub = $1";
    let env = sqlite(&enrich(slow, "timeout = \"200ms\"")).await;
    let started = std::time::Instant::now();
    let r = env.server.whoami(&token(json!({"sub": "u1"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "enrichment_unavailable"), "{:?}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5), "answered at the deadline, not the statement's end");
    env.server.stop().await;
}

#[tokio::test]
async fn lookups_are_cached_per_value_for_ttl_and_concurrent_cold_ones_make_one_call() {
    let env = sqlite(&enrich(LOOKUP, "")).await;
    let server = Arc::new(env.server);
    let t = token(json!({"sub": "u1"}));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (s, t) = (Arc::clone(&server), t.clone());
        tasks.spawn(async move { s.whoami(&t).await.body["securityContext"]["tenant_id"].clone() });
    }
    while let Some(tenant) = tasks.join_next().await {
        assert_eq!(tenant.expect("task"), "looked-up");
    }
    let metrics = common::get_text(server.addr, "/metrics").await;
    assert!(
        metrics.contains("tenantgate_enrichment_calls_total{enrich=\"auth.enrich[0]\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    // The row changes under a cached entry: served from the cache until ttl.
    let conn = rusqlite::Connection::open(env.dir.path().join("data.sqlite")).expect("open");
    conn.execute_batch("UPDATE entitlements SET tenant_id = 'moved' WHERE sub = 'u1'").expect("update");
    assert_eq!(ctx(&server.whoami(&t).await)["tenant_id"], "looked-up", "a cache hit");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ctx(&server.whoami(&t).await)["tenant_id"], "moved", "expired after ttl");
    let metrics = common::get_text(server.addr, "/metrics").await;
    assert!(metrics.contains("tenantgate_enrichment_cache_hits_total{enrich=\"auth.enrich[0]\"} 1"), "{metrics}");
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
}

#[tokio::test]
async fn postgres_lookups_bind_the_claim_and_fail_closed_on_errors() {
    let Some(admin) = admin_url("postgres_lookups_bind_the_claim_and_fail_closed_on_errors") else { return };
    let db = TestDb::create(&admin, "enrich").await;
    db.execute(SEED).await;
    let server = postgres(&db.url(None), &enrich(LOOKUP, "")).await;
    found_missing_and_hostile(&server).await;
    server.stop().await;

    // A statement the database cannot run: closed, with our words.
    let server = postgres(&db.url(None), &enrich("SELECT tenant_id FROM missing_table WHERE sub = $1", "")).await;
    let r = server.whoami(&token(json!({"sub": "u1"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "enrichment_unavailable"), "{:?}", r.body);
    server.stop().await;
    let sql = "SELECT tenant_id, groups FROM entitlements WHERE level = $1";
    let server = postgres(&db.url(None), &enrich(sql, "").replace("key = \"sub\"", "key = \"lvl\"")).await;
    assert_eq!(ctx(&server.whoami(&token(json!({"lvl": 3}))).await)["tenant_id"], "looked-up");
    // A value the parameter's type cannot hold matches no row: the
    // client's 403, not the database's 503.
    let r = server.whoami(&token(json!({"lvl": "3 OR 1=1"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "enrichment_not_found"), "{:?}", r.body);
    server.stop().await;
    db.drop_now().await;
}

#[test]
fn the_sql_form_is_checked_when_configuration_loads() {
    let toml = format!(
        "{}\n[[auth.enrich]]\nkey = \"sub\"\nsql = \"SELECT a FROM t WHERE sub = '\" \n\
         [[auth.enrich]]\nkey = \"sub\"\nsql = \"SELECT a FROM t WHERE sub = $1 AND t = $2\"\n\
         [[auth.enrich]]\nkey = \"sub\"\nsql = \"SELECT 1 WHERE $1\"\nurl = \"https://x.example/{{sub}}\"\n\
         [[auth.enrich]]\nkey = \"sub\"\nsql = \"SELECT 1 WHERE $1 = $1\"\nca_file = \"ca.pem\"\n",
        secret_config("")
    );
    let errors = common::load_config("test", &toml, &[]).expect_err("invalid").messages();
    let f = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, rest)| rest.to_string());
    let one = "must use the key's value as its one parameter, $1 (bound, never formatted into the text), and no other";
    assert_eq!(
        errors.iter().map(|e| f(e)).collect::<Vec<_>>(),
        vec![
            format!("auth.enrich[0].sql: {one}"),
            format!("auth.enrich[1].sql: {one}"),
            "auth.enrich[2].sql: set url or sql, not both".to_string(),
            "auth.enrich[3].ca_file: unknown key".to_string(),
            "auth.enrich[3].sql: needs a [database] to run on".to_string(),
        ]
    );
}
