//! `[forward_auth]`: the gateway endpoint's response headers and route
//! rules. Read after `[access]`, whose `roles_key` names the groups.

use super::{Cx, Section, join};
use crate::config::layers::{Node, Value};
use crate::config::{AccessConfig, ForwardAuthConfig, ForwardDefault, ForwardRoute, SessionValue};
use crate::context_path::ContextPath;

/// Headers a gateway must never take from us: framing, hop-by-hop, the
/// ones that would change how the gateway treats the answer, and the ones
/// the server sets itself (a configured value would be overwritten).
const RESERVED_HEADERS: [&str; 13] = [
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
    "x-request-id",
    "x-security-context-token",
];

pub(super) fn forward_auth(cx: &mut Cx, s: Section<'_>, access: &AccessConfig) -> ForwardAuthConfig {
    let mut headers = Vec::new();
    if let Some(h) = s.section(cx, "headers") {
        for (name, node) in h.table() {
            h.skip(name);
            let key = h.key(name);
            let header = match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) if RESERVED_HEADERS.contains(&n.as_str()) || n.as_str().starts_with("access-control-") => {
                    cx.invalid(&node.source, &key, "a framing, hop-by-hop or CORS header cannot be set");
                    continue;
                }
                Ok(n) => n,
                Err(_) => {
                    cx.invalid(&node.source, &key, "not a valid header name");
                    continue;
                }
            };
            let Value::Str(raw) = &node.value else {
                cx.invalid(&node.source, &key, "expected a string");
                continue;
            };
            if headers.iter().any(|(n, _)| *n == header) {
                cx.invalid(&node.source, &key, "the header is set twice (names are case-insensitive)");
                continue;
            }
            match SessionValue::parse(raw) {
                Ok(SessionValue::Literal(l)) if l.is_empty() || !l.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                    cx.invalid(&node.source, &key, "a literal must be non-empty printable ASCII")
                }
                Ok(v) => headers.push((header, v)),
                Err(msg) => cx.invalid(&node.source, &key, msg),
            }
        }
        h.finish(cx);
    }
    let scopes_key = cx.non_empty_string(&s, "scopes_key").and_then(|k| {
        let src = s.source_or("scopes_key", &cx.env_file);
        ContextPath::parse(&k).map_err(|e| cx.invalid(&src, "forward_auth.scopes_key", e)).ok()
    });
    let groups_key = access.roles_key.as_deref().and_then(|k| ContextPath::parse(k).ok());

    let mut routes = Vec::new();
    match s.get("routes") {
        None => {}
        Some(Node { value: Value::Array(items), .. }) => {
            for (i, node) in items.iter().enumerate() {
                let path = format!("forward_auth.routes[{i}]");
                let Value::Table(rt) = &node.value else {
                    cx.invalid(&node.source, &path, "expected a table");
                    continue;
                };
                let rt = Section::new(cx, rt, path.clone());
                let prefix = cx.non_empty_string(&rt, "path_prefix");
                let methods = cx.strings(&rt, "methods").unwrap_or_default();
                let require_groups = cx.strings(&rt, "require_groups").unwrap_or_default();
                let require_scopes = cx.strings(&rt, "require_scopes").unwrap_or_default();
                rt.finish(cx);
                let Some(path_prefix) = prefix else {
                    cx.invalid(&node.source, &join(&path, "path_prefix"), "every route needs a path_prefix");
                    continue;
                };
                if let Err(msg) = check_prefix(&path_prefix) {
                    cx.invalid(&node.source, &join(&path, "path_prefix"), msg);
                    continue;
                }
                let mut upper = Vec::new();
                for m in &methods {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                        cx.invalid(&node.source, &join(&path, "methods"), format!("{m:?} is not a method name"));
                    }
                    upper.push(m.to_ascii_uppercase());
                }
                if !require_groups.is_empty() && groups_key.is_none() {
                    cx.invalid(
                        &node.source,
                        &join(&path, "require_groups"),
                        "needs [access] roles_key, the context path holding the groups",
                    );
                }
                if !require_scopes.is_empty() && scopes_key.is_none() {
                    cx.invalid(
                        &node.source,
                        &join(&path, "require_scopes"),
                        "needs [forward_auth] scopes_key, the context path holding the scopes",
                    );
                }
                routes.push(ForwardRoute { path_prefix, methods: upper, require_groups, require_scopes });
            }
        }
        Some(node) => cx.invalid(&node.source, "forward_auth.routes", "expected [[forward_auth.routes]] tables"),
    }
    let fallback = if routes.is_empty() { ForwardDefault::Allow } else { ForwardDefault::Deny };
    let default = match s.get("default") {
        None => fallback,
        Some(Node { value: Value::Str(v), .. }) if v == "allow" => ForwardDefault::Allow,
        Some(Node { value: Value::Str(v), .. }) if v == "deny" => ForwardDefault::Deny,
        Some(node) => {
            cx.invalid(&node.source, "forward_auth.default", "expected \"allow\" or \"deny\"");
            fallback
        }
    };
    s.finish(cx);
    ForwardAuthConfig { headers, routes, default, scopes_key, groups_key }
}

/// A prefix is written already normalised, so what it matches is what it
/// says: `/`-rooted, no empty, `.` or `..` segment, no percent-encoding, no
/// `;` parameter (paths are matched without theirs), no query or fragment.
fn check_prefix(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} must start with /"));
    }
    let body = p.strip_suffix('/').unwrap_or(p);
    if body.len() > 1 && body[1..].split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!("{p:?} has an empty, . or .. segment"));
    }
    if !p.bytes().all(|b| b.is_ascii_graphic()) || p.contains(['%', '?', '#', ';', '\\']) {
        return Err(format!("{p:?} must be plain printable ASCII without %, ?, #, ; or \\"));
    }
    Ok(())
}
