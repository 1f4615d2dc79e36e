//! The baseline for `scripts/load.sh`'s whoami ratio: a bare hyper server
//! that does only what any HS256 check must do for each request: take the
//! bearer token, check its HMAC-SHA256 over the signing input, decode the
//! payload, parse it as JSON, check `exp`, and echo it back, as
//! `/tenantgate/v1/whoami` does. No routing, no logging, no metrics, no
//! token rules beyond those.
//!
//! `cargo run --release --example bare_hs256 -- --port 4098 --secret S`

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

fn check(key: &hmac::Key, req: &Request<Incoming>) -> Option<Vec<u8>> {
    let header = req.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ")?;
    let (input, signature) = token.rsplit_once('.')?;
    let (_, payload) = input.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    hmac::verify(key, input.as_bytes(), &signature).ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    if claims.get("exp").and_then(Value::as_f64).is_none_or(|exp| exp <= now) {
        return None;
    }
    serde_json::to_vec(&serde_json::json!({ "securityContext": claims })).ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut port, mut secret) = (4098u16, String::new());
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--port" => port = value.parse().unwrap_or(port),
            "--secret" => secret = value,
            other => {
                eprintln!("bare_hs256: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let key = std::sync::Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let key = std::sync::Arc::clone(&key);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let resp = match check(&key, &req) {
                        Some(body) => Response::new(Full::new(Bytes::from(body))),
                        None => {
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = StatusCode::UNAUTHORIZED;
                            r
                        }
                    };
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
