//! `[server]`.

use std::path::PathBuf;

use super::{Cx, Section};
use crate::config::layers::{Node, Value};
use crate::config::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_PORT, DEFAULT_SHUTDOWN_TIMEOUT, ServerConfig, TlsConfig,
};

pub(super) fn server(cx: &mut Cx, s: Section<'_>) -> ServerConfig {
    let host = match s.get("host") {
        None => DEFAULT_HOST,
        Some(Node { value: Value::Str(v), source }) => v.parse().unwrap_or_else(|_| {
            cx.invalid(source, "server.host", "expected an IP address such as 127.0.0.1 or 0.0.0.0");
            DEFAULT_HOST
        }),
        Some(node) => {
            cx.invalid(&node.source, "server.host", "expected a string");
            DEFAULT_HOST
        }
    };
    let port = cx.int(&s, "port", DEFAULT_PORT.into(), 0, 65535) as u16;
    let cert = cx.string(&s, "tls_cert");
    let key = cx.string(&s, "tls_key");
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert: PathBuf::from(cert), key: PathBuf::from(key) }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let present = if s.get("tls_cert").is_some() { "tls_cert" } else { "tls_key" };
            let src = s.source_or(present, &cx.env_file);
            cx.invalid(&src, &s.key(present), "tls_cert and tls_key must be set together");
            None
        }
    };
    let server = ServerConfig {
        host,
        port,
        tls,
        max_header_bytes: cx.int(&s, "max_header_bytes", DEFAULT_MAX_HEADER_BYTES as i64, 8_192, 1 << 20) as usize,
        max_body_bytes: cx.int(&s, "max_body_bytes", DEFAULT_MAX_BODY_BYTES as i64, 1, 1 << 30) as usize,
        shutdown_timeout: cx.duration(&s, "shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT),
        max_connections: cx.int(&s, "max_connections", DEFAULT_MAX_CONNECTIONS as i64, 1, 1 << 20) as usize,
        handshake_timeout: cx.positive_duration(&s, "handshake_timeout", DEFAULT_HANDSHAKE_TIMEOUT),
        idle_timeout: cx.positive_duration(&s, "idle_timeout", DEFAULT_IDLE_TIMEOUT),
    };
    s.finish(cx);
    server
}
