//! The audit log: one JSON line per data request (`/load`, `/subscribe`,
//! `/sql`, `/dry-run`), written to stderr by the app's [`Sink`] (not through
//! `tracing`: `RUST_LOG` does not filter it). On unless `[audit] enabled =
//! false`.
//!
//! What a line says: who (subject, provider, kid, tenant, groups), what
//! (members queried, policies applied, filters injected, rows, database)
//! and how it ended (status, outcome, code). Filters are named by member
//! and operator, never by value.
//!
//! **Invariant:** never a token, a secret or the claim set: a record is
//! built from named fields only, and the context is read for `sub` and the
//! groups alone.

use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::Notify;

use super::App;
use crate::auth::{Authenticated, SecurityContext};
use crate::query::Plan;
use crate::query::request::Filter;

/// One data request, filled in as it goes.
#[derive(Debug, Default, Serialize)]
pub struct Record {
    pub request_id: String,
    pub endpoint: &'static str,
    pub status: u16,
    /// `ok`, or `refused` (a 4xx), or `failed` (a 5xx).
    pub outcome: &'static str,
    /// The refusal or failure code; `null` on success.
    pub code: Option<&'static str>,
    pub tenant: Option<String>,
    pub subject: Option<String>,
    pub provider: Option<String>,
    pub kid: Option<String>,
    pub groups: Vec<String>,
    /// The policies that applied, by name. See [`policies_applied`].
    pub policies: Vec<String>,
    /// What the client asked for, as it named them (`Orders.count`).
    pub members: Vec<String>,
    /// Filters forced in by policy: `<member> <operator>`.
    pub filters_injected: Vec<String>,
    /// Rows read (`/load`); `null` where nothing ran.
    pub rows: Option<u64>,
    /// The data source the plan routes to.
    pub database: Option<Database>,
}

#[derive(Debug, Serialize)]
pub struct Database {
    /// `default`, or `tenant:<id>`.
    pub route: String,
    /// `sqlite` or `postgres`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl Record {
    pub fn new(endpoint: &'static str) -> Record {
        Record { endpoint, ..Record::default() }
    }

    /// Who called, from an authenticated request (the provider and kid
    /// come with [`Record::emit`], known for refused requests too).
    pub fn caller(&mut self, app: &App, auth: &Authenticated) {
        self.subject = subject(&auth.context);
        let key = app.config.access.scopes.groups_key.as_ref();
        self.groups = crate::auth::scope::groups(&auth.context, key).into_iter().map(str::to_owned).collect();
    }

    /// What the plan decided: tenant, members, policies, forced filters and
    /// the data source it routes to.
    pub fn plan(&mut self, app: &App, plan: &Plan) {
        self.tenant = plan.tenant.clone();
        for p in &plan.queries {
            for r in p.query.refs() {
                let name = app.model.ref_name(r);
                if !self.members.contains(&name) {
                    self.members.push(name);
                }
            }
            for f in p.query.forced.iter().chain(&p.query.forced_where) {
                forced_names(f, &mut self.filters_injected);
            }
        }
        self.policies = policies_applied(app, plan);
        self.database = app.router.route(plan.tenant.as_deref()).map(|(route, source)| Database {
            route: match route {
                crate::db::Route::Default => "default".into(),
                crate::db::Route::Tenant(id) => format!("tenant:{id}"),
            },
            kind: source.kind(),
        });
    }

    /// Rows read by one statement.
    pub fn add_rows(&mut self, n: usize) {
        self.rows = Some(self.rows.unwrap_or(0) + n as u64);
    }

    /// Write the line; returns once it is written.
    pub async fn emit(
        mut self,
        sink: &Sink,
        request_id: &str,
        status: u16,
        code: Option<&'static str>,
        provider: Option<&str>,
        kid: Option<&str>,
    ) {
        self.request_id = request_id.to_owned();
        self.provider = provider.map(str::to_owned);
        self.kid = kid.map(str::to_owned);
        self.status = status;
        self.code = code;
        self.outcome = match status {
            200..=299 => "ok",
            400..=499 => "refused",
            _ => "failed",
        };
        // Named fields of strings and numbers always serialize.
        let line = serde_json::to_vec(&self).unwrap_or_default();
        sink.write(&line).await;
    }
}

