//! Joins through the real server on real SQLite and PostgreSQL, checked
//! against an independent computation: random data over a five-cube graph, random
//! queries, and every measure of every group compared with what a naive
//! evaluation in Rust of Cube.js's semantics gives (LEFT JOINs as
//! declared, each cube's tenant filter inside it, every measure aggregated
//! over the distinct rows of its own cube in the group).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::pg::{TestDb, admin_url};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};

/// Customers -< Orders -< Items >- Products, and Customers - Profiles one
/// to one. Every cube but Products filters on the tenant in its own `sql`;
/// Products is filtered by an `[[access.rules]]` rule instead.
const MODEL: &str = r#"
cubes:
  - name: Customers
    sql: SELECT * FROM customers WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Orders
        relationship: one_to_many
        sql: "{CUBE}.id = {Orders}.customer_id"
      - name: Profiles
        relationship: one_to_one
        sql: "{CUBE}.id = {Profiles.customerId}"
    measures:
      - {name: count, type: count}
      - {name: credit, sql: credit, type: sum}
      - {name: avgCredit, sql: credit, type: avg}
      - {name: maxCredit, sql: credit, type: max}
      - {name: cities, sql: city, type: count_distinct}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: city, sql: city, type: string}
  - name: Profiles
    sql: SELECT * FROM profiles WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    measures:
      - {name: count, type: count}
      - {name: score, sql: score, type: sum}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: customerId, sql: customer_id, type: number}
      - {name: tier, sql: tier, type: string}
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Items
        relationship: has_many
        sql: "{CUBE}.id = {Items}.order_id"
    measures:
      - {name: count, type: count}
      - {name: amount, sql: amount, type: sum}
      - {name: minAmount, sql: amount, type: min}
      - name: paidCount
        type: count
        filters:
          - sql: "{CUBE}.paid = 1"
      - {name: amountCount, sql: amount, type: count}
      - {name: avgAmount, sql: "sum({CUBE}.amount) * 1.0 / count({CUBE}.id)", type: number}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: status, sql: status, type: string}
  - name: Items
    sql: SELECT * FROM items WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Products
        relationship: belongs_to
        sql: "{CUBE}.product_id = {Products}.id"
    measures:
      - {name: count, type: count}
      - {name: quantity, sql: quantity, type: sum}
      - {name: avgQuantity, sql: quantity, type: avg}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: color, sql: color, type: string}
  - name: Products
    sql_table: products
    measures:
      - {name: count, type: count}
      - {name: price, sql: price, type: sum}
      - {name: maxPrice, sql: price, type: max}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: category, sql: category, type: string}
      - {name: tenantId, sql: tenant_id, type: string}
views:
  - name: Shop
    cubes:
      - {join_path: Customers, prefix: true, includes: "*"}
      - {join_path: Customers.Profiles, prefix: true, includes: "*"}
      - {join_path: Customers.Orders, prefix: true, includes: "*"}
      - {join_path: Customers.Orders.Items, prefix: true, includes: "*"}
      - {join_path: Customers.Orders.Items.Products, prefix: true, includes: "*"}
"#;

const RULE: &str = "[[access.rules]]\ncube = \"Products\"\nmember = \"Products.tenantId\"\noperator = \"equals\"\nvalue = \"{SECURITY_CONTEXT.tenant_id}\"\n";

/// (from, to, from column, to column): a LEFT JOIN as the model declares it.
type Edge = (&'static str, &'static str, &'static str, &'static str);

const EDGES: [Edge; 4] = [
    ("Customers", "Orders", "id", "customer_id"),
    ("Customers", "Profiles", "id", "customer_id"),
    ("Orders", "Items", "id", "order_id"),
    ("Items", "Products", "product_id", "id"),
];

