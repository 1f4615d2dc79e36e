//! Keys from JWKS endpoints, cached per provider under their kid.
//!
//! - [`keyset`]: a JWKS document in, usable keys out (pure).
//! - [`policy`]: when to fetch, when to answer `unknown_kid` or
//!   `jwks_unavailable` (a pure state machine over `now`).
//! - [`fetch`]: the HTTP client.
//! - [`KeyCache`]: the runtime around them: single-flight fetches in an
//!   owned task, and a background refresh at `refresh_at` of the TTL.
//!
//! **Invariant:** keys are cached under (provider, kid): each provider owns
//! its cache, so issuer A's key never verifies a token routed to issuer B.
//! **Invariant:** no lock is held across an `.await`: the state sits behind
//! a `std` mutex taken briefly; waiting for a fetch is waiting on a channel.
//! **Invariant:** a key that is cached keeps verifying while the endpoint is
//! down, until the set is older than `max_stale`.

pub mod fetch;
pub mod keyset;
pub mod policy;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::auth::AuthError;
use crate::config::{JwksProviderConfig, KeyCacheConfig, check_fetch_url};
use fetch::Fetcher;
use keyset::{Key, KeySet, KeySetError};
use policy::{Decision, State};

/// Why a key set could not be fetched. Upstream faults: logged at warn,
/// never a client's 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the body is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("{0}")]
    Transport(String),
    #[error(transparent)]
    InvalidSet(#[from] KeySetError),
    #[error("OIDC discovery: {0}")]
    Discovery(String),
}

/// One provider's key cache.
pub struct KeyCache {
    provider: Arc<str>,
    cfg: KeyCacheConfig,
    /// Fixed by configuration, or found by OIDC discovery.
    jwks_url: Mutex<Option<String>>,
    discovery_url: Option<String>,
    issuer: Option<String>,
    fetcher: Fetcher,
    inner: Mutex<Inner>,
    loaded: AtomicBool,
    first_attempt: Notify,
}

struct Inner {
    state: State,
    /// The fetch in progress, if any: requests wait on it instead of
    /// starting their own (single flight).
    inflight: Option<watch::Receiver<()>>,
}

impl KeyCache {
    pub fn new(provider: Arc<str>, cfg: &JwksProviderConfig, fetcher: Fetcher) -> Arc<KeyCache> {
        Arc::new(KeyCache {
            provider,
            cfg: cfg.keys.clone(),
            jwks_url: Mutex::new(cfg.jwks_url.clone()),
            discovery_url: cfg.discovery_url.clone(),
            issuer: cfg.claims.issuer.clone(),
            fetcher,
            inner: Mutex::new(Inner { state: State::new(cfg.keys.clone()), inflight: None }),
            loaded: AtomicBool::new(false),
            first_attempt: Notify::new(),
        })
    }

