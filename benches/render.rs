//! Rendering: a Cube.js query and a security context to SQL and parameters
//! (pure, no I/O), for a small and a filter-heavy query.

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
