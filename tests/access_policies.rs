//! Data access policies (`access_policy` in the model) through the real
//! server on real SQLite and PostgreSQL: row level, member level, masking,
//! conditions, views over cubes whose policies do not apply, `no_policy =
//! "forbid"`, `/meta`, `explain`, and a randomized isolation property over
//! tenants, policies, masks and views.

use crate::common;

use common::pg::{TestDb, admin_url};
use common::*;
use http::{Method, StatusCode};
use hyper::body::Bytes;
use serde_json::{Value, json};

const MODEL: &str = r#"
cubes:
  - name: Employees
    sql: SELECT * FROM employees WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Payroll
        relationship: one_to_many
        sql: "{CUBE}.id = {Payroll}.employee_id"
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: name, sql: name, type: string}
      - {name: email, sql: email, type: string, mask: "hidden@example.com"}
      - {name: salary, sql: salary, type: number, mask: {sql: "0"}}
      - {name: country, sql: country, type: string}
      - {name: department, sql: department, type: string}
    measures:
      - {name: count, type: count}
      - {name: total_salary, sql: salary, type: sum}
    access_policy:
      - group: "*"
        member_level:
          includes: [name, country, department, count]
        member_masking:
          includes: [email]
        row_level:
          filters:
            - {member: country, operator: equals, values: ["{ securityContext.country }"]}
      - group: manager
        conditions:
          - if: "{ securityContext.full_time == true }"
        row_level:
          filters:
            - {member: department, operator: equals, values: ["{ securityContext.department }"]}
  - name: Payroll
    sql: SELECT * FROM payroll WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: amount, sql: amount, type: number}
    measures:
      - {name: total, sql: amount, type: sum}
    access_policy:
      - group: payroll
views:
  - name: Staff
    cubes:
      - join_path: Employees
        includes: [name, email, country, department, salary, count]
      - join_path: Employees.Payroll
        includes: [total]
    access_policy:
      - group: "*"
        member_level:
          includes: "*"
          excludes: [salary]
        member_masking:
          includes: [salary]
        row_level:
          filters:
            - {member: country, operator: notEquals, values: ["NL"]}
"#;

/// (id, tenant, name, email, salary, country, department)
const EMPLOYEES: &[(i64, &str, &str, &str, i64, &str, &str)] = &[
    (1, "acme", "Ann", "ann@acme", 100, "DE", "eng"),
    (2, "acme", "Bob", "bob@acme", 200, "DE", "ops"),
    (3, "acme", "Cid", "cid@acme", 300, "FR", "eng"),
    (4, "globex", "Dan", "dan@globex", 400, "DE", "eng"),
    (5, "acme", "Eve", "eve@acme", 500, "NL", "eng"),
    (6, "globex", "Fay", "fay@globex", 600, "FR", "ops"),
];

fn seed() -> String {
    let rows: Vec<String> = EMPLOYEES
        .iter()
        .map(|(id, t, n, e, s, c, d)| format!("({id}, '{t}', '{n}', '{e}', {s}, '{c}', '{d}')"))
        .collect();
    format!(
        "CREATE TABLE employees (id INTEGER PRIMARY KEY, tenant_id TEXT, name TEXT, email TEXT, salary INTEGER, country TEXT, department TEXT);
         INSERT INTO employees VALUES {};
         CREATE TABLE payroll (id INTEGER PRIMARY KEY, tenant_id TEXT, employee_id INTEGER, amount INTEGER);
         INSERT INTO payroll VALUES (1, 'acme', 1, 10), (2, 'acme', 1, 20), (3, 'acme', 3, 30), (4, 'globex', 4, 40), (5, 'acme', 5, 50);",
        rows.join(", ")
    )
}

/// The server over the model and seed, on SQLite or PostgreSQL.
async fn start(postgres: Option<&str>, access: &str) -> (TestServer, tempfile::TempDir, Option<TestDb>) {
    start_with(MODEL, postgres, access).await
}

/// The same over another model of the same tables.
async fn start_with(
    model: &str,
    postgres: Option<&str>,
    access: &str,
) -> (TestServer, tempfile::TempDir, Option<TestDb>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("model")).expect("model dir");
    std::fs::write(dir.path().join("model/hr.yml"), model).expect("model");
    std::fs::write(dir.path().join("seed.sql"), seed()).expect("seed");
    let (database, pg) = match postgres {
        None => {
            let file = dir.path().join("hr.sqlite");
            (format!("path = \"{}\"\nseed = \"{}\"", file.display(), dir.path().join("seed.sql").display()), None)
        }
        Some(admin) => {
            let db = TestDb::create(admin, "policies").await;
            db.execute(&seed()).await;
            (format!("type = \"postgres\"\nurl = \"{}\"", db.url(None)), Some(db))
        }
    };
    let cfg = format!(
        "{}\n[model]\npath = \"{}\"\n[database]\n{database}\n[access]\ngroups_key = \"groups\"\n{access}\n",
        secret_config(""),
        dir.path().join("model").display()
    );
    (TestServer::start(&cfg).await, dir, pg)
}