    /// Whether a good key set has been loaded at least once (readiness).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn is_required(&self) -> bool {
        self.cfg.required
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent state (every
        // update is a single assignment), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for a token's kid and alg, fetching at most once per request.
    pub async fn key(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Result<Arc<Key>, AuthError> {
        let mut allow_fetch = true;
        loop {
            let mut rx = {
                let mut inner = self.lock();
                match inner.state.decide(kid, alg, Instant::now(), allow_fetch) {
                    Decision::Use(key) => return Ok(key),
                    Decision::Refuse(e) => return Err(e),
                    Decision::Fetch => self.start_or_join_fetch(&mut inner),
                }
            };
            // An error means the fetch task ended without a word (runtime
            // shutting down); deciding again without fetching is still right.
            let _ = rx.changed().await;
            allow_fetch = false;
        }
    }

    /// The key a token with `kid` and `alg` would be verified with now, from
    /// the set in hand (see [`State::current`]); never fetches.
    pub fn current(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
        self.lock().state.current(kid, alg, Instant::now())
    }

    /// Start a fetch in its own task (so a cancelled request never cancels
    /// it), or join the one in flight.
    fn start_or_join_fetch(self: &Arc<Self>, inner: &mut Inner) -> watch::Receiver<()> {
        if let Some(rx) = &inner.inflight {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(());
        inner.inflight = Some(rx.clone());
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let result = this.fetch_once().await;
            let now = Instant::now();
            {
                let mut inner = this.lock();
                match result {
                    Ok((set, max_age)) => {
                        tracing::info!(
                            provider = %this.provider,
                            keys = set.len(),
                            ttl_secs = inner.state.ttl(max_age).as_secs(),
                            "key set fetched"
                        );
                        inner.state.record_success(Arc::new(set), max_age, now);
                        this.loaded.store(true, Ordering::Release);
                    }
                    Err(e) => {
                        tracing::warn!(
                            provider = %this.provider,
                            error = %e,
                            have_keys = inner.state.has_loaded(),
                            "key set fetch failed; keeping the last good set"
                        );
                        inner.state.record_failure(now);
                    }
                }
                inner.inflight = None;
            }
            this.first_attempt.notify_one();
            let _ = tx.send(());
        });
        rx
    }

    async fn fetch_once(&self) -> Result<(KeySet, Option<Duration>), KeyError> {
        let known = self.jwks_url.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let url = match known {
            Some(url) => url,
            None => self.discover().await?,
        };
        let host = url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_owned)).unwrap_or_default();
        let (body, max_age) = self.fetcher.get(&url, self.cfg.fetch_timeout, self.cfg.max_jwks_bytes).await?;
        let (set, skipped) = keyset::parse(&body, self.cfg.max_keys)?;
        for s in skipped {
            tracing::warn!(provider = %self.provider, host = %host, kid = s.kid.as_deref().unwrap_or("-"), reason = %s.reason, "key skipped");
        }
        Ok((set, max_age))
    }

    /// OIDC: find `jwks_uri` in the discovery document, whose `issuer` must
    /// be the configured one.
    async fn discover(&self) -> Result<String, KeyError> {
        let Some(url) = &self.discovery_url else {
            return Err(KeyError::Discovery("no jwks_url and no issuer to discover it from".into()));
        };
        let (body, _) = self.fetcher.get(url, self.cfg.fetch_timeout, self.cfg.max_jwks_bytes).await?;
        let doc: Value =
            serde_json::from_slice(&body).map_err(|_| KeyError::Discovery("the document is not JSON".into()))?;
        if let Some(expected) = &self.issuer
            && doc.get("issuer").and_then(Value::as_str) != Some(expected.as_str())
        {
            return Err(KeyError::Discovery("the document's issuer is not the configured issuer".into()));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::Discovery("the document has no jwks_uri".into()))?;
        check_fetch_url(jwks_uri, self.cfg.dangerous_allow_http).map_err(KeyError::Discovery)?;
        *self.jwks_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(jwks_uri.to_string());
        Ok(jwks_uri.to_string())
    }

    /// The background task: prefetch (when configured), then refresh at
    /// `refresh_at` of each TTL, retrying failures after the cooldown. The
    /// caller owns the handle and aborts it on drop.
    pub fn spawn_refresher(self: &Arc<Self>) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if !this.cfg.prefetch {
                // Lazy: the first request starts the first fetch.
                this.first_attempt.notified().await;
            }
            loop {
                let next = this.lock().state.next_refresh(Instant::now());
                tokio::time::sleep_until(next).await;
                let mut rx = {
                    let mut inner = this.lock();
                    this.start_or_join_fetch(&mut inner)
                };
                let _ = rx.changed().await;
            }
        })
    }
}

/// Aborts the owned background tasks when the pipeline is dropped.
#[derive(Default)]
pub struct Refreshers(Vec<JoinHandle<()>>);

impl Refreshers {
    pub fn push(&mut self, h: JoinHandle<()>) {
        self.0.push(h);
    }
}

impl Drop for Refreshers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}
