//! Test fixture: real gateways (nginx's `auth_request`, Caddy's
//! `forward_auth`) in front of a tiny upstream that echoes what reached it.
//!
//! Each gateway runs in the foreground from its own config file in a temp
//! dir (pid, logs and temp paths inside it), on a free 127.0.0.1 port, and is
//! killed when dropped. `.ci/run` installs both; elsewhere a test whose
//! gateway is missing prints `SKIPPED` unless `TENANTGATE_REQUIRE_GATEWAYS=1`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

/// An upstream answering every request with
/// `{"method", "uri", "headers": {name: value}}` (repeated names joined
/// with `, `). Dropping it stops it.
pub struct Echo {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Echo {
    pub async fn start() -> Echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        let mut headers = Map::new();
                        for (name, value) in req.headers() {
                            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
                            let joined = match headers.remove(name.as_str()) {
                                Some(Value::String(prev)) => format!("{prev}, {v}"),
                                _ => v,
                            };
                            headers.insert(name.as_str().to_string(), Value::String(joined));
                        }
                        let body =
                            json!({"method": req.method().as_str(), "uri": req.uri().to_string(), "headers": headers});
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Echo { addr, task }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A gateway process; killed (and reaped) on drop.
pub struct Gateway {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// The gateway's own log, for a failing assertion's message.
    pub fn log(&self) -> String {
        ["error.log", "stderr.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Is `program` installed? Without it the test is skipped, unless CI
/// requires the gateways.
pub fn available(program: &str, test: &str) -> bool {
    let found = Command::new(program)
        .arg(if program == "nginx" { "-v" } else { "version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("TENANTGATE_REQUIRE_GATEWAYS").is_none(),
            "{program} is required (TENANTGATE_REQUIRE_GATEWAYS) but not installed"
        );
        println!("SKIPPED {test}: {program} is not installed");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The nginx `location` blocks the README shows, with this test's ports.
pub fn nginx_locations(tenantgate: SocketAddr, upstream: SocketAddr) -> String {
    format!(
        r#"location / {{
    auth_request /tenantgate/v1/authorize;
    # The tenant comes from tenantgate's answer, replacing any the client sent.
    auth_request_set $tenant $upstream_http_x_tenant_id;
    proxy_set_header X-Tenant-Id $tenant;
    # With [forward_auth.internal_token]; empty (so not sent) without it.
    auth_request_set $context_token $upstream_http_x_security_context_token;
    proxy_set_header X-Security-Context-Token $context_token;
    proxy_pass http://{upstream};
}}

location = /tenantgate/v1/authorize {{
    internal;
    proxy_pass http://{tenantgate};
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header X-Forwarded-Method $request_method;
    # A client's own X-Forwarded-Uri would conflict with X-Original-URI (403).
    proxy_set_header X-Forwarded-Uri "";
}}
"#
    )
}

pub async fn nginx(tenantgate: SocketAddr, upstream: SocketAddr) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let d = dir.path().display();
    // One process in the foreground; every path nginx writes is in the dir.
    let conf = format!(
        "master_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{\n listen 127.0.0.1:{port};\n{}}}\n}}\n",
        nginx_locations(tenantgate, upstream)
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let child = spawn(
        Command::new("nginx").arg("-p").arg(dir.path()).arg("-c").arg(&path).args(["-g", "daemon off;"]),
        dir.path(),
    );
    ready(Gateway { addr: ([127, 0, 0, 1], port).into(), child, dir }).await
}

/// The Caddyfile site block the README shows, with this test's ports.
pub fn caddy_site(listen: u16, tenantgate: SocketAddr, upstream: SocketAddr) -> String {
    format!(
        r#"http://127.0.0.1:{listen} {{
    forward_auth {tenantgate} {{
        uri /tenantgate/v1/authorize
        copy_headers X-Tenant-Id X-Security-Context-Token
    }}
    reverse_proxy {upstream}
}}
"#
    )
}

pub async fn caddy(tenantgate: SocketAddr, upstream: SocketAddr) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    // No admin endpoint (its fixed port would collide across tests), no
    // automatic HTTPS, storage inside the temp dir.
    let caddyfile = format!(
        "{{\n    admin off\n    auto_https off\n    storage file_system {}\n}}\n\n{}",
        dir.path().join("data").display(),
        caddy_site(port, tenantgate, upstream)
    );
    let path = dir.path().join("Caddyfile");
    std::fs::write(&path, caddyfile).expect("write Caddyfile");
    let child = spawn(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path()),
        dir.path(),
    );
    ready(Gateway { addr: ([127, 0, 0, 1], port).into(), child, dir }).await
}

fn spawn(cmd: &mut Command, dir: &Path) -> Child {
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr.log");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().expect("spawn gateway")
}

/// Wait until the gateway accepts connections.
async fn ready(mut gw: Gateway) -> Gateway {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(gw.addr).await.is_ok() {
            return gw;
        }
        if let Ok(Some(status)) = gw.child.try_wait() {
            panic!("gateway exited with {status}:\n{}", gw.log());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gateway did not listen on {} within 5 s:\n{}", gw.addr, gw.log());
}

/// GET through a gateway. Bodies are JSON from the echo upstream, but a
/// gateway's own refusal pages are HTML: those read as `null`.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> super::Reply {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder().uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender.send_request(req.body(Full::new(Bytes::new())).expect("request")).await.expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    super::Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}
