//! `[[auth.enrich]]`: after a token is verified, more claims fetched by one of
//! its claims (`key = "sub"`) from a URL and merged into the context, entry by
//! entry in configuration order (Cube.js's `extendContext`, Oathkeeper's
//! hydrator).
//!
//! Never run for a refused token: the pipeline calls it only with a built
//! context. A 200 JSON object is merged (`into` a named key or at the root;
//! verified values kept unless `override = true`); anything else fails the
//! request with 503 `enrichment_unavailable`, or is skipped with
//! `on_error = "continue"`. Results are cached per key value for `ttl`
//! (expiry judged by a `tokio::time::Instant` in the entry), failures never;
//! concurrent lookups of one value make one call (moka's `try_get_with`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::Request;
use http_body_util::Full;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::provider::WebhookStats;
use super::{AuthError, Resolved, SecurityContext};
use crate::auth::jwks::fetch::Fetcher;
use crate::config::{EnrichConfig, EnrichOnError};

struct Cached {
    claims: Map<String, Value>,
    expires: Instant,
}

pub(crate) struct Enrichment {
    /// `auth.enrich[<index>]`, for logs and metrics.
    pub label: String,
    cfg: EnrichConfig,
    fetcher: Fetcher,
    cache: moka::future::Cache<String, Arc<Cached>>,
    /// `allowed` counts successful calls; `denied` is unused.
    pub stats: WebhookStats,
}

impl Enrichment {
    pub fn new(index: usize, cfg: &EnrichConfig) -> Result<Self, String> {
        let label = format!("auth.enrich[{index}]");
        let fetcher = Fetcher::new(cfg.ca_file.as_deref(), cfg.timeout).map_err(|e| format!("{label}: {e}"))?;
        let cache = moka::future::Cache::builder()
            .max_capacity(cfg.max_entries)
            .time_to_live(cfg.ttl + std::time::Duration::from_secs(1))
            .build();
        Ok(Enrichment { label, cfg: cfg.clone(), fetcher, cache, stats: WebhookStats::default() })
    }

    /// Does this entry apply to a token verified by `provider`?
    pub fn applies(&self, provider: &str) -> bool {
        self.cfg.providers.is_empty() || self.cfg.providers.iter().any(|p| p == provider)
    }

    /// Fetch and merge into `ctx`. A context without the key's value (or
    /// with a list or object there) has nothing to look up: left as it is.
    pub async fn apply(&self, ctx: &mut SecurityContext) -> Result<(), AuthError> {
        let value = match ctx.resolve(&self.cfg.key) {
            Resolved::Scalar(Value::String(s)) if !s.is_empty() => s.clone(),
            Resolved::Scalar(v @ Value::Number(_)) => v.to_string(),
            _ => return Ok(()),
        };
        let fetched = match self.lookup(value).await {
            Ok(c) => c,
            Err(e) if self.cfg.on_error == EnrichOnError::Continue => {
                tracing::warn!(enrich = %self.label, code = e.code(), "enrichment failed; continuing with the verified claims");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        ctx.merge(self.cfg.into.as_deref(), &fetched.claims, self.cfg.override_verified);
        Ok(())
    }

    async fn lookup(&self, value: String) -> Result<Arc<Cached>, AuthError> {
        if let Some(c) = self.cache.get(&value).await {
            if Instant::now() < c.expires {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(c);
            }
            self.cache.invalidate(&value).await;
        }
        let url = format!("{}{}{}", self.cfg.url.0, percent_encode(&value), self.cfg.url.1);
        self.cache.try_get_with(value, self.call(url)).await.map_err(|e| (*e).clone())
    }

    async fn call(&self, url: String) -> Result<Arc<Cached>, AuthError> {
        let fail = |detail: String| {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            // The URL holds a claim value: not logged.
            tracing::warn!(enrich = %self.label, error = %crate::telemetry::bounded(&detail), "enrichment unavailable");
            AuthError::EnrichmentUnavailable(format!("{} is unavailable", self.label))
        };
        let req = Request::get(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("tenantgate/", env!("CARGO_PKG_VERSION")))
            .body(Full::default())
            .map_err(|e| fail(e.to_string()))?;
        let reply =
            self.fetcher.send(req, self.cfg.timeout, self.cfg.max_body_bytes).await.map_err(|e| fail(e.to_string()))?;
        if reply.status != http::StatusCode::OK {
            return Err(fail(format!("HTTP {}", reply.status.as_u16())));
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(Value::Object(claims)) => {
                self.stats.allowed.fetch_add(1, Ordering::Relaxed);
                Ok(Arc::new(Cached { claims, expires: Instant::now() + self.cfg.ttl }))
            }
            Ok(_) => Err(fail("the answer is not a JSON object".into())),
            Err(e) => Err(fail(format!("the answer is not JSON: {e}"))),
        }
    }
}

/// Everything but RFC 3986's unreserved characters percent-encoded, so a
/// value can neither leave its path segment nor start a query.
fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_cannot_leave_their_segment() {
        assert_eq!(percent_encode("auth0|abc"), "auth0%7Cabc");
        assert_eq!(percent_encode("../admin?x=1#f"), "..%2Fadmin%3Fx%3D1%23f");
        assert_eq!(percent_encode("caf\u{e9} 1"), "caf%C3%A9%201");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
    }
}
