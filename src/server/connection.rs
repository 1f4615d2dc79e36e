//! One connection, from accept to close: the TLS handshake, protocol
//! detection and the first request head under one deadline
//! (`server.handshake_timeout`), then an idle timeout between requests
//! (`server.idle_timeout`), and a graceful close on shutdown.
//!
//! hyper's own limits leave the start of a connection open: HTTP/1's header
//! read timeout starts only after hyper-util's version sniff (a socket that
//! sends nothing, or `P`, waits in the sniff forever), and HTTP/2 has neither
//! a deadline for the first stream nor an idle timeout. So the service tells
//! [`Activity`] when a request starts and when its response body is done, and
//! this task closes a connection whose deadline passes with nothing in flight.
//!
//! **Invariant:** a request in flight (its response body not yet sent) is
//! never cut by these timeouts; only shutdown's drain timeout can cut it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tokio::time::{Instant, sleep_until};

use super::metrics::OpenConnection;
use super::response::Body;
use super::{App, routes};

/// Serve one accepted connection. `slot` is its place under
/// `max_connections`; `shutdown` changes (or closes) when the server stops
/// accepting.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    builder: auto::Builder<TokioExecutor>,
    mut shutdown: watch::Receiver<()>,
    slot: OwnedSemaphorePermit,
) {
    let ticket = Ticket { _slot: slot, _open: app.metrics.connections().opened() };
    let limits = Limits {
        first_request_by: Instant::now() + app.config.server.handshake_timeout,
        idle: app.config.server.idle_timeout,
        grace: app.config.server.handshake_timeout,
    };
    let Some(acceptor) = &app.tls else {
        return serve_http(stream, peer, &app, &builder, &mut shutdown, &limits, ticket).await;
    };
    let accept = acceptor.accept(stream);
    tokio::pin!(accept);
    // Declared after `accept`, so dropped before the socket closes.
    let ticket = ticket;
    let tls = tokio::select! {
        r = &mut accept => r,
        () = sleep_until(limits.first_request_by) => {
            app.metrics.connections().timed_out();
            tracing::debug!(%peer, "connection closed: TLS handshake not done within handshake_timeout");
            return;
        }
        _ = shutdown.changed() => return,
    };
    match tls {
        Ok(tls) => serve_http(tls, peer, &app, &builder, &mut shutdown, &limits, ticket).await,
        Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
    }
}

/// What a connection holds until it ends: its place under `max_connections`
/// and its count in `tenantgate_connections_open`. Each owner declares it
/// after the socket's owner, so it is released before the socket closes:
/// a peer that sees the close can connect again at once.
struct Ticket<'a> {
    _slot: OwnedSemaphorePermit,
    _open: OpenConnection<'a>,
}

/// The deadlines of one connection.
struct Limits {
    /// TLS, version sniff and the first request head must be done by then.
    first_request_by: Instant,
    /// Nothing in flight for this long: close.
    idle: Duration,
    /// After a graceful close (HTTP/2 GOAWAY), how long the peer has to let
    /// go before the socket is dropped.
    grace: Duration,
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: &Arc<App>,
    builder: &auto::Builder<TokioExecutor>,
    shutdown: &mut watch::Receiver<()>,
    limits: &Limits,
    ticket: Ticket<'_>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let service_app = Arc::clone(app);
    let service_activity = Arc::clone(&activity);
    let service = service_fn(move |req| {
        // Counted from the moment hyper has the request head, until the
        // response body is sent or dropped.
        let in_flight = InFlight::begin(&service_activity);
        let app = Arc::clone(&service_app);
        async move {
            let resp = routes::handle(&app, req).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked { body, _in_flight: in_flight }))
        }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    // Declared after `conn` (which owns the socket), so dropped first.
    let _ticket = ticket;

