//! `[[auth.enrich]]`: after a token is verified, more claims fetched by one of
//! its claims (`key = "sub"`), from a URL or by a SQL statement on the
//! configured database, and merged into the context, entry by entry in
//! configuration order (Cube.js's `extendContext`, Oathkeeper's hydrator).
//!
//! Never run for a refused token: the pipeline calls it only with a built
//! context. The `url` form merges a 200 JSON object; the `sql` form the one
//! row its statement returns (column name -> value), the key's value bound
//! as `$1`, never formatted into the text. Merged `into` a named key or at
//! the root, verified values kept unless `override = true`. Anything else
//! fails the request with 503 `enrichment_unavailable` (a `sql` statement
//! that finds no row: 403 `enrichment_not_found`), or is skipped with
//! `on_error = "continue"`. Results are cached per key value for `ttl`
//! (expiry judged by a `tokio::time::Instant` in the entry), failures
//! never; concurrent lookups of one value make one call (moka's
//! `try_get_with`), and each call has one deadline, `timeout`.
//!
//! **Boundary:** `auth` never imports `db`: the `sql` form runs through a
//! [`ClaimLookup`] the build step gives the pipeline.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::Request;
use http_body_util::Full;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::provider::{BoxFuture, WebhookStats};
use super::{AuthError, Resolved, SecurityContext};
use crate::auth::jwks::fetch::Fetcher;
use crate::config::{EnrichConfig, EnrichOnError, EnrichSource};

/// Runs an `[[auth.enrich]]` `sql` statement: `value` bound as its one
/// parameter, at most `max_rows` rows read (more is an error), each row as
/// column name -> value. Made by the build step over the default data
/// source; an error's text goes to the log, never to a client.
pub trait ClaimLookup: Send + Sync {
    fn lookup<'a>(
        &'a self,
        sql: &'a str,
        value: &'a Value,
        max_rows: usize,
    ) -> BoxFuture<'a, Result<Vec<Map<String, Value>>, LookupError>>;
}

/// Why a [`ClaimLookup`] gave no rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The database refused the value itself (one its parameter's type
    /// cannot hold): no row can match it, so the token is not entitled
    /// (403), which is no fault of the database's.
    ValueRefused,
    /// Anything else (the detail is for the log).
    Failed(String),
}

struct Cached {
    claims: Map<String, Value>,
    expires: Instant,
}

enum Source {
    // One per entry, built once: its size does not matter.
    Url { fetcher: Box<Fetcher>, prefix: String, suffix: String },
    Sql { sql: String, json_columns: Vec<String>, lookup: Arc<dyn ClaimLookup> },
}

pub(crate) struct Enrichment {
    /// `auth.enrich[<index>]`, for logs and metrics.
    pub label: String,
    cfg: EnrichConfig,
    source: Source,
    /// Keyed by the value's JSON text, so `7` and `"7"` (bound as a number
    /// and as text) stay apart.
    cache: moka::future::Cache<String, Arc<Cached>>,
    /// `allowed` counts successful calls; `denied` is unused.
    pub stats: WebhookStats,
}

impl Enrichment {
    /// `lookup` runs the `sql` form; without one a `sql` entry cannot be
    /// built.
    pub fn new(index: usize, cfg: &EnrichConfig, lookup: Option<&Arc<dyn ClaimLookup>>) -> Result<Self, String> {
        let label = format!("auth.enrich[{index}]");
        let source = match &cfg.source {
            EnrichSource::Url(prefix, suffix) => Source::Url {
                fetcher: Box::new(
                    Fetcher::new(cfg.ca_file.as_deref(), cfg.timeout).map_err(|e| format!("{label}: {e}"))?,
                ),
                prefix: prefix.clone(),
                suffix: suffix.clone(),
            },
            EnrichSource::Sql { sql, json_columns } => Source::Sql {
                sql: sql.clone(),
                json_columns: json_columns.clone(),
                lookup: Arc::clone(lookup.ok_or_else(|| format!("{label}: the sql form needs a database"))?),
            },
        };
        let cache = moka::future::Cache::builder()
            .max_capacity(cfg.max_entries)
            .time_to_live(cfg.ttl + std::time::Duration::from_secs(1))
            .build();
        Ok(Enrichment { label, cfg: cfg.clone(), source, cache, stats: WebhookStats::default() })
    }

