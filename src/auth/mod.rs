//! The auth pipeline: request headers in, [`SecurityContext`] out.
//!
//! Stages, in order:
//! 1. [`extract`]: find the token (`X-Cube-Authorization`, then
//!    `Authorization`); none -> `missing_token`, or an empty context in dev
//!    mode.
//! 2. size cap, then [`token`]: strict parse (three segments, unpadded
//!    base64url, JSON without duplicate names, `alg`/`crit`/`kid` checks).
//! 3. routing: custom strategies whose `accepts` says yes, else the one
//!    built-in provider chosen by the token's algorithm family and unverified
//!    `iss`. Never "try each provider and keep the last error".
//! 4. the [`provider`] verifies the signature with its pinned algorithms and
//!    cached keys, then [`claims`] (`exp`/`nbf`/`iat`/`iss`/`aud`/`sub`) and
//!    its preset's checks, and returns `VerifiedClaims` (a custom strategy's
//!    claims become `VerifiedClaims` too).
//! 5. [`context`] turns the `VerifiedClaims` into the security context.
//!
//! **Invariant:** no `SecurityContext` without a verified token (or dev
//! mode's empty context for a request with no token at all): the context is
//! built only from `VerifiedClaims`, which only [`provider`] can make.
//! **Invariant:** algorithms come from configuration, never from the token
//! header; `none` is never accepted.

mod cache;
pub mod claims;
mod context;
mod enrich;
mod error;
pub mod extract;
pub mod forward;
pub mod jwks;
pub mod provider;
pub mod scope;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;

pub use cache::CacheCounts;
pub use context::{Resolved, SecurityContext};
pub use enrich::{ClaimLookup, LookupError};
pub use error::AuthError;
pub use provider::{BoxFuture, CheckAuth, Family};
pub use provider::{verify_jws_with_jwk, verify_jws_with_secret};
pub use token::{Jws, Jwt};

use crate::config::{AuthConfig, ClaimMapping, ProviderKind};
use claims::TimeRules;
use jwks::fetch::Fetcher;
use jwks::{KeyCache, Refreshers};
pub use provider::WebhookStats;
use provider::{CustomProvider, JwksProvider, JwtProvider, PublicKeyProvider, SecretProvider, WebhookProvider};

/// A token as it arrived: the raw string and, when it parsed as a JWT, its
/// unverified parts. What a [`CheckAuth`] strategy sees.
pub struct UnverifiedToken<'a> {
    raw: &'a str,
    jwt: Option<Jwt<'a>>,
}

impl<'a> UnverifiedToken<'a> {
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The parsed JWT, if the token is one. Nothing in it is verified.
    pub fn jwt(&self) -> Option<&Jwt<'a>> {
        self.jwt.as_ref()
    }
}

/// Custom strategies, by provider name, supplied by an embedding program.
pub type Strategies = HashMap<String, Arc<dyn CheckAuth>>;

/// A request that passed authentication. Cheap to clone: the verification
/// cache hands out the same one for every request with the same token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub context: Arc<SecurityContext>,
    /// The provider that verified the token; `None` for dev mode's anonymous
    /// request.
    pub provider: Option<Arc<str>>,
    pub kid: Option<Arc<str>>,
    /// `context` as JSON, written at most once per verified token: the clones
    /// the verification cache hands out share it.
    ///
    /// **Invariant:** it is `context`'s JSON: whatever changes `context`
    /// (enrichment) starts a new, empty one.
    context_json: Arc<std::sync::OnceLock<Arc<[u8]>>>,
}

impl Authenticated {
    fn new(context: Arc<SecurityContext>, provider: Option<Arc<str>>, kid: Option<Arc<str>>) -> Self {
        Authenticated { context, provider, kid, context_json: Arc::default() }
    }