    let mut shutting_down = false;
    // Set once a graceful close has been asked for because of idleness.
    let mut drop_at: Option<Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            expired = activity.expired(limits), if drop_at.is_none() => match expired {
                Expired::BeforeFirstRequest => {
                    app.metrics.connections().timed_out();
                    tracing::debug!(%peer, "connection closed: no request head within handshake_timeout");
                    return;
                }
                Expired::Idle => {
                    // HTTP/1 closes at once; HTTP/2 sends GOAWAY and waits
                    // for the peer to acknowledge.
                    conn.as_mut().graceful_shutdown();
                    drop_at = Some(Instant::now() + limits.grace);
                }
            },
            // `Err` (the server is gone) means the same as a change.
            _ = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                if !activity.seen_request() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
            }
            () = sleep_until(drop_at.unwrap_or(limits.first_request_by)), if drop_at.is_some() => {
                if !activity.in_flight() {
                    return;
                }
                // A stream opened while the GOAWAY was on its way: let it
                // finish.
                drop_at = Some(Instant::now() + limits.grace);
            }
        }
    }
}

/// What the connection's service has been doing, shared with the task that
/// enforces the deadlines.
///
/// Once the first request has started, requests only ever push the deadline
/// later (`idle` after the last one ended), so they do not wake the
/// deadline's waiter: it sleeps until the deadline it computed, then reads
/// the state again (and sleeps on to a later deadline if requests came). It
/// is woken only when the first request starts (the idle deadline may come
/// before the handshake deadline it sleeps to) and when the last request in
/// flight ends while it waits with no deadline. Waking it on every request
/// start and end re-armed a timer and re-polled the connection twice per
/// request: it showed in a whoami profile.
#[derive(Default)]
struct Activity {
    /// A `std` mutex held for a few instructions, never across an `.await`.
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    seen_request: bool,
    in_flight: usize,
    /// When the last request finished; `None` until one has.
    last_done: Option<Instant>,
    /// The waiter saw a request in flight and waits for `changed`.
    waiting: bool,
}

enum Expired {
    BeforeFirstRequest,
    Idle,
}

impl State {
    /// The connection's deadline now and what passing it means; `None`
    /// while a request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Expired)> {
        if self.in_flight > 0 {
            None
        } else if !self.seen_request {
            Some((limits.first_request_by, Expired::BeforeFirstRequest))
        } else {
            Some((self.last_done.unwrap_or(limits.first_request_by) + limits.idle, Expired::Idle))
        }
    }
}

impl Activity {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seen_request(&self) -> bool {
        self.state().seen_request
    }

    fn in_flight(&self) -> bool {
        self.state().in_flight > 0
    }

    /// Resolves when the connection's current deadline passes with nothing
    /// in flight: the first-request deadline until a request head arrives,
    /// then `idle` after the last request finished.
    async fn expired(&self, limits: &Limits) -> Expired {
        loop {
            let deadline = {
                let mut s = self.state();
                s.waiting = s.in_flight > 0;
                s.deadline(limits)
            };
            // `notify_one` leaves a permit when nobody waits, so a change
            // between reading the state and awaiting is not missed.
            match deadline {
                None => self.changed.notified().await,
                Some((at, why)) => {
                    tokio::select! {
                        () = self.changed.notified() => continue,
                        () = sleep_until(at) => {}
                    }
                    // Still the deadline (nothing started or ended since)?
                    if self.state().deadline(limits).is_some_and(|(now, _)| now == at) {
                        return why;
                    }
                }
            }
        }
    }
}

/// One request in flight; dropping it (with the response body, or with the
/// handler if the peer went away) ends it.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        let first = {
            let mut s = activity.state();
            s.in_flight += 1;
            !std::mem::replace(&mut s.seen_request, true)
        };
        if first {
            activity.changed.notify_one();
        }
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let wake = {
            let mut s = self.0.state();
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_done = Some(Instant::now());
            let wake = s.waiting && s.in_flight == 0;
            if wake {
                s.waiting = false;
            }
            wake
        };
        if wake {
            self.0.changed.notify_one();
        }
    }
}

/// A response body that keeps its request counted as in flight until hyper
/// has sent it (or dropped it), so a slow reader is not cut by the idle
/// timeout.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
