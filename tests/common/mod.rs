//! Test fixture: the real server on an ephemeral port, a minimal HTTP client,
//! and token minting from fixture keys.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use tenantgate::auth::Strategies;
use tenantgate::config::{self, Config, LoadOptions};
use tenantgate::server::{self, App};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-secret-for-the-integration-suite-0123456789";

pub fn fixture(path: &str) -> String {
    format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Load a configuration the way `serve` does: `toml` becomes `<env>.toml` in
/// a fresh config folder; `vars` stand in for the process environment.
pub fn load_config(env: &str, toml: &str, vars: &[(&str, &str)]) -> Result<Config, config::ConfigErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(format!("{env}.toml")), toml).expect("write config");
    config::load(&LoadOptions {
        config_dir: dir.path().to_path_buf(),
        env: env.to_string(),
        dotenv: None,
        vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    })
}

/// The default test configuration: one secret provider, port 0.
pub fn secret_config(extra_auth: &str) -> String {
    format!(
        r#"
[server]
port = 0
[auth]
{extra_auth}
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["{SECRET}"]
"#
    )
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The audit lines written so far (the binary writes them to stderr).
    pub audit: AuditLines,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// What an in-process server's audit sink was given. While held
/// ([`AuditLines::hold`]), a write waits, as a stalled disk would.
#[derive(Clone, Default)]
pub struct AuditLines(Arc<std::sync::Mutex<Vec<u8>>>, Arc<std::sync::atomic::AtomicBool>);

impl AuditLines {
    pub fn hold(&self, held: bool) {
        self.1.store(held, std::sync::atomic::Ordering::SeqCst);
    }

    /// The lines so far, each parsed as JSON.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("audit buffer").clone();
        String::from_utf8(bytes)
            .expect("audit lines are UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("an audit line is JSON ({e}): {l}")))
            .collect()
    }
}

impl std::io::Write for AuditLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        while self.1.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.0.lock().expect("audit buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestServer {
    pub async fn start(toml: &str) -> TestServer {
        Self::start_with(toml, &[], Strategies::new()).await
    }

    pub async fn start_with(toml: &str, vars: &[(&str, &str)], strategies: Strategies) -> TestServer {
        let cfg = load_config("test", toml, vars).unwrap_or_else(|e| panic!("config invalid:\n{e}"));
        Self::from_config(cfg, strategies).await
    }

    pub async fn from_config(cfg: Config, strategies: Strategies) -> TestServer {
        tenantgate::install_crypto_provider();
        let audit = AuditLines::default();
        let sink = server::AuditSink::new(Box::new(audit.clone()));
        let app = Arc::new(App::new(cfg, strategies).expect("app builds").with_audit_sink(sink));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server::run(listener, app, async {
            let _ = rx.await;
        }));
        TestServer { addr, audit, shutdown: Some(tx), task: Some(task) }
    }

    /// Signal shutdown and wait for the server to finish draining.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }

    pub fn trigger_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("running")
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, headers, Bytes::new()).await
    }

    pub async fn whoami(&self, token: &str) -> Reply {
        self.get("/tenantgate/v1/whoami", &[("authorization", &format!("Bearer {token}"))]).await
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> Reply {
        send(self.addr, method, path, headers, body).await
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn send(addr: SocketAddr, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender.send_request(req.body(Full::new(body)).expect("request")).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
    Reply { status, headers, body }
}

/// GET `path` and return the body as text (`/metrics`).
pub async fn get_text(addr: SocketAddr, path: &str) -> String {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let req = Request::get(path).header("host", addr.to_string()).body(Full::new(Bytes::new())).expect("request");
    let resp = sender.send_request(req).await.expect("response");
    String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes()).into_owned()
}

/// Send a GET on a raw socket and keep the socket open until the returned
/// stream is dropped: dropping it is a client hanging up mid-request.
pub async fn send_and_hold(addr: SocketAddr, path: &str, authorization: &str) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {authorization}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

/// Poll `check` every 10 ms until it holds or `within` has passed; whether
/// it held. For waiting on the server's side effects, never for timing.
pub async fn eventually<F, Fut>(within: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// HS256/384/512 over arbitrary header and payload text, so tests can build
/// tokens that no JWT library would produce (duplicate names, odd types).
pub fn hmac_token(alg: &str, header: &str, payload: &str, key: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let h = match alg {
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(h, key), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// HS256 over a JSON payload with the standard header.
pub fn hs256(secret: &str, payload: &Value) -> String {
    hmac_token("HS256", r#"{"alg":"HS256","typ":"JWT"}"#, &payload.to_string(), secret.as_bytes())
}

/// A payload valid for an hour, with extra claims.
pub fn claims(extra: Value) -> Value {
    let mut c = serde_json::json!({"iat": now(), "exp": now() + 3600});
    if let (Some(m), Value::Object(extra)) = (c.as_object_mut(), extra) {
        m.extend(extra);
    }
    c
}

/// Sign with an asymmetric fixture key through jsonwebtoken.
pub fn sign_with_pem(
    alg: jsonwebtoken::Algorithm,
    private_pem_fixture: &str,
    payload: &Value,
    kid: Option<&str>,
) -> String {
    let pem = std::fs::read(fixture(private_pem_fixture)).expect("fixture key");
    let key = match alg.family() {
        jsonwebtoken::AlgorithmFamily::Rsa => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        jsonwebtoken::AlgorithmFamily::Ec => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
        jsonwebtoken::AlgorithmFamily::Ed => jsonwebtoken::EncodingKey::from_ed_pem(&pem),
        jsonwebtoken::AlgorithmFamily::Hmac => jsonwebtoken::EncodingKey::from_secret(&pem),
    }
    .expect("fixture key parses");
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, payload, &key).expect("sign")
}
pub mod gateway;
pub mod hostile;
pub mod jwks_server;
pub mod pg;
