//! `type = "webhook"`: the request's credential headers sent to a URL (Hasura's
//! webhook mode, Oathkeeper's remote authenticator).
//!
//! A 200 with a JSON object is the verified claim set; 401 or 403 refuses
//! (`webhook_denied`, the webhook's reason logged at debug, never echoed);
//! anything else (another status, a redirect, a timeout, a body too large or
//! not an object) is `auth_upstream_unavailable`, 503: fail closed.
//!
//! Verdicts are cached per credential, keyed by a SHA-256 of the provider
//! name and the forwarded header values (the raw credential is never a key
//! in memory nor in a log): an allow for the response's `max-age` capped by
//! `max_cache_ttl` (none without `max-age`, none with `no-store`), a denial
//! for `negative_cache_ttl`. Failures are never cached. Concurrent requests
//! for one credential make one call: moka's `try_get_with` runs one loader
//! per key and hands its result to every waiter.
//!
//! Expiry is judged with `tokio::time::Instant` stored in the entry (moka
//! keeps its own clock for eviction only), so the policy reads one clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::VerifiedClaims;
use crate::auth::AuthError;
use crate::auth::jwks::fetch::Fetcher;
use crate::config::{WebhookApplies, WebhookProviderConfig};

/// Counters for `/metrics`, by provider.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Calls answered 200 with an object.
    pub allowed: AtomicU64,
    /// Calls answered 401/403.
    pub denied: AtomicU64,
    /// Calls that failed (status, timeout, transport, body): 503s.
    pub failed: AtomicU64,
    /// Requests answered from the cache, allow or deny.
    pub cache_hits: AtomicU64,
}

struct Cached {
    verdict: Verdict,
    expires: Instant,
}

enum Verdict {
    Allow(Map<String, Value>),
    Deny,
}

type Key = [u8; 32];

pub(crate) struct WebhookProvider {
    pub name: Arc<str>,
    cfg: WebhookProviderConfig,
    uri: http::Uri,
    fetcher: Fetcher,
    cache: moka::future::Cache<Key, Arc<Cached>>,
    pub stats: WebhookStats,
}

impl WebhookProvider {
    pub fn new(name: &str, cfg: &WebhookProviderConfig, fetcher: Fetcher) -> Result<Self, String> {
        let uri = cfg.url.parse().map_err(|_| format!("provider {name:?}: {:?} is not a URL", cfg.url))?;
        // moka's own expiry only bounds memory: an entry is judged by its
        // `expires`, always shorter than this.
        let ceiling = cfg.max_cache_ttl.max(cfg.negative_cache_ttl) + Duration::from_secs(1);
        let cache = moka::future::Cache::builder().max_capacity(cfg.max_cache_entries).time_to_live(ceiling).build();
        Ok(WebhookProvider { name: name.into(), cfg: cfg.clone(), uri, fetcher, cache, stats: WebhookStats::default() })
    }

    /// Does this webhook take the request? `token` is the extracted token,
    /// if any. Cheap; verifies nothing.
    pub fn applies(&self, headers: &HeaderMap, token: Option<&str>) -> bool {
        match (&self.cfg.applies, token) {
            (WebhookApplies::Header(h), _) => headers.get(h).is_some_and(|v| !v.is_empty()),
            (WebhookApplies::TokenPrefix(p), Some(t)) => t.starts_with(p.as_str()),
            (WebhookApplies::NotJwt, Some(t)) => t.split('.').count() != 3,
            (_, None) => false,
        }
    }

    pub async fn verify(&self, headers: &HeaderMap) -> Result<VerifiedClaims, AuthError> {
        let forwarded: Vec<(HeaderName, HeaderValue)> = self
            .cfg
            .forward_headers
            .iter()
            .flat_map(|n| headers.get_all(n).iter().map(move |v| (n.clone(), v.clone())))
            .collect();
        if forwarded.is_empty() {
            return Err(AuthError::WebhookDenied("no credential header to send to the auth webhook".into()));
        }
        let key = credential_key(&self.name, &forwarded);
        if let Some(c) = self.cache.get(&key).await {
            if Instant::now() < c.expires {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return c.verdict.result();
            }
            self.cache.invalidate(&key).await;
        }
        let entry = self.cache.try_get_with(key, self.call(forwarded)).await.map_err(|e| (*e).clone())?;
        entry.verdict.result()
    }