    /// The security context as JSON (what `serde_json` writes of it),
    /// serialized on the first call for this verified token only; whoami
    /// echoes it on every request.
    pub fn context_json(&self) -> Arc<[u8]> {
        // A map of JSON values with string keys always serializes.
        let json = self.context_json.get_or_init(|| serde_json::to_vec(&*self.context).unwrap_or_default().into());
        Arc::clone(json)
    }
}

/// A refused request, with what the access log needs to say why.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub error: AuthError,
    pub provider: Option<Arc<str>>,
    pub kid: Option<Arc<str>>,
}

impl Rejection {
    fn bare(error: AuthError) -> Self {
        Rejection { error, provider: None, kid: None }
    }
}

/// A provider and how its claims become a context.
struct Entry<P> {
    provider: P,
    claims_map: Vec<ClaimMapping>,
}

/// The configured pipeline. Built once at startup; shared by all requests.
pub struct Pipeline {
    /// Custom strategies, in configuration order.
    strategies: Vec<Entry<CustomProvider>>,
    /// Built-in JWT providers, in configuration order.
    providers: Vec<Entry<JwtProvider>>,
    /// `type = "webhook"` providers, in configuration order: after custom
    /// strategies, before the JWT providers, each taking the requests its
    /// `token_prefix`, `header` or non-JWT rule says.
    webhooks: Vec<Entry<WebhookProvider>>,
    /// `[[auth.enrich]]`, in order, after verification.
    enrich: Vec<enrich::Enrichment>,
    caches: Vec<Arc<KeyCache>>,
    /// Owned background refresh tasks, aborted when the pipeline drops.
    _refreshers: Refreshers,
    dev_mode: bool,
    time: TimeRules,
    namespace: Option<String>,
    max_token_bytes: usize,
    /// `None` when `[auth] verification_cache_max_bytes = 0`.
    verified: Option<cache::VerificationCache>,
}

/// Why a pipeline could not be built from a valid configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PipelineError(String);

impl Pipeline {
    /// Build providers and keys from configuration. Custom providers must
    /// have a strategy in `strategies` under their name. With JWKS
    /// providers this spawns their refresh tasks, so it must run inside a
    /// Tokio runtime.
    pub fn new(cfg: &AuthConfig, strategies: Strategies) -> Result<Self, PipelineError> {
        Self::with_lookup(cfg, strategies, None)
    }