/// Where audit lines go (stderr when serving), written in group commits.
///
/// A request's line is written before its response is sent: an audit log
/// that loses its last lines on a crash is no audit log. But requests that
/// finish together share one write. The first line of a batch makes its
/// request the batch's writer, which yields once (the requests ready on its
/// thread add their lines meanwhile), then writes the batch; the others
/// wait until their batch is written. Batches are written in order, one at
/// a time. A failed write is counted ([`Sink::write_errors`]), never the
/// request's failure: the line was lost by the writer, not by the caller.
///
/// The write is a blocking one on a runtime thread, as a synchronous log's
/// always was: a stalled stderr stalls the threads writing to it.
pub struct Sink {
    state: Mutex<State>,
    /// Held while a batch is taken and written, so batches go in order.
    out: Mutex<Box<dyn Write + Send>>,
    written: Notify,
}

struct State {
    /// Lines no writer has taken yet: batch `filling`.
    lines: Vec<u8>,
    /// The batch being filled; batches are numbered from 1.
    filling: u64,
    /// Whether a request has taken on writing batch `filling`.
    led: bool,
    /// Every batch up to this one is written.
    done: u64,
    write_errors: u64,
}

impl Sink {
    pub fn new(out: Box<dyn Write + Send>) -> Sink {
        let state = State { lines: Vec::new(), filling: 1, led: false, done: 0, write_errors: 0 };
        Sink { state: Mutex::new(state), out: Mutex::new(out), written: Notify::new() }
    }

    pub fn stderr() -> Sink {
        Sink::new(Box::new(std::io::stderr()))
    }

    /// Audit lines that could not be written.
    pub fn write_errors(&self) -> u64 {
        self.state().write_errors
    }

    /// Append `line` and a newline; return once they are written.
    pub async fn write(&self, line: &[u8]) {
        let (batch, lead) = {
            let mut s = self.state();
            s.lines.extend_from_slice(line);
            s.lines.push(b'\n');
            (s.filling, !std::mem::replace(&mut s.led, true))
        };
        if lead {
            // Dropped while yielding (a request cancelled), the guard still
            // writes the batch: the others wait for it.
            let guard = Lead(self);
            tokio::task::yield_now().await;
            drop(guard);
            return;
        }
        loop {
            let notified = self.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state().done >= batch {
                return;
            }
            notified.await;
        }
    }

    /// Take the batch being filled and write it.
    fn commit(&self) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (lines, batch) = {
            let mut s = self.state();
            s.led = false;
            s.filling += 1;
            (std::mem::take(&mut s.lines), s.filling - 1)
        };
        // A writer that panics loses its batch like one that fails; its
        // waiters must still be let go.
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| out.write_all(&lines).and_then(|()| out.flush())));
        {
            // Marked written before `out` is let go: the next batch can only
            // be marked after this one, so `done` never goes back.
            let mut s = self.state();
            s.done = batch;
            s.write_errors += u64::from(!matches!(written, Ok(Ok(()))));
            if s.lines.is_empty() {
                // Keep the allocation for the next batch.
                let mut lines = lines;
                lines.clear();
                s.lines = lines;
            }
        }
        drop(out);
        self.written.notify_waiters();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A batch's writer: writes it when dropped.
struct Lead<'a>(&'a Sink);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.commit();
    }
}

