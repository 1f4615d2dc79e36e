//! `[[auth.enrich]]`: claims fetched after verification, keyed by a
//! verified one. The `url` form (`sql` is not implemented yet).

use std::path::PathBuf;

use super::provider::check_fetch_url;
use super::{Cx, Section};
use crate::config::layers::{Node, Value};
use crate::config::{
    DEFAULT_DANGEROUS_ALLOW_HTTP, DEFAULT_ENRICH_MAX_ENTRIES, DEFAULT_ENRICH_OVERRIDE, DEFAULT_ENRICH_TIMEOUT,
    DEFAULT_ENRICH_TTL, DEFAULT_WEBHOOK_MAX_BODY_BYTES, EnrichConfig, EnrichOnError, ProviderConfig,
};
use crate::context_path::ContextPath;

pub(super) fn enrich(cx: &mut Cx, index: usize, node: &Node, providers: &[ProviderConfig]) -> Option<EnrichConfig> {
    let path = format!("auth.enrich[{index}]");
    let Value::Table(t) = &node.value else {
        cx.invalid(&node.source, &path, "expected a table");
        return None;
    };
    let s = Section::new(cx, t, path);
    let src = |s: &Section<'_>, key: &str| s.source_or(key, &node.source);
    let key_text = cx.non_empty_string(&s, "key");
    let key = match &key_text {
        None => {
            if s.get("key").is_none() {
                cx.invalid(&node.source, &s.key("key"), "required: the verified claim to look up by, such as \"sub\"");
            }
            None
        }
        Some(k) => ContextPath::parse(k).map_err(|e| cx.invalid(&src(&s, "key"), &s.key("key"), e)).ok(),
    };
    if s.get("sql").is_some() {
        cx.invalid(&src(&s, "sql"), &s.key("sql"), "the sql form is not supported yet; use url");
    }
    let dangerous_allow_http = cx.bool(&s, "dangerous_allow_http", DEFAULT_DANGEROUS_ALLOW_HTTP);
    let url = match (cx.non_empty_string(&s, "url"), &key_text) {
        (None, _) => {
            if s.get("url").is_none() {
                cx.invalid(
                    &node.source,
                    &s.key("url"),
                    "required: such as \"https://users.internal/entitlements/{sub}\"",
                );
            }
            None
        }
        (Some(_), None) => None,
        (Some(u), Some(k)) => {
            let placeholder = format!("{{{k}}}");
            let parts: Vec<&str> = u.split(placeholder.as_str()).collect();
            let probe = u.replace(placeholder.as_str(), "x");
            if parts.len() != 2 {
                cx.invalid(&src(&s, "url"), &s.key("url"), format!("must hold {placeholder} exactly once"));
                None
            } else if let Err(msg) = check_fetch_url(&probe, dangerous_allow_http) {
                cx.invalid(&src(&s, "url"), &s.key("url"), msg);
                None
            } else {
                Some((parts[0].to_string(), parts[1].to_string()))
            }
        }
    };
    let into = cx.non_empty_string(&s, "into");
    let override_verified = cx.bool(&s, "override", DEFAULT_ENRICH_OVERRIDE);
    let only = cx.strings(&s, "providers").unwrap_or_default();
    for p in &only {
        if !providers.iter().any(|c| &c.name == p) {
            cx.invalid(&src(&s, "providers"), &s.key("providers"), format!("no provider is named {p:?}"));
        }
    }
    let ttl = cx.duration(&s, "ttl", DEFAULT_ENRICH_TTL);
    let max_entries = cx.int(&s, "max_entries", DEFAULT_ENRICH_MAX_ENTRIES as i64, 0, 10_000_000) as u64;
    let timeout = cx.positive_duration(&s, "timeout", DEFAULT_ENRICH_TIMEOUT);
    let on_error = match s.get("on_error") {
        None => EnrichOnError::Fail,
        Some(Node { value: Value::Str(v), .. }) if v == "fail" => EnrichOnError::Fail,
        Some(Node { value: Value::Str(v), .. }) if v == "continue" => EnrichOnError::Continue,
        Some(n) => {
            cx.invalid(&n.source, &s.key("on_error"), "expected \"fail\" or \"continue\"");
            EnrichOnError::Fail
        }
    };
    let max_body_bytes = cx.int(&s, "max_body_bytes", DEFAULT_WEBHOOK_MAX_BODY_BYTES as i64, 2, 16 << 20) as usize;
    let ca_file = cx.non_empty_string(&s, "ca_file").map(PathBuf::from);
    if let Some(file) = &ca_file
        && let Err(e) = std::fs::metadata(file)
    {
        cx.invalid(&src(&s, "ca_file"), &s.key("ca_file"), format!("cannot read {}: {e}", file.display()));
    }
    s.finish(cx);
    Some(EnrichConfig {
        key: key?,
        url: url?,
        into,
        override_verified,
        providers: only,
        ttl,
        max_entries,
        timeout,
        on_error,
        max_body_bytes,
        ca_file,
        dangerous_allow_http,
    })
}
