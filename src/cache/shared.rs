//! The shared layer behind the in-memory cache: Redis, so replicas serve
//! each other's results (`[cache] backend = "redis"`).
//!
//! Client: the `redis` crate (redis-rs, the maintained Rust client), built
//! with only `tokio-comp` and `connection-manager`: no TLS, cluster,
//! scripting or JSON modules. Its `ConnectionManager` connects lazily and
//! reconnects by itself, which is what a cache that must outlive Redis
//! restarts needs; hand-written RESP would save the dependency but not the
//! reconnection and protocol edge cases.
//!
//! **Invariant:** Redis is an optimisation, never a dependency of a
//! request: every command has a short deadline, a failure is logged (one
//! warning per outage, not per request) and then Redis is skipped for
//! [`RETRY_AFTER`], while the in-memory layer and the database keep
//! answering. Writes go out on their own task, off the response's path.
//! **Invariant:** an entry read from Redis is served only while its own TTL
//! runs (`computed_at + ttl`, the writer's), so a replica never extends a
//! result's life.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Bytes;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use super::{Key, Stored, now_ms};
use crate::config::Secret;

/// A command's deadline, connecting included: a Redis on the same network
/// answers in well under a millisecond, and a miss costs the database
/// anyway.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failure Redis is left alone this long (the in-memory layer
/// serves), so an outage costs one timeout per interval, not one per
/// request.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The stored value's layout version (see [`encode`]).
const LAYOUT: u8 = 1;

pub struct Shared {
    redis: ConnectionManager,
    /// Set after a failure: Redis is skipped until then.
    down_until: Mutex<Option<Instant>>,
    /// Whether the current outage has been logged.
    warned: AtomicBool,
}

impl Shared {
    /// A lazy connection: nothing is dialled until the first command, so a
    /// Redis that is down at startup does not stop the server. Must run
    /// inside a Tokio runtime (the manager owns a task).
    pub fn new(url: &Secret) -> Result<Shared, String> {
        let url = std::str::from_utf8(url.expose()).map_err(|_| "url: not UTF-8".to_string())?;
        // The client's errors can quote the URL, password included: ours
        // name the key only.
        let client = redis::Client::open(url).map_err(|_| "url: not a valid redis:// URL".to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("redis: cannot set up the connection: {:?}", e.kind()))?;
        Ok(Shared { redis, down_until: Mutex::new(None), warned: AtomicBool::new(false) })
    }

    /// The entry under `key`, if Redis has one still within its TTL.
    pub async fn get(&self, key: &Key) -> Option<Stored> {
        if self.skipping() {
            return None;
        }
        let mut conn = self.redis.clone();
        let got: Result<Option<Vec<u8>>, _> = tokio::time::timeout(COMMAND_TIMEOUT, conn.get(name(key)))
            .await
            .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out"))));
        match got {
            Ok(value) => {
                self.up();
                value.and_then(|v| decode(&v))
            }
            Err(e) => {
                self.down(&e);
                None
            }
        }
    }

    /// Store `value` under `key` for what is left of its TTL, on its own
    /// task: the response does not wait for Redis.
    pub fn put(self: &std::sync::Arc<Self>, key: &Key, value: &Stored) {
        let Some(left) = remaining(value) else { return };
        if self.skipping() {
            return;
        }
        let (this, name, bytes) = (std::sync::Arc::clone(self), name(key), encode(value));
        let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        tokio::spawn(async move {
            let mut conn = this.redis.clone();
            let set = tokio::time::timeout(COMMAND_TIMEOUT, conn.pset_ex::<_, _, ()>(name, bytes, millis)).await;
            match set {
                Ok(Ok(())) => this.up(),
                Ok(Err(e)) => this.down(&e),
                Err(_) => this.down(&redis::RedisError::from((redis::ErrorKind::Io, "timed out"))),
            }
        });
    }

    fn skipping(&self) -> bool {
        let mut until = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn down(&self, e: &redis::RedisError) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + RETRY_AFTER);
        if !self.warned.swap(true, Ordering::Relaxed) {
            // The error's kind and text, never the URL.
            tracing::warn!(error = %crate::telemetry::bounded(&e.to_string()), retry_after_secs = RETRY_AFTER.as_secs(), "redis cache unavailable; serving from memory");
        }
    }

    fn up(&self) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!("redis cache reachable again");
        }
    }
}

fn name(key: &Key) -> String {
    format!("tenantgate:result:{}", key.hex())
}

/// What is left of `value`'s TTL now, by the wall clock (the one clock two
/// replicas share); `None` once it has run out.
fn remaining(value: &Stored) -> Option<Duration> {
    let age = Duration::from_millis(u64::try_from(now_ms() - value.computed_at_ms).unwrap_or(0));
    value.ttl.checked_sub(age).filter(|d| !d.is_zero())
}

/// `LAYOUT`, `computed_at_ms`, `rows`, `ttl` in milliseconds, then the bytes.
fn encode(value: &Stored) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.bytes.len() + 25);
    out.push(LAYOUT);
    out.extend_from_slice(&value.computed_at_ms.to_le_bytes());
    out.extend_from_slice(&(value.rows as u64).to_le_bytes());
    out.extend_from_slice(&u64::try_from(value.ttl.as_millis()).unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(&value.bytes);
    out
}

/// [`encode`]'s inverse, the TTL cut to what is left of it; `None` for
/// anything else (another layout, a truncated value, an expired entry).
fn decode(raw: &[u8]) -> Option<Stored> {
    let (&layout, rest) = raw.split_first()?;
    if layout != LAYOUT || rest.len() < 24 {
        return None;
    }
    let word = |i: usize| rest.get(i * 8..i * 8 + 8).and_then(|b| <[u8; 8]>::try_from(b).ok());
    let computed_at_ms = i64::from_le_bytes(word(0)?);
    let rows = usize::try_from(u64::from_le_bytes(word(1)?)).ok()?;
    let ttl = Duration::from_millis(u64::from_le_bytes(word(2)?));
    let mut value = Stored { bytes: Bytes::copy_from_slice(&rest[24..]), rows, computed_at_ms, ttl };
    value.ttl = remaining(&value)?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_with_what_is_left_of_its_ttl() {
        let mut v = Stored::new(b"[{\"a\":1}]".to_vec(), 1);
        v.ttl = Duration::from_secs(60);
        let back = decode(&encode(&v)).expect("decodes");
        assert_eq!((back.bytes.clone(), back.rows, back.computed_at_ms), (v.bytes.clone(), 1, v.computed_at_ms));
        assert!(back.ttl <= Duration::from_secs(60) && back.ttl > Duration::from_secs(50));
    }

    #[test]
    fn expired_truncated_or_foreign_values_are_misses() {
        let mut v = Stored::new(b"[]".to_vec(), 0);
        v.ttl = Duration::from_secs(1);
        v.computed_at_ms -= 5_000;
        assert_eq!(decode(&encode(&v)), None, "expired");
        v.computed_at_ms += 5_000;
        let raw = encode(&v);
        assert_eq!(decode(&raw[..10]), None, "truncated");
        let mut other = raw.clone();
        other[0] = 9;
        assert_eq!(decode(&other), None, "another layout");
        assert!(decode(&raw).is_some());
    }
}