    /// [`Pipeline::new`], with `lookup` running `[[auth.enrich]]`'s `sql`
    /// form (the build step makes it over the default data source; auth
    /// never imports `db`). Without it a `sql` entry is an error.
    pub fn with_lookup(
        cfg: &AuthConfig,
        mut strategies: Strategies,
        lookup: Option<Arc<dyn ClaimLookup>>,
    ) -> Result<Self, PipelineError> {
        let mut providers = Vec::with_capacity(cfg.providers.len());
        let mut custom = Vec::new();
        let mut webhooks = Vec::new();
        let mut caches = Vec::new();
        let mut refreshers = Refreshers::default();
        let mut shared_fetcher: Option<Fetcher> = None;
        for p in &cfg.providers {
            let claims_map = p.claims_map.clone();
            let provider = match &p.kind {
                ProviderKind::Secret(c) => JwtProvider::Secret(SecretProvider::new(&p.name, c).map_err(PipelineError)?),
                ProviderKind::PublicKey(c) => {
                    JwtProvider::PublicKey(PublicKeyProvider::new(&p.name, c).map_err(PipelineError)?)
                }
                ProviderKind::Jwks(c) => {
                    let fetcher = match &c.ca_file {
                        Some(ca) => Fetcher::new(Some(ca), c.keys.fetch_timeout),
                        None => match &shared_fetcher {
                            Some(f) => Ok(f.clone()),
                            None => {
                                Fetcher::new(None, c.keys.fetch_timeout).inspect(|f| shared_fetcher = Some(f.clone()))
                            }
                        },
                    }
                    .map_err(|e| PipelineError(format!("provider {:?}: {e}", p.name)))?;
                    let cache = KeyCache::new(p.name.as_str().into(), c, fetcher);
                    refreshers.push(cache.spawn_refresher());
                    caches.push(Arc::clone(&cache));
                    JwtProvider::Jwks(JwksProvider {
                        name: p.name.as_str().into(),
                        algorithms: c.algorithms.clone(),
                        claims: c.claims.clone(),
                        preset: c.preset.clone(),
                        cache,
                    })
                }
                ProviderKind::Webhook(c) => {
                    // Its own client: the connect timeout is the webhook's.
                    let fetcher = Fetcher::new(c.ca_file.as_deref(), c.timeout)
                        .map_err(|e| PipelineError(format!("provider {:?}: {e}", p.name)))?;
                    let provider = WebhookProvider::new(&p.name, c, fetcher).map_err(PipelineError)?;
                    webhooks.push(Entry { provider, claims_map });
                    continue;
                }
                ProviderKind::Custom => {
                    let strategy = strategies.remove(&p.name).ok_or_else(|| {
                        PipelineError(format!(
                            "provider {:?} has type \"custom\" but no strategy is registered under that name \
                             (custom strategies are registered by a program embedding tenantgate; the \
                             tenantgate binary registers none)",
                            p.name
                        ))
                    })?;
                    let provider = CustomProvider { name: p.name.as_str().into(), strategy };
                    custom.push(Entry { provider, claims_map });
                    continue;
                }
            };
            providers.push(Entry { provider, claims_map });
        }
        if let Some(name) = strategies.keys().next() {
            return Err(PipelineError(format!(
                "a strategy is registered as {name:?} but no custom provider has that name"
            )));
        }
        Ok(Pipeline {
            strategies: custom,
            providers,
            webhooks,
            enrich: cfg
                .enrich
                .iter()
                .enumerate()
                .map(|(i, e)| enrich::Enrichment::new(i, e, lookup.as_ref()))
                .collect::<Result<_, _>>()
                .map_err(PipelineError)?,
            caches,
            _refreshers: refreshers,
            dev_mode: cfg.dev_mode,
            time: TimeRules { require_exp: cfg.require_exp, leeway_secs: cfg.leeway.as_secs() },
            namespace: cfg.claims_namespace.clone(),
            max_token_bytes: cfg.max_token_bytes,
            verified: cache::VerificationCache::new(cfg.verification_cache_max_bytes, cfg.verification_cache_ttl),
        })
    }

    /// Providers that must load keys before the server is ready and have
    /// not yet. Once loaded, an upstream outage never makes this non-empty
    /// again: every replica would drop out at once.
    pub fn not_ready(&self) -> Vec<&str> {
        self.caches.iter().filter(|c| c.is_required() && !c.is_loaded()).map(|c| c.provider()).collect()
    }

    /// The verification cache's counters, when it is on.
    pub fn verification_cache_counts(&self) -> Option<CacheCounts> {
        self.verified.as_ref().map(cache::VerificationCache::counts)
    }

    /// Each `[[auth.enrich]]` entry's counters (`allowed`: successful
    /// lookups), for `/metrics`.
    pub fn enrich_stats(&self) -> Vec<(&str, &WebhookStats)> {
        self.enrich.iter().map(|e| (e.label.as_str(), &e.stats)).collect()
    }

    /// Each webhook provider's counters, for `/metrics`.
    pub fn webhook_stats(&self) -> Vec<(&str, &WebhookStats)> {
        self.webhooks.iter().map(|w| (&*w.provider.name, &w.provider.stats)).collect()
    }

