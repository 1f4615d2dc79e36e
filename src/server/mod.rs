//! The HTTP server: our own accept loop over an already-bound listener
//! (tests bind `127.0.0.1:0`), at most `max_connections` at once, optional
//! TLS, HTTP/1.1 and HTTP/2 through hyper-util's auto builder, connection
//! deadlines ([`connection`]), and graceful shutdown with a bounded drain.
//!
//! **Boundary:** [`run`] owns sockets and connections; [`routes`] owns what a
//! request means; [`response::error_response`] is the only place an error
//! becomes a status code.

mod audit;
mod connection;
mod cube_api;
mod cube_shape;
mod metrics;
pub mod response;
mod routes;
pub mod url;

pub use audit::Sink as AuditSink;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::auth::{Pipeline, Strategies};
use crate::config::Config;

/// HTTP/2 pings a peer after this long without a frame from it, so a peer
/// that vanished with a request open is noticed without waiting on TCP.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// A ping not acknowledged within this closes the HTTP/2 connection.
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything a request handler needs, built once at startup.
pub struct App {
    config: Arc<Config>,
    pipeline: Pipeline,
    model: Arc<crate::query::Model>,
    policy: crate::query::Policy,
    /// The default and the tenants' data sources, all opened at startup.
    router: crate::db::Router,
    /// `[cache]`, when enabled.
    cache: Option<crate::cache::ResultCache>,
    /// `[cache] plan_max_bytes`, unless 0.
    plans: Option<crate::cache::PlanCache>,
    tls: Option<TlsAcceptor>,
    request_seq: AtomicU64,
    request_prefix: u32,
    metrics: metrics::Metrics,
    /// Where audit lines are written (stderr unless [`App::with_audit_sink`]).
    audit: audit::Sink,
}

impl App {
    /// [`crate::build::build`] for serving, then the app. `strategies`
    /// holds custom check-auth strategies by provider name (empty for the
    /// binary).
    pub fn new(config: Config, strategies: Strategies) -> Result<Self, crate::build::BuildErrors> {
        crate::build::build(config, strategies, crate::build::Mode::Serve).map(App::from_built)
    }

    pub fn from_built(built: crate::build::Built) -> Self {
        let mut seed = [0u8; 4];
        // A random prefix keeps request ids unique across restarts; an
        // all-zero prefix if the system RNG fails is harmless.
        let _ = aws_lc_rs::rand::fill(&mut seed);
        let plans = crate::cache::PlanCache::new(built.config.cache.plan_max_bytes);
        App {
            plans,
            config: Arc::new(built.config),
            pipeline: built.pipeline,
            model: built.model,
            policy: built.policy,
            router: built.router.unwrap_or_else(crate::db::Router::empty),
            cache: built.cache,
            tls: built.tls,
            request_seq: AtomicU64::new(0),
            request_prefix: u32::from_be_bytes(seed),
            metrics: metrics::Metrics::default(),
            audit: audit::Sink::stderr(),
        }
    }

    /// Write audit lines to `sink` instead of stderr (tests keep them).
    pub fn with_audit_sink(mut self, sink: audit::Sink) -> Self {
        self.audit = sink;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn model(&self) -> &crate::query::Model {
        &self.model
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Statements running on the default and the tenants' databases.
    fn statements_running(&self) -> usize {
        self.router.running()
    }

    /// What `/metrics` shows of the caches in use.
    fn cache_snapshots(&self) -> Vec<(&'static str, crate::cache::Snapshot)> {
        let verification = self.pipeline.verification_cache_counts().map(|c| {
            let snapshot = crate::cache::Snapshot {
                hits: c.hits,
                misses: c.misses,
                evictions: c.evictions,
                entries: c.entries,
                bytes: c.bytes,
            };
            ("verification", snapshot)
        });
        let plans = self.plans.iter().map(|c| ("plan", c.snapshot()));
        self.cache.iter().map(|c| ("result", c.snapshot())).chain(verification).chain(plans).collect()
    }

    /// `query::plan` for this caller, through the plan cache when on.
    fn plan(
        &self,
        queries: &[serde_json::Value],
        auth: &crate::auth::Authenticated,
    ) -> Result<Arc<crate::query::Plan>, crate::query::QueryError> {
        let make = || crate::query::plan(&self.model, &self.policy, queries, &auth.context);
        match &self.plans {
            Some(plans) => plans.get_or_plan(crate::cache::PlanCache::key(&auth.context_json(), queries), make),
            None => make().map(Arc::new),
        }
    }

    fn next_request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        // `{:08x}-{:08x}` without the formatting machinery: it showed in a
        // whoami profile.
        let mut id = String::with_capacity(25);
        push_hex(&mut id, u64::from(self.request_prefix));
        id.push('-');
        push_hex(&mut id, n);
        id
    }
}

/// Lowercase hex, at least eight digits (`{:08x}`).
fn push_hex(out: &mut String, v: u64) {
    let digits = (16 - v.leading_zeros() as usize / 4).max(8);
    for i in (0..digits).rev() {
        out.push(char::from_digit(((v >> (4 * i)) & 15) as u32, 16).unwrap_or('0'));
    }
}

/// Serve `listener` until `shutdown` completes, then stop accepting and wait
/// up to `server.shutdown_timeout` for in-flight requests to finish.
pub async fn run(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let server_cfg = &app.config.server;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The first request head is bounded by `connection`'s deadline (hyper's
    // timer starts only after the version sniff); this one bounds every
    // later HTTP/1 head, including the wait between keep-alive requests.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server_cfg.handshake_timeout)
        .max_buf_size(server_cfg.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT)
        .max_header_list_size(u32::try_from(server_cfg.max_header_bytes).unwrap_or(u32::MAX));
    let drain_timeout = server_cfg.shutdown_timeout;
    let slots = Arc::new(Semaphore::new(server_cfg.max_connections));

    // Connections hold a receiver: a send asks them to close gracefully, and
    // the sender's `closed()` says when the last one has ended.
    let (close_tx, _) = watch::channel(());
    // Whether the last accepted connection was refused, so a flood at the
    // cap logs one warning, not one per socket.
    let mut refusing = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and similar: back off
                        // instead of spinning, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // At the cap, close at once rather than stop accepting: the
                // client learns immediately, and the backlog never fills with
                // sockets that wait for nobody.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    app.metrics.connections().refused();
                    if !refusing {
                        let max_connections = server_cfg.max_connections;
                        tracing::warn!(%peer, max_connections, "refusing connections: max_connections are open");
                    }
                    refusing = true;
                    drop(stream);
                    continue;
                };
                refusing = false;
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection::serve(stream, peer, app.clone(), builder.clone(), close_tx.subscribe(), slot));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(connections = close_tx.receiver_count(), "shutting down: draining in-flight requests");
    let _ = close_tx.send(());
    tokio::select! {
        () = close_tx.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(timeout_secs = drain_timeout.as_secs(), "drain timed out; closing remaining connections");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_hex_of_at_least_eight_digits() {
        for v in [0u64, 1, 0xdead_beef, 0x1_0000_0000, u64::MAX] {
            let mut s = String::new();
            super::push_hex(&mut s, v);
            assert_eq!(s, format!("{v:08x}"));
        }
    }
}
