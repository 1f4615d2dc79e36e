//! Cube.js 0.33's response shapes and words, through the real server on real
//! SQLite: the query echo, annotations, `/sql`, `/dry-run`, blending and the
//! error strings, each as `scripts/cube-conformance/` found the real Cube.js
//! answering.

use crate::common;

use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};

const SEED: &str = r#"
CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, amount NUMERIC NOT NULL,
  status TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO orders VALUES
 (1, 'acme', 10.50, 'completed', '2024-01-05T10:00:00.000Z'),
 (2, 'acme', 20.00, 'shipped', '2024-01-20T10:00:00.000Z'),
 (3, 'acme', 5.25, 'completed', '2024-02-01T08:30:00.000Z'),
 (4, 'globex', 100.00, 'completed', '2024-02-02T09:00:00.000Z');
CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO users VALUES (1, 'acme', '2024-01-02T00:00:00.000Z'), (2, 'acme', '2024-02-03T00:00:00.000Z');
"#;

const MODEL: &str = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: status
        sql: status
        type: string
      - name: createdAt
        sql: created_at
        type: time
    segments:
      - name: completed
        sql: "{CUBE}.status = 'completed'"
  - name: Users
    sql: SELECT * FROM users WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - name: count
        type: count
    dimensions:
      - name: createdAt
        sql: created_at
        type: time
"#;

struct Env {
    _dir: tempfile::TempDir,
    server: TestServer,
    token: String,
}

async fn start() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/orders.yml"), MODEL).expect("model");
    std::fs::write(dir.path().join("seed.sql"), SEED).expect("seed");
    let cfg = format!(
        "{}\n[model]\npath = \"{m}\"\n[database]\npath = \"{db}\"\nseed = \"{seed}\"\n",
        secret_config(""),
        m = dir.path().join("model").display(),
        db = dir.path().join("orders.sqlite").display(),
        seed = dir.path().join("seed.sql").display(),
    );
    let server = TestServer::start(&cfg).await;
    Env { _dir: dir, server, token: hs256(SECRET, &claims(json!({"tenant_id": "acme"}))) }
}

impl Env {
    async fn get(&self, endpoint: &str, query: &Value, extra: &str) -> Reply {
        let path =
            format!("/cubejs-api/v1/{endpoint}?query={}{extra}", tenantgate::server::url::encode(&query.to_string()));
        self.server.get(&path, &[("authorization", &self.token)]).await
    }
}

fn monthly(cube: &str) -> Value {
    json!({"measures": [format!("{cube}.count")], "timeDimensions": [{"dimension": format!("{cube}.createdAt"), "granularity": "month", "dateRange": ["2024-01-01", "2024-02-29"]}]})
}

#[tokio::test]
async fn the_query_echo_keeps_the_requests_keys_and_widens_date_ranges_as_cube_js_does() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "total": true, "renewQuery": true,
        "filters": [{"dimension": "Orders.status", "operator": "equals", "values": ["completed"]}],
        "timeDimensions": [{"dimension": "Orders.createdAt", "dateRange": ["2024-01-01", "2024-01-31T12:00:00"]}],
        "order": {"Orders.count": "desc"}});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let echo = &reply.body["query"];
    assert_eq!(echo["total"], json!(true));
    assert_eq!(echo["renewQuery"], json!(true));
    assert_eq!(echo.get("offset"), None, "offset was not sent");
    assert_eq!(echo.get("segments"), None, "segments were not sent");
    assert_eq!(echo["dimensions"], json!([]));
    assert_eq!(echo["order"], json!([{"id": "Orders.count", "desc": true}]));
    assert_eq!(echo["filters"], json!([{"member": "Orders.status", "operator": "equals", "values": ["completed"]}]));
    assert_eq!(echo["timeDimensions"][0]["dateRange"], json!(["2024-01-01T00:00:00.000", "2024-01-31T12:00:00.000"]));
    assert_eq!((echo["limit"].clone(), echo["rowLimit"].clone()), (json!(10000), json!(10000)));
    assert_eq!(reply.body.get("extDbType"), None, "Cube.js sends extDbType only with an external database");
}

