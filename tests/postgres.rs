//! The query engine on real PostgreSQL: results and types, parameters
//! converted to inferred types, row-level security as a second wall, the
//! statement timeout, and a database that disappears and comes back.

use crate::common;

use std::time::Duration;

use common::pg::{DEFAULT_URL, TestDb, admin_url, resolve};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};

const SEED: &str = r#"
CREATE TABLE orders (
  id int4 PRIMARY KEY,
  user_id int4 NOT NULL,
  tenant_id text NOT NULL,
  amount numeric(12,2) NOT NULL,
  big int8 NOT NULL,
  paid bool NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO orders VALUES
 (1, 1, 'acme', 10.50, 1, true, 'completed', '2024-01-05T10:00:00Z'),
 (2, 1, 'acme', 20.00, 9007199254740993, false, 'shipped', '2024-01-20T10:00:00Z'),
 (3, 2, 'acme', 5.25, 3, true, 'completed', '2024-02-01T08:30:00Z'),
 (4, 3, 'globex', 100.00, 4, true, 'completed', '2024-02-02T09:00:00Z'),
 (5, 3, 'globex', 7.00, 5, false, 'cancelled', '2024-03-03T09:00:00Z');
"#;

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
      - name: maxBig
        sql: big
        type: max
    dimensions:
      - name: id
        sql: id
        type: number
      - name: amount
        sql: amount
        type: number
      - name: big
        sql: big
        type: number
      - name: paid
        sql: paid
        type: boolean
      - name: status
        sql: status
        type: string
      - name: createdAt
        sql: created_at
        type: time
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
  - name: MyOrders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.id.filter('user_id')}
    measures:
      - name: count
        type: count
  - name: Unfiltered
    sql_table: orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: tenantId
        sql: tenant_id
        type: string
  - name: Slow
    sql: SELECT orders.* FROM orders, pg_sleep(5) WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
"#;

struct Env {
    _dir: tempfile::TempDir,
    server: TestServer,
}

async fn start(url: &str, db_extra: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{url}\"\nstatement_timeout = \"500ms\"\nqueue_timeout = \"1s\"\n{db_extra}\n",
        secret_config(""),
        dir.path().join("model").display()
    );
    Env { _dir: dir, server: TestServer::start(&cfg).await }
}

async fn load(server: &TestServer, claims_: Value, query: Value) -> Reply {
    let token = hs256(SECRET, &claims(claims_));
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&query.to_string()));
    server.get(&path, &[("authorization", &token)]).await
}