    /// Does this entry apply to a token verified by `provider`?
    pub fn applies(&self, provider: &str) -> bool {
        self.cfg.providers.is_empty() || self.cfg.providers.iter().any(|p| p == provider)
    }

    /// Fetch and merge into `ctx`. A context without the key's value (or
    /// with a list or object there) has nothing to look up: left as it is.
    pub async fn apply(&self, ctx: &mut SecurityContext) -> Result<(), AuthError> {
        let value = match ctx.resolve(&self.cfg.key) {
            Resolved::Scalar(v @ Value::String(s)) if !s.is_empty() => v.clone(),
            Resolved::Scalar(v @ Value::Number(_)) => v.clone(),
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

    async fn lookup(&self, value: Value) -> Result<Arc<Cached>, AuthError> {
        let key = value.to_string();
        if let Some(c) = self.cache.get(&key).await {
            if Instant::now() < c.expires {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(c);
            }
            self.cache.invalidate(&key).await;
        }
        self.cache.try_get_with(key, self.call(value)).await.map_err(|e| (*e).clone())
    }

    async fn call(&self, value: Value) -> Result<Arc<Cached>, AuthError> {
        let claims = match &self.source {
            Source::Url { fetcher, prefix, suffix } => {
                let text = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.fetch(fetcher, format!("{prefix}{}{suffix}", percent_encode(&text))).await?
            }
            Source::Sql { sql, json_columns, lookup } => {
                self.select(lookup.as_ref(), sql, json_columns, &value).await?
            }
        };
        self.stats.allowed.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Cached { claims, expires: Instant::now() + self.cfg.ttl }))
    }

    fn unavailable(&self, detail: &str) -> AuthError {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        // The detail never holds the claim value (the URL does: not logged).
        tracing::warn!(enrich = %self.label, error = %crate::telemetry::bounded(detail), "enrichment unavailable");
        AuthError::EnrichmentUnavailable(format!("{} is unavailable", self.label))
    }

    async fn fetch(&self, fetcher: &Fetcher, url: String) -> Result<Map<String, Value>, AuthError> {
        let req = Request::get(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("tenantgate/", env!("CARGO_PKG_VERSION")))
            .body(Full::default())
            .map_err(|e| self.unavailable(&e.to_string()))?;
        let reply = fetcher
            .send(req, self.cfg.timeout, self.cfg.max_body_bytes)
            .await
            .map_err(|e| self.unavailable(&e.to_string()))?;
        if reply.status != http::StatusCode::OK {
            return Err(self.unavailable(&format!("HTTP {}", reply.status.as_u16())));
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(Value::Object(claims)) => Ok(claims),
            Ok(_) => Err(self.unavailable("the answer is not a JSON object")),
            Err(e) => Err(self.unavailable(&format!("the answer is not JSON: {e}"))),
        }
    }

    /// The `sql` form: exactly one row, within `timeout` (dropping the
    /// lookup on the deadline cancels its statement).
    async fn select(
        &self,
        lookup: &dyn ClaimLookup,
        sql: &str,
        json_columns: &[String],
        value: &Value,
    ) -> Result<Map<String, Value>, AuthError> {
        let rows = match tokio::time::timeout(self.cfg.timeout, lookup.lookup(sql, value, 1)).await {
            Err(_) => return Err(self.unavailable(&format!("no answer within {:?}", self.cfg.timeout))),
            Ok(Err(LookupError::Failed(e))) => return Err(self.unavailable(&e)),
            Ok(Err(LookupError::ValueRefused)) => Vec::new(),
            Ok(Ok(rows)) => rows,
        };
        let Some(mut row) = rows.into_iter().next() else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(enrich = %self.label, "enrichment found no row");
            return Err(AuthError::EnrichmentNotFound(format!("{} found nothing for this token", self.label)));
        };
        for column in json_columns {
            if let Some(Value::String(text)) = row.get(column) {
                match serde_json::from_str::<Value>(text) {
                    Ok(parsed) => {
                        row.insert(column.clone(), parsed);
                    }
                    Err(e) => return Err(self.unavailable(&format!("column {column:?} is not JSON: {e}"))),
                }
            }
        }
        Ok(row)
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