#[tokio::test]
async fn an_order_object_applies_its_keys_in_the_clients_order_not_alphabetically() {
    let env = start().await;
    // Sent as text, so the key order is exactly the client's: status first,
    // then createdAt (alphabetically the other way round).
    let q = r#"{"dimensions":["Orders.status","Orders.createdAt"],"order":{"Orders.status":"asc","Orders.createdAt":"desc"}}"#;
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(q));
    let reply = env.server.get(&path, &[("authorization", &env.token)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let rows: Vec<(&str, &str)> = reply.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["Orders.status"].as_str().unwrap_or(""), r["Orders.createdAt"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        rows,
        [
            ("completed", "2024-02-01T08:30:00.000"),
            ("completed", "2024-01-05T10:00:00.000"),
            ("shipped", "2024-01-20T10:00:00.000")
        ]
    );
    assert_eq!(
        reply.body["query"]["order"],
        json!([{"id": "Orders.status", "desc": false}, {"id": "Orders.createdAt", "desc": true}])
    );
    let reply = env.server.get(&path.replace("/load", "/sql"), &[("authorization", &env.token)]).await;
    let keys: Vec<&String> = reply.body["sql"]["order"].as_object().expect("order object").keys().collect();
    assert_eq!(keys, ["Orders.status", "Orders.createdAt"]);
}

#[tokio::test]
async fn date_operators_bound_at_the_start_of_their_day_and_null_is_is_null_as_in_cube_js() {
    let env = start().await;
    let count = |filter: Value| {
        let env = &env;
        async move {
            let reply = env.get("load", &json!({"measures": ["Orders.count"], "filters": [filter]}), "").await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            reply.body["data"][0]["Orders.count"].clone()
        }
    };
    let f = |op: &str, values: Value| json!({"member": "Orders.createdAt", "operator": op, "values": values});
    // acme's orders: 2024-01-05 10:00, 2024-01-20 10:00, 2024-02-01 08:30.
    assert_eq!(count(f("afterDate", json!(["2024-02-01"]))).await, json!(1), "after 2024-02-01T00:00:00.000");
    assert_eq!(count(f("afterOrOnDate", json!(["2024-01-20"]))).await, json!(2));
    assert_eq!(count(f("beforeDate", json!(["2024-01-20"]))).await, json!(1));
    assert_eq!(count(f("beforeOrOnDate", json!(["2024-01-20"]))).await, json!(1), "on or before its first instant");
    assert_eq!(count(f("beforeOrOnDate", json!(["2024-01-20T10:00:00"]))).await, json!(1));
    assert_eq!(count(f("inDateRange", json!(["2024-01-05", "2024-01-20T10:00:00"]))).await, json!(1));
    let s = |op: &str, values: Value| json!({"member": "Orders.status", "operator": op, "values": values});
    assert_eq!(count(s("equals", json!([null]))).await, json!(0));
    assert_eq!(count(s("notEquals", json!([null]))).await, json!(3));
    assert_eq!(count(s("equals", json!(["shipped", null]))).await, json!(1));
    assert_eq!(count(s("notStartsWith", json!(["c"]))).await, json!(1));
    assert_eq!(count(s("notEndsWith", json!(["ped"]))).await, json!(2));
    let reply = env
        .get("load", &json!({"measures": ["Orders.count"], "filters": [{"member": "Orders.count", "operator": "measureFilter"}]}), "")
        .await;
    assert_eq!(reply.body["data"], json!([{"Orders.count": 3}]), "{:?}", reply.body);
    let reply = env.get("load", &json!({"measures": ["Orders.count"], "filters": [s("gt", json!([null]))]}), "").await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_query"));
}

#[tokio::test]
async fn a_query_timezone_buckets_and_ranges_in_local_time_and_an_unknown_zone_is_a_400() {
    let env = start().await;
    // Kiritimati is UTC+14: 2024-01-05T10:00Z is 2024-01-06T00:00 there,
    // 2024-01-20T10:00Z is 2024-01-21T00:00, 2024-02-01T08:30Z is 22:30.
    let q = json!({"measures": ["Orders.count"], "timezone": "Pacific/Kiritimati",
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "day", "dateRange": ["2024-01-06", "2024-01-31"]}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let days: Vec<&str> = reply.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["Orders.createdAt.day"].as_str())
        .collect();
    assert_eq!(days, ["2024-01-06T00:00:00.000", "2024-01-21T00:00:00.000"]);
    assert_eq!(reply.body["query"]["timezone"], json!("Pacific/Kiritimati"));
    let reply = env.get("load", &json!({"measures": ["Orders.count"], "timezone": "Mars/Olympus"}), "").await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "unknown_timezone"));
    assert_eq!(reply.body["error"], json!("Unknown timezone: Mars/Olympus"));
}

