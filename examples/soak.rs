//! Load soak (issue 6): runs the release server on the demo data with a
//! secret provider and a JWKS provider (this program serves the key set),
//! sends a mix of valid, expired and unknown-kid tokens to `/whoami` and
//! `/load`, then SIGTERMs the server mid-load.
//!
//! Pass: zero 5xx; zero wrong answers (every valid request's security
//! context is its token's); resident memory steady (under 10 % growth from
//! the end of the first fifth of the run to the end); every request sent
//! before SIGTERM answered; a clean exit. Prints requests/s, p50/p99 and peak
//! RSS; exits non-zero on any failure.
//!
//! `cargo run --release --example soak -- [--seconds 10] [--connections 16] [--result-cache]`
//!
//! The verification cache is on by default; `--result-cache` turns the
//! in-memory result cache on too (`[cache] enabled`), bounded by its
//! default `max_bytes`, so the memory check covers both caches filling.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "soak-secret-soak-secret-soak-secret-0123456789";
const ISS: &str = "https://soak-idp";
/// Outside development and test a JWKS provider needs an audience.
const AUD: &str = "soak-api";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Valid,
    ValidRs256,
    Expired,
    UnknownKid,
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 16) as usize;
    let result_cache = std::env::args().any(|a| a == "--result-cache");
    let root = env!("CARGO_MANIFEST_DIR");
    tenantgate::install_crypto_provider();

    // The identity provider: one RSA key, served over HTTP on loopback.
    let pem = std::fs::read(format!("{root}/fixtures/keys/rsa_private.pem")).expect("fixture key");
    let enc = EncodingKey::from_rsa_pem(&pem).expect("rsa key");
    let mut jwk = serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, Algorithm::RS256).expect("jwk"))
        .expect("json");
    jwk["kid"] = json!("soak-key");
    let jwks_body = json!({"keys": [jwk]}).to_string();
    let jwks = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let jwks_addr = jwks.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = jwks.accept().await else { continue };
            let body = jwks_body.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });

    // The server, on the demo model and a fresh SQLite file.
    let tmp = std::env::temp_dir().join(format!("tenantgate-soak-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    std::fs::write(
        tmp.join("soak.toml"),
        format!(
            "[server]\nport = 0\nshutdown_timeout = \"10s\"\n\
             [[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{SECRET}\"]\n\
             [[auth.providers]]\nname = \"idp\"\ntype = \"jwks\"\nissuer = \"{ISS}\"\naudience = [\"{AUD}\"]\njwks_url = \"http://{jwks_addr}/jwks.json\"\n\
             [model]\npath = \"{root}/fixtures/demo/model\"\n\
             [database]\npath = \"{}\"\nseed = \"{root}/fixtures/demo/seed.sql\"\n{}",
            tmp.join("demo.sqlite").display(),
            if result_cache { "[cache]\nenabled = true\n" } else { "" }
        ),
    )
    .expect("config");
    let bin = format!("{root}/target/release/tenantgate");
    let mut child = tokio::process::Command::new(&bin)
        .args(["serve", "--env", "soak", "--config-dir"])
        .arg(&tmp)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} (build it with cargo build --release): {e}"));
    let pid = child.id().expect("pid");
    // Started on port 0: find the port it listens on.
    let port = find_port(pid).await;
    let base = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if get(&base, "/readyz", None).await.is_some_and(|(s, _)| s == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let tenants = ["acme", "globex", "initech"];
    let token = |kind: Kind, i: usize| -> (String, Option<&'static str>) {
        let tenant = tenants[i % tenants.len()];
        let c = |exp: u64| json!({"tenant_id": tenant, "id": i, "iat": now(), "exp": exp, "iss": ISS, "aud": AUD});
        match kind {
            // HS256 tokens carry no iss: the secret provider is the HMAC
            // family's issuer-less provider.
            Kind::Valid | Kind::Expired => {
                let exp = if matches!(kind, Kind::Valid) { now() + 3600 } else { now() - 3600 };
                let mut claims = c(exp);
                let token = match claims.as_object_mut() {
                    Some(map) => {
                        map.remove("iss");
                        tenantgate::mint::sign_hs256(SECRET.as_bytes(), map).expect("sign")
                    }
                    None => String::new(),
                };
                (token, matches!(kind, Kind::Valid).then_some(tenant))
            }
            Kind::ValidRs256 | Kind::UnknownKid => {
                let mut h = Header::new(Algorithm::RS256);
                h.kid = Some(if matches!(kind, Kind::ValidRs256) {
                    "soak-key".into()
                } else {
                    format!("unknown-{}", i % 7)
                });
                let valid = matches!(kind, Kind::ValidRs256);
                (jsonwebtoken::encode(&h, &c(now() + 3600), &enc).expect("sign"), valid.then_some(tenant))
            }
        }
    };

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sigterm_at_ms = Arc::new(AtomicU64::new(u64::MAX));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..connections {
        let (base, stop, sig, failures) = (base.clone(), stop.clone(), sigterm_at_ms.clone(), failures.clone());
        let toks: Vec<(Kind, String, Option<&'static str>)> =
            [Kind::Valid, Kind::ValidRs256, Kind::Expired, Kind::UnknownKid]
                .iter()
                .enumerate()
                .map(|(j, k)| {
                    let (t, tenant) = token(*k, w * 4 + j);
                    (*k, t, tenant)
                })
                .collect();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let Ok(stream) = tokio::net::TcpStream::connect(&base).await else { return lat };
            let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
                return lat;
            };
            tokio::spawn(conn);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (kind, tok, tenant) = &toks[n % toks.len()];
                let path = if n % 5 == 4 {
                    "/cubejs-api/v1/load?query=%7B%22measures%22%3A%5B%22Orders.count%22%5D%7D"
                } else {
                    "/tenantgate/v1/whoami"
                };
                n += 1;
                let sent_ms = started.elapsed().as_millis() as u64;
                let req = http::Request::get(path)
                    .header("host", &base)
                    .header("authorization", format!("Bearer {tok}"))
                    .body(Empty::<Bytes>::new());
                let Ok(req) = req else { break };
                let t0 = Instant::now();
                let resp = match sender.send_request(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        if sent_ms < sig.load(Ordering::SeqCst) {
                            failures
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(format!("request sent before SIGTERM got no answer: {e}"));
                        }
                        break;
                    }
                };
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                lat.push(t0.elapsed().as_micros() as u64);
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let wrong = match (kind, tenant) {
                    _ if status >= 500 => Some(format!("{status} for {kind:?}: {v}")),
                    (Kind::Expired, _) if v["code"] != "token_expired" => {
                        Some(format!("expired token got {status} {v}"))
                    }
                    (Kind::UnknownKid, _) if v["code"] != "unknown_kid" => {
                        Some(format!("unknown kid got {status} {v}"))
                    }
                    (Kind::Valid | Kind::ValidRs256, Some(t))
                        if path.contains("whoami") && v["securityContext"]["tenant_id"] != *t =>
                    {
                        Some(format!("{kind:?} token for {t} got {status} {v}"))
                    }
                    (Kind::Valid | Kind::ValidRs256, _) if status != 200 => Some(format!("{kind:?} got {status} {v}")),
                    _ => None,
                };
                if let Some(w) = wrong {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(w);
                }
            }
            lat
        }));
    }

    let total = Duration::from_secs(seconds);
    tokio::time::sleep(total / 5).await;
    let rss_fifth = rss_kib(pid, "VmRSS:");
    tokio::time::sleep(total - total / 5).await;
    let rss_end = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    // SIGTERM mid-load: the workers keep sending.
    sigterm_at_ms.store(started.elapsed().as_millis() as u64, Ordering::SeqCst);
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for w in workers {
        if let Ok(l) = w.await {
            lat.extend(l);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct =
        |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
    println!("requests:        {}", lat.len());
    println!("requests/second: {:.0}", lat.len() as f64 / elapsed);
    println!("latency p50/p99: {:.2} / {:.2} ms", pct(0.5) as f64 / 1000.0, pct(0.99) as f64 / 1000.0);
    println!(
        "RSS after 1/5:   {:.1} MiB, at the end {:.1} MiB, peak {:.1} MiB",
        rss_fifth as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    let mut fails = failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if rss_fifth > 0 && rss_end as f64 > rss_fifth as f64 * 1.10 {
        fails.push(format!("memory grew {:.1} % (limit 10 %)", (rss_end as f64 / rss_fifth as f64 - 1.0) * 100.0));
    }
    match exit {
        Ok(Ok(status)) if status.success() => {}
        other => fails.push(format!("the server did not exit cleanly after SIGTERM: {other:?}")),
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if fails.is_empty() {
        println!("soak: PASS");
    } else {
        fails.sort();
        fails.dedup();
        eprintln!("soak: FAIL\n{}", fails.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
        std::process::exit(1);
    }
}

/// The server's listening port (it was started with port 0), from the
/// socket table of its process.
async fn find_port(pid: u32) -> u16 {
    for _ in 0..400 {
        if let Some(p) = listening_port(pid) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not start listening");
}

fn listening_port(pid: u32) -> Option<u16> {
    // Socket inodes of the process, then the LISTEN entry in /proc/net/tcp.
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
        (*state == "0A" && inodes.iter().any(|i| i == inode))
            .then(|| u16::from_str_radix(local.split(':').nth(1)?, 16).ok())?
    })
}

async fn get(base: &str, path: &str, token: Option<&str>) -> Option<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(base).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    let mut req = http::Request::get(path).header("host", base);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = sender.send_request(req.body(Empty::<Bytes>::new()).ok()?).await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.into_body().collect().await.ok()?.to_bytes()))
}
