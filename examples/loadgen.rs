//! A small HTTP/1.1 load generator for `scripts/load.sh`: N keep-alive
//! connections sending GETs back to back for a fixed time, then requests per
//! second, latency percentiles and (with `--pid`) the server's peak RSS.
//!
//! It shares the machine with the server it measures, so it is built to
//! take little of it, as wrk is: one thread (a current-thread runtime), each
//! request's bytes built once, the response read with `httparse` into one
//! buffer per connection (a `Content-Length` or chunked body), no HTTP
//! client stack. Each connection has one request in flight.
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

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

#[tokio::main(flavor = "current_thread")]
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
    // One request's bytes per token, built once.
    let requests: Vec<Vec<u8>> = a
        .tokens
        .iter()
        .map(|t| format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {t}\r\n\r\n").into_bytes())
        .collect();
    let requests = std::sync::Arc::new(requests);
    let not_success = std::sync::Arc::new(a.not_success.clone());
    let started = Instant::now();
    let deadline = started + a.duration;
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let (authority, requests, not_success) = (authority.clone(), requests.clone(), not_success.clone());
        let turn = c * requests.len() / a.connections.max(1);
        tasks.push(tokio::spawn(async move {
            connection(&authority, &requests, turn, deadline, not_success.as_deref()).await
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

/// One connection's requests until `deadline`, tokens taken in turn from
/// `turn`: its latencies (µs), failures and answers that were not results.
/// A server that closes the connection (`Connection: close`) gets a new one.
async fn connection(
    authority: &str,
    requests: &[Vec<u8>],
    mut turn: usize,
    deadline: Instant,
    not_success: Option<&[u8]>,
) -> (Vec<u32>, u64, u64) {
    let mut latencies: Vec<u32> = Vec::new();
    let (mut errors, mut not_results) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut stream: Option<TcpStream> = None;
    while Instant::now() < deadline {
        let s = match stream.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect(authority).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    buf.clear();
                    stream.insert(s)
                }
                Err(_) => return (latencies, errors + 1, not_results),
            },
        };
        let req = &requests[turn % requests.len()];
        turn += 1;
        let started = Instant::now();
        if s.write_all(req).await.is_err() {
            return (latencies, errors + 1, not_results);
        }
        let resp = match read_response(s, &mut buf).await {
            Ok(r) => r,
            Err(_) => return (latencies, errors + 1, not_results),
        };
        let elapsed = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        if resp.close {
            stream = None;
        }
        if !(200..300).contains(&resp.status) {
            errors += 1;
        } else if not_success.is_some_and(|t| resp.body.windows(t.len()).any(|w| w == t)) {
            not_results += 1;
            continue;
        }
        latencies.push(elapsed);
    }
    (latencies, errors, not_results)
}

struct Answer {
    status: u16,
    body: Vec<u8>,
    /// The server said `Connection: close`.
    close: bool,
}

/// Read one response from `s`; `buf` holds what was read past it.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Answer, String> {
    enum Length {
        Fixed(usize),
        Chunked,
    }
    let (status, head, length, close) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(buf).map_err(|e| e.to_string())? {
            httparse::Status::Complete(head) => {
                let (mut length, mut close) = (Length::Fixed(0), false);
                for h in r.headers.iter() {
                    let value = std::str::from_utf8(h.value).unwrap_or("").trim();
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = Length::Fixed(value.parse().map_err(|_| "bad content-length")?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                        length = Length::Chunked;
                    } else if h.name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                        close = true;
                    }
                }
                break (r.code.unwrap_or(0), head, length, close);
            }
            httparse::Status::Partial => fill(s, buf).await?,
        }
    };
    buf.drain(..head);
    let body = match length {
        Length::Fixed(n) => {
            while buf.len() < n {
                fill(s, buf).await?;
            }
            buf.drain(..n).collect()
        }
        Length::Chunked => {
            let mut body = Vec::new();
            loop {
                let line = loop {
                    if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    fill(s, buf).await?;
                };
                let size = std::str::from_utf8(&buf[..line])
                    .ok()
                    .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16).ok());
                let size = size.ok_or("bad chunk size")?;
                // The chunk, then its CRLF (after the last, empty chunk:
                // the CRLF that ends the trailers, none expected).
                while buf.len() < line + 2 + size + 2 {
                    fill(s, buf).await?;
                }
                body.extend_from_slice(&buf[line + 2..line + 2 + size]);
                buf.drain(..line + 2 + size + 2);
                if size == 0 {
                    break body;
                }
            }
        }
    };
    Ok(Answer { status, body, close })
}

/// Read more of the connection into `buf`.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.reserve(16 * 1024);
    match s.read_buf(buf).await {
        Ok(0) => Err("connection closed".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
