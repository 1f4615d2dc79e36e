//! The verify path, token to security context, beside the bare signature
//! check of the same token:
//! - HS256 through a secret provider (issue 2 target: median under 5 us);
//! - RS256 and ES256 through a JWKS provider with the key cached (issue 3
//!   target: at most 3 us above the bare signature check);
//! - each verified every time (`verification_cache_max_bytes = 0`) and as a
//!   verification cache hit (the same token again, the default).

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::body::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use tenantgate::auth::{Pipeline, Strategies};
use tenantgate::config::{self, LoadOptions};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
const NOW: u64 = 1_800_000_000;

fn pipeline(toml: &str) -> Pipeline {
    let dir = std::env::temp_dir().join(format!("tenantgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("bench.toml"), toml).expect("write");
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

/// The cached paths never await, so one poll completes the future: this
/// measures the pipeline, not an executor.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the measured path must not suspend"),
    }
}

fn claims() -> serde_json::Map<String, Value> {
    tenantgate::mint::claims(
        NOW,
        std::time::Duration::from_secs(3600),
        [
            ("iss".to_string(), json!("https://idp.bench")),
            ("aud".to_string(), json!("bench")),
            ("sub".to_string(), json!("user-42")),
            ("tenant_id".to_string(), json!("acme")),
            ("roles".to_string(), json!(["analyst", "viewer"])),
        ],
        [],
    )
}

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"))).expect("fixture key")
}

/// Turns the verification cache off.
const NO_CACHE: &str = "[auth]\nverification_cache_max_bytes = 0\n";

fn hs256(c: &mut Criterion) {
    let provider = format!("[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n");
    let pipeline = pipeline(&format!("{NO_CACHE}{provider}"));
    let cached = self::pipeline(&provider);
    let token = tenantgate::mint::sign_hs256(SECRET.as_bytes(), &claims()).expect("sign");
    let ok = ready(pipeline.authenticate_token(&token, NOW as f64)).expect("valid token");
    assert_eq!(ok.context.as_map().get("tenant_id"), Some(&json!("acme")));
    assert!(ready(cached.authenticate_token(&token, NOW as f64)).is_ok());
    let (input, sig) = token.rsplit_once('.').expect("three segments");
    let key = DecodingKey::from_secret(SECRET.as_bytes()).expect("key");

    let mut g = c.benchmark_group("hs256");
    g.bench_function("pipeline: token to security context", |b| {
        b.iter(|| ready(pipeline.authenticate_token(black_box(&token), NOW as f64)).is_ok())
    });
    g.bench_function("pipeline: verification cache hit", |b| {
        b.iter(|| ready(cached.authenticate_token(black_box(&token), NOW as f64)).is_ok())
    });
    g.bench_function("bare signature check", |b| {
        b.iter(|| jsonwebtoken::crypto::verify(black_box(sig), black_box(input.as_bytes()), &key, Algorithm::HS256))
    });
    g.finish();
}

/// Serve one JWKS document on 127.0.0.1 for the pipeline's prefetch.
async fn serve_jwks(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}/jwks.json")
}

fn jwks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let cases = [("rs256", Algorithm::RS256, "rsa_private.pem"), ("es256", Algorithm::ES256, "ec256_private.pem")];
    for (name, alg, file) in cases {
        let pem = fixture(file);
        let enc = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            _ => EncodingKey::from_ec_pem(&pem),
        }
        .expect("key");
        let mut jwk =
            serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, alg).expect("jwk")).expect("json");
        jwk["kid"] = json!("bench");
        let url = rt.block_on(serve_jwks(json!({ "keys": [jwk.clone()] }).to_string()));
        let toml = format!(
            "[[auth.providers]]\nname = \"idp\"\ntype = \"jwks\"\nissuer = \"https://idp.bench\"\njwks_url = \"{url}\"\naudience = [\"bench\"]\nalgorithms = [\"{alg:?}\"]\n"
        );
        let (pipeline, cached) = {
            let _enter = rt.enter();
            (pipeline(&format!("{NO_CACHE}{toml}")), pipeline(&toml))
        };
        rt.block_on(async {
            while !pipeline.not_ready().is_empty() || !cached.not_ready().is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        let mut header = Header::new(alg);
        header.kid = Some("bench".into());
        let token = jsonwebtoken::encode(&header, &claims(), &enc).expect("sign");
        let ok = ready(pipeline.authenticate_token(&token, NOW as f64)).expect("valid token");
        assert_eq!(ok.context.as_map().get("tenant_id"), Some(&json!("acme")));
        let (input, sig) = token.rsplit_once('.').expect("three segments");
        let key = DecodingKey::from_jwk(&serde_json::from_value(jwk).expect("jwk")).expect("key");

        let mut g = c.benchmark_group(name);
        g.bench_function("pipeline with cached key: token to security context", |b| {
            b.iter(|| ready(pipeline.authenticate_token(black_box(&token), NOW as f64)).is_ok())
        });
        assert!(ready(cached.authenticate_token(&token, NOW as f64)).is_ok());
        g.bench_function("pipeline: verification cache hit", |b| {
            b.iter(|| ready(cached.authenticate_token(black_box(&token), NOW as f64)).is_ok())
        });
        g.bench_function("bare signature check", |b| {
            b.iter(|| jsonwebtoken::crypto::verify(black_box(sig), black_box(input.as_bytes()), &key, alg))
        });
        g.finish();
    }
}

fn setup(c: &mut Criterion) {
    tenantgate::install_crypto_provider();
    hs256(c);
    jwks(c);
}

criterion_group!(benches, setup);
criterion_main!(benches);
