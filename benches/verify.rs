//! The verify path: an HS256 token through the whole pipeline to a security
//! context, beside the bare HMAC check of the same token.
//! Target (issue 2): median under 5 us per token on the CI machine.

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tenantgate::auth::{Pipeline, Strategies};
use tenantgate::config::{self, LoadOptions};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";

fn pipeline() -> Pipeline {
    let dir = std::env::temp_dir().join(format!("tenantgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("bench.toml"),
        format!("[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n"),
    )
    .expect("write");
    let cfg = config::load(&LoadOptions {
        config_dir: dir.clone(),
        env: "bench".into(),
        dotenv: None,
        vars: Default::default(),
    })
    .expect("config");
    let _ = std::fs::remove_dir_all(dir);
    Pipeline::new(&cfg.auth, Strategies::new()).expect("pipeline")
}

/// The secret provider never awaits, so one poll completes the future; this
/// measures the pipeline, not an executor.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the secret provider path must not suspend"),
    }
}

fn bench(c: &mut Criterion) {
    tenantgate::install_crypto_provider();
    let pipeline = pipeline();
    let now = 1_800_000_000u64;
    let claims = tenantgate::mint::claims(
        now,
        std::time::Duration::from_secs(3600),
        [
            ("sub".to_string(), json!("user-42")),
            ("tenant_id".to_string(), json!("acme")),
            ("roles".to_string(), json!(["analyst", "viewer"])),
        ],
        [],
    );
    let token = tenantgate::mint::sign_hs256(SECRET.as_bytes(), &claims).expect("sign");
    let ok = ready(pipeline.authenticate_token(&token, now as f64)).expect("valid token");
    assert_eq!(ok.context.get("tenant_id"), Some(&json!("acme")));

    let (input, sig) = token.rsplit_once('.').expect("three segments");
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()).expect("key");

    let mut g = c.benchmark_group("hs256");
    g.bench_function("pipeline: token to security context", |b| {
        b.iter(|| ready(pipeline.authenticate_token(black_box(&token), now as f64)).is_ok())
    });
    g.bench_function("bare jsonwebtoken::crypto::verify", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(sig),
                black_box(input.as_bytes()),
                &key,
                jsonwebtoken::Algorithm::HS256,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