#[tokio::test]
async fn a_relative_date_range_is_echoed_as_the_absolute_range_it_read() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"],
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "day", "dateRange": "last 7 days"}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let range = &reply.body["query"]["timeDimensions"][0]["dateRange"];
    let (from, to) = (range[0].as_str().unwrap_or(""), range[1].as_str().unwrap_or(""));
    assert!(from.ends_with("T00:00:00.000") && to.ends_with("T23:59:59.999"), "{range}");
    assert!(from < to, "{range}");
    let reply = env
        .get("load", &json!({"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "dateRange": "soonish"}]}), "")
        .await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_query"));
    assert_eq!(reply.body["error"], json!("Can't parse date: 'soonish'"));
}

#[tokio::test]
async fn compare_date_range_answers_one_result_per_range_with_tagged_rows() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month",
        "compareDateRange": [["2024-01-01", "2024-01-31"], ["2024-02-01", "2024-02-29"]]}]});
    let reply = env.get("load", &q, "&queryType=multi").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["queryType"], json!("compareDateRangeQuery"));
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["data"],
        json!([{"Orders.createdAt.month": "2024-01-01T00:00:00.000", "Orders.createdAt": "2024-01-01T00:00:00.000",
            "Orders.count": 2, "compareDateRange": "2024-01-01T00:00:00.000 - 2024-01-31T23:59:59.999"}])
    );
    assert_eq!(results[1]["data"][0]["compareDateRange"], json!("2024-02-01T00:00:00.000 - 2024-02-29T23:59:59.999"));
    assert_eq!(results[1]["query"]["timeDimensions"][0].get("compareDateRange"), None);
    assert_eq!(reply.body["pivotQuery"]["dimensions"], json!(["compareDateRange"]));
    assert_eq!(reply.body["pivotQuery"]["queryType"], json!("compareDateRangeQuery"));
    // Without queryType=multi, Cube.js's refusal.
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["error"],
        json!("'compareDateRangeQuery' query type is not supported by the client.Please update the client.")
    );
    let reply = env.get("sql", &q, "").await;
    assert_eq!(reply.body.as_array().map(Vec::len), Some(2), "{:?}", reply.body);
}

#[tokio::test]
async fn schema_compiler_refusals_are_user_errors_in_cube_js_words() {
    let env = start().await;
    let reply = env.get("load", &json!({"measures": ["Orders.status"]}), "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], json!("'status' not found for path 'Orders.status'"));
    assert_eq!(reply.body["type"], json!("UserError"));
    let or = json!({"or": [{"member": "Orders.count", "operator": "gt", "values": ["5"]}, {"member": "Orders.status", "operator": "equals", "values": ["completed"]}]});
    let reply = env.get("load", &json!({"measures": ["Orders.count"], "filters": [or]}), "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], json!(format!("You cannot use dimension and measure in same condition: {or}")));
    assert_eq!((reply.body["type"].as_str(), reply.code()), (Some("UserError"), "invalid_query"));
    let reply = env.get("load", &json!({"measures": ["Orders.count", "Users.count"]}), "").await;
    assert_eq!((reply.body["type"].as_str(), reply.code()), (Some("UserError"), "no_join_path"), "{:?}", reply.body);
}

#[tokio::test]
async fn response_format_compact_answers_members_and_a_dataset() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "responseFormat": "compact",
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month", "dateRange": ["2024-01-01", "2024-02-29"]}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"members": ["Orders.createdAt.month", "Orders.createdAt", "Orders.count"], "dataset": [
            ["2024-01-01T00:00:00.000", "2024-01-01T00:00:00.000", 2],
            ["2024-02-01T00:00:00.000", "2024-02-01T00:00:00.000", 1]
        ]})
    );
    let none = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "responseFormat": "compact",
        "filters": [{"member": "Orders.status", "operator": "equals", "values": ["nope"]}]});
    let reply = env.get("load", &none, "").await;
    assert_eq!(reply.body["data"], json!({"members": [], "dataset": []}));
}

