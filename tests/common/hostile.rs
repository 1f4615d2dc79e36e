//! Query shapes that once reached the database and came back as a 500 or
//! 503 (SQLite's expression depth, LIKE pattern length and parameter limit;
//! PostgreSQL's 65,535 parameters, 42883 and 42803). Each must be refused
//! with 400 `invalid_query` before any SQL runs, on every database. The
//! queries name `Orders.count`, `Orders.totalAmount` (measures),
//! `Orders.status` (string), `Orders.amount` (number), `Orders.paid`
//! (boolean) and `Orders.createdAt` (time).

use serde_json::{Value, json};

/// (what, query) pairs; every one must get 400 `invalid_query`.
pub fn client_queries_that_must_be_400() -> Vec<(String, Value)> {
    let count = json!(["Orders.count"]);
    let many_values = |n: usize| -> Vec<Value> { (0..n).map(|i| json!(i)).collect() };
    // n values in filters of at most 1,000 values each (the per-filter cap).
    let bound = |n: usize| -> Value {
        let filters: Vec<Value> = (0..n.div_ceil(1000))
            .map(|k| json!({"member": "Orders.amount", "operator": "notEquals", "values": many_values(1000.min(n - k * 1000))}))
            .collect();
        json!({"measures": count, "filters": filters})
    };
    let like = |member: &str, op: &str| -> Value {
        json!({"measures": count, "filters": [{"member": member, "operator": op, "values": ["1"]}]})
    };
    let mut out = vec![
        (
            "1,000 contains values (SQLite expression depth)".to_string(),
            json!({"measures": count, "filters": [{"member": "Orders.status", "operator": "contains",
                "values": (0..1000).map(|i| format!("v{i}")).collect::<Vec<_>>()}]}),
        ),
        (
            "one 60 KB LIKE value".to_string(),
            json!({"measures": count, "filters": [{"member": "Orders.status", "operator": "contains", "values": ["x".repeat(60_000)]}]}),
        ),
        ("40,000 bound values (SQLite's limit is 32,766)".to_string(), bound(40_000)),
        ("70,000 bound values (PostgreSQL's limit is 65,535)".to_string(), bound(70_000)),
        (
            "2,000 order entries".to_string(),
            json!({"measures": count, "dimensions": ["Orders.status"],
                "order": (0..2000).map(|_| json!(["Orders.status", "asc"])).collect::<Vec<_>>()}),
        ),
        (
            "an or group mixing a measure and a dimension (PostgreSQL 42803)".to_string(),
            json!({"measures": count, "filters": [{"or": [
                {"member": "Orders.count", "operator": "gt", "values": [1]},
                {"member": "Orders.status", "operator": "equals", "values": ["completed"]}
            ]}]}),
        ),
        (
            "an and group mixing a measure and a dimension".to_string(),
            json!({"measures": count, "filters": [{"and": [
                {"member": "Orders.totalAmount", "operator": "gt", "values": [1]},
                {"member": "Orders.status", "operator": "equals", "values": ["completed"]}
            ]}]}),
        ),
    ];
    for (member, kind) in [
        ("Orders.amount", "a number"),
        ("Orders.paid", "a boolean"),
        ("Orders.createdAt", "a time"),
        ("Orders.count", "a measure"),
    ] {
        for op in ["contains", "notContains", "startsWith", "endsWith"] {
            out.push((format!("{op} on {kind} (PostgreSQL 42883)"), like(member, op)));
        }
    }
    out
}