/// The policies that applied to this request, by name.
///
/// The one place that names them: the model's `access_policy` entries that
/// applied to a cube or view the plan reads (`Orders.access_policy[0]`),
/// the configured `[[access.roles]]` the caller holds (`role:<name>`) and
/// the `[[access.rules]]` on a cube the plan reads (`access.rules[<i>]`).
fn policies_applied(app: &App, plan: &Plan) -> Vec<String> {
    let access = &app.config.access;
    let mut out = Vec::new();
    for name in plan.queries.iter().flat_map(|p| &p.applied.policies) {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    // The groups the plan judged the policies and roles with.
    let held = &plan.groups;
    out.extend(access.roles.iter().filter(|r| held.contains(&r.name)).map(|r| format!("role:{}", r.name)));
    let cubes: Vec<&str> = plan
        .queries
        .iter()
        .flat_map(|p| p.query.join.cubes())
        .filter_map(|c| app.model.cubes.get(c).map(|c| c.name.as_str()))
        .collect();
    for (i, rule) in access.rules.iter().enumerate() {
        if cubes.contains(&rule.cube.as_str()) {
            out.push(format!("access.rules[{i}]"));
        }
    }
    out
}

fn forced_names(f: &Filter, out: &mut Vec<String>) {
    match f {
        Filter::Member { name, operator, .. } => {
            let s = format!("{name} {}", operator.as_str());
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Filter::And(list) | Filter::Or(list) => list.iter().for_each(|f| forced_names(f, out)),
    }
}

/// `sub`, when it is a string or a number.
fn subject(ctx: &SecurityContext) -> Option<String> {
    match ctx.as_map().get("sub")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A writer that keeps what it is given and counts its writes; while
    /// `gate` is shut, a write waits.
    #[derive(Clone, Default)]
    struct Kept {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        shut: Arc<AtomicBool>,
    }

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            while self.shut.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(k: &Kept) -> Vec<String> {
        String::from_utf8(k.bytes.lock().unwrap().clone()).unwrap().lines().map(str::to_owned).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_that_finish_together_share_one_write_and_every_line_is_whole() {
        let kept = Kept::default();
        let sink = Arc::new(Sink::new(Box::new(kept.clone())));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.write(format!("{{\"n\":{i}}}").as_bytes()).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut got = lines(&kept);
        got.sort_by_key(|l| l[5..l.len() - 1].parse::<u32>().unwrap());
        assert_eq!(got, (0..50).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>());
        let writes = kept.writes.load(Ordering::SeqCst);
        assert!(writes < 5, "50 lines ready together took {writes} writes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_returns_only_once_its_line_is_written() {
        let kept = Kept::default();
        kept.shut.store(true, Ordering::SeqCst);
        let sink = Arc::new(Sink::new(Box::new(kept.clone())));
        let (a, b) = (sink.clone(), sink.clone());
        let first = tokio::spawn(async move { a.write(b"first").await });
        let second = tokio::spawn(async move { b.write(b"second").await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!first.is_finished() && !second.is_finished(), "returned before the line was written");
        assert!(lines(&kept).is_empty());
        kept.shut.store(false, Ordering::SeqCst);
        first.await.unwrap();
        second.await.unwrap();
        let mut got = lines(&kept);
        got.sort();
        assert_eq!(got, ["first", "second"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_writer_still_writes_its_batch() {
        let kept = Kept::default();
        let sink = Arc::new(Sink::new(Box::new(kept.clone())));
        // The first write leads its batch and is dropped while it yields;
        // the second joined that batch and must not wait forever.
        let mut lead = Box::pin(sink.write(b"cancelled"));
        assert!(futures_poll_once(lead.as_mut()).is_pending());
        let joined = {
            let sink = sink.clone();
            tokio::spawn(async move { sink.write(b"joined").await })
        };
        tokio::task::yield_now().await;
        drop(lead);
        tokio::time::timeout(std::time::Duration::from_secs(5), joined).await.expect("not stuck").unwrap();
        assert_eq!(lines(&kept), ["cancelled", "joined"]);
        sink.write(b"after").await;
        assert_eq!(lines(&kept), ["cancelled", "joined", "after"]);
    }

    /// A writer that fails every write, with an error or (`.0`) a panic.
    struct Broken(bool);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            assert!(!self.0, "a broken writer");
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Two lines through a sink writing to `out`: its write errors after.
    fn errors_after_two_lines(out: Broken) -> u64 {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let sink = Sink::new(Box::new(out));
        rt.block_on(async {
            sink.write(b"one").await;
            sink.write(b"two").await;
        });
        sink.write_errors()
    }

    #[test]
    fn a_failed_write_is_counted_and_the_request_goes_on() {
        assert_eq!(errors_after_two_lines(Broken(false)), 2);
    }

    #[test]
    fn a_writer_that_panics_loses_its_batch_but_lets_its_waiters_go() {
        assert_eq!(errors_after_two_lines(Broken(true)), 2);
    }

    fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        let waker = std::task::Waker::noop();
        f.poll(&mut std::task::Context::from_waker(waker))
    }
}
