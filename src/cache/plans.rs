//! The plan cache: what a caller's queries plan to (`query::plan`: the
//! policies judged, the SQL rendered, the settings), kept under the exact
//! bytes of the caller's security context and of the prepared queries, so a
//! repeated request skips parsing, every policy step and rendering.
//!
//! `query::plan` is a pure function of the model, the configuration (both
//! fixed for the app's life), the security context and the queries as
//! `cube_api` prepared them (relative date ranges already made absolute at
//! the request's "now"); no data and no clock. So a kept plan is the plan
//! that would be made again.
//!
//! **Invariant:** the key is the whole context's JSON and the whole
//! queries' JSON, byte for byte, never a digest of them: two callers whose
//! contexts differ in any claim never share a plan. Only plans are kept,
//! never refusals (they are recomputed, and cheap).
//! **Invariant:** bounded by `[cache] plan_max_bytes` (0: off), each entry
//! weighing its key and an estimate of its plan.

use std::sync::Arc;

use moka::notification::RemovalCause;
use moka::sync::Cache;
use serde_json::Value;

use super::{Snapshot, Stats};
use crate::query::Plan;

/// What a plan holds beyond its SQL text, roughly: the parsed query, the
/// judged policies, the settings and moka's own node.
const PLAN_OVERHEAD: usize = 4096;

pub struct PlanCache {
    plans: Cache<Box<[u8]>, Arc<Plan>>,
    stats: Arc<Stats>,
}

impl PlanCache {
    /// `None` when `max_bytes` is 0.
    pub fn new(max_bytes: usize) -> Option<PlanCache> {
        if max_bytes == 0 {
            return None;
        }
        let stats = Arc::new(Stats::default());
        let counted = Arc::clone(&stats);
        let plans = Cache::builder()
            .max_capacity(max_bytes as u64)
            .weigher(weigh)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    counted.evicted();
                }
            })
            .build();
        Some(PlanCache { plans, stats })
    }

    /// The key of `queries` planned for the context whose JSON is
    /// `context`: the context's length, the context, the queries' JSON.
    pub fn key(context: &[u8], queries: &[Value]) -> Box<[u8]> {
        let mut key = Vec::with_capacity(8 + context.len() + 256);
        key.extend_from_slice(&(context.len() as u64).to_le_bytes());
        key.extend_from_slice(context);
        // A list of JSON values always serializes.
        let _ = serde_json::to_writer(&mut key, queries);
        key.into_boxed_slice()
    }

    /// The kept plan for `key`, or `make`'s (kept when it succeeds).
    pub fn get_or_plan<E>(&self, key: Box<[u8]>, make: impl FnOnce() -> Result<Plan, E>) -> Result<Arc<Plan>, E> {
        if let Some(plan) = self.plans.get(&key) {
            self.stats.hit();
            return Ok(plan);
        }
        self.stats.miss();
        let plan = Arc::new(make()?);
        self.plans.insert(key, Arc::clone(&plan));
        Ok(plan)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.plans.run_pending_tasks();
        self.stats.snapshot(self.plans.entry_count(), self.plans.weighted_size())
    }
}

/// moka's weigher: the key and an estimate of the plan.
#[allow(clippy::borrowed_box)] // moka hands the key as it is stored
fn weigh(key: &Box<[u8]>, plan: &Arc<Plan>) -> u32 {
    u32::try_from(key.len() + weight(plan)).unwrap_or(u32::MAX)
}

fn weight(plan: &Plan) -> usize {
    let sql: usize = plan
        .queries
        .iter()
        .map(|p| p.rendered.sql.len() + p.rendered.total_sql.len() + 64 * p.rendered.params.len() + PLAN_OVERHEAD)
        .sum();
    sql + PLAN_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contexts_that_differ_in_any_byte_have_different_keys() {
        let q = [json!({"measures": ["Orders.count"]})];
        let a = PlanCache::key(br#"{"tenant_id":"acme"}"#, &q);
        let b = PlanCache::key(br#"{"tenant_id":"acmf"}"#, &q);
        assert_ne!(a, b);
        assert_eq!(a, PlanCache::key(br#"{"tenant_id":"acme"}"#, &q));
        // The context's length leads, so no context/query split collides:
        // `{"a":1}` + `[...]` and `{"a":1}[` + `...]` are different keys.
        let split = PlanCache::key(br#"{"a":1}"#, &[json!(1)]);
        let shifted = PlanCache::key(br#"{"a":1}["#, &[]);
        assert_ne!(split, shifted);
        assert_ne!(PlanCache::key(b"{}", &[json!({"limit": 1})]), PlanCache::key(b"{}", &[json!({"limit": 1.0})]));
    }

    #[test]
    fn zero_bytes_is_off() {
        assert!(PlanCache::new(0).is_none());
        assert!(PlanCache::new(1 << 20).is_some());
    }
}
