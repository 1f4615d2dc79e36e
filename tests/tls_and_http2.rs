//! TLS (with ALPN h2 and http/1.1) and cleartext HTTP/2, through the real
//! server.

use crate::common;

use std::sync::Arc;

use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;

fn tls_config_toml() -> String {
    secret_config("").replace(
        "port = 0",
        &format!("port = 0\ntls_cert = \"{}\"\ntls_key = \"{}\"", fixture("tls/cert.pem"), fixture("tls/key.pem")),
    )
}

async fn tls_stream(addr: std::net::SocketAddr, alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("tls/ca.pem")).expect("CA file") {
        roots.add(cert.expect("cert")).expect("root");
    }
    let mut cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await.expect("TLS handshake")
}

async fn whoami_over<T>(mut sender: T, token: &str) -> (StatusCode, Value)
where
    T: SendRequest,
{
    let req = Request::get("https://localhost/tenantgate/v1/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    sender.send(req).await
}

trait SendRequest {
    async fn send(&mut self, req: Request<Empty<Bytes>>) -> (StatusCode, Value);
}

impl SendRequest for hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    async fn send(&mut self, req: Request<Empty<Bytes>>) -> (StatusCode, Value) {
        let resp = self.send_request(req).await.expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&body).expect("json"))
    }
}

impl SendRequest for hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    async fn send(&mut self, req: Request<Empty<Bytes>>) -> (StatusCode, Value) {
        let resp = self.send_request(req).await.expect("response");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&body).expect("json"))
    }
}

#[tokio::test]
async fn tls_serves_http1_and_http2_by_alpn() {
    let server = TestServer::start(&tls_config_toml()).await;
    let token = hs256(SECRET, &claims(json!({"tenant_id": "acme"})));

    let stream = tls_stream(server.addr, b"http/1.1").await;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("h1");
    tokio::spawn(conn);
    let (status, body) = whoami_over(sender, &token).await;
    assert_eq!((status, &body["securityContext"]["tenant_id"]), (StatusCode::OK, &json!("acme")));

    let stream = tls_stream(server.addr, b"h2").await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.expect("h2");
    tokio::spawn(conn);
    let (status, body) = whoami_over(sender, &token).await;
    assert_eq!((status, &body["provider"]), (StatusCode::OK, &json!("main")));
    server.stop().await;
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge_is_served() {
    let server = TestServer::start(&secret_config("")).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.expect("h2c");
    tokio::spawn(conn);
    let (status, body) = whoami_over(sender, "garbage").await;
    assert_eq!((status, &body["code"]), (StatusCode::UNAUTHORIZED, &json!("malformed_token")));
    server.stop().await;
}

#[tokio::test]
async fn an_unreadable_certificate_stops_startup_with_a_clear_error() {
    let toml = secret_config("")
        .replace("port = 0", "port = 0\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"");
    let cfg = load_config("test", &toml, &[]).expect("config is valid; the files are read at startup");
    tenantgate::install_crypto_provider();
    let err = tenantgate::server::App::new(cfg, Default::default()).err().expect("must fail");
    assert!(err.to_string().starts_with("tls: cannot read certificates from /nonexistent/cert.pem"), "{err}");
}