fn token(ctx: Value) -> String {
    hs256(SECRET, &claims(ctx))
}

async fn load(server: &TestServer, token: &str, query: &Value) -> Reply {
    let path = format!("/cubejs-api/v1/load?query={}", tenantgate::server::url::encode(&query.to_string()));
    server.get(&path, &[("authorization", token)]).await
}

async fn explain(server: &TestServer, token: &str, query: &Value) -> Reply {
    let body = Bytes::from(json!({"query": query}).to_string());
    let headers = [("authorization", token), ("content-type", "application/json")];
    server.request(Method::POST, "/tenantgate/v1/explain", &headers, body).await
}

/// `data` as (first member's value as text, second member's value) rows,
/// sorted.
fn rows(reply: &Reply, a: &str, b: &str) -> Vec<(String, Value)> {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let mut out: Vec<(String, Value)> = reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| {
            let key = match &r[a] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, r[b].clone())
        })
        .collect();
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

/// A number whichever way the driver answers it (PostgreSQL's sums come
/// back as strings, as in Cube.js).
fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("numeric string"),
        other => other.as_f64().expect("number"),
    }
}

async fn policies_decide_rows_members_and_masks(postgres: Option<&str>) {
    let (server, _dir, pg) = start(postgres, "").await;
    let anyone_de = token(json!({"tenant_id": "acme", "country": "DE"}));

    // Anyone: their country's rows, the email masked, salary hidden.
    let q = json!({"measures": ["Employees.count"], "dimensions": ["Employees.name", "Employees.email"]});
    let reply = load(&server, &anyone_de, &q).await;
    let got = rows(&reply, "Employees.name", "Employees.email");
    assert_eq!(got, vec![("Ann".into(), json!("hidden@example.com")), ("Bob".into(), json!("hidden@example.com"))]);
    let reply = load(&server, &anyone_de, &json!({"dimensions": ["Employees.salary"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "hidden_member"), "{:?}", reply.body);
    let q = json!({"measures": ["Employees.count"],
        "filters": [{"member": "Employees.email", "operator": "equals", "values": ["ann@acme"]}]});
    let reply = load(&server, &anyone_de, &q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "masked_member"), "{:?}", reply.body);

    // A full-time manager: rows of their country OR their department, and
    // every member (the manager policy has no member level).
    let manager = |full_time: bool| {
        token(
            json!({"tenant_id": "acme", "country": "DE", "groups": ["manager"], "full_time": full_time, "department": "eng"}),
        )
    };
    let q = json!({"measures": ["Employees.total_salary"], "dimensions": ["Employees.name"]});
    let got: Vec<(String, f64)> =
        rows(&load(&server, &manager(true), &q).await, "Employees.name", "Employees.total_salary")
            .into_iter()
            .map(|(n, v)| (n, num(&v)))
            .collect();
    assert_eq!(got, vec![("Ann".into(), 100.0), ("Bob".into(), 200.0), ("Cid".into(), 300.0), ("Eve".into(), 500.0)]);
    let q = json!({"measures": ["Employees.count"], "dimensions": ["Employees.name"]});
    let got = rows(&load(&server, &manager(false), &q).await, "Employees.name", "Employees.count");
    assert_eq!(got.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["Ann", "Bob"], "a false condition");

    // The other tenant, same country: only its own rows.
    let globex = token(json!({"tenant_id": "globex", "country": "DE"}));
    let got = rows(&load(&server, &globex, &q).await, "Employees.name", "Employees.count");
    assert_eq!(got.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["Dan"]);

    // Through the view: the view's members (email visible, salary masked),
    // the cube's row filter and the view's (not NL) both.
    let anyone_nl = token(json!({"tenant_id": "acme", "country": "NL"}));
    let q = json!({"measures": ["Staff.count"], "dimensions": ["Staff.email"]});
    assert_eq!(rows(&load(&server, &anyone_nl, &q).await, "Staff.email", "Staff.count"), vec![], "NL is excluded");
    let q = json!({"dimensions": ["Staff.email", "Staff.salary"]});
    let got = rows(&load(&server, &anyone_de, &q).await, "Staff.email", "Staff.salary");
    assert_eq!(
        got.iter().map(|r| (r.0.as_str(), num(&r.1))).collect::<Vec<_>>(),
        [("ann@acme", 0.0), ("bob@acme", 0.0)]
    );

    // Payroll's policies apply to the payroll group only: the view answers
    // no rows for anyone else, and its rows for the group.
    let q = json!({"measures": ["Staff.total"], "dimensions": ["Staff.name"]});
    assert_eq!(rows(&load(&server, &anyone_de, &q).await, "Staff.name", "Staff.total"), vec![]);
    let payroll = token(json!({"tenant_id": "acme", "country": "DE", "groups": ["payroll"]}));
    let got = rows(&load(&server, &payroll, &q).await, "Staff.name", "Staff.total");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0.as_str(), num(&got[0].1)), ("Ann", 30.0));
    assert_eq!((got[1].0.as_str(), &got[1].1), ("Bob", &Value::Null));
    let reply = load(&server, &anyone_de, &json!({"measures": ["Payroll.total"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "hidden_member"));

    // A missing context value fails closed.
    let no_country = token(json!({"tenant_id": "acme"}));
    let reply = load(&server, &no_country, &json!({"measures": ["Employees.count"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "missing_security_context"));

    // /meta: the visible and masked members only; Payroll is absent.
    let meta = server.get("/cubejs-api/v1/meta", &[("authorization", &anyone_de)]).await;
    let cubes = meta.body["cubes"].as_array().expect("cubes");
    let names: Vec<&str> = cubes.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Employees", "Staff"]);
    let members: Vec<&str> = ["measures", "dimensions"]
        .iter()
        .flat_map(|k| cubes[0][*k].as_array().into_iter().flatten().filter_map(|m| m["name"].as_str()))
        .collect();
    assert_eq!(
        members,
        ["Employees.count", "Employees.name", "Employees.email", "Employees.country", "Employees.department"]
    );
    server.stop().await;
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

#[tokio::test]
async fn policies_decide_rows_members_and_masks_on_sqlite() {
    policies_decide_rows_members_and_masks(None).await;
}

#[tokio::test]
async fn policies_decide_rows_members_and_masks_on_postgres() {
    let Some(admin) = admin_url("policies_decide_rows_members_and_masks_on_postgres") else { return };
    policies_decide_rows_members_and_masks(Some(&admin)).await;
}

/// Measures built from other members (`{total_salary} / {count}`): each
/// stands no better than what it is built from, or it would show it.
const DERIVED: &str = r#"
cubes:
  - name: Pay
    sql: SELECT * FROM employees WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: country, sql: country, type: string}
      - {name: email, sql: email, type: string}
      - {name: salary, sql: salary, type: number}
    measures:
      - {name: count, type: count}
      - {name: total_salary, sql: salary, type: sum}
      - {name: avg_salary, sql: "{total_salary} / NULLIF({count}, 0)", type: number}
      - {name: avg_salary_again, sql: "{CUBE.avg_salary} * 1", type: number}
      - {name: top_salary, sql: "MAX({Pay.salary})", type: number}
      - {name: emails, sql: "count(distinct {email})", type: number, mask: -1}
      - {name: per_head, sql: "{count} * 1", type: number}
    access_policy:
      - group: "*"
        member_level:
          includes: [country, count, avg_salary, avg_salary_again, top_salary, emails, per_head]
        member_masking:
          includes: [email]
      - group: hr
views:
  - name: PayView
    cubes:
      - join_path: Pay
        includes: [count, total_salary, avg_salary]
    access_policy:
      - group: "*"
        member_level:
          includes: [count, avg_salary]
        member_masking:
          includes: [total_salary]
"#;

async fn a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked(postgres: Option<&str>) {
    let (server, _dir, pg) = start_with(DERIVED, postgres, "").await;
    let anyone = token(json!({"tenant_id": "acme"}));
    let hr = token(json!({"tenant_id": "acme", "groups": ["hr"]}));
    let value = |reply: &Reply, m: &str| {
        assert_eq!(reply.status, StatusCode::OK, "{m}: {:?}", reply.body);
        reply.body["data"][0][m].clone()
    };
    // total_salary and salary are hidden from anyone: so is every measure
    // computed from them, directly or through another measure.
    for m in ["Pay.avg_salary", "Pay.avg_salary_again", "Pay.top_salary"] {
        let reply = load(&server, &anyone, &json!({"measures": [m]})).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "hidden_member"), "{m}: {:?}", reply.body);
        let order = json!({"measures": ["Pay.count"], "order": {m: "desc"}});
        let reply = load(&server, &anyone, &order).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{m} as an order: {:?}", reply.body);
    }
    // email is masked: a count of distinct emails answers its own mask, and
    // cannot be filtered on.
    let reply = load(&server, &anyone, &json!({"measures": ["Pay.emails", "Pay.per_head"]})).await;
    assert_eq!(num(&value(&reply, "Pay.emails")), -1.0);
    assert_eq!(num(&value(&reply, "Pay.per_head")), 4.0, "built from visible members only");
    let filtered =
        json!({"measures": ["Pay.count"], "filters": [{"member": "Pay.emails", "operator": "gt", "values": ["1"]}]});
    let reply = load(&server, &anyone, &filtered).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "masked_member"), "{:?}", reply.body);
    // /meta lists the masked measure, not the hidden ones.
    let meta = server.get("/cubejs-api/v1/meta", &[("authorization", &anyone)]).await;
    let measures: Vec<&str> = meta.body["cubes"][0]["measures"]
        .as_array()
        .expect("measures")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(measures, ["Pay.count", "Pay.emails", "Pay.per_head"]);
    // explain names them among the hidden members.
    let reply = explain(&server, &anyone, &json!({"measures": ["Pay.count"]})).await;
    assert_eq!(
        reply.body["hidden"],
        json!(["Pay.total_salary", "Pay.avg_salary", "Pay.avg_salary_again", "Pay.top_salary", "Pay.id", "Pay.salary"]),
        "{:?}",
        reply.body
    );

    // Through the view, by the view's members: total_salary is masked
    // there, so the average built from it answers a mask (NULL) too.
    let reply = load(&server, &anyone, &json!({"measures": ["PayView.avg_salary", "PayView.count"]})).await;
    assert_eq!(value(&reply, "PayView.avg_salary"), Value::Null);
    assert_eq!(num(&value(&reply, "PayView.count")), 4.0);

    // hr sees every member: the real values, the referenced aggregates
    // rendered in place (acme's salaries 100, 200, 300, 500).
    let q = json!({"measures": ["Pay.avg_salary", "Pay.avg_salary_again", "Pay.top_salary", "Pay.emails"]});
    let reply = load(&server, &hr, &q).await;
    assert_eq!(num(&value(&reply, "Pay.avg_salary")), 275.0);
    assert_eq!(num(&value(&reply, "Pay.avg_salary_again")), 275.0);
    assert_eq!(num(&value(&reply, "Pay.top_salary")), 500.0);
    assert_eq!(num(&value(&reply, "Pay.emails")), 4.0);
    server.stop().await;
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

