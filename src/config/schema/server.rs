//! `[server]`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::{Cx, join, positive_duration};
use crate::config::layers::{Node, Table, Value, get};
use crate::config::{ServerConfig, TlsConfig};

pub(super) fn server(cx: &mut Cx, t: &Table) -> ServerConfig {
    const P: &str = "server";
    cx.known_keys(
        t,
        P,
        &[
            "host",
            "port",
            "tls_cert",
            "tls_key",
            "max_header_bytes",
            "max_body_bytes",
            "shutdown_timeout",
            "max_connections",
            "handshake_timeout",
            "idle_timeout",
        ],
    );
    let host = match get(t, "host") {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(Node { value: Value::Str(s), source }) => s.parse().unwrap_or_else(|_| {
            cx.invalid(source, "server.host", "expected an IP address such as 127.0.0.1 or 0.0.0.0");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }),
        Some(node) => {
            cx.invalid(&node.source, "server.host", "expected a string");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    };
    let port = cx.int(t, P, "port", 4000, 0, 65535) as u16;
    let cert = cx.string(t, P, "tls_cert");
    let key = cx.string(t, P, "tls_key");
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert: PathBuf::from(cert), key: PathBuf::from(key) }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let present = if get(t, "tls_cert").is_some() { "tls_cert" } else { "tls_key" };
            let src = get(t, present).map(|n| n.source.clone()).unwrap_or_else(|| cx.env_file.clone());
            cx.invalid(&src, &join(P, present), "tls_cert and tls_key must be set together");
            None
        }
    };
    ServerConfig {
        host,
        port,
        tls,
        max_header_bytes: cx.int(t, P, "max_header_bytes", 16_384, 8_192, 1 << 20) as usize,
        max_body_bytes: cx.int(t, P, "max_body_bytes", 1 << 20, 1, 1 << 30) as usize,
        shutdown_timeout: cx.duration(t, P, "shutdown_timeout", Duration::from_secs(10)),
        max_connections: cx.int(t, P, "max_connections", crate::config::DEFAULT_MAX_CONNECTIONS as i64, 1, 1 << 20)
            as usize,
        handshake_timeout: positive_duration(cx, t, P, "handshake_timeout", crate::config::DEFAULT_HANDSHAKE_TIMEOUT),
        idle_timeout: positive_duration(cx, t, P, "idle_timeout", crate::config::DEFAULT_IDLE_TIMEOUT),
    }
}
