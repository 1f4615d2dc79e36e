//! Prometheus metrics at `GET /metrics` (no token, like `/livez`): requests by
//! status, code and provider, so "why are requests refused?" is one query.
//! Labels come only from our own closed sets (codes, provider names from
//! configuration), never from a client, so their number is bounded.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::Snapshot;

/// Latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    connections: Connections,
}

/// Connection counters, plain atomics: they move on every accept, so no lock.
#[derive(Default)]
pub struct Connections {
    open: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

/// Counts a connection as open until dropped.
pub struct OpenConnection<'a>(&'a Connections);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    pub fn opened(&self) -> OpenConnection<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    /// A connection closed on accept because `max_connections` were open.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed at the handshake deadline, before any request.
    pub fn timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }
}

/// (status, code, provider): one series of `tenantgate_requests_total`.
type Key = (u16, &'static str, Option<Arc<str>>);

#[derive(Default)]
struct Inner {
    /// Each series with its count, in the order first seen; sorted when
    /// rendered. The keys come from our closed sets (a handful in practice),
    /// so a scan that compares the status, then the code and the provider by
    /// address before their text, beats a map: a `BTreeMap` comparing the
    /// strings showed in a whoami profile. The provider is the pipeline's own
    /// `Arc`, so counting a request allocates nothing.
    requests: Vec<(Key, u64)>,
    /// Cumulative counts per bucket, then +Inf; and the sum of seconds.
    latency: [u64; BUCKETS.len() + 1],
    latency_sum: f64,
}

impl Metrics {
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Record one finished request. The lock is held for a map update only.
    pub fn record(&self, status: u16, code: Option<&'static str>, provider: Option<&Arc<str>>, latency: Duration) {
        let code = code.unwrap_or("");
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let same = |(s, c, p): &Key| {
            *s == status
                && (std::ptr::eq(*c, code) || *c == code)
                && match (p, provider) {
                    (None, None) => true,
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b) || **a == **b,
                    _ => false,
                }
        };
        match inner.requests.iter_mut().find(|(k, _)| same(k)) {
            Some((_, n)) => *n += 1,
            None => inner.requests.push(((status, code, provider.cloned()), 1)),
        }
        let secs = latency.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        for count in &mut inner.latency[bucket..] {
            *count += 1;
        }
        inner.latency_sum += secs;
    }

    /// The text exposition format. `caches` are by name (`result`,
    /// `verify`): a closed set of ours.
    pub fn render(
        &self,
        ready: bool,
        statements_running: usize,
        audit_write_errors: u64,
        caches: &[(&str, Snapshot)],
        webhooks: &[(&str, &crate::auth::WebhookStats)],
        enrich: &[(&str, &crate::auth::WebhookStats)],
    ) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP tenantgate_requests_total Requests answered, by status, error code and provider.\n");
        out.push_str("# TYPE tenantgate_requests_total counter\n");
        let mut requests: Vec<&(Key, u64)> = inner.requests.iter().collect();
        requests.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((status, code, provider), n) in requests {
            let _ = writeln!(
                out,
                "tenantgate_requests_total{{status=\"{status}\",code=\"{code}\",provider=\"{}\"}} {n}",
                provider.as_deref().unwrap_or("").replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        out.push_str("# HELP tenantgate_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE tenantgate_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "tenantgate_request_duration_seconds_bucket{{le=\"{b}\"}} {}", inner.latency[i]);
        }
        let total = inner.latency[BUCKETS.len()];
        let _ = writeln!(out, "tenantgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "tenantgate_request_duration_seconds_sum {}", inner.latency_sum);
        let _ = writeln!(out, "tenantgate_request_duration_seconds_count {total}");
        out.push_str("# HELP tenantgate_ready Whether every required key provider has loaded keys once.\n");
        out.push_str("# TYPE tenantgate_ready gauge\n");
        let _ = writeln!(out, "tenantgate_ready {}", u8::from(ready));
        out.push_str("# HELP tenantgate_db_statements_running Statements running on the databases now, including ones whose client has gone.\n");
        out.push_str("# TYPE tenantgate_db_statements_running gauge\n");
        let _ = writeln!(out, "tenantgate_db_statements_running {statements_running}");
        out.push_str(
            "# HELP tenantgate_audit_write_errors_total Audit lines that could not be written (stderr failed).\n",
        );
        out.push_str("# TYPE tenantgate_audit_write_errors_total counter\n");
        let _ = writeln!(out, "tenantgate_audit_write_errors_total {audit_write_errors}");
        let c = &self.connections;
        out.push_str("# HELP tenantgate_connections_open Connections being served.\n");
        out.push_str("# TYPE tenantgate_connections_open gauge\n");
        let _ = writeln!(out, "tenantgate_connections_open {}", c.open.load(Ordering::Relaxed));
        out.push_str(
            "# HELP tenantgate_connections_refused_total Connections closed on accept: max_connections were open.\n",
        );
        out.push_str("# TYPE tenantgate_connections_refused_total counter\n");
        let _ = writeln!(out, "tenantgate_connections_refused_total {}", c.refused.load(Ordering::Relaxed));
        out.push_str(
            "# HELP tenantgate_connections_timed_out_total Connections closed at handshake_timeout with no request.\n",
        );
        out.push_str("# TYPE tenantgate_connections_timed_out_total counter\n");
        let _ = writeln!(out, "tenantgate_connections_timed_out_total {}", c.timed_out.load(Ordering::Relaxed));
        render_caches(&mut out, caches);
        if !webhooks.is_empty() {
            let label = |p: &str| p.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str("# HELP tenantgate_webhook_calls_total Calls to auth webhooks, by provider and outcome (allow, deny, error).\n");
            out.push_str("# TYPE tenantgate_webhook_calls_total counter\n");
            for (p, s) in webhooks {
                for (outcome, n) in [("allow", &s.allowed), ("deny", &s.denied), ("error", &s.failed)] {
                    let _ = writeln!(
                        out,
                        "tenantgate_webhook_calls_total{{provider=\"{}\",outcome=\"{outcome}\"}} {}",
                        label(p),
                        n.load(Ordering::Relaxed)
                    );
                }
            }
            out.push_str(
                "# HELP tenantgate_webhook_cache_hits_total Requests answered from an auth webhook's cache.\n",
            );
            out.push_str("# TYPE tenantgate_webhook_cache_hits_total counter\n");
            for (p, s) in webhooks {
                let _ = writeln!(
                    out,
                    "tenantgate_webhook_cache_hits_total{{provider=\"{}\"}} {}",
                    label(p),
                    s.cache_hits.load(Ordering::Relaxed)
                );
            }
        }
        if !enrich.is_empty() {
            out.push_str("# HELP tenantgate_enrichment_calls_total Claim enrichment lookups, by entry and outcome (ok, error).\n");
            out.push_str("# TYPE tenantgate_enrichment_calls_total counter\n");
            for (e, s) in enrich {
                for (outcome, n) in [("ok", &s.allowed), ("error", &s.failed)] {
                    let _ = writeln!(
                        out,
                        "tenantgate_enrichment_calls_total{{enrich=\"{e}\",outcome=\"{outcome}\"}} {}",
                        n.load(Ordering::Relaxed)
                    );
                }
            }
            out.push_str(
                "# HELP tenantgate_enrichment_cache_hits_total Claim enrichment lookups answered from the cache.\n",
            );
            out.push_str("# TYPE tenantgate_enrichment_cache_hits_total counter\n");
            for (e, s) in enrich {
                let _ = writeln!(
                    out,
                    "tenantgate_enrichment_cache_hits_total{{enrich=\"{e}\"}} {}",
                    s.cache_hits.load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}

/// One cache series: name, type, help, and its value in a snapshot.
type Series = (&'static str, &'static str, &'static str, fn(&Snapshot) -> u64);

fn render_caches(out: &mut String, caches: &[(&str, Snapshot)]) {
    if caches.is_empty() {
        return;
    }
    let series: [Series; 5] = [
        ("hits_total", "counter", "Lookups served from the cache.", |s| s.hits),
        ("misses_total", "counter", "Lookups computed (a renewQuery counts as one).", |s| s.misses),
        ("evictions_total", "counter", "Entries dropped to stay under the cache's bound.", |s| s.evictions),
        ("entries", "gauge", "Entries held now.", |s| s.entries),
        ("bytes", "gauge", "Weight held now, in bytes (an estimate for tokens).", |s| s.bytes),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP tenantgate_cache_{name} {help}");
        let _ = writeln!(out, "# TYPE tenantgate_cache_{name} {kind}");
        for (cache, snap) in caches {
            let _ = writeln!(out, "tenantgate_cache_{name}{{cache=\"{cache}\"}} {}", value(snap));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_status_code_and_provider_with_a_latency_histogram() {
        let m = Metrics::default();
        let main: Arc<str> = "main".into();
        m.record(200, None, Some(&main), Duration::from_micros(300));
        m.record(401, Some("token_expired"), Some(&main), Duration::from_millis(2));
        m.record(401, Some("token_expired"), Some(&"main".into()), Duration::from_secs(3));
        let text = m.render(true, 2, 0, &[], &[], &[]);
        assert!(
            text.contains("tenantgate_requests_total{status=\"401\",code=\"token_expired\",provider=\"main\"} 2"),
            "{text}"
        );
        assert!(text.contains("tenantgate_requests_total{status=\"200\",code=\"\",provider=\"main\"} 1"), "{text}");
        assert!(text.contains("tenantgate_request_duration_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("tenantgate_request_duration_seconds_bucket{le=\"0.0025\"} 2"), "{text}");
        assert!(text.contains("tenantgate_request_duration_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("tenantgate_ready 1"));
        assert!(text.contains("tenantgate_db_statements_running 2"));
    }

    #[test]
    fn series_are_rendered_sorted_whatever_order_they_were_first_seen_in() {
        let m = Metrics::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        m.record(401, Some("token_expired"), Some(&b), Duration::ZERO);
        m.record(200, None, Some(&b), Duration::ZERO);
        m.record(200, None, None, Duration::ZERO);
        m.record(401, Some("invalid_signature"), Some(&a), Duration::ZERO);
        m.record(200, None, Some(&a), Duration::ZERO);
        m.record(200, None, Some(&"a".into()), Duration::ZERO);
        let text = m.render(true, 0, 0, &[], &[], &[]);
        let series: Vec<&str> = text.lines().filter(|l| l.starts_with("tenantgate_requests_total{")).collect();
        assert_eq!(
            series,
            [
                "tenantgate_requests_total{status=\"200\",code=\"\",provider=\"\"} 1",
                "tenantgate_requests_total{status=\"200\",code=\"\",provider=\"a\"} 2",
                "tenantgate_requests_total{status=\"200\",code=\"\",provider=\"b\"} 1",
                "tenantgate_requests_total{status=\"401\",code=\"invalid_signature\",provider=\"a\"} 1",
                "tenantgate_requests_total{status=\"401\",code=\"token_expired\",provider=\"b\"} 1",
            ]
        );
    }

    #[test]
    fn connections_are_counted_open_refused_and_timed_out() {
        let m = Metrics::default();
        let first = m.connections().opened();
        let second = m.connections().opened();
        drop(first);
        m.connections().refused();
        m.connections().timed_out();
        m.connections().timed_out();
        let text = m.render(true, 0, 0, &[], &[], &[]);
        assert!(text.contains("tenantgate_connections_open 1\n"), "{text}");
        assert!(text.contains("tenantgate_connections_refused_total 1\n"), "{text}");
        assert!(text.contains("tenantgate_connections_timed_out_total 2\n"), "{text}");
        drop(second);
        assert!(m.render(true, 0, 0, &[], &[], &[]).contains("tenantgate_connections_open 0\n"));
        assert!(m.render(true, 0, 3, &[], &[], &[]).contains("tenantgate_audit_write_errors_total 3\n"));
    }

    #[test]
    fn caches_are_counted_by_name() {
        let m = Metrics::default();
        let snap = Snapshot { hits: 3, misses: 2, evictions: 1, entries: 4, bytes: 900 };
        let text = m.render(true, 0, 0, &[("result", snap)], &[], &[]);
        for line in [
            "tenantgate_cache_hits_total{cache=\"result\"} 3\n",
            "tenantgate_cache_misses_total{cache=\"result\"} 2\n",
            "tenantgate_cache_evictions_total{cache=\"result\"} 1\n",
            "tenantgate_cache_entries{cache=\"result\"} 4\n",
            "tenantgate_cache_bytes{cache=\"result\"} 900\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!m.render(true, 0, 0, &[], &[], &[]).contains("tenantgate_cache_"), "no cache, no series");
    }
}