    async fn call(&self, forwarded: Vec<(HeaderName, HeaderValue)>) -> Result<Arc<Cached>, AuthError> {
        let unavailable = |stats: &WebhookStats, detail: String| {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(provider = %self.name, error = %crate::telemetry::bounded(&detail), "auth webhook unavailable");
            AuthError::AuthUpstreamUnavailable("the auth webhook is unavailable".into())
        };
        let mut req = Request::builder()
            .method(self.cfg.method.clone())
            .uri(self.uri.clone())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("tenantgate/", env!("CARGO_PKG_VERSION")));
        let body = if self.cfg.method == http::Method::POST {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
            let mut map = Map::new();
            for (n, v) in &forwarded {
                map.insert(n.as_str().to_string(), Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()));
            }
            Bytes::from(serde_json::json!({ "headers": map }).to_string())
        } else {
            Bytes::new()
        };
        for (n, v) in forwarded {
            req = req.header(n, v);
        }
        let req = req.body(Full::new(body)).map_err(|e| unavailable(&self.stats, e.to_string()))?;
        let reply = self
            .fetcher
            .send(req, self.cfg.timeout, self.cfg.max_body_bytes)
            .await
            .map_err(|e| unavailable(&self.stats, e.to_string()))?;
        let arrived = Instant::now();
        match reply.status.as_u16() {
            200 => match serde_json::from_slice::<Value>(&reply.body) {
                Ok(Value::Object(claims)) => {
                    self.stats.allowed.fetch_add(1, Ordering::Relaxed);
                    // No max-age: the webhook did not say it may be reused.
                    let ttl = reply.max_age.unwrap_or(Duration::ZERO).min(self.cfg.max_cache_ttl);
                    Ok(Arc::new(Cached { verdict: Verdict::Allow(claims), expires: arrived + ttl }))
                }
                Ok(_) => Err(unavailable(&self.stats, "the webhook answered 200 without a JSON object".into())),
                Err(e) => Err(unavailable(&self.stats, format!("the webhook answered 200 without JSON: {e}"))),
            },
            status @ (401 | 403) => {
                self.stats.denied.fetch_add(1, Ordering::Relaxed);
                let reason = String::from_utf8_lossy(&reply.body);
                tracing::debug!(provider = %self.name, status, reason = %crate::telemetry::bounded(&reason), "auth webhook refused the credential");
                let ttl = reply.max_age.map_or(self.cfg.negative_cache_ttl, |m| m.min(self.cfg.negative_cache_ttl));
                Ok(Arc::new(Cached { verdict: Verdict::Deny, expires: arrived + ttl }))
            }
            other => Err(unavailable(&self.stats, format!("the webhook answered HTTP {other}"))),
        }
    }
}

impl Verdict {
    fn result(&self) -> Result<VerifiedClaims, AuthError> {
        match self {
            Verdict::Allow(claims) => {
                Ok(VerifiedClaims { claims: claims.clone(), cognito_groups: None, jwks_key: None })
            }
            Verdict::Deny => Err(AuthError::WebhookDenied("the auth webhook refused the credential".into())),
        }
    }
}

/// SHA-256 over the provider and each forwarded header, length-prefixed so
/// no two different credentials share an input.
fn credential_key(provider: &str, forwarded: &[(HeaderName, HeaderValue)]) -> Key {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut part = |b: &[u8]| {
        ctx.update(&(b.len() as u64).to_be_bytes());
        ctx.update(b);
    };
    part(provider.as_bytes());
    for (n, v) in forwarded {
        part(n.as_str().as_bytes());
        part(v.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys_differ_by_provider_header_and_value() {
        let h = |n: &'static str, v: &'static str| (HeaderName::from_static(n), HeaderValue::from_static(v));
        let a = credential_key("p", &[h("authorization", "sk_1")]);
        assert_eq!(a, credential_key("p", &[h("authorization", "sk_1")]));
        assert_ne!(a, credential_key("q", &[h("authorization", "sk_1")]));
        assert_ne!(a, credential_key("p", &[h("authorization", "sk_2")]));
        assert_ne!(a, credential_key("p", &[h("x-api-key", "sk_1")]));
        assert_ne!(credential_key("p", &[h("a", "bc")]), credential_key("p", &[h("ab", "c")]), "length-prefixed parts");
    }
}
