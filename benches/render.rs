//! Rendering: a Cube.js query and a security context to SQL and parameters
//! (pure, no I/O), for a small and a filter-heavy query; a whole plan
//! against a plan cache hit; and how rendering grows with the model.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tenantgate::auth::{Pipeline, Strategies};
use tenantgate::config::{self, LoadOptions};
use tenantgate::query::render::RenderOptions;
use tenantgate::query::{Dialect, Query, render};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";

fn bench(c: &mut Criterion) {
    tenantgate::install_crypto_provider();
    let dir = format!("{}/tests/golden/render", env!("CARGO_MANIFEST_DIR"));
    let tmp = std::env::temp_dir().join(format!("tenantgate-render-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("dir");
    std::fs::write(
        tmp.join("bench.toml"),
        format!(
            "[model]\npath = \"{dir}/model\"\n[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n"
        ),
    )
    .expect("write");
    let cfg = config::load(&LoadOptions {
        config_dir: tmp.clone(),
        env: "bench".into(),
        dotenv: None,
        vars: Default::default(),
    })
    .expect("config");
    let model = tenantgate::build::load_model(&cfg.model).expect("model");
    let _ = std::fs::remove_dir_all(tmp);
    // The security context comes from a real token: only auth can build one.
    let pipeline = Pipeline::new(&cfg.auth, Strategies::new()).expect("pipeline");
    let claims =
        tenantgate::mint::claims(1_800_000_000, std::time::Duration::from_secs(3600), [("id".into(), json!(42))], []);
    let token = tenantgate::mint::sign_hs256(SECRET.as_bytes(), &claims).expect("sign");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let ctx = rt.block_on(pipeline.authenticate_token(&token, 1_800_000_000.0)).expect("valid").context;

    let small = json!({"measures": ["Orders.count", "Orders.totalAmount"], "dimensions": ["Orders.status"]});
    let heavy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/every_filter_operator.json")).expect("golden case"),
    )
    .expect("json");
    let heavy = heavy["query"].clone();

    let mut g = c.benchmark_group("render");
    for (name, q) in [("small query", &small), ("every filter operator", &heavy)] {
        g.bench_function(format!("{name}: parse + render (postgres)"), |b| {
            b.iter(|| {
                let query = Query::parse(black_box(q), &model).expect("valid query");
                render(&model, &query, &ctx, Dialect::Postgres, RenderOptions::default()).expect("renders")
            })
        });
    }
    g.finish();

    // A whole plan (parse, every policy step, render, settings) against a
    // plan cache hit for the same caller (its key built, one lookup).
    // On the demo model, as scripts/load.sh serves it.
    let demo = std::env::temp_dir().join(format!("tenantgate-plan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&demo).expect("dir");
    std::fs::write(
        demo.join("bench.toml"),
        format!(
            "[model]\npath = \"{}/fixtures/demo/model\"\n[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .expect("write");
    let demo_cfg = config::load(&LoadOptions {
        config_dir: demo.clone(),
        env: "bench".into(),
        dotenv: None,
        vars: Default::default(),
    })
    .expect("config");
    let _ = std::fs::remove_dir_all(demo);
    let built = tenantgate::build::build(demo_cfg, Strategies::new(), tenantgate::build::Mode::Check)
        .unwrap_or_else(|e| panic!("builds: {e}"));
    let claims = tenantgate::mint::claims(
        1_800_000_000,
        std::time::Duration::from_secs(3600),
        [("tenant_id".into(), json!("acme")), ("id".into(), json!(42))],
        [],
    );
    let acme = tenantgate::mint::sign_hs256(SECRET.as_bytes(), &claims).expect("sign");
    let auth = rt.block_on(built.pipeline.authenticate_token(&acme, 1_800_000_000.0)).expect("valid");
    let queries = [small.clone()];
    let plans = tenantgate::cache::PlanCache::new(1 << 20).expect("on");
    let mut g = c.benchmark_group("plan");
    g.bench_function("small query: query::plan", |b| {
        b.iter(|| {
            tenantgate::query::plan(&built.model, &built.policy, black_box(&queries), &auth.context).expect("plans")
        })
    });
    g.bench_function("small query: plan cache hit", |b| {
        b.iter(|| {
            let key = tenantgate::cache::PlanCache::key(&auth.context_json(), black_box(&queries));
            plans
                .get_or_plan(key, || tenantgate::query::plan(&built.model, &built.policy, &queries, &auth.context))
                .expect("plans")
        })
    });
    g.finish();

    // How rendering grows with the model: the same query over a model of
    // 1 cube and of 100 (each with its measures, dimensions and a join to
    // the next), the query on the last one.
    let mut g = c.benchmark_group("cubes");
    for n in [1usize, 100] {
        let mut yaml = String::from("cubes:\n");
        for i in 0..n {
            yaml.push_str(&format!(
                "  - name: C{i}\n    sql: SELECT * FROM t{i} WHERE {{SECURITY_CONTEXT.id.filter('user_id')}}\n\
                 \x20   measures:\n      - {{name: count, type: count}}\n      - {{name: total, sql: amount, type: sum}}\n\
                 \x20   dimensions:\n      - {{name: id, sql: id, type: number, primary_key: true}}\n\
                 \x20     - {{name: status, sql: status, type: string}}\n      - {{name: created, sql: created_at, type: time}}\n"
            ));
            if i + 1 < n {
                yaml.push_str(&format!(
                    "    joins:\n      - {{name: C{}, relationship: many_to_one, sql: \"{{CUBE}}.next_id = {{C{}}}.id\"}}\n",
                    i + 1,
                    i + 1
                ));
            }
        }
        let model = tenantgate::query::model::load_sources(&[("bench.yml".into(), yaml)], Default::default())
            .expect("generated model");
        let last = n - 1;
        let q = json!({"measures": [format!("C{last}.count"), format!("C{last}.total")], "dimensions": [format!("C{last}.status")]});
        g.bench_function(format!("{n} cubes: parse + render (postgres)"), |b| {
            b.iter(|| {
                let query = Query::parse(black_box(&q), &model).expect("valid query");
                render(&model, &query, &ctx, Dialect::Postgres, RenderOptions::default()).expect("renders")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
