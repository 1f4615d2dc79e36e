//! The verification cache: what a verified token authenticated as, kept under
//! a SHA-256 of the token's bytes, so a token seen again skips decoding, the
//! signature and the claims.
//!
//! **Invariant:** an entry is served only while the token would still pass
//! verification: before its `exp` (checked at lookup against the caller's
//! clock, with no leeway; past `exp` the token is verified afresh, so the
//! leeway is applied exactly as without the cache), within the TTL, and,
//! for a JWKS provider, while the provider would verify it with the very
//! key it was verified with (a key that left its set, or a set beyond
//! `max_stale`, takes its entries with it).
//! **Invariant:** only successes are kept; custom strategies' verdicts never
//! are (a strategy may revoke an opaque key at any time). A token is looked
//! up by its digest alone, so two different tokens never share an entry.
//! **Invariant:** bounded by `[auth] verification_cache_max_bytes`, each
//! entry weighing an estimate of its memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lc_rs::digest;
use jsonwebtoken::Algorithm;
use moka::notification::RemovalCause;
use moka::sync::Cache;

use super::Authenticated;
use super::jwks::keyset::Key;

/// SHA-256 of the token's bytes.
pub(crate) type Digest = [u8; 32];

pub(crate) fn digest_of(token: &str) -> Digest {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The JWKS key a cached token was verified with.
pub(crate) struct JwksUse {
    /// Index of the provider in the pipeline's built-in providers.
    pub provider: usize,
    pub kid: Option<Arc<str>>,
    pub alg: Algorithm,
    pub key: Arc<Key>,
}

/// What decides how long a verified token may be served.
pub(crate) struct Validity {
    /// The token's `exp` and `nbf` (seconds since the epoch).
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub jwks: Option<JwksUse>,
}

pub(crate) struct Cached {
    pub auth: Authenticated,
    /// The token's `exp` (seconds since the epoch), if it has one.
    exp: Option<f64>,
    pub jwks: Option<JwksUse>,
    /// How long moka keeps it: the TTL, or less when `exp` comes first.
    lifetime: Duration,
    weight: u32,
}

/// What `/metrics` shows of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to stay under the byte bound (not expiry).
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct ByEntry;

impl moka::Expiry<Digest, Arc<Cached>> for ByEntry {
    fn expire_after_create(&self, _: &Digest, value: &Arc<Cached>, _: std::time::Instant) -> Option<Duration> {
        Some(value.lifetime)
    }
}

pub(crate) struct VerificationCache {
    entries: Cache<Digest, Arc<Cached>>,
    ttl: Duration,
    counters: Arc<Counters>,
}

impl VerificationCache {
    /// `None` when `max_bytes` is 0 (the cache is off).
    pub fn new(max_bytes: usize, ttl: Duration) -> Option<VerificationCache> {
        if max_bytes == 0 || ttl.is_zero() {
            return None;
        }
        let counters = Arc::new(Counters::default());
        let evictions = Arc::clone(&counters);
        let entries = Cache::builder()
            .max_capacity(max_bytes as u64)
            .weigher(|_: &Digest, v: &Arc<Cached>| v.weight)
            .expire_after(ByEntry)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Some(VerificationCache { entries, ttl, counters })
    }

    /// The entry for `digest` if it may be served at `now` (seconds since
    /// the epoch) and `current` says its JWKS key still is. An entry that
    /// may not is removed, and the lookup counts as a miss.
    pub fn get(&self, digest: &Digest, now: f64, current: impl FnOnce(&JwksUse) -> bool) -> Option<Arc<Cached>> {
        let hit = self.entries.get(digest);
        // Expired is expired, whatever moka's clock says.
        let servable =
            hit.as_ref().is_some_and(|c| c.exp.is_none_or(|exp| now < exp) && c.jwks.as_ref().is_none_or(current));
        if servable {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        if hit.is_some() {
            // It stops taking room; verification decides afresh.
            self.entries.invalidate(digest);
        }
        None
    }

    /// Keep a success verified at `now`. `exp` and `nbf` are the token's; a
    /// token not yet valid without the leeway, or valid for less than a
    /// second more, is not kept.
    pub fn insert(&self, digest: Digest, token_len: usize, auth: &Authenticated, validity: Validity, now: f64) {
        let Validity { exp, nbf, jwks } = validity;
        if nbf.is_some_and(|nbf| nbf > now) {
            return;
        }
        let lifetime = match exp {
            Some(exp) if exp - now < 1.0 => return,
            Some(exp) => self.ttl.min(Duration::from_secs_f64(exp - now)),
            None => self.ttl,
        };
        // The context is the decoded payload (about three quarters of the
        // token's length as JSON, more as a map of values), plus the entry.
        let weight = u32::try_from(token_len.saturating_mul(2).saturating_add(512)).unwrap_or(u32::MAX);
        let cached = Cached { auth: auth.clone(), exp, jwks, lifetime, weight };
        self.entries.insert(digest, Arc::new(cached));
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SecurityContext;

    const NOW: f64 = 1_800_000_000.0;

    fn auth() -> Authenticated {
        Authenticated::new(Arc::new(SecurityContext::empty()), Some("main".into()), None)
    }

    fn valid(exp: Option<f64>, nbf: Option<f64>, jwks: Option<JwksUse>) -> Validity {
        Validity { exp, nbf, jwks }
    }

    fn cache() -> VerificationCache {
        VerificationCache::new(1 << 20, Duration::from_secs(300)).expect("on")
    }

    #[test]
    fn an_entry_is_never_served_at_or_after_its_exp() {
        let c = cache();
        let d = digest_of("token");
        c.insert(d, 5, &auth(), valid(Some(NOW + 10.0), None, None), NOW);
        assert!(c.get(&d, NOW + 9.9, |_| true).is_some());
        assert!(c.get(&d, NOW + 10.0, |_| true).is_none());
        assert!(c.get(&d, NOW + 11.0, |_| true).is_none());
        assert_eq!((c.counts().hits, c.counts().misses), (1, 2));
    }

    #[test]
    fn tokens_valid_for_under_a_second_or_not_yet_valid_are_not_kept() {
        let c = cache();
        let (a, b) = (digest_of("a"), digest_of("b"));
        c.insert(a, 1, &auth(), valid(Some(NOW + 0.5), None, None), NOW);
        c.insert(b, 1, &auth(), valid(Some(NOW + 100.0), Some(NOW + 1.0), None), NOW);
        assert!(c.get(&a, NOW, |_| true).is_none());
        assert!(c.get(&b, NOW + 2.0, |_| true).is_none());
    }

    #[test]
    fn a_jwks_entry_is_served_only_while_its_key_is_current() {
        let c = cache();
        let d = digest_of("t");
        let jwk = crate::auth::jwks::keyset::tests::fixture_jwk("rsa_private.pem", Algorithm::RS256, "k");
        let key = Arc::new(crate::auth::jwks::keyset::key_from_jwk(&jwk).expect("key"));
        let jwks = JwksUse { provider: 0, kid: Some("k".into()), alg: Algorithm::RS256, key };
        c.insert(d, 1, &auth(), valid(Some(NOW + 100.0), None, Some(jwks)), NOW);
        assert!(c.get(&d, NOW, |_| true).is_some());
        assert!(c.get(&d, NOW, |_| false).is_none());
    }

    #[test]
    fn zero_bytes_turns_the_cache_off() {
        assert!(VerificationCache::new(0, Duration::from_secs(1)).is_none());
    }

    #[test]
    fn different_tokens_have_different_digests() {
        assert_ne!(digest_of("a.b.c"), digest_of("a.b.d"));
        assert_eq!(digest_of("a.b.c"), digest_of("a.b.c"));
    }
}
