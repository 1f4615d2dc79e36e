//! The verify path, token to security context, beside the bare signature
//! check of the same token:
//! - HS256 through a secret provider (issue 2 target: median under 5 us);
//! - RS256 and ES256 through a JWKS provider with the key cached (issue 3
//!   target: at most 3 us above the bare signature check);
//! - each verified every time (`verification_cache_max_bytes = 0`) and as a
//!   verification cache hit (the same token again, the default).
//! - a cached `type = "webhook"` verdict and an HS256 token with a cached
//!   `[[auth.enrich]]` lookup (the `url` form and the `sql` form), beside a
//!   plain HS256 request, all through `Pipeline::authenticate` on a runtime
//!   (moka's cache is async), issue 14.

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
            // The audience check is not what is measured; since the audience
            // became required outside development, the bench opts out.
            "[[auth.providers]]\nname = \"idp\"\ntype = \"jwks\"\nissuer = \"https://idp.bench\"\njwks_url = \"{url}\"\nalgorithms = [\"{alg:?}\"]\ndangerous_skip_audience = true\n"
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

/// How verification grows with the key set: ES256 with 1 key and with 50
/// (the fixture key under 50 kids; what grows is the set the kid is looked
/// up in), the token naming the last one, verification cache off.
fn jwks_keys(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let enc = EncodingKey::from_ec_pem(&fixture("ec256_private.pem")).expect("key");
    let jwk = serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::ES256).expect("jwk"))
        .expect("json");
    let mut g = c.benchmark_group("keys");
    for n in [1usize, 50] {
        let keys: Vec<Value> = (0..n)
            .map(|i| {
                let mut k = jwk.clone();
                k["kid"] = json!(format!("k{i}"));
                k
            })
            .collect();
        let url = rt.block_on(serve_jwks(json!({ "keys": keys }).to_string()));
        let toml = format!(
            "{NO_CACHE}[[auth.providers]]\nname = \"idp\"\ntype = \"jwks\"\nissuer = \"https://idp.bench\"\njwks_url = \"{url}\"\nalgorithms = [\"ES256\"]\ndangerous_skip_audience = true\n"
        );
        let p = {
            let _enter = rt.enter();
            pipeline(&toml)
        };
        rt.block_on(async {
            while !p.not_ready().is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(format!("k{}", n - 1));
        let token = jsonwebtoken::encode(&header, &claims(), &enc).expect("sign");
        assert!(ready(p.authenticate_token(&token, NOW as f64)).is_ok());
        g.bench_function(format!("es256, {n} keys in the set: token to security context"), |b| {
            b.iter(|| ready(p.authenticate_token(black_box(&token), NOW as f64)).is_ok())
        });
    }
    g.finish();
}

/// Answer every request with one JSON object, cacheable for an hour.
async fn serve_json(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let body = body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                        resp.headers_mut()
                            .insert("cache-control", hyper::header::HeaderValue::from_static("max-age=3600"));
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn webhook_and_enrich(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let url = rt.block_on(serve_json(json!({"tenant_id": "acme", "groups": ["analyst"]}).to_string()));
    let secret = format!("[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n");
    let webhook = format!(
        "{secret}[[auth.providers]]\nname = \"keys\"\ntype = \"webhook\"\nurl = \"{url}/check\"\ntoken_prefix = \"sk_\"\nmax_cache_ttl = \"1h\"\n"
    );
    let enrich =
        format!("{secret}[[auth.enrich]]\nkey = \"sub\"\nurl = \"{url}/entitlements/{{sub}}\"\nttl = \"1h\"\n");
    let (plain, webhook, enrich) = {
        let _enter = rt.enter();
        (pipeline(&secret), pipeline(&webhook), pipeline(&enrich))
    };
    // Real time: the token must be valid now for `authenticate`.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let mut c2 = claims();
    c2.insert("iat".into(), json!(now));
    c2.insert("exp".into(), json!(now + 3600));
    let token = tenantgate::mint::sign_hs256(SECRET.as_bytes(), &c2).expect("sign");
    let headers = |v: &str| {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, format!("Bearer {v}").parse().expect("header"));
        h
    };
    let (jwt, key) = (headers(&token), headers("sk_bench_key"));
    // Warm both caches, and check the paths do what they are named for.
    let ok = rt.block_on(webhook.authenticate(&key)).expect("webhook allows");
    assert_eq!(ok.context.as_map().get("tenant_id"), Some(&json!("acme")));
    let ok = rt.block_on(enrich.authenticate(&jwt)).expect("enriched");
    assert_eq!(ok.context.as_map().get("groups"), Some(&json!(["analyst"])));

    let mut g = c.benchmark_group("issue14");
    g.bench_function("plain hs256 request", |b| b.iter(|| rt.block_on(plain.authenticate(black_box(&jwt))).is_ok()));
    g.bench_function("cached webhook verdict", |b| {
        b.iter(|| rt.block_on(webhook.authenticate(black_box(&key))).is_ok())
    });
    g.bench_function("hs256 with a cached enrichment", |b| {
        b.iter(|| rt.block_on(enrich.authenticate(black_box(&jwt))).is_ok())
    });
    // The sql form, built as the server builds it (over a real SQLite
    // file): the first lookup runs the statement, the measured ones hit
    // the cache.
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = dir.path().join("seed.sql");
    std::fs::write(
        &seed,
        "CREATE TABLE entitlements (sub TEXT PRIMARY KEY, groups TEXT);\n\
                           INSERT INTO entitlements VALUES ('user-42', '[\"analyst\"]');\n",
    )
    .expect("seed");
    let toml = format!(
        "{secret}[database]\npath = \"{}\"\nseed = \"{}\"\n[[auth.enrich]]\nkey = \"sub\"\n\
         sql = \"SELECT groups FROM entitlements WHERE sub = $1\"\njson_columns = [\"groups\"]\nttl = \"1h\"\n",
        dir.path().join("bench.sqlite").display(),
        seed.display()
    );
    let sql = {
        let _enter = rt.enter();
        built_pipeline(&toml)
    };
    let ok = rt.block_on(sql.authenticate(&jwt)).expect("enriched by sql");
    assert_eq!(ok.context.as_map().get("groups"), Some(&json!(["analyst"])));
    g.bench_function("hs256 with a cached sql enrichment", |b| {
        b.iter(|| rt.block_on(sql.authenticate(black_box(&jwt))).is_ok())
    });
    g.finish();
}

/// The pipeline as `serve` builds it (`build::build`), for configurations
/// whose pipeline needs the data sources.
fn built_pipeline(toml: &str) -> Pipeline {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bench.toml"), toml).expect("write");
    let cfg = config::load(&LoadOptions {
        config_dir: dir.path().to_path_buf(),
        env: "bench".into(),
        dotenv: None,
        vars: Default::default(),
    })
    .expect("config");
    match tenantgate::build::build(cfg, Strategies::new(), tenantgate::build::Mode::Serve) {
        Ok(built) => built.pipeline,
        Err(e) => panic!("build: {e}"),
    }
}

fn setup(c: &mut Criterion) {
    tenantgate::install_crypto_provider();
    hs256(c);
    jwks(c);
    jwks_keys(c);
    webhook_and_enrich(c);
}

criterion_group!(benches, setup);
criterion_main!(benches);