#[tokio::test]
async fn a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked_on_sqlite() {
    a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked(None).await;
}

#[tokio::test]
async fn a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked_on_postgres() {
    let Some(admin) = admin_url("a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked_on_postgres") else {
        return;
    };
    a_measure_built_from_hidden_or_masked_members_is_hidden_or_masked(Some(&admin)).await;
}

#[tokio::test]
async fn no_policy_forbid_answers_403_instead_of_hiding() {
    let (server, _dir, _) = start(None, "no_policy = \"forbid\"").await;
    let anyone = token(json!({"tenant_id": "acme", "country": "DE"}));
    for q in [json!({"measures": ["Staff.total"]}), json!({"measures": ["Payroll.total"]})] {
        let reply = load(&server, &anyone, &q).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "no_applicable_policy"), "{q}");
        assert!(reply.body["error"].as_str().unwrap_or("").contains("Payroll"), "{:?}", reply.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn explain_shows_groups_policies_hidden_masked_filters_and_sql_without_running_it() {
    let (server, _dir, _) = start(None, "").await;
    let manager = token(json!({"tenant_id": "acme", "country": "DE", "groups": ["manager"], "department": "eng"}));
    let q = json!({"measures": ["Staff.count", "Staff.total"], "dimensions": ["Staff.email"]});
    let reply = explain(&server, &manager, &q).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let b = &reply.body;
    assert_eq!(b["groups"], json!(["manager"]));
    let policy = |on: &str, i: u64| {
        b["policies"].as_array().expect("policies").iter().find(|p| p["on"] == on && p["policy"] == i).cloned()
    };
    let p = policy("Employees", 1).expect("manager policy judged");
    assert_eq!(p["matched"], json!(false));
    assert_eq!(
        p["reason"],
        json!("condition { securityContext.full_time == true } is not true: securityContext.full_time is missing")
    );
    assert_eq!(policy("Employees", 0).expect("policy for anyone")["matched"], json!(true));
    assert_eq!(policy("Payroll", 0).expect("payroll")["reason"], json!("the caller holds none of the groups payroll"));
    assert_eq!(b["denied"], json!(["Payroll"]));
    assert!(b["hidden"].as_array().expect("hidden").contains(&json!("Employees.salary")), "{b}");
    assert_eq!(b["masked"], json!([]));
    assert_eq!(
        b["filters"],
        json!([
            {"on": "Employees", "filter": {"member": "Employees.country", "operator": "equals", "values": ["DE"]}},
            {"on": "Staff", "filter": {"member": "Staff.country", "operator": "notEquals", "values": ["NL"]}}
        ])
    );
    assert_eq!(b["data_source"], json!("default"));
    let sql = b["sql"]["sql"].as_str().expect("sql");
    assert!(sql.contains("1 = 0") && !sql.contains("'DE'"), "{sql}");
    assert_eq!(b["sql"]["params"], json!(["acme", "DE", "acme", "NL"]));

    // Authenticated as every data request is, and judged the same way.
    let reply = explain(&server, "Bearer nope", &q).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "malformed_token"), "{:?}", reply.body);
    let reply = explain(&server, &manager, &json!({"dimensions": ["Employees.salary"]})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "hidden_member"));
    let whoami = server.get("/tenantgate/v1/whoami", &[("authorization", &manager)]).await;
    let link = whoami.headers.get("link").and_then(|v| v.to_str().ok());
    assert_eq!(link, Some("</tenantgate/v1/explain>; rel=\"explain\""));
    server.stop().await;
}