#[tokio::test]
async fn an_ungrouped_query_answers_one_row_per_row_with_counts_of_one() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "ungrouped": true,
        "order": {"Orders.status": "asc"}});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!([
            {"Orders.status": "completed", "Orders.count": 1},
            {"Orders.status": "completed", "Orders.count": 1},
            {"Orders.status": "shipped", "Orders.count": 1}
        ])
    );
    let q = json!({"measures": ["Orders.count"], "ungrouped": true, "filters": [{"member": "Orders.count", "operator": "gt", "values": ["1"]}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], json!("Measure filters aren't allowed in ungrouped query"));
}

#[tokio::test]
async fn annotations_name_segments_and_titles_keep_small_words_lower_case() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "segments": ["Orders.completed"],
        "timeDimensions": [{"dimension": "Orders.createdAt", "granularity": "month"}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let a = &reply.body["annotation"];
    assert_eq!(a["segments"], json!({"Orders.completed": {"title": "Orders Completed", "shortTitle": "Completed"}}));
    assert_eq!(
        a["timeDimensions"]["Orders.createdAt.month"],
        json!({"title": "Orders Created at", "shortTitle": "Created at", "type": "time"})
    );
}

#[tokio::test]
async fn a_numeric_string_limit_is_the_default_limit_and_a_limit_below_one_is_refused() {
    let env = start().await;
    let reply = env
        .get("load", &json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"], "limit": "1"}), "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["query"]["limit"], json!(10000));
    assert_eq!(reply.body["data"].as_array().map(Vec::len), Some(2));
    let reply = env.get("load", &json!({"measures": ["Orders.count"], "limit": 0}), "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], "Invalid query format: \"limit\" must be greater than or equal to 1");
}

