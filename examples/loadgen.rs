//! A small HTTP/1.1 load generator for `scripts/load.sh`: N keep-alive
//! connections sending GETs back to back for a fixed time, then requests per
//! second, latency percentiles and (with `--pid`) the server's peak RSS.
//!
//! `cargo run --release --example loadgen -- --url URL --token T [--connections 32] [--duration 10] [--pid PID]
//! [--not-success-body TEXT]`
//!
//! Exits 1 when any request failed (non-2xx or a connection error) or none
//! was answered: figures measured on refusals would look fast and mean
//! nothing. With `--not-success-body TEXT`, a 2xx answer whose body contains
//! TEXT (Cube.js's `Continue wait`, a 200 that is not a result) is neither a
//! success nor a failure: it is counted apart and left out of the requests
//! per second and the latencies.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

struct Args {
    url: String,
    token: String,
    connections: usize,
    duration: Duration,
    pid: Option<u32>,
    /// `--tokens-file`: one token per line, sent in turn (each connection
    /// starting at its own offset), so a run spreads over many callers.
    tokens: Vec<String>,
    /// `--not-success-body`: a 2xx body containing this is not a result.
    not_success: Option<Vec<u8>>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        token: String::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        pid: None,
        tokens: Vec::new(),
        not_success: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--token" => a.token = value()?,
            "--connections" => a.connections = value()?.parse().map_err(|_| "--connections takes a number")?,
            "--duration" => a.duration = Duration::from_secs(value()?.parse().map_err(|_| "--duration takes seconds")?),
            "--pid" => a.pid = Some(value()?.parse().map_err(|_| "--pid takes a number")?),
            "--tokens-file" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("--tokens-file {path}: {e}"))?;
                a.tokens = text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
            }
            "--not-success-body" => a.not_success = Some(value()?.into_bytes()).filter(|t| !t.is_empty()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    if a.tokens.is_empty() {
        a.tokens.push(a.token.clone());
    }
    Ok(a)
}

/// Peak resident set size of a process, from /proc (Linux), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let uri: http::Uri = match a.url.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("loadgen: bad --url: {e}");
            std::process::exit(2);
        }
    };
    let authority = uri.authority().map(|x| x.to_string()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    let started = Instant::now();
    let deadline = started + a.duration;
    let mut tasks = Vec::new();
    let tokens = std::sync::Arc::new(a.tokens.clone());
    let not_success = std::sync::Arc::new(a.not_success.clone());
    for c in 0..a.connections {
        let (authority, path, tokens, not_success) =
            (authority.clone(), path.clone(), tokens.clone(), not_success.clone());
        let mut turn = c * tokens.len() / a.connections.max(1);
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let (mut errors, mut not_results) = (0u64, 0u64);
            let Ok(stream) = tokio::net::TcpStream::connect(&authority).await else { return (latencies, 1, 0) };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
                return (latencies, 1, 0);
            };
            tokio::spawn(conn);
            while Instant::now() < deadline {
                let token = &tokens[turn % tokens.len()];
                turn += 1;
                let req = http::Request::get(&path)
                    .header("host", &authority)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Empty::<Bytes>::new());
                let Ok(req) = req else { break };
                let started = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let elapsed = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        if !ok {
                            errors += 1;
                        } else if not_success.as_deref().is_some_and(|t| body.windows(t.len()).any(|w| w == t)) {
                            not_results += 1;
                            continue;
                        }
                        latencies.push(elapsed);
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors, not_results)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut not_results) = (0, 0);
    for t in tasks {
        if let Ok((l, e, n)) = t.await {
            all.extend(l);
            errors += e;
            not_results += n;
        }
    }
    // The last requests finish after the deadline: divide by the time taken.
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct =
        |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!("requests:        {}", all.len());
    println!("non-2xx/errors:  {errors}");
    if a.not_success.is_some() {
        println!("not results:     {not_results}");
    }
    println!("requests/second: {:.0}", all.len() as f64 / secs);
    println!("latency p50:     {:.2} ms", f64::from(pct(0.50)) / 1000.0);
    println!("latency p99:     {:.2} ms", f64::from(pct(0.99)) / 1000.0);
    println!("latency max:     {:.2} ms", f64::from(all.last().copied().unwrap_or(0)) / 1000.0);
    if let Some(kib) = a.pid.and_then(peak_rss_kib) {
        println!("server peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    if errors > 0 || all.is_empty() {
        std::process::exit(1);
    }
}
