//! The result cache: a statement's result, kept by everything that decides
//! its rows, between `server::cube_api` and `db`.
//!
//! A key is a SHA-256 ([`key`]) over: the model version (every model file),
//! the route (default or the tenant's own database) and the data source's
//! identity, the transaction settings (a tenant schema's `search_path`,
//! `[database.session]`, so row-level-security values), the SQL text, every
//! bound parameter with its type, the shape of the stored bytes (column
//! keys, row cap), and for a cube with a `sql` refresh key that key's
//! current value. Never the query JSON: two tenants asking the same JSON
//! bind different values, so they never meet.
//!
//! **Invariant:** a cached value is served only for a key built from the
//! same route, settings, SQL and parameters; a request's security context
//! reaches the key only through those.
//! **Invariant:** a failed statement is never cached; identical statements
//! in flight at once run once (moka's entry API coalesces them), and every
//! waiter gets the same result or error.
//! Time is moka's own clock (`std::time::Instant`), so expiry is tested
//! over sockets with short TTLs rather than with paused Tokio time.
//!
//! [`PlanCache`] (`plans.rs`) is the other cache here: plans, not rows.

pub mod key;
mod plans;
pub mod refresh_key;
mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;

use crate::config::{CacheBackend, Config};
use crate::db::{DataSource, DbError, Route};
use crate::query::SqlValue;
pub use key::{Key, KeyBuilder};
pub use plans::PlanCache;
pub use refresh_key::RefreshKey;

/// Bumped when the stored bytes change meaning, so entries written by an
/// older build (in a shared store) are never read by a newer one.
const FORMAT: &str = concat!("tenantgate result cache 1 ", env!("CARGO_PKG_VERSION"));

/// An entry's bookkeeping beyond its bytes, for the weigher: the key, the
/// `Arc` and moka's own node, roughly.
const ENTRY_OVERHEAD: usize = 128;

/// How long a result keyed by a `sql` refresh key's value may be served:
/// until the value changes, bounded so an entry nobody evicts still goes.
const SQL_KEYED_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Refresh-key values held at once (one per cube, route and settings).
const MAX_REFRESH_VALUES: u64 = 10_000;

/// A computed result: its bytes, its row count (the request's cell budget
/// counts it), and when it was computed (`lastRefreshTime`).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub bytes: Bytes,
    pub rows: usize,
    pub computed_at_ms: i64,
    ttl: Duration,
}

impl Stored {
    /// A result computed now.
    pub fn new(bytes: impl Into<Bytes>, rows: usize) -> Stored {
        Stored { bytes: bytes.into(), rows, computed_at_ms: now_ms(), ttl: Duration::ZERO }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// One statement as the data source will run it.
pub struct Statement<'a> {
    pub route: Route<'a>,
    pub sql: &'a str,
    pub params: &'a [SqlValue],
    pub settings: &'a [(String, String)],
    /// Whatever else shapes the stored bytes: the column keys written into
    /// `data`, the row and byte caps it was computed with.
    pub shape: &'a [u8],
}

/// A value from [`ResultCache::get_or_compute`].
#[derive(Debug, Clone)]
pub struct Fetched {
    pub stored: Arc<Stored>,
    /// Served from the cache rather than computed for this request.
    pub hit: bool,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// What `/metrics` shows of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to stay under the byte bound (not expiry).
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
}

impl Stats {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn evicted(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, entries: u64, bytes: u64) -> Snapshot {
        Snapshot {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}

/// Each entry lives for its own TTL, from its creation or replacement.
struct ByEntry;

impl Expiry<Key, Arc<Stored>> for ByEntry {
    fn expire_after_create(&self, _: &Key, value: &Arc<Stored>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(&self, _: &Key, value: &Arc<Stored>, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The result cache, built once from `[cache]` and the model files.
pub struct ResultCache {
    results: Cache<Key, Arc<Stored>>,
    /// Current values of `sql` refresh keys.
    refresh_values: Cache<Key, Arc<Stored>>,
    model_version: [u8; 32],
    refresh_keys: HashMap<String, RefreshKey>,
    ttl: Duration,
    stats: Arc<Stats>,
    /// `backend = "redis"`: consulted on a memory miss, written after a
    /// computation.
    shared: Option<Arc<shared::Shared>>,
}

impl ResultCache {
    /// From `[cache]` and the model folder (its version, and the cubes'
    /// refresh keys); every refresh-key error is returned. With Redis,
    /// must run inside a Tokio runtime; nothing is dialled yet.
    pub fn new(config: &Config) -> Result<ResultCache, Vec<String>> {
        let c = &config.cache;
        let shared = match &c.backend {
            CacheBackend::Memory => None,
            CacheBackend::Redis { url } => Some(Arc::new(shared::Shared::new(url).map_err(|e| vec![e])?)),
        };
        let files = refresh_key::read_model(&config.model.path, c.refresh_key_check)?;
        let stats = Arc::new(Stats::default());
        let counted = Arc::clone(&stats);
        let results = Cache::builder()
            .max_capacity(c.max_bytes as u64)
            .weigher(|_: &Key, v: &Arc<Stored>| u32::try_from(v.bytes.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX))
            .expire_after(ByEntry)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    counted.evicted();
                }
            })
            .build();
        let refresh_values = Cache::builder().max_capacity(MAX_REFRESH_VALUES).expire_after(ByEntry).build();
        Ok(ResultCache {
            results,
            refresh_values,
            model_version: files.version,
            refresh_keys: files.refresh_keys,
            ttl: c.ttl,
            stats,
            shared,
        })
    }

