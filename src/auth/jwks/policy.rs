//! The key cache's policy as a pure state machine: every decision takes
//! `now`, so its timing is tested with synthetic instants (moka's clock
//! cannot be paused, and tokio's paused time races real sockets).
//!
//! **Invariant:** a response that is not a valid, non-empty key set never
//! replaces a good one (`record_failure` keeps it).
//! **Invariant:** after any fetch, good or failed, no other fetch for an
//! unknown kid starts within `refetch_cooldown`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use tokio::time::Instant;

use super::keyset::{Key, KeySet};
use crate::auth::AuthError;
use crate::config::KeyCacheConfig;

/// What to do with a token's kid right now.
pub enum Decision {
    /// Verify with this key.
    Use(Arc<Key>),
    /// Fetch the set (single-flight), then decide again with fetching
    /// disallowed.
    Fetch,
    /// Answer at once.
    Refuse(AuthError),
}

/// The last good set and when it arrived.
struct Good {
    set: Arc<KeySet>,
    fetched_at: Instant,
    ttl: Duration,
}

/// The cache state of one provider.
pub struct State {
    cfg: KeyCacheConfig,
    good: Option<Good>,
    /// When the last fetch finished, and whether it produced a good set.
    last_attempt: Option<(Instant, bool)>,
    negative: NegativeCache,
}

impl State {
    pub fn new(cfg: KeyCacheConfig) -> State {
        let negative = NegativeCache::new(cfg.negative_cache_size, cfg.ttl_min);
        State { cfg, good: None, last_attempt: None, negative }
    }

    /// The TTL for a set served with `max_age` (from `Cache-Control`),
    /// clamped to `[ttl_min, ttl_max]`; `ttl_default` when absent.
    pub fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.cfg.ttl_default, |a| a.clamp(self.cfg.ttl_min, self.cfg.ttl_max))
    }

    pub fn record_success(&mut self, set: Arc<KeySet>, max_age: Option<Duration>, now: Instant) {
        let ttl = self.ttl(max_age);
        self.good = Some(Good { set, fetched_at: now, ttl });
        self.last_attempt = Some((now, true));
    }

    /// A failed fetch keeps the last good set and starts the cooldown.
    pub fn record_failure(&mut self, now: Instant) {
        self.last_attempt = Some((now, false));
    }

    pub fn has_loaded(&self) -> bool {
        self.good.is_some()
    }

    /// When the background task should fetch next: at `refresh_at` of the
    /// TTL after a good fetch; after a failure (or before any set), once the
    /// cooldown has passed.
    pub fn next_refresh(&self, now: Instant) -> Instant {
        match (&self.good, self.last_attempt) {
            (Some(g), Some((_, true))) => g.fetched_at + g.ttl.mul_f64(self.cfg.refresh_at),
            (_, Some((at, false))) => at + self.cfg.refetch_cooldown,
            (_, _) => now,
        }
    }

    fn in_cooldown(&self, now: Instant) -> bool {
        self.last_attempt.is_some_and(|(at, _)| now.saturating_duration_since(at) < self.cfg.refetch_cooldown)
    }

    /// The key a token with `kid` and `alg` would be verified with right
    /// now, from the set in hand alone: no fetch, no negative entry, no
    /// state change. The verification cache asks this before serving an
    /// entry, so a key that left the set (or a set beyond `max_stale`)
    /// takes its cached tokens with it.
    pub fn current(&self, kid: Option<&str>, alg: Algorithm, now: Instant) -> Option<Arc<Key>> {
        let good = self.good.as_ref()?;
        if now.saturating_duration_since(good.fetched_at) > self.cfg.max_stale {
            return None;
        }
        match select(&good.set, kid, alg) {
            Selection::Key(k) => Some(k),
            Selection::Missing | Selection::Refuse(_) => None,
        }
    }

    /// Decide for a token with `kid` (or none) and `alg`. `allow_fetch` is
    /// false right after this request waited for a fetch.
    pub fn decide(&mut self, kid: Option<&str>, alg: Algorithm, now: Instant, allow_fetch: bool) -> Decision {
        if let Some(good) = &self.good {
            let age = now.saturating_duration_since(good.fetched_at);
            if age > self.cfg.max_stale {
                return Decision::Refuse(AuthError::JwksUnavailable(format!(
                    "the newest key set is {}s old, beyond max_stale ({}s)",
                    age.as_secs(),
                    self.cfg.max_stale.as_secs()
                )));
            }
            match select(&good.set, kid, alg) {
                Selection::Key(k) => return Decision::Use(k),
                Selection::Refuse(e) => return Decision::Refuse(e),
                Selection::Missing => {}
            }
        }
        let negative = kid.is_some_and(|k| self.negative.contains(k, now));
        if allow_fetch && !negative && !self.in_cooldown(now) {
            return Decision::Fetch;
        }
        match self.last_attempt {
            Some((_, false)) => Decision::Refuse(AuthError::JwksUnavailable(
                "the key set could not be fetched and the token's key is not cached".into(),
            )),
            Some((_, true)) => {
                if let Some(k) = kid {
                    self.negative.insert(k, now);
                }
                Decision::Refuse(unknown(kid))
            }
            None => Decision::Refuse(AuthError::JwksUnavailable("no key set has been fetched yet".into())),
        }
    }
}

