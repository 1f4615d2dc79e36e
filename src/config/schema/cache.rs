//! `[cache]`: the result cache.

use super::{Cx, Section};
use crate::config::Secret;
use crate::config::layers::{Node, Value};
use crate::config::{
    CacheBackend, CacheConfig, DEFAULT_CACHE_BACKEND, DEFAULT_CACHE_ENABLED, DEFAULT_CACHE_MAX_BYTES,
    DEFAULT_CACHE_TTL, DEFAULT_PLAN_CACHE_MAX_BYTES, DEFAULT_REFRESH_KEY_CHECK,
};

/// Each `backend` reads only its own keys.
pub(super) fn cache(cx: &mut Cx, s: Section<'_>) -> CacheConfig {
    let enabled = cx.bool(&s, "enabled", DEFAULT_CACHE_ENABLED);
    let max_bytes = cx.int(&s, "max_bytes", DEFAULT_CACHE_MAX_BYTES as i64, 1024, 1 << 40) as usize;
    let ttl = cx.positive_duration(&s, "ttl", DEFAULT_CACHE_TTL);
    let refresh_key_check = cx.positive_duration(&s, "refresh_key_check", DEFAULT_REFRESH_KEY_CHECK);
    let plan_max_bytes = cx.int(&s, "plan_max_bytes", DEFAULT_PLAN_CACHE_MAX_BYTES as i64, 0, 1 << 40) as usize;
    let backend = match s.get("backend") {
        None => DEFAULT_CACHE_BACKEND.to_string(),
        Some(Node { value: Value::Str(v), .. }) => v.clone(),
        Some(n) => {
            cx.invalid(&n.source, "cache.backend", "expected a string");
            DEFAULT_CACHE_BACKEND.to_string()
        }
    };
    let backend = match backend.as_str() {
        "memory" => CacheBackend::Memory,
        "redis" => redis(cx, &s),
        other => {
            let src = s.source_or("backend", &cx.env_file);
            let message = format!("unknown cache backend {other:?}; expected \"memory\" or \"redis\"");
            cx.invalid(&src, "cache.backend", message);
            CacheBackend::Memory
        }
    };
    s.finish(cx);
    CacheConfig { enabled, max_bytes, ttl, refresh_key_check, backend, plan_max_bytes }
}

/// `backend = "redis"`: `url`, required, plain `redis://` (the client is
/// built without TLS; a `rediss://` URL would otherwise fail only when
/// first used). The URL is never echoed: it may hold a password.
fn redis(cx: &mut Cx, s: &Section<'_>) -> CacheBackend {
    let src = s.source_or("url", &cx.env_file);
    match cx.non_empty_string(s, "url") {
        Some(url) if url.starts_with("redis://") => CacheBackend::Redis { url: Secret::new(url.into_bytes()) },
        Some(_) => {
            cx.invalid(&src, "cache.url", "expected a redis:// URL (TLS to Redis, rediss://, is not supported)");
            CacheBackend::Memory
        }
        None => {
            if s.get("url").is_none() {
                cx.invalid(&src, "cache.url", "required for backend = \"redis\"");
            }
            CacheBackend::Memory
        }
    }
}