#[tokio::test]
async fn results_keep_their_types_and_precision_on_postgres() {
    let Some(admin) = admin_url("results_keep_their_types_and_precision_on_postgres") else { return };
    let db = TestDb::create(&admin, "types").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "").await;
    let acme = json!({"tenant_id": "acme"});

    let reply = load(
        &env.server,
        acme.clone(),
        json!({"dimensions": ["Orders.id", "Orders.amount", "Orders.big", "Orders.paid", "Orders.status", "Orders.createdAt"], "order": [["Orders.id", "asc"]]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"][1],
        json!({
            "Orders.id": 2, "Orders.amount": "20.00", "Orders.big": "9007199254740993", "Orders.paid": false,
            "Orders.status": "shipped", "Orders.createdAt": "2024-01-20T10:00:00.000"
        })
    );
    assert_eq!(reply.body["dbType"], "postgres");

    let reply = load(
        &env.server,
        acme.clone(),
        json!({"measures": ["Orders.count", "Orders.totalAmount"], "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-02-29"]}]}),
    )
    .await;
    assert_eq!(
        reply.body["data"],
        json!([
            {"Orders.createdAt.month": "2024-01-01T00:00:00.000", "Orders.createdAt": "2024-01-01T00:00:00.000", "Orders.count": "2", "Orders.totalAmount": "30.50"},
            {"Orders.createdAt.month": "2024-02-01T00:00:00.000", "Orders.createdAt": "2024-02-01T00:00:00.000", "Orders.count": "1", "Orders.totalAmount": "5.25"},
        ])
    );

    // Values converted to each parameter's type: an int8 context value for
    // an int4 column, a decimal string for numeric, text for a boolean.
    let reply = load(&env.server, json!({"id": 1}), json!({"measures": ["MyOrders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"MyOrders.count": "2"}]));
    let reply = load(
        &env.server,
        acme.clone(),
        json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.amount", "operator": "gte", "values": ["10.50"]}, {"member": "Orders.paid", "operator": "equals", "values": ["true"]}]}),
    )
    .await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": "1"}]));

    // A client's value the column cannot hold is the client's 400.
    let reply = load(&env.server, json!({"id": 5_000_000_000_i64}), json!({"measures": ["MyOrders.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_value"), "{:?}", reply.body);
    let reply = load(&env.server, json!({"id": "one"}), json!({"measures": ["MyOrders.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_value"));

    let reply = load(&env.server, acme, json!({"measures": ["Slow.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "query_timeout"), "{:?}", reply.body);
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn date_operators_bound_at_the_start_of_their_day_and_null_is_is_null_on_postgres() {
    let Some(admin) = admin_url("date_operators_bound_at_the_start_of_their_day_and_null_is_is_null_on_postgres")
    else {
        return;
    };
    let db = TestDb::create(&admin, "dateops").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "").await;
    let count = |filter: Value| {
        let server = &env.server;
        async move {
            let reply =
                load(server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"], "filters": [filter]}))
                    .await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            reply.body["data"][0]["Orders.count"].to_string().trim_matches('"').to_string()
        }
    };
    let f = |op: &str, values: Value| json!({"member": "Orders.createdAt", "operator": op, "values": values});
    // acme's orders: 2024-01-05 10:00, 2024-01-20 10:00, 2024-02-01 08:30 (UTC).
    assert_eq!(count(f("afterDate", json!(["2024-02-01"]))).await, "1", "after 2024-02-01T00:00:00.000");
    assert_eq!(count(f("afterOrOnDate", json!(["2024-01-20"]))).await, "2");
    assert_eq!(count(f("beforeDate", json!(["2024-01-20"]))).await, "1");
    assert_eq!(count(f("beforeOrOnDate", json!(["2024-01-20T10:00:00"]))).await, "2");
    let s = |op: &str, values: Value| json!({"member": "Orders.status", "operator": op, "values": values});
    assert_eq!(count(s("equals", json!([null]))).await, "0");
    assert_eq!(count(s("notEquals", json!(["shipped", null]))).await, "2");
    assert_eq!(count(s("notStartsWith", json!(["c"]))).await, "1");
    assert_eq!(count(s("notEndsWith", json!(["ped"]))).await, "2");
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_query_timezone_buckets_and_ranges_in_local_time_on_postgres() {
    let Some(admin) = admin_url("a_query_timezone_buckets_and_ranges_in_local_time_on_postgres") else { return };
    let db = TestDb::create(&admin, "tz").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "").await;
    // Kiritimati is UTC+14: 2024-01-05T10:00Z is 2024-01-06T00:00 there,
    // 2024-01-20T10:00Z is 2024-01-21T00:00, 2024-02-01T08:30Z is 22:30.
    let q = json!({"measures": ["Orders.count"], "timezone": "Pacific/Kiritimati",
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "day", "dateRange": ["2024-01-06", "2024-01-31"]}]});
    let reply = load(&env.server, json!({"tenant_id": "acme"}), q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let days: Vec<&str> = reply.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["Orders.createdAt.day"].as_str())
        .collect();
    assert_eq!(days, ["2024-01-06T00:00:00.000", "2024-01-21T00:00:00.000"]);
    // Month buckets in Berlin (UTC+1 in winter): the same two months.
    let q = json!({"measures": ["Orders.count"], "timezone": "Europe/Berlin",
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-02-29"]}]});
    let reply = load(&env.server, json!({"tenant_id": "acme"}), q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["data"].as_array().map(Vec::len), Some(2), "{:?}", reply.body);
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn two_tenants_running_totals_and_rolling_windows_never_mix_on_postgres() {
    let Some(admin) = admin_url("two_tenants_running_totals_and_rolling_windows_never_mix_on_postgres") else { return };
    let db = TestDb::create(&admin, "cumulative").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "").await;
    let q = json!({"measures": ["Running.total", "Running.lastMonth"], "timezone": "Europe/Berlin",
        "timeDimensions": [{"dimension": "Running.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-03-31"]}]});
    let rows = |reply: &Reply| -> Vec<(Value, Value)> {
        reply.body["data"]
            .as_array()
            .map(|r| r.iter().map(|r| (r["Running.total"].clone(), r["Running.lastMonth"].clone())).collect())
            .unwrap_or_default()
    };
    let acme = load(&env.server, json!({"tenant_id": "acme"}), q.clone()).await;
    assert_eq!(acme.status, StatusCode::OK, "{:?}", acme.body);
    // NUMERIC sums and int8 counts are strings, as node-pg gives them.
    assert_eq!(
        rows(&acme),
        vec![(json!("30.50"), json!("2")), (json!("35.75"), json!("1")), (json!("35.75"), Value::Null)]
    );
    let globex = load(&env.server, json!({"tenant_id": "globex"}), q.clone()).await;
    assert_eq!(
        rows(&globex),
        vec![(Value::Null, Value::Null), (json!("100.00"), json!("1")), (json!("107.00"), json!("1"))]
    );
    let months: Vec<&str> = globex.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Running.createdAt.month"].as_str())
        .collect();
    assert_eq!(months, ["2024-01-01T00:00:00.000", "2024-02-01T00:00:00.000", "2024-03-01T00:00:00.000"]);
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn row_level_security_holds_even_when_the_model_forgets_its_filter() {
    let Some(admin) = admin_url("row_level_security_holds_even_when_the_model_forgets_its_filter") else { return };
    let db = TestDb::create(&admin, "rls").await;
    let role = format!("{}_app", db.name);
    db.execute(SEED).await;
    // A non-superuser without BYPASSRLS, on a table that forces RLS even for
    // its owner: a superuser would bypass the policy and prove nothing.
    db.execute(&format!(
        "DROP ROLE IF EXISTS {role};
         CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS;
         GRANT SELECT ON orders TO {role};
         ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
         ALTER TABLE orders FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant_wall ON orders USING (tenant_id = current_setting('app.tenant_id', true));"
    ))
    .await;
    let session = "[database.session]\n\"app.tenant_id\" = \"{SECURITY_CONTEXT.tenant_id}\"";
    let env = start(&db.url(Some(&role)), session).await;

    // `Unfiltered` has no SECURITY_CONTEXT filter at all; the database refuses
    // the other tenants' rows anyway.
    let q = json!({"measures": ["Unfiltered.count"], "dimensions": ["Unfiltered.tenantId"]});
    let reply = load(&env.server, json!({"tenant_id": "globex"}), q.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["data"], json!([{"Unfiltered.tenantId": "globex", "Unfiltered.count": "2"}]));
    let reply = load(&env.server, json!({"tenant_id": "acme"}), q.clone()).await;
    assert_eq!(reply.body["data"], json!([{"Unfiltered.tenantId": "acme", "Unfiltered.count": "3"}]));
    // No tenant in the token: refused before the database is asked.
    let reply = load(&env.server, json!({"sub": "x"}), q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "missing_security_context"));
    env.server.stop().await;

    // Control: the same role without the session setting sees nothing, so
    // the policy (not the server) is what filtered above.
    let client = common::pg::connect(&db.url(Some(&role))).await;
    let n: i64 = client.query_one("SELECT count(*) FROM orders", &[]).await.expect("count").get(0);
    assert_eq!(n, 0);
    drop(client);
    db.drop_now().await;
    let admin_client = common::pg::connect(&admin).await;
    let _ = admin_client.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).await;
}

/// A TCP proxy the test can cut and restore, between the server and
/// PostgreSQL.
struct Proxy {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (flag, gen_tx) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, up, generation }
    }

    /// Drop every proxied connection and refuse new ones.
    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_that_disappears_mid_run_gives_503_and_the_server_recovers_without_restart() {
    let Some(admin) = admin_url("a_database_that_disappears_mid_run_gives_503_and_the_server_recovers_without_restart")
    else {
        return;
    };
    let db = TestDb::create(&admin, "proxy").await;
    db.execute(SEED).await;
    let cfg: tokio_postgres::Config = db.url(None).parse().expect("url");
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let target = tokio::net::lookup_host((host.as_str(), cfg.get_ports().first().copied().unwrap_or(5432)))
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let proxy = Proxy::start(target).await;
    let url = format!("postgres://{}@{}/{}", cfg.get_user().unwrap_or("postgres"), proxy.addr, db.name);
    let env = start(&url, "").await;
    let q = json!({"measures": ["Orders.count"]});
    let acme = json!({"tenant_id": "acme"});
    assert_eq!(load(&env.server, acme.clone(), q.clone()).await.body["data"], json!([{"Orders.count": "3"}]));

    proxy.cut();
    let reply = load(&env.server, acme.clone(), q.clone()).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "db_unavailable"), "{:?}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        let reply = load(&env.server, acme.clone(), q.clone()).await;
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body["data"], json!([{"Orders.count": "3"}]));
            recovered = true;
            break;
        }
        assert!(reply.status.as_u16() == 503, "{:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server must recover once the database is back");
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn tenants_are_routed_to_their_schema_or_their_own_database() {
    let Some(admin) = admin_url("tenants_are_routed_to_their_schema_or_their_own_database") else { return };
    let db = TestDb::create(&admin, "tenants").await;
    let own = TestDb::create(&admin, "tenant_own").await;
    // Same table name in two schemas and in another database, each with
    // different rows; the model has no filter at all.
    db.execute(
        "CREATE SCHEMA acme_s; CREATE SCHEMA globex_s;
         CREATE TABLE acme_s.orders (id int4, status text); INSERT INTO acme_s.orders VALUES (1, 'a'), (2, 'a');
         CREATE TABLE globex_s.orders (id int4, status text); INSERT INTO globex_s.orders VALUES (3, 'g');",
    )
    .await;
    own.execute("CREATE TABLE orders (id int4, status text); INSERT INTO orders VALUES (4, 'i'), (5, 'i'), (6, 'i');")
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(
        dir.path().join("model/orders.yml"),
        "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - name: count\n        type: count\n    dimensions:\n      - name: status\n        sql: status\n        type: string\n",
    )
    .expect("model");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{}\"\n\
         [tenancy]\ntenant_key = \"org.id\"\n\
         [tenants.acme]\nschema = \"acme_s\"\n[tenants.globex]\nschema = \"globex_s\"\n[tenants.initech]\ndatabase_url = \"{}\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        db.url(None),
        own.url(None)
    );
    let server = TestServer::start(&cfg).await;
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"]});
    for (tenant, expect) in [
        ("acme", json!([{"Orders.status": "a", "Orders.count": "2"}])),
        ("globex", json!([{"Orders.status": "g", "Orders.count": "1"}])),
        ("initech", json!([{"Orders.status": "i", "Orders.count": "3"}])),
    ] {
        let reply = load(&server, json!({"org": {"id": tenant}}), q.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{tenant}: {:?}", reply.body);
        assert_eq!(reply.body["data"], expect, "{tenant}");
    }
    // With tenants listed, one not listed is refused (require_known_tenant
    // defaults to true), never sent to the default source.
    let reply = load(&server, json!({"org": {"id": "umbrella"}}), q.clone()).await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::FORBIDDEN, json!({"error": "Tenant 'umbrella' is not configured", "code": "unknown_tenant"}))
    );
    let reply = load(&server, json!({"org": {"id": ["acme", "globex"]}}), q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "invalid_tenant"));
    server.stop().await;
    db.drop_now().await;
    own.drop_now().await;
}

/// One connection (`max_concurrent_queries = 1`), so every statement reuses
/// what that connection prepared: the same query text for two tenant
/// schemas whose tables differ in a column's type and in their rows. Each
/// tenant gets its own rows and types, every time, whichever went first.
#[tokio::test]
async fn a_statement_prepared_once_per_connection_is_never_reused_under_another_schema() {
    let Some(admin) = admin_url("a_statement_prepared_once_per_connection_is_never_reused_under_another_schema") else {
        return;
    };
    let db = TestDb::create(&admin, "prepared").await;
    db.execute(
        "CREATE SCHEMA acme_p; CREATE SCHEMA globex_p;
         CREATE TABLE acme_p.orders (id int4, code int4); INSERT INTO acme_p.orders VALUES (1, 7), (2, 7);
         CREATE TABLE globex_p.orders (id int4, code text); INSERT INTO globex_p.orders VALUES (3, 'x');",
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(
        dir.path().join("model/orders.yml"),
        "cubes:\n  - name: Orders\n    sql_table: orders\n    measures:\n      - {name: count, type: count}\n    dimensions:\n      - {name: code, sql: code, type: string}\n",
    )
    .expect("model");
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{}\"\nmax_concurrent_queries = 1\n\
         [tenancy]\ntenant_key = \"org.id\"\n[tenants.acme]\nschema = \"acme_p\"\n[tenants.globex]\nschema = \"globex_p\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        db.url(None),
    );
    let server = TestServer::start(&cfg).await;
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.code"]});
    for round in 0..4 {
        for tenant in if round % 2 == 0 { ["acme", "globex"] } else { ["globex", "acme"] } {
            let reply = load(&server, json!({"org": {"id": tenant}}), q.clone()).await;
            assert_eq!(reply.status, StatusCode::OK, "{tenant}, round {round}: {:?}", reply.body);
            let data = &reply.body["data"];
            let rows = data.as_array().expect("rows");
            assert_eq!(rows.len(), 1, "{tenant}: {data}");
            let code = &rows[0]["Orders.code"];
            match tenant {
                "acme" => assert_eq!(code, &json!(7), "acme's int4 column, round {round}"),
                _ => assert_eq!(code, &json!("x"), "globex's text column, round {round}"),
            }
        }
    }
    server.stop().await;
    db.drop_now().await;
}

/// Terminates PostgreSQL's TLS with the fixture certificate (127.0.0.1,
/// signed by `fixtures/tls/ca.pem`) and forwards in plain text, so the
/// server's verified TLS path is exercised against a real database.
async fn tls_terminating_proxy(target: std::net::SocketAddr) -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tenantgate::install_crypto_provider();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(fixture("tls/cert.pem"))
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(fixture("tls/key.pem")).expect("key");
    let cfg = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // SSLRequest: length 8, code 80877103; answer 'S' (go ahead).
                let mut req = [0u8; 8];
                if inbound.read_exact(&mut req).await.is_err() || req != [0, 0, 0, 8, 4, 210, 22, 47] {
                    return;
                }
                if inbound.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(inbound).await else { return };
                let Ok(mut db) = tokio::net::TcpStream::connect(target).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut db).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tls_to_postgres_is_verified_and_never_falls_back_to_plain_text() {
    let Some(admin) = admin_url("tls_to_postgres_is_verified_and_never_falls_back_to_plain_text") else { return };
    let db = TestDb::create(&admin, "tls").await;
    db.execute(SEED).await;
    let cfg: tokio_postgres::Config = db.url(None).parse().expect("url");
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let target = tokio::net::lookup_host((host.as_str(), port)).await.expect("resolve").next().expect("addr");
    let proxy = tls_terminating_proxy(target).await;
    let user = cfg.get_user().unwrap_or("postgres");

    let url = format!("postgres://{user}@{proxy}/{}", db.name);
    let tls = format!("ssl = true\nca_file = \"{}\"", fixture("tls/ca.pem"));
    let env = start(&url, &tls).await;
    let reply = load(&env.server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["data"], json!([{"Orders.count": "3"}]));
    env.server.stop().await;

    // Without the CA the certificate does not verify: 503, not plain text.
    let env = start(&url, "ssl = true").await;
    let reply = load(&env.server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "db_unavailable"), "{:?}", reply.body);
    env.server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn client_query_shapes_that_postgres_would_refuse_are_400_before_any_sql() {
    let Some(admin) = admin_url("client_query_shapes_that_postgres_would_refuse_are_400_before_any_sql") else {
        return;
    };
    let db = TestDb::create(&admin, "hostile").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "max_concurrent_queries = 2\n").await;
    let token = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let mut failures = Vec::new();
    for (what, q) in common::hostile::client_queries_that_must_be_400() {
        let body = hyper::body::Bytes::from(json!({ "query": q }).to_string());
        let reply =
            env.server.request(http::Method::POST, "/cubejs-api/v1/load", &[("authorization", &token)], body).await;
        if (reply.status, reply.code()) != (StatusCode::BAD_REQUEST, "invalid_query") {
            failures.push(format!("{what}: {} {}", reply.status, reply.body));
        }
    }
    // The pool is intact: a normal query still runs.
    let reply = load(&env.server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": "3"}]), "{:?}", reply.body);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    db.drop_now().await;
}

/// Statements of this test's database still running on the server.
async fn active_sleeps(db: &TestDb) -> i64 {
    let client = common::pg::connect(&db.url(None)).await;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tenantgate' \
             AND state = 'active' AND query LIKE '%pg_sleep%'",
            &[&db.name],
        )
        .await
        .expect("pg_stat_activity");
    row.get(0)
}

#[tokio::test]
async fn a_statement_whose_client_disconnects_is_cancelled_on_the_server() {
    let Some(admin) = admin_url("a_statement_whose_client_disconnects_is_cancelled_on_the_server") else { return };
    let db = TestDb::create(&admin, "abandon").await;
    db.execute(SEED).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    // Slow sleeps 5 s, within the statement timeout: only a cancel stops it.
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\ntype = \"postgres\"\nurl = \"{}\"\nstatement_timeout = \"30s\"\nmax_concurrent_queries = 1\nqueue_timeout = \"3s\"\n",
        secret_config(""),
        dir.path().join("model").display(),
        db.url(None)
    );
    let server = TestServer::start(&cfg).await;
    let slow = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));
    let path = format!(
        "/cubejs-api/v1/load?query={}",
        tenantgate::server::url::encode(&json!({"measures": ["Slow.count"]}).to_string())
    );
    let hog = send_and_hold(server.addr, &path, &slow).await;
    let running = eventually(Duration::from_secs(2), || async { active_sleeps(&db).await == 1 }).await;
    assert!(running, "the slow statement never started");
    drop(hog);
    // Under 5 s, the sleep's own length: only a cancel ends it this soon.
    let cancelled = eventually(Duration::from_secs(4), || async { active_sleeps(&db).await == 0 }).await;
    assert!(cancelled, "the abandoned statement kept running on the server");
    // The slot came back with it: with a cap of 1, the next query runs.
    let reply = load(&server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"]})).await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": "3"}]), "{:?}", reply.body);
    server.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn database_driver_text_stays_in_the_log_and_out_of_the_response() {
    let Some(admin) = admin_url("database_driver_text_stays_in_the_log_and_out_of_the_response") else { return };
    let db = TestDb::create(&admin, "drvtext").await;
    db.execute(SEED).await;
    let env = start(&db.url(None), "").await;
    // PostgreSQL refuses the month 13 (22008); its words stay in the log.
    let q = json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.createdAt", "operator": "beforeDate", "values": ["2024-13-45"]}]});
    let reply = load(&env.server, json!({"tenant_id": "acme"}), q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_value"), "{:?}", reply.body);
    let text = reply.body.to_string();
    assert!(text.contains("22008") && !text.contains("out of range"), "{text}");
    // A role that does not exist: no user or host name in the body.
    let env = start(&db.url(Some("tg_no_such_role")), "").await;
    let reply = load(&env.server, json!({"tenant_id": "acme"}), json!({"measures": ["Orders.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "db_unavailable"), "{:?}", reply.body);
    let text = reply.body.to_string();
    assert!(!text.contains("tg_no_such_role") && !text.contains("127.0.0.1"), "{text}");
    db.drop_now().await;
}

#[test]
fn without_tenantgate_test_pg_url_the_local_default_is_used_when_a_server_answers_there() {
    let never = || -> bool { panic!("the default is not probed when the variable is set") };
    assert_eq!(resolve(Some("postgres://u@db:6543/x"), never), Ok("postgres://u@db:6543/x".to_string()));
    for unset in [None, Some("")] {
        assert_eq!(resolve(unset, || true), Ok(DEFAULT_URL.to_string()), "{unset:?}");
        assert_eq!(
            resolve(unset, || false),
            Err("TENANTGATE_TEST_PG_URL is not set and no server answers at 127.0.0.1:5432".to_string()),
            "{unset:?}"
        );
    }
}