    /// Authenticate a request by its headers, at the current time.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, Rejection> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.authenticate_at(headers, now).await
    }

    /// Authenticate at `now` (seconds since the Unix epoch), then enrich.
    pub async fn authenticate_at(&self, headers: &HeaderMap, now: f64) -> Result<Authenticated, Rejection> {
        let auth = self.verify_request(headers, now).await?;
        self.enriched(auth).await
    }

    /// `[[auth.enrich]]`, in order, for a verified request only (never for
    /// dev mode's anonymous one: no provider verified anything).
    async fn enriched(&self, mut auth: Authenticated) -> Result<Authenticated, Rejection> {
        let Some(provider) = auth.provider.clone() else { return Ok(auth) };
        for e in self.enrich.iter().filter(|e| e.applies(&provider)) {
            // The context is shared (the verification cache holds it); an
            // enrichment writes to this request's copy only, whose JSON is
            // its own.
            auth.context_json = Arc::default();
            if let Err(error) = e.apply(Arc::make_mut(&mut auth.context)).await {
                return Err(Rejection { error, provider: Some(provider), kid: auth.kid });
            }
        }
        Ok(auth)
    }

    async fn verify_request(&self, headers: &HeaderMap, now: f64) -> Result<Authenticated, Rejection> {
        let extracted = extract::token_from_headers(headers).map_err(Rejection::bare)?;
        // A `header = "X-Api-Key"` webhook needs no token.
        if extracted.is_none()
            && let Some(w) = self.webhooks.iter().find(|w| w.provider.applies(headers, None))
        {
            return self.webhook(w, headers).await;
        }
        let raw = match extracted {
            Some(raw) => raw,
            None if self.dev_mode => {
                let context = Arc::new(SecurityContext::empty());
                return Ok(Authenticated::new(context, None, None));
            }
            None => return Err(Rejection::bare(AuthError::MissingToken)),
        };
        self.authenticate_raw(raw, Some(headers), now).await
    }

    /// Authenticate a raw token (as extracted from a header). Webhook
    /// providers need the request's headers, so they take no part here.
    pub async fn authenticate_token(&self, raw: &str, now: f64) -> Result<Authenticated, Rejection> {
        let auth = self.authenticate_raw(raw, None, now).await?;
        self.enriched(auth).await
    }

    async fn webhook(&self, w: &Entry<WebhookProvider>, headers: &HeaderMap) -> Result<Authenticated, Rejection> {
        let name = &w.provider.name;
        let fail = |error| Rejection { error, provider: Some(name.clone()), kid: None };
        let claims = w.provider.verify(headers).await.map_err(fail)?;
        let context = SecurityContext::from_verified(claims, self.namespace.as_deref(), &w.claims_map).map_err(fail)?;
        Ok(Authenticated::new(Arc::new(context), Some(name.clone()), None))
    }

    async fn authenticate_raw(
        &self,
        raw: &str,
        headers: Option<&HeaderMap>,
        now: f64,
    ) -> Result<Authenticated, Rejection> {
        if raw.len() > self.max_token_bytes {
            return Err(Rejection::bare(AuthError::TokenTooLarge { len: raw.len(), max: self.max_token_bytes }));
        }
        let digest = self.verified.as_ref().map(|_| cache::digest_of(raw));
        // Without custom strategies no token can be theirs, so the cache is
        // asked before anything is decoded.
        if self.strategies.is_empty()
            && let Some(hit) = self.cached(digest.as_ref(), now)
        {
            return Ok(hit);
        }
        let parsed = Jwt::parse(raw);
        let kid: Option<Arc<str>> = parsed.as_ref().ok().and_then(|j| j.kid().map(Arc::from));
        let (jwt, parse_error) = match parsed {
            Ok(jwt) => (Some(jwt), None),
            Err(e) => (None, Some(e)),
        };
        let token = UnverifiedToken { raw, jwt };

        // Custom strategies first, in configuration order. Their verdicts
        // are never cached: a strategy may revoke an opaque key at any time.
        for entry in &self.strategies {
            if entry.provider.accepts(&token) {
                let name = &entry.provider.name;
                let fail = |error| Rejection { error, provider: Some(name.clone()), kid: kid.clone() };
                let claims = entry.provider.verify(&token).await.map_err(fail)?;
                let context = SecurityContext::from_verified(claims, self.namespace.as_deref(), &entry.claims_map)
                    .map_err(fail)?;
                return Ok(Authenticated::new(Arc::new(context), Some(name.clone()), kid));
            }
        }
        if !self.strategies.is_empty()
            && let Some(hit) = self.cached(digest.as_ref(), now)
        {
            return Ok(hit);
        }

        if let Some(headers) = headers
            && let Some(w) = self.webhooks.iter().find(|w| w.provider.applies(headers, Some(raw)))
        {
            return self.webhook(w, headers).await;
        }

        let jwt = match (token.jwt, parse_error) {
            (Some(jwt), _) => jwt,
            (None, Some(e)) => return Err(Rejection::bare(e)),
            (None, None) => return Err(Rejection::bare(AuthError::Malformed("not a JWT".into()))),
        };
        let alg = jwt.alg();
        let index = self.route(&jwt).map_err(|error| Rejection { error, provider: None, kid: kid.clone() })?;
        let entry = &self.providers[index];
        let provider = &entry.provider;
        let name = provider.name().clone();
        let fail = |error| Rejection { error, provider: Some(name.clone()), kid: kid.clone() };

        // Signature first, then claims, inside the provider: a forger learns
        // nothing but `invalid_signature`.
        let claims = provider.verify(jwt, self.time, now).await.map_err(fail)?;
        let (exp, nbf) = (claims.time_claim("exp"), claims.time_claim("nbf"));
        let jwks = claims.jwks_key().map(|key| cache::JwksUse {
            provider: index,
            kid: kid.clone(),
            alg,
            key: Arc::clone(key),
        });
        let context =
            SecurityContext::from_verified(claims, self.namespace.as_deref(), &entry.claims_map).map_err(fail)?;
        let auth = Authenticated::new(Arc::new(context), Some(name), kid);
        if let (Some(cache), Some(digest)) = (&self.verified, digest) {
            cache.insert(digest, raw.len(), &auth, cache::Validity { exp, nbf, jwks }, now);
        }
        Ok(auth)
    }

    /// A cached success for this token, if one may be served at `now`: a
    /// JWKS provider's entry only while the provider would verify the token
    /// with the same key.
    fn cached(&self, digest: Option<&cache::Digest>, now: f64) -> Option<Authenticated> {
        let (cache, digest) = (self.verified.as_ref()?, digest?);
        let current = |j: &cache::JwksUse| match self.providers.get(j.provider).map(|e| &e.provider) {
            Some(JwtProvider::Jwks(p)) => {
                p.cache.current(j.kid.as_deref(), j.alg).is_some_and(|now| Arc::ptr_eq(&now, &j.key))
            }
            _ => false,
        };
        cache.get(digest, now, current).map(|hit| hit.auth.clone())
    }

    /// Pick the one built-in provider for this token: same algorithm family,
    /// then the provider whose issuer equals the unverified `iss`, else the
    /// family's issuer-less fallback.
    fn route(&self, jwt: &Jwt<'_>) -> Result<usize, AuthError> {
        let family = Family::of(jwt.alg());
        let mut candidates =
            self.providers.iter().enumerate().filter(|(_, e)| e.provider.family() == family).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::AlgorithmNotAllowed(format!(
                "no provider accepts {} tokens (alg {:?})",
                family.describe(),
                jwt.alg()
            )));
        }
        let token_iss = jwt.issuer()?;
        let (mut matching, mut fallback) = (None, None);
        for (i, p) in candidates {
            match p.provider.claim_rules().issuer.as_deref() {
                Some(iss) if Some(iss) == token_iss => matching = Some(i),
                Some(_) => {}
                None => fallback = Some(i),
            }
        }
        match (matching, fallback, token_iss) {
            (Some(p), _, _) | (None, Some(p), _) => Ok(p),
            (None, None, Some(iss)) => {
                Err(AuthError::UnknownIssuer(format!("no provider accepts iss {}", token::quoted(iss))))
            }
            (None, None, None) => Err(AuthError::IssuerMismatch(
                "the token has no iss and every provider for its algorithm requires one".into(),
            )),
        }
    }
}