/// Random callers (tenant, country, groups, conditions) and random queries
/// over the cube and the view: every row answered is the caller's tenant's
/// and admitted by a policy that applies to the caller; a masked member
/// always answers its mask; a hidden one is never answered.
async fn no_row_escapes_the_policies(postgres: Option<&str>) {
    let (server, _dir, pg) = start(postgres, "").await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let pick = |n: usize, next: &mut dyn FnMut(usize) -> usize| next(n);
    let mut checked = 0;
    for _ in 0..60 {
        let tenant = ["acme", "globex"][pick(2, &mut next)];
        let country = ["DE", "FR", "NL"][pick(3, &mut next)];
        let department = ["eng", "ops"][pick(2, &mut next)];
        let manager = pick(2, &mut next) == 1;
        let full_time = pick(2, &mut next) == 1;
        let groups: Vec<&str> = if manager { vec!["manager"] } else { vec![] };
        let ctx = json!({"tenant_id": tenant, "country": country, "department": department, "groups": groups, "full_time": full_time});
        let tok = token(ctx);
        let via_view = pick(2, &mut next) == 1;
        let prefix = if via_view { "Staff" } else { "Employees" };
        let mut dims = vec![format!("{prefix}.name")];
        if pick(2, &mut next) == 1 {
            dims.push(format!("{prefix}.email"));
        }
        if pick(2, &mut next) == 1 {
            dims.push(format!("{prefix}.department"));
        }
        let q = json!({"measures": [format!("{prefix}.count")], "dimensions": dims});
        let reply = load(&server, &tok, &q).await;
        assert_eq!(reply.status, StatusCode::OK, "{q} for {tenant}/{country}: {:?}", reply.body);
        let manager_applies = manager && full_time;
        for row in reply.body["data"].as_array().expect("data") {
            let name = row[format!("{prefix}.name")].as_str().expect("name");
            let e = EMPLOYEES.iter().find(|e| e.2 == name).expect("a seeded employee");
            assert_eq!(e.1, tenant, "{name} is another tenant's ({q})");
            let admitted = e.5 == country || (manager_applies && e.6 == department);
            assert!(admitted, "{name} ({}, {}) for {country}/{department}/manager={manager_applies}", e.5, e.6);
            if via_view {
                assert_ne!(e.5, "NL", "the view's filter");
            }
            if let Some(email) = row.get(format!("{prefix}.email")) {
                let masked = !via_view && !manager_applies;
                let want = if masked { "hidden@example.com" } else { e.3 };
                assert_eq!(email, &json!(want), "{name}'s email for {q}");
            }
            checked += 1;
        }
        if !manager_applies && !via_view {
            let reply = load(&server, &tok, &json!({"dimensions": ["Employees.salary"]})).await;
            assert_eq!(reply.code(), "hidden_member");
        }
    }
    assert!(checked > 30, "too few rows checked ({checked})");
    server.stop().await;
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

#[tokio::test]
async fn no_row_escapes_the_policies_on_sqlite() {
    no_row_escapes_the_policies(None).await;
}

#[tokio::test]
async fn no_row_escapes_the_policies_on_postgres() {
    let Some(admin) = admin_url("no_row_escapes_the_policies_on_postgres") else { return };
    no_row_escapes_the_policies(Some(&admin)).await;
}
