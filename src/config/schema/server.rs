//! `[server]`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::{Cx, Section};
use crate::config::layers::{Node, Value};
use crate::config::{ServerConfig, TlsConfig};

pub(super) fn server(cx: &mut Cx, s: Section<'_>) -> ServerConfig {
    let host = match s.get("host") {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(Node { value: Value::Str(v), source }) => v.parse().unwrap_or_else(|_| {
            cx.invalid(source, "server.host", "expected an IP address such as 127.0.0.1 or 0.0.0.0");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }),
        Some(node) => {
            cx.invalid(&node.source, "server.host", "expected a string");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    };
    let port = cx.int(&s, "port", 4000, 0, 65535) as u16;
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
        max_header_bytes: cx.int(&s, "max_header_bytes", 16_384, 8_192, 1 << 20) as usize,
        max_body_bytes: cx.int(&s, "max_body_bytes", 1 << 20, 1, 1 << 30) as usize,
        shutdown_timeout: cx.duration(&s, "shutdown_timeout", Duration::from_secs(10)),
        max_connections: cx.int(&s, "max_connections", crate::config::DEFAULT_MAX_CONNECTIONS as i64, 1, 1 << 20)
            as usize,
        handshake_timeout: cx.positive_duration(&s, "handshake_timeout", crate::config::DEFAULT_HANDSHAKE_TIMEOUT),
        idle_timeout: cx.positive_duration(&s, "idle_timeout", crate::config::DEFAULT_IDLE_TIMEOUT),
    };
    s.finish(cx);
    server
}