    /// The refresh key of `cube`'s results (`None`: `[cache] ttl`).
    pub fn refresh_key(&self, cube: &str) -> Option<&RefreshKey> {
        self.refresh_keys.get(cube)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.stats.snapshot(self.results.entry_count(), self.results.weighted_size())
    }

    /// The cached result of `stmt` on `source`, or `compute`'s, stored.
    /// `renew` (Cube.js's `renewQuery`) computes afresh, the refresh key's
    /// value too, and replaces the entry. `cube` picks the refresh key.
    pub async fn get_or_compute<E>(
        &self,
        source: &DataSource,
        stmt: &Statement<'_>,
        cube: &str,
        renew: bool,
        compute: impl Future<Output = Result<Stored, E>>,
    ) -> Result<Fetched, E>
    where
        E: From<DbError> + Clone + Send + Sync + 'static,
    {
        let (refresh_value, ttl) = match self.refresh_keys.get(cube) {
            None => (None, self.ttl),
            Some(RefreshKey::Every(every)) => (None, *every),
            Some(RefreshKey::Sql { sql, check }) => {
                (Some(self.refresh_value(source, stmt, sql, *check, renew).await?), SQL_KEYED_MAX_AGE)
            }
        };
        let key = self.key(source, stmt, refresh_value.as_deref());
        let stamp = |mut s: Stored| {
            s.ttl = ttl;
            Arc::new(s)
        };
        if renew {
            self.stats.miss();
            let stored = stamp(compute.await?);
            if let Some(shared) = &self.shared {
                shared.put(&key, &stored);
            }
            self.results.insert(key, Arc::clone(&stored)).await;
            self.results.run_pending_tasks().await;
            return Ok(Fetched { stored, hit: false });
        }
        // Whether this call's fill came from Redis rather than the database.
        let from_shared = AtomicBool::new(false);
        let entry = self
            .results
            .entry(key)
            .or_try_insert_with(async {
                if let Some(shared) = &self.shared
                    && let Some(found) = shared.get(&key).await
                {
                    from_shared.store(true, Ordering::Relaxed);
                    return Ok(Arc::new(found));
                }
                // Counted here, so a computation that fails is a miss too.
                self.stats.miss();
                let stored = compute.await.map(stamp)?;
                if let Some(shared) = &self.shared {
                    shared.put(&key, &stored);
                }
                Ok::<_, E>(stored)
            })
            .await
            .map_err(|e| (*e).clone())?;
        let hit = !entry.is_fresh() || from_shared.load(Ordering::Relaxed);
        if hit {
            self.stats.hit();
        } else {
            // Evict now, not at moka's next housekeeping, so the byte bound
            // holds as soon as the new entry is in.
            self.results.run_pending_tasks().await;
        }
        Ok(Fetched { stored: entry.into_value(), hit })
    }

    fn key(&self, source: &DataSource, stmt: &Statement<'_>, refresh_value: Option<&[u8]>) -> Key {
        let mut b = KeyBuilder::new(FORMAT);
        b.bytes(1, &self.model_version);
        route(&mut b, source, stmt);
        b.str(5, stmt.sql).params(6, stmt.params).bytes(7, stmt.shape);
        if let Some(v) = refresh_value {
            b.bytes(8, v);
        }
        b.finish()
    }

    /// A `sql` refresh key's current value on the statement's route and
    /// settings, run at most once per `check` (single flight, like results).
    async fn refresh_value<E>(
        &self,
        source: &DataSource,
        stmt: &Statement<'_>,
        sql: &str,
        check: Duration,
        renew: bool,
    ) -> Result<Bytes, E>
    where
        E: From<DbError> + Clone + Send + Sync + 'static,
    {
        let mut b = KeyBuilder::new(concat!("tenantgate refresh key 1 ", env!("CARGO_PKG_VERSION")));
        route(&mut b, source, stmt);
        b.str(5, sql);
        let key = b.finish();
        let run = async {
            let rows = source.query(sql, &[], stmt.settings, 1).await.map_err(E::from)?;
            // Debug of cells is exact (type and value), which is all a
            // comparison needs.
            let mut s = Stored::new(format!("{:?}", rows.rows).into_bytes(), rows.rows.len());
            s.ttl = check;
            Ok::<_, E>(Arc::new(s))
        };
        if renew {
            let v = run.await?;
            self.refresh_values.insert(key, Arc::clone(&v)).await;
            return Ok(v.bytes.clone());
        }
        let entry = self.refresh_values.entry(key).or_try_insert_with(run).await.map_err(|e| (*e).clone())?;
        Ok(entry.value().bytes.clone())
    }
}

/// The route, the source it names and the transaction settings.
fn route(b: &mut KeyBuilder, source: &DataSource, stmt: &Statement<'_>) {
    match stmt.route {
        Route::Default => b.str(2, "default"),
        Route::Tenant(id) => b.str(2, "tenant").str(2, id),
    };
    b.str(3, source.identity()).pairs(4, stmt.settings);
}
