//! `type = "webhook"`.

use std::path::PathBuf;
use std::time::Duration;

use super::jwks::check_fetch_url;
use crate::config::layers::{Node, Source, Value};
use crate::config::schema::{Cx, Section};
use crate::config::{
    DEFAULT_DANGEROUS_ALLOW_HTTP, DEFAULT_WEBHOOK_FORWARD_HEADERS, DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES, DEFAULT_WEBHOOK_MAX_CACHE_TTL, DEFAULT_WEBHOOK_METHOD,
    DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL, DEFAULT_WEBHOOK_TIMEOUT, WebhookApplies, WebhookProviderConfig,
};

pub(super) fn webhook_provider(cx: &mut Cx, s: &Section<'_>, table_source: &Source) -> Option<WebhookProviderConfig> {
    let dangerous_allow_http = cx.bool(s, "dangerous_allow_http", DEFAULT_DANGEROUS_ALLOW_HTTP);
    let url = cx.non_empty_string(s, "url");
    match &url {
        None if s.get("url").is_none() => cx.invalid(table_source, &s.key("url"), "required for type = \"webhook\""),
        Some(u) => {
            if let Err(msg) = check_fetch_url(u, dangerous_allow_http) {
                let src = s.source_or("url", table_source);
                cx.invalid(&src, &s.key("url"), msg);
            }
        }
        None => {}
    }
    let method = match s.get("method") {
        None => http::Method::GET,
        Some(Node { value: Value::Str(m), .. }) if m.eq_ignore_ascii_case("GET") => http::Method::GET,
        Some(Node { value: Value::Str(m), .. }) if m.eq_ignore_ascii_case("POST") => http::Method::POST,
        Some(n) => {
            cx.invalid(&n.source, &s.key("method"), "expected \"GET\" or \"POST\"");
            http::Method::GET
        }
    };
    debug_assert_eq!(DEFAULT_WEBHOOK_METHOD, http::Method::GET.as_str());
    let names = cx
        .strings(s, "forward_headers")
        .unwrap_or_else(|| DEFAULT_WEBHOOK_FORWARD_HEADERS.iter().map(|h| h.to_string()).collect());
    let mut forward_headers = Vec::new();
    for name in &names {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) if !forward_headers.contains(&h) => forward_headers.push(h),
            Ok(_) => {}
            Err(_) => {
                let src = s.source_or("forward_headers", table_source);
                cx.invalid(&src, &s.key("forward_headers"), format!("{name:?} is not a header name"));
            }
        }
    }
    let prefix = cx.non_empty_string(s, "token_prefix");
    let header = cx.non_empty_string(s, "header").and_then(|h| match http::HeaderName::from_bytes(h.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            let src = s.source_or("header", table_source);
            cx.invalid(&src, &s.key("header"), format!("{h:?} is not a header name"));
            None
        }
    });
    let applies = match (prefix, header) {
        (Some(_), Some(_)) => {
            let src = s.source_or("header", table_source);
            cx.invalid(&src, &s.key("header"), "set either token_prefix or header, not both");
            WebhookApplies::NotJwt
        }
        (Some(p), None) => WebhookApplies::TokenPrefix(p),
        (None, Some(h)) => {
            // The credential is that header: it must reach the webhook.
            if !forward_headers.contains(&h) {
                forward_headers.push(h.clone());
            }
            WebhookApplies::Header(h)
        }
        (None, None) => WebhookApplies::NotJwt,
    };
    if names.is_empty() && forward_headers.is_empty() {
        let src = s.source_or("forward_headers", table_source);
        cx.invalid(&src, &s.key("forward_headers"), "at least one header carries the credential");
    }
    let timeout = cx.positive_duration(s, "timeout", DEFAULT_WEBHOOK_TIMEOUT);
    let max_cache_ttl = cx.duration(s, "max_cache_ttl", DEFAULT_WEBHOOK_MAX_CACHE_TTL);
    let negative_cache_ttl = cx.duration(s, "negative_cache_ttl", DEFAULT_WEBHOOK_NEGATIVE_CACHE_TTL);
    for (key, d) in [("max_cache_ttl", max_cache_ttl), ("negative_cache_ttl", negative_cache_ttl)] {
        if d > Duration::from_secs(86_400) {
            let src = s.source_or(key, table_source);
            cx.invalid(&src, &s.key(key), "must be at most 1 day");
        }
    }
    let max_cache_entries =
        cx.int(s, "max_cache_entries", DEFAULT_WEBHOOK_MAX_CACHE_ENTRIES as i64, 0, 10_000_000) as u64;
    let max_body_bytes = cx.int(s, "max_body_bytes", DEFAULT_WEBHOOK_MAX_BODY_BYTES as i64, 2, 16 << 20) as usize;
    let ca_file = cx.non_empty_string(s, "ca_file").map(PathBuf::from);
    if let Some(file) = &ca_file
        && let Err(e) = std::fs::metadata(file)
    {
        let src = s.source_or("ca_file", table_source);
        cx.invalid(&src, &s.key("ca_file"), format!("cannot read {}: {e}", file.display()));
    }
    Some(WebhookProviderConfig {
        url: url?,
        method,
        forward_headers,
        timeout,
        applies,
        max_cache_ttl,
        negative_cache_ttl,
        max_cache_entries,
        max_body_bytes,
        ca_file,
        dangerous_allow_http,
    })
}