#[tokio::test]
async fn a_one_element_date_range_is_that_day() {
    let env = start().await;
    let q = json!({"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "dateRange": ["2024-01-05"]}]});
    let reply = env.get("load", &q, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["data"], json!([{"Orders.count": 1}]));
    assert_eq!(
        reply.body["query"]["timeDimensions"][0]["dateRange"],
        json!(["2024-01-05T00:00:00.000", "2024-01-05T23:59:59.999"])
    );
}

#[tokio::test]
async fn sql_answers_cube_js_order_object_with_the_default_order_and_the_time_dimension_alias() {
    let env = start().await;
    let reply = env.get("sql", &monthly("Orders"), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let sql = &reply.body["sql"];
    assert_eq!(sql["order"], json!({"Orders.createdAt": "asc"}));
    assert_eq!(sql["timeDimensionAlias"], json!("orders__created_at_month"));
    assert_eq!(sql["timeDimensionField"], json!("Orders.createdAt"));
    let reply = env.get("sql", &json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"]}), "").await;
    assert_eq!(reply.body["sql"]["order"], json!({"Orders.count": "desc"}));
    assert_eq!(reply.body["sql"].get("timeDimensionAlias"), None);
    // The first time dimension is named even without a granularity, by `day`.
    let ranged = json!({"measures": ["Orders.count"], "timeDimensions": [{"dimension": "Orders.createdAt", "dateRange": ["2024-01-01", "2024-01-31"]}]});
    let reply = env.get("sql", &ranged, "").await;
    assert_eq!(reply.body["sql"]["timeDimensionAlias"], json!("orders__created_at_day"));
    assert_eq!(reply.body["sql"]["timeDimensionField"], json!("Orders.createdAt"));
    // A blend answers a list of `{sql}`, whatever queryType says.
    let reply = env.get("sql", &json!([monthly("Orders"), monthly("Users")]), "&queryType=multi").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body.as_array().map(|l| l.iter().all(|s| s["sql"]["sql"].is_array())), Some(true));
}

#[tokio::test]
async fn dry_run_reports_the_default_order_and_the_query_type_in_its_queries() {
    let env = start().await;
    let reply = env.get("dry-run", &json!({"measures": ["Orders.count"], "dimensions": ["Orders.status"]}), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["queryOrder"], json!([{"Orders.count": "desc"}]));
    assert_eq!(reply.body["normalizedQueries"][0]["queryType"], json!("regularQuery"));
    assert_eq!(reply.body["pivotQuery"]["queryType"], json!("regularQuery"));
}

#[tokio::test]
async fn a_blend_pivots_on_time_and_its_rows_carry_the_time_key() {
    let env = start().await;
    let reply = env.get("load", &json!([monthly("Orders"), monthly("Users")]), "&queryType=multi").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["pivotQuery"],
        json!({"measures": ["Orders.count", "Users.count"], "dimensions": [],
            "timeDimensions": [{"dimension": "time", "granularity": "month"}], "queryType": "blendingQuery"})
    );
    let row = &reply.body["results"][0]["data"][0];
    assert_eq!(row["time.month"], row["Orders.createdAt.month"]);
    assert_eq!(row["time.month"], json!("2024-01-01T00:00:00.000"));
}

#[tokio::test]
async fn blending_refusals_use_cube_js_words() {
    let env = start().await;
    let cases = [
        (
            json!([{"measures": ["Orders.count"]}, {"measures": ["Users.count"]}]),
            "&queryType=multi",
            "Data blending query without granularity is not supported",
        ),
        (
            json!([monthly("Orders"), {"measures": ["Users.count"], "timeDimensions": [{"dimension": "Users.createdAt", "granularity": "week"}]}]),
            "&queryType=multi",
            "Data blending query granularities must match",
        ),
        (
            json!([monthly("Orders"), monthly("Users")]),
            "",
            "'blendingQuery' query type is not supported by the client.Please update the client.",
        ),
    ];
    for (q, extra, message) in cases {
        let reply = env.get("load", &q, extra).await;
        assert_eq!((reply.status, reply.body["error"].clone()), (StatusCode::BAD_REQUEST, json!(message)), "{q}");
    }
}

#[tokio::test]
async fn unknown_members_and_cubes_and_a_missing_query_use_cube_js_words() {
    let env = start().await;
    let reply = env.get("load", &json!({"measures": ["Orders.nope"]}), "").await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (
            StatusCode::BAD_REQUEST,
            json!({"type": "UserError", "error": "'nope' not found for path 'Orders.nope'", "code": "unknown_member"})
        )
    );
    let reply = env.get("load", &json!({"measures": ["Nope.count"]}), "").await;
    assert_eq!(reply.body["error"], "Cube 'Nope' not found for path 'Nope.count'");
    for path in ["/cubejs-api/v1/load", "/cubejs-api/v1/load?query="] {
        let reply = env.server.get(path, &[("authorization", &env.token)]).await;
        assert_eq!(
            (reply.status, reply.body["error"].clone()),
            (StatusCode::BAD_REQUEST, json!("query param is required")),
            "{path}"
        );
    }
    let reply = env
        .server
        .request(
            Method::POST,
            "/cubejs-api/v1/load",
            &[("authorization", &env.token), ("content-type", "application/json")],
            Bytes::from_static(b"{}"),
        )
        .await;
    assert_eq!(reply.body["error"], "query param is required");
}

#[tokio::test]
async fn a_bare_bearer_scheme_is_an_invalid_token_not_a_missing_one() {
    let env = start().await;
    let reply = env.server.get("/cubejs-api/v1/meta", &[("authorization", "Bearer")]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (reply.body["error"].clone(), reply.body["code"].clone()),
        (json!("Invalid token"), json!("malformed_token"))
    );
}
