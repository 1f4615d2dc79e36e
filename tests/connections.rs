//! Connection deadlines and the connection cap, through the real server:
//! sockets that never send a request head are closed at
//! `handshake_timeout`, idle keep-alive connections at `idle_timeout`, and
//! beyond `max_connections` a new connection is closed at once.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tenantgate::auth::{AuthError, BoxFuture, CheckAuth, Strategies, UnverifiedToken};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Far above every deadline these tests configure: reaching it means the
/// server never closed the socket.
const NEVER: Duration = Duration::from_secs(5);

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const H2_EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// The test configuration with extra `[server]` settings.
fn with_server(settings: &str) -> String {
    secret_config("").replace("port = 0", &format!("port = 0\n{settings}"))
}

fn tls_with_server(settings: &str) -> String {
    with_server(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n{settings}",
        fixture("tls/cert.pem"),
        fixture("tls/key.pem")
    ))
}

/// Read (and discard whatever the server sends, such as its HTTP/2
/// SETTINGS) until the server closes the socket; how long that took.
/// Panics if it is still open after `NEVER`.
async fn wait_for_close(stream: &mut TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(since + NEVER, stream.read(&mut buf)).await {
            Err(_) => panic!("the server left the connection open for {NEVER:?}"),
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Connect and send `bytes`, then wait for the server to close the socket.
async fn closed_after_sending(server: &TestServer, bytes: &[u8]) -> Duration {
    let since = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    wait_for_close(&mut stream, since).await
}

async fn metric(server: &TestServer, name: &str) -> String {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let req = Request::get("/metrics").header("host", "localhost").body(Empty::<Bytes>::new()).expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let text = String::from_utf8(resp.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf-8");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        .to_string()
}

#[tokio::test]
async fn silent_socket_is_closed_after_the_handshake_deadline() {
    let server = TestServer::start(&with_server("handshake_timeout = \"300ms\"")).await;
    let took = closed_after_sending(&server, b"").await;
    assert!(took >= Duration::from_millis(250), "closed before the deadline: {took:?}");
    assert_eq!(metric(&server, "tenantgate_connections_timed_out_total").await, "1");
    server.stop().await;
}

#[tokio::test]
async fn a_socket_that_sends_one_byte_of_the_http2_preface_is_closed_after_the_handshake_deadline() {
    // `P` could start the HTTP/2 preface, so the version sniff keeps waiting.
    let server = TestServer::start(&with_server("handshake_timeout = \"300ms\"")).await;
    let took = closed_after_sending(&server, b"P").await;
    assert!(took >= Duration::from_millis(250), "closed before the deadline: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_partial_http1_request_head_is_closed_after_the_handshake_deadline() {
    // Shorter than HTTP/1's own header timeout would allow: the deadline
    // counts from accept.
    let server = TestServer::start(&with_server("handshake_timeout = \"300ms\"")).await;
    closed_after_sending(&server, b"GET /livez HTTP/1.1\r\nHost: x\r\n").await;
    server.stop().await;
}

#[tokio::test]
async fn http2_preface_and_settings_without_a_request_are_closed_after_the_handshake_deadline() {
    let server = TestServer::start(&with_server("handshake_timeout = \"300ms\"")).await;
    let took = closed_after_sending(&server, &[H2_PREFACE, H2_EMPTY_SETTINGS].concat()).await;
    assert!(took >= Duration::from_millis(250), "closed before the deadline: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_tls_handshake_that_never_finishes_is_closed_after_the_handshake_deadline() {
    let server = TestServer::start(&tls_with_server("handshake_timeout = \"300ms\"")).await;
    // A handshake record announcing 200 bytes, and the first 6 of them.
    let partial_client_hello = [0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03];
    let took = closed_after_sending(&server, &partial_client_hello).await;
    assert!(took >= Duration::from_millis(250), "closed before the deadline: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The handshake deadline (HTTP/1's header timeout too) is far longer,
    // so only the idle timeout can close this connection in time.
    let server = TestServer::start(&with_server("handshake_timeout = \"10s\"\nidle_timeout = \"300ms\"")).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(br#"{"status":"ok"}"#) {
        let n = tokio::time::timeout(NEVER, stream.read(&mut buf)).await.expect("answer in time").expect("read");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let took = wait_for_close(&mut stream, Instant::now()).await;
    assert!(took >= Duration::from_millis(250), "closed before the idle timeout: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_http2_connection_in_use_outlives_both_deadlines_and_is_closed_once_idle() {
    let server = TestServer::start(&with_server("handshake_timeout = \"200ms\"\nidle_timeout = \"300ms\"")).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.expect("h2c");
    let conn = tokio::spawn(conn);
    // One request every 100 ms for a second: past the handshake deadline and
    // three idle timeouts, each request keeping the connection alive.
    let started = Instant::now();
    for i in 0..10 {
        tokio::time::sleep_until(started + Duration::from_millis(100) * i).await;
        let req = Request::get("http://localhost/livez").body(Empty::<Bytes>::new()).expect("request");
        let resp = sender.send_request(req).await.unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        assert_eq!(resp.status(), StatusCode::OK);
        resp.into_body().collect().await.expect("body");
    }
    let idle_since = Instant::now();
    tokio::time::timeout(NEVER, conn).await.expect("the server closes the idle connection").expect("client task").ok();
    assert!(idle_since.elapsed() >= Duration::from_millis(250), "closed before the idle timeout");
    server.stop().await;
}

#[tokio::test]
async fn beyond_max_connections_a_connection_is_closed_at_once_and_livez_answers_once_idle_ones_are_reaped() {
    let server = TestServer::start(&with_server("max_connections = 3\nhandshake_timeout = \"2s\"")).await;
    let since = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut beyond = TcpStream::connect(server.addr).await.expect("the kernel accepts the TCP handshake");
    let took = wait_for_close(&mut beyond, Instant::now()).await;
    assert!(took < Duration::from_secs(1), "the connection beyond the cap waited {took:?}, as if for the deadline");

    for stream in &mut idle {
        wait_for_close(stream, since).await;
    }
    let reply = server.get("/livez", &[]).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &json!({"status": "ok"})));
    assert_eq!(metric(&server, "tenantgate_connections_refused_total").await, "1");
    assert_eq!(metric(&server, "tenantgate_connections_timed_out_total").await, "3");
    server.stop().await;
}

/// Holds `tg_slow` requests until released, to keep one in flight.
struct Slow {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl CheckAuth for Slow {
    fn accepts(&self, token: &UnverifiedToken<'_>) -> bool {
        token.raw() == "tg_slow"
    }

    fn verify<'a>(&'a self, _token: &'a UnverifiedToken<'a>) -> BoxFuture<'a, Result<Value, AuthError>> {
        Box::pin(async move {
            self.entered.notify_one();
            self.release.notified().await;
            Ok(json!({"tenant_id": "slow"}))
        })
    }
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_by_the_idle_timeout_or_the_handshake_deadline() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut strategies = Strategies::new();
    strategies.insert(
        "slow".into(),
        Arc::new(Slow { entered: entered.clone(), release: release.clone() }) as Arc<dyn CheckAuth>,
    );
    let toml = format!(
        "{}\n[[auth.providers]]\nname = \"slow\"\ntype = \"custom\"\n",
        with_server("handshake_timeout = \"100ms\"\nidle_timeout = \"100ms\"")
    );
    let server = TestServer::start_with(&toml, &[], strategies).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        send(addr, Method::GET, "/tenantgate/v1/whoami", &[("authorization", "tg_slow")], Bytes::new()).await
    });
    entered.notified().await;
    // Several times both deadlines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    release.notify_one();
    let reply = tokio::time::timeout(NEVER, in_flight).await.expect("answered").expect("client task");
    assert_eq!((reply.status, &reply.body["securityContext"]), (StatusCode::OK, &json!({"tenant_id": "slow"})));
    server.stop().await;
}