#[derive(Clone, Copy)]
enum Agg {
    Count,
    CountSql(&'static str),
    CountIf(&'static str),
    Sum(&'static str),
    Avg(&'static str),
    Min(&'static str),
    Max(&'static str),
    CountDistinct(&'static str),
    /// sum(col) * 1.0 / count(id)
    Ratio(&'static str),
}

const MEASURES: [(&str, &str, Agg); 19] = [
    ("Customers.count", "Customers", Agg::Count),
    ("Customers.credit", "Customers", Agg::Sum("credit")),
    ("Customers.avgCredit", "Customers", Agg::Avg("credit")),
    ("Customers.maxCredit", "Customers", Agg::Max("credit")),
    ("Customers.cities", "Customers", Agg::CountDistinct("city")),
    ("Profiles.count", "Profiles", Agg::Count),
    ("Profiles.score", "Profiles", Agg::Sum("score")),
    ("Orders.count", "Orders", Agg::Count),
    ("Orders.amount", "Orders", Agg::Sum("amount")),
    ("Orders.minAmount", "Orders", Agg::Min("amount")),
    ("Orders.paidCount", "Orders", Agg::CountIf("paid")),
    ("Orders.amountCount", "Orders", Agg::CountSql("amount")),
    ("Orders.avgAmount", "Orders", Agg::Ratio("amount")),
    ("Items.count", "Items", Agg::Count),
    ("Items.quantity", "Items", Agg::Sum("quantity")),
    ("Items.avgQuantity", "Items", Agg::Avg("quantity")),
    ("Products.count", "Products", Agg::Count),
    ("Products.price", "Products", Agg::Sum("price")),
    ("Products.maxPrice", "Products", Agg::Max("price")),
];

/// (member, cube, column)
const DIMENSIONS: [(&str, &str, &str); 6] = [
    ("Customers.city", "Customers", "city"),
    ("Profiles.tier", "Profiles", "tier"),
    ("Orders.status", "Orders", "status"),
    ("Items.color", "Items", "color"),
    ("Products.category", "Products", "category"),
    ("Products.tenantId", "Products", "tenant_id"),
];

const TABLES: [(&str, &str); 5] = [
    ("Customers", "customers"),
    ("Profiles", "profiles"),
    ("Orders", "orders"),
    ("Items", "items"),
    ("Products", "products"),
];

/// A tiny deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An integer, or NULL one time in `null_in`.
    fn int_or_null(&mut self, max: u64, null_in: u64) -> Value {
        if self.below(null_in) == 0 { Value::Null } else { json!(self.below(max)) }
    }

    fn text_or_null(&mut self, words: &[&str]) -> Value {
        if self.chance(15) { Value::Null } else { json!(*self.pick(words)) }
    }
}

type Row = BTreeMap<&'static str, Value>;
type Data = BTreeMap<&'static str, Vec<Row>>;

fn tenant(rng: &mut Rng) -> Value {
    json!(if rng.chance(5) { "initech" } else { *rng.pick(&["acme", "globex"]) })
}

/// Random rows that keep the declared relationships true: ids unique, at
/// most one profile per customer. Foreign keys may be NULL, dangling, or
/// point at another tenant's row.
fn generate(rng: &mut Rng) -> Data {
    let mut d = Data::new();
    let (nc, no, ni, np) = (10 + rng.below(6), 15 + rng.below(15), 20 + rng.below(30), 4 + rng.below(6));
    d.insert(
        "Customers",
        (1..=nc)
            .map(|id| {
                Row::from([
                    ("id", json!(id)),
                    ("tenant_id", tenant(rng)),
                    ("city", rng.text_or_null(&["Lyon", "Paris", "Oslo"])),
                    ("credit", rng.int_or_null(50, 5)),
                ])
            })
            .collect(),
    );
    let mut profiled: Vec<u64> = (1..=nc).filter(|_| rng.chance(60)).collect();
    profiled.push(nc + 3); // a profile whose customer does not exist
    d.insert(
        "Profiles",
        profiled
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Row::from([
                    ("id", json!(i + 1)),
                    ("tenant_id", tenant(rng)),
                    ("customer_id", json!(c)),
                    ("tier", rng.text_or_null(&["gold", "basic"])),
                    ("score", rng.int_or_null(10, 4)),
                ])
            })
            .collect(),
    );
    d.insert(
        "Orders",
        (1..=no)
            .map(|id| {
                Row::from([
                    ("id", json!(id)),
                    ("tenant_id", tenant(rng)),
                    ("customer_id", rng.int_or_null(nc + 2, 8)),
                    ("status", rng.text_or_null(&["new", "paid", "void"])),
                    ("amount", rng.int_or_null(100, 6)),
                    ("paid", json!(rng.below(2))),
                ])
            })
            .collect(),
    );
    d.insert(
        "Items",
        (1..=ni)
            .map(|id| {
                Row::from([
                    ("id", json!(id)),
                    ("tenant_id", tenant(rng)),
                    ("order_id", rng.int_or_null(no + 2, 8)),
                    ("product_id", rng.int_or_null(np + 1, 6)),
                    ("color", rng.text_or_null(&["red", "blue"])),
                    ("quantity", rng.int_or_null(9, 6)),
                ])
            })
            .collect(),
    );
    d.insert(
        "Products",
        (1..=np)
            .map(|id| {
                Row::from([
                    ("id", json!(id)),
                    ("tenant_id", tenant(rng)),
                    ("category", rng.text_or_null(&["tools", "toys"])),
                    ("price", rng.int_or_null(30, 5)),
                ])
            })
            .collect(),
    );
    d
}

/// Columns holding text; the others are integers.
const TEXT_COLUMNS: [&str; 6] = ["tenant_id", "city", "tier", "status", "color", "category"];

fn seed_sql(d: &Data) -> String {
    let mut sql = String::new();
    for (cube, table) in TABLES {
        let rows = &d[cube];
        let cols: Vec<String> =
            rows[0].keys().map(|c| format!("{c} {}", if TEXT_COLUMNS.contains(c) { "text" } else { "int4" })).collect();
        sql.push_str(&format!("CREATE TABLE {table} ({});\n", cols.join(", ")));
        for r in rows {
            let values: Vec<String> = r
                .values()
                .map(|v| match v {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => format!("'{s}'"),
                    other => other.to_string(),
                })
                .collect();
            sql.push_str(&format!("INSERT INTO {table} VALUES ({});\n", values.join(", ")));
        }
    }
    sql
}

/// The path from `from` to `to` over the joins as declared (directed).
fn path(from: &str, to: &str) -> Option<Vec<Edge>> {
    if from == to {
        return Some(Vec::new());
    }
    EDGES.iter().filter(|e| e.0 == from).find_map(|e| {
        path(e.1, to).map(|mut rest| {
            rest.insert(0, *e);
            rest
        })
    })
}

/// The join tree: the queried cube that reaches every other one is the
/// root (the graph is a tree, so there is at most one and paths are
/// unique); `None` when there is none.
fn tree(cubes: &BTreeSet<&'static str>) -> Option<(&'static str, Vec<Edge>)> {
    let root = cubes.iter().find(|r| cubes.iter().all(|c| path(r, c).is_some()))?;
    let mut edges = Vec::new();
    for c in cubes {
        for e in path(root, c)? {
            if !edges.contains(&e) {
                edges.push(e);
            }
        }
    }
    // Parents before children: sort by the depth of the target.
    edges.sort_by_key(|e| path(root, e.1).map_or(0, |p| p.len()));
    Some((root, edges))
}

#[derive(Clone)]
enum Cond {
    Equals(&'static str, &'static str, &'static str, Value),
    NotEquals(&'static str, &'static str, &'static str, Value),
    Set(&'static str, &'static str, &'static str),
}

type TreeRow = BTreeMap<&'static str, Option<usize>>;

/// One random query: measures and dimensions (indexes), dimension filters,
/// and a measure filter (measure > value).
struct Case {
    measures: Vec<usize>,
    dims: Vec<usize>,
    conds: Vec<Cond>,
    having: Option<(usize, i64)>,
}

fn value_of<'a>(d: &'a Data, r: &TreeRow, cube: &str, col: &str) -> &'a Value {
    match r.get(cube).copied().flatten() {
        Some(i) => &d[cube][i][col],
        None => &Value::Null,
    }
}

/// Cube.js's semantics computed naively: the LEFT JOIN rows of the tree
/// over each cube's visible rows, the filters, the groups, and each
/// measure over the distinct rows of its cube in the group.
fn expected(
    data: &Data,
    tenant: &str,
    case: &Case,
    root: &'static str,
    edges: &[Edge],
) -> BTreeMap<String, Vec<Value>> {
    let Case { measures, dims, conds, having } = case;
    let visible = |cube: &str| -> Vec<usize> {
        (0..data[cube].len()).filter(|i| data[cube][*i]["tenant_id"] == json!(tenant)).collect()
    };
    let mut rows: Vec<TreeRow> = visible(root).into_iter().map(|i| TreeRow::from([(root, Some(i))])).collect();
    for (from, to, fc, tc) in edges {
        let targets = visible(to);
        let mut next = Vec::new();
        for r in rows {
            let key = value_of(data, &r, from, fc).clone();
            let matches: Vec<usize> = if key.is_null() {
                Vec::new()
            } else {
                targets.iter().copied().filter(|c| data[*to][*c][*tc] == key).collect()
            };
            if matches.is_empty() {
                let mut r = r.clone();
                r.insert(to, None);
                next.push(r);
            }
            for c in matches {
                let mut r = r.clone();
                r.insert(to, Some(c));
                next.push(r);
            }
        }
        rows = next;
    }
    rows.retain(|r| {
        conds.iter().all(|c| match c {
            Cond::Equals(_, cube, col, v) => value_of(data, r, cube, col) == v,
            Cond::NotEquals(_, cube, col, v) => value_of(data, r, cube, col) != v,
            Cond::Set(_, cube, col) => !value_of(data, r, cube, col).is_null(),
        })
    });
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<&TreeRow>)> = BTreeMap::new();
    if dims.is_empty() {
        // An aggregate without GROUP BY has one row, even over no rows.
        groups.insert("[]".into(), (Vec::new(), Vec::new()));
    }
    for r in &rows {
        let key: Vec<Value> =
            dims.iter().map(|d| value_of(data, r, DIMENSIONS[*d].1, DIMENSIONS[*d].2).clone()).collect();
        groups.entry(json!(key).to_string()).or_insert_with(|| (key.clone(), Vec::new())).1.push(r);
    }
    let mut out = BTreeMap::new();
    for (k, (key, group)) in groups {
        let values: Vec<Value> = measures
            .iter()
            .map(|m| {
                let (_, cube, agg) = MEASURES[*m];
                let own: BTreeSet<usize> = group.iter().filter_map(|r| r.get(cube).copied().flatten()).collect();
                let col = |c: &str| -> Vec<i64> { own.iter().filter_map(|i| data[cube][*i][c].as_i64()).collect() };
                let or_null = |v: Option<f64>| v.map_or(Value::Null, |x| json!(x));
                match agg {
                    Agg::Count => json!(own.len()),
                    Agg::CountSql(c) => json!(col(c).len()),
                    Agg::CountIf(c) => json!(col(c).iter().filter(|v| **v == 1).count()),
                    Agg::Sum(c) => or_null((!col(c).is_empty()).then(|| col(c).iter().sum::<i64>() as f64)),
                    Agg::Avg(c) => {
                        let v = col(c);
                        or_null((!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64))
                    }
                    Agg::Min(c) => or_null(col(c).into_iter().min().map(|x| x as f64)),
                    Agg::Max(c) => or_null(col(c).into_iter().max().map(|x| x as f64)),
                    Agg::CountDistinct(c) => {
                        let distinct: BTreeSet<String> = own
                            .iter()
                            .map(|i| &data[cube][*i][c])
                            .filter(|v| !v.is_null())
                            .map(Value::to_string)
                            .collect();
                        json!(distinct.len())
                    }
                    Agg::Ratio(c) => {
                        let v = col(c);
                        or_null(
                            (!own.is_empty() && !v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / own.len() as f64),
                        )
                    }
                }
            })
            .collect();
        if let Some((m, min)) = *having {
            let i = measures.iter().position(|x| *x == m).unwrap_or(0);
            if !values[i].as_f64().is_some_and(|v| v > min as f64) {
                continue;
            }
        }
        out.insert(k, [key, values].concat());
    }
    out
}

/// Numbers compared as numbers: PostgreSQL's exact NUMERIC results come
/// back as strings.
fn same(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    match (num(a), num(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    }
}

async fn load(server: &TestServer, endpoint: &str, token: &str, query: &Value) -> Reply {
    let path = format!("/cubejs-api/v1/{endpoint}?query={}", tenantgate::server::url::encode(&query.to_string()));
    server.get(&path, &[("authorization", token)]).await
}

#[tokio::test]
async fn every_measure_over_random_joins_matches_a_naive_computation_on_sqlite() {
    check_random_joins(None, &[0x5EED_0001_u64, 0xC0FF_EE02, 0xBADC_0DE3], false).await;
}

#[tokio::test]
async fn every_measure_over_random_joins_matches_a_naive_computation_on_postgres() {
    let Some(admin) = admin_url("every_measure_over_random_joins_matches_a_naive_computation_on_postgres") else {
        return;
    };
    check_random_joins(Some(&admin), &[0x5EED_0004_u64, 0xC0FF_EE05], false).await;
}

#[tokio::test]
async fn every_measure_through_a_view_over_random_joins_matches_a_naive_computation_on_sqlite() {
    check_random_joins(None, &[0x5EED_0006_u64, 0xC0FF_EE07], true).await;
}

#[tokio::test]
async fn every_measure_through_a_view_over_random_joins_matches_a_naive_computation_on_postgres() {
    let Some(admin) =
        admin_url("every_measure_through_a_view_over_random_joins_matches_a_naive_computation_on_postgres")
    else {
        return;
    };
    check_random_joins(Some(&admin), &[0x5EED_0008_u64], true).await;
}

/// A member's name, or with `view` its name in view `Shop`
/// (`Orders.amount` -> `Shop.Orders_amount`).
fn named(member: &str, view: bool) -> String {
    if view { format!("Shop.{}", member.replace('.', "_")) } else { member.to_string() }
}

/// The tree of a query through view `Shop`: every member's join path
/// starts at Customers, so the tree is rooted there and holds each path.
fn view_tree(cubes: &BTreeSet<&'static str>) -> Option<(&'static str, Vec<Edge>)> {
    let mut edges = Vec::new();
    for c in cubes {
        for e in path("Customers", c)? {
            if !edges.contains(&e) {
                edges.push(e);
            }
        }
    }
    edges.sort_by_key(|e| path("Customers", e.1).map_or(0, |p| p.len()));
    Some(("Customers", edges))
}

/// Random data sets (one per seed) and random queries on each, on SQLite
/// or (with an admin URL) on a fresh PostgreSQL database per data set;
/// with `view`, every member is named through view `Shop`.
async fn check_random_joins(postgres: Option<&str>, seeds: &[u64], view: bool) {
    let (mut fanned_out, mut simple, mut no_path) = (0, 0, 0);
    for &seed in seeds {
        let mut rng = Rng(seed);
        let data = generate(&mut rng);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("model")).expect("model dir");
        std::fs::write(dir.path().join("model/shop.yml"), MODEL).expect("model");
        std::fs::write(dir.path().join("seed.sql"), seed_sql(&data)).expect("seed");
        let mut pg = None;
        let database = match postgres {
            None => format!(
                "path = \"{}\"\nseed = \"{}\"",
                dir.path().join("shop.sqlite").display(),
                dir.path().join("seed.sql").display()
            ),
            Some(admin) => {
                let db = TestDb::create(admin, "joins").await;
                db.execute(&seed_sql(&data)).await;
                let url = db.url(None);
                pg = Some(db);
                format!("type = \"postgres\"\nurl = \"{url}\"")
            }
        };
        let cfg = format!(
            "{}\n[model]\npath = \"{}\"\n[database]\n{database}\n{RULE}",
            secret_config(""),
            dir.path().join("model").display(),
        );
        let server = TestServer::start(&cfg).await;
        for _ in 0..150 {
            let tenant = *rng.pick(&["acme", "globex"]);
            let token = hs256(SECRET, &claims(json!({"tenant_id": tenant})));
            let mut measures: Vec<usize> = Vec::new();
            for _ in 0..=rng.below(3) {
                let m = rng.below(MEASURES.len() as u64) as usize;
                if !measures.contains(&m) {
                    measures.push(m);
                }
            }
            let mut dims: Vec<usize> = Vec::new();
            for _ in 0..rng.below(3) {
                let d = rng.below(DIMENSIONS.len() as u64) as usize;
                if !dims.contains(&d) {
                    dims.push(d);
                }
            }
            let mut conds = Vec::new();
            if rng.chance(40) {
                let (name, cube, col) = *rng.pick(&DIMENSIONS);
                let v = json!(*rng.pick(&["Lyon", "gold", "paid", "red", "toys", "acme", "new"]));
                conds.push(match rng.below(3) {
                    0 => Cond::Equals(name, cube, col, v),
                    1 => Cond::NotEquals(name, cube, col, v),
                    _ => Cond::Set(name, cube, col),
                });
            }
            let having = rng.chance(20).then(|| (*rng.pick(&measures), rng.below(4) as i64));
            let filters: Vec<Value> = conds
                .iter()
                .map(|c| match c {
                    Cond::Equals(n, _, _, v) => json!({"member": named(n, view), "operator": "equals", "values": [v]}),
                    Cond::NotEquals(n, _, _, v) => {
                        json!({"member": named(n, view), "operator": "notEquals", "values": [v]})
                    }
                    Cond::Set(n, _, _) => json!({"member": named(n, view), "operator": "set"}),
                })
                .chain(
                    having.map(
                        |(m, min)| json!({"member": named(MEASURES[m].0, view), "operator": "gt", "values": [min]}),
                    ),
                )
                .collect();
            let q = json!({
                "measures": measures.iter().map(|m| named(MEASURES[*m].0, view)).collect::<Vec<_>>(),
                "dimensions": dims.iter().map(|d| named(DIMENSIONS[*d].0, view)).collect::<Vec<_>>(),
                "filters": filters,
            });
            let cubes: BTreeSet<&'static str> = measures
                .iter()
                .map(|m| MEASURES[*m].1)
                .chain(dims.iter().map(|d| DIMENSIONS[*d].1))
                .chain(conds.iter().map(|c| match c {
                    Cond::Equals(_, cube, ..) | Cond::NotEquals(_, cube, ..) | Cond::Set(_, cube, _) => *cube,
                }))
                .collect();
            let reply = load(&server, "load", &token, &q).await;
            let Some((root, edges)) = (if view { view_tree(&cubes) } else { tree(&cubes) }) else {
                assert_eq!(
                    (reply.status, reply.code()),
                    (StatusCode::BAD_REQUEST, "no_join_path"),
                    "{q}: {:?}",
                    reply.body
                );
                no_path += 1;
                continue;
            };
            assert_eq!(reply.status, StatusCode::OK, "seed {seed:#x} {tenant} {q}: {:?}", reply.body);
            let sql = load(&server, "sql", &token, &q).await;
            if sql.body["sql"]["sql"][0].as_str().is_some_and(|s| s.contains("AS \"keys\"")) {
                fanned_out += 1;
            } else {
                simple += 1;
            }
            let case = Case { measures, dims, conds, having };
            let want = expected(&data, tenant, &case, root, &edges);
            let Case { measures, dims, .. } = case;
            let rows = reply.body["data"].as_array().expect("rows");
            let mut got = BTreeMap::new();
            for row in rows {
                let key: Vec<Value> = dims.iter().map(|d| row[named(DIMENSIONS[*d].0, view)].clone()).collect();
                let values: Vec<Value> = measures.iter().map(|m| row[named(MEASURES[*m].0, view)].clone()).collect();
                let previous = got.insert(json!(key).to_string(), [key, values].concat());
                assert!(previous.is_none(), "seed {seed:#x} {tenant} {q}: a group came back twice: {rows:?}");
            }
            let explain = || {
                format!(
                    "seed {seed:#x} {tenant} {q}\n  want {want:?}\n  got  {got:?}\n  sql {}",
                    sql.body["sql"]["sql"]
                )
            };
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{}", explain());
            for (k, w) in &want {
                let g = &got[k];
                assert!(w.iter().zip(g).all(|(a, b)| same(a, b)), "{}", explain());
            }
        }
        server.stop().await;
        if let Some(db) = pg {
            db.drop_now().await;
        }
    }
    let runs = seeds.len() * 150;
    assert!(
        fanned_out > runs / 6 && simple > runs / 6 && (view || no_path > runs / 40),
        "the generator must exercise every shape ({fanned_out} fan-out, {simple} simple, {no_path} without a path)"
    );
}