fn unknown(kid: Option<&str>) -> AuthError {
    match kid {
        Some(k) => AuthError::UnknownKid(format!(
            "no key with kid {} in the provider's key set",
            crate::auth::token::quoted(k)
        )),
        None => AuthError::UnknownKid("the token has no kid and no key of the provider's set fits it".into()),
    }
}

enum Selection {
    Key(Arc<Key>),
    Missing,
    Refuse(AuthError),
}

/// The key for a token. A JWK's `alg`, when present, must equal the
/// token's; the key type and curve must fit. A token without kid is
/// accepted only when exactly one key fits.
fn select(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Selection {
    match kid {
        Some(kid) => match set.get(kid) {
            Some(key) if key.accepts(alg) => Selection::Key(key.clone()),
            Some(key) => Selection::Refuse(AuthError::AlgorithmNotAllowed(format!(
                "the key {} is a {:?} key{} and cannot verify {alg:?}",
                crate::auth::token::quoted(kid),
                key.kind,
                key.alg.map(|a| format!(" for {a:?}")).unwrap_or_default()
            ))),
            None => Selection::Missing,
        },
        None => {
            let candidates = set.candidates(alg);
            match candidates.as_slice() {
                [only] => Selection::Key((*only).clone()),
                [] => Selection::Missing,
                many => Selection::Refuse(AuthError::UnknownKid(format!(
                    "the token has no kid and {} keys of the provider's set fit it",
                    many.len()
                ))),
            }
        }
    }
}

/// Kids that were missing right after a good fetch: answered `unknown_kid`
/// without another fetch for `ttl`, so a flood of one bogus kid cannot make
/// the endpoint refetch every cooldown. Bounded; the oldest entry goes first.
struct NegativeCache {
    capacity: usize,
    ttl: Duration,
    entries: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl NegativeCache {
    fn new(capacity: usize, ttl: Duration) -> Self {
        NegativeCache { capacity, ttl, entries: HashMap::new(), order: VecDeque::new() }
    }

    fn contains(&self, kid: &str, now: Instant) -> bool {
        self.entries.get(kid).is_some_and(|at| now.saturating_duration_since(*at) < self.ttl)
    }

    fn insert(&mut self, kid: &str, now: Instant) {
        // An entry is not refreshed while it lives: a kid asked for again
        // and again still gets a refetch once its entry expires.
        if self.capacity == 0 || self.contains(kid, now) {
            return;
        }
        if self.entries.insert(kid.to_string(), now).is_none() {
            self.order.push_back(kid.to_string());
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwks::keyset::{self, tests::fixture_jwk};
    use serde_json::json;

    fn cfg() -> KeyCacheConfig {
        KeyCacheConfig {
            ttl_default: Duration::from_secs(600),
            ttl_min: Duration::from_secs(60),
            ttl_max: Duration::from_secs(86_400),
            refresh_at: 0.8,
            refetch_cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
            negative_cache_size: 2,
            ..KeyCacheConfig::default()
        }
    }

    fn set(kids: &[&str]) -> Arc<KeySet> {
        let files = ["rsa_private.pem", "rsa2_private.pem"];
        let keys: Vec<_> =
            kids.iter().zip(files.iter().cycle()).map(|(k, f)| fixture_jwk(f, Algorithm::RS256, k)).collect();
        Arc::new(keyset::parse(json!({ "keys": keys }).to_string().as_bytes(), 100).expect("set").0)
    }

    fn code(d: Decision) -> &'static str {
        match d {
            Decision::Use(_) => "use",
            Decision::Fetch => "fetch",
            Decision::Refuse(e) => e.code(),
        }
    }

    const RS: Algorithm = Algorithm::RS256;

    #[test]
    fn ttl_comes_from_max_age_clamped_or_the_default() {
        let s = State::new(cfg());
        assert_eq!(s.ttl(None), Duration::from_secs(600));
        assert_eq!(s.ttl(Some(Duration::from_secs(5))), Duration::from_secs(60));
        assert_eq!(s.ttl(Some(Duration::from_secs(7200))), Duration::from_secs(7200));
        assert_eq!(s.ttl(Some(Duration::from_secs(999_999))), Duration::from_secs(86_400));
    }

    #[test]
    fn a_cold_cache_fetches_then_answers_from_the_set() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        assert_eq!(code(s.decide(Some("a"), RS, t0, true)), "fetch");
        s.record_success(set(&["a"]), None, t0);
        assert_eq!(code(s.decide(Some("a"), RS, t0, true)), "use");
        assert_eq!(code(s.decide(Some("a"), Algorithm::ES256, t0, true)), "algorithm_not_allowed");
    }

    #[test]
    fn an_unknown_kid_refetches_once_then_waits_out_the_cooldown() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(code(s.decide(Some("new"), RS, t1, true)), "fetch");
        // The refetch found nothing new: answered at once, no second fetch.
        s.record_success(set(&["a"]), None, t1);
        assert_eq!(code(s.decide(Some("new"), RS, t1, false)), "unknown_kid");
        for i in 0..1000 {
            let kid = format!("random-{i}");
            assert_eq!(code(s.decide(Some(&kid), RS, t1 + Duration::from_secs(10), true)), "unknown_kid");
        }
        // After the cooldown another unknown kid may fetch again.
        assert_eq!(code(s.decide(Some("newer"), RS, t1 + Duration::from_secs(31), true)), "fetch");
    }

    #[test]
    fn a_kid_that_was_just_missing_is_not_refetched_until_its_negative_entry_expires() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        assert_eq!(code(s.decide(Some("bogus"), RS, t0, false)), "unknown_kid");
        let after_cooldown = t0 + Duration::from_secs(40);
        assert_eq!(code(s.decide(Some("bogus"), RS, after_cooldown, true)), "unknown_kid");
        assert_eq!(code(s.decide(Some("bogus"), RS, t0 + Duration::from_secs(61), true)), "fetch");
    }

    #[test]
    fn a_failed_fetch_keeps_known_kids_working_and_answers_unknown_ones_with_503() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        let t1 = t0 + Duration::from_secs(600);
        s.record_failure(t1);
        assert_eq!(code(s.decide(Some("a"), RS, t1, true)), "use");
        assert_eq!(code(s.decide(Some("b"), RS, t1, true)), "jwks_unavailable");
        assert_eq!(s.next_refresh(t1), t1 + Duration::from_secs(30), "retry after the cooldown");
    }

    #[test]
    fn a_set_older_than_max_stale_answers_503_for_every_kid() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        s.record_failure(t0 + Duration::from_secs(3000));
        assert_eq!(code(s.decide(Some("a"), RS, t0 + Duration::from_secs(3600), true)), "use");
        assert_eq!(code(s.decide(Some("a"), RS, t0 + Duration::from_secs(3601), true)), "jwks_unavailable");
    }

    #[test]
    fn refresh_runs_at_the_configured_fraction_of_the_ttl() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        assert_eq!(s.next_refresh(t0), t0, "prefetch at once");
        s.record_success(set(&["a"]), Some(Duration::from_secs(1000)), t0);
        assert_eq!(s.next_refresh(t0), t0 + Duration::from_secs(800));
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_fitting_key() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        assert_eq!(code(s.decide(None, RS, t0, true)), "use");
        s.record_success(set(&["a", "b"]), None, t0);
        assert_eq!(code(s.decide(None, RS, t0, true)), "unknown_kid");
    }

    #[test]
    fn current_answers_from_the_set_in_hand_only_and_never_beyond_max_stale() {
        let mut s = State::new(cfg());
        let t0 = Instant::now();
        assert!(s.current(Some("a"), Algorithm::RS256, t0).is_none(), "no set yet");
        s.record_success(set(&["a"]), None, t0);
        let a = s.current(Some("a"), Algorithm::RS256, t0).expect("a is in the set");
        assert!(s.current(Some("b"), Algorithm::RS256, t0).is_none());
        assert!(s.current(Some("a"), Algorithm::ES256, t0).is_none(), "the key cannot verify ES256");
        // A refetched set replaces the key, even under the same kid.
        s.record_success(set(&["a"]), None, t0);
        let again = s.current(Some("a"), Algorithm::RS256, t0).expect("a is in the new set");
        assert!(!Arc::ptr_eq(&a, &again));
        let stale = t0 + cfg().max_stale + Duration::from_secs(1);
        assert!(s.current(Some("a"), Algorithm::RS256, stale).is_none());
    }

    #[test]
    fn the_negative_cache_is_bounded() {
        let t0 = Instant::now();
        let mut s = State::new(cfg());
        s.record_success(set(&["a"]), None, t0);
        for kid in ["x", "y", "z"] {
            s.decide(Some(kid), RS, t0, false);
        }
        let later = t0 + Duration::from_secs(31);
        // Capacity 2: "x" was evicted, so it may fetch again; "z" may not.
        assert_eq!(code(s.decide(Some("x"), RS, later, true)), "fetch");
        assert_eq!(code(s.decide(Some("z"), RS, later, true)), "unknown_kid");
    }
}
