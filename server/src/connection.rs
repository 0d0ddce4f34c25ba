//! One client connection from accept to close: HTTP/1.1 or HTTP/2 on it, its admission, its timeouts and its end at shutdown.
//!
//! ## Timeouts
//! Every phase of a connection has a bound:
//!
//! | phase | bound | enforced by |
//! | --- | --- | --- |
//! | TLS handshake and first request head | `--header-timeout` (10 s) | this task: an unadmitted connection is dropped at the deadline |
//! | request body (`POST /publish`) | `--body-timeout` (10 s) | the handler (408) |
//! | kept-alive, no request in flight | `--idle-timeout` (30 s) | this task: the deadline restarts whenever the last response ends |
//! | a write the client does not take | `--send-timeout` (10 s) | the socket ([`crate::listener::ClientIo`]) |
//! | an HTTP/2 stream the client gives no window | `--send-timeout` | the stream watchdog ([`crate::watchdog`]) |
//!
//! A request head is at most [`MAX_HEAD_BYTES`] (8 KiB); a larger one is answered 431.
//!
//! hyper's own HTTP/1 header timer is not used: it restarts with every request and
//! covers the idle gap and the next head with one duration, so it cannot keep a short
//! head timeout beside a longer idle timeout. A later request head on a kept-alive
//! connection is bounded by the idle timeout.
//!
//! ## Shutdown
//! At shutdown a connection with no request in flight (including one still sending a
//! request head) is dropped at once; one serving a response is told to finish it and
//! close (hyper's graceful shutdown), which for an SSE stream means the watcher's end.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Version, header};
use axum::response::IntoResponse;
use bytes::BytesMut;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::admission::{Admission, ConnShared, InFlight, Verdict};
use crate::head::{self, Judged, LEAN_HEAD_MAX, ResponseHead};
use crate::lean;
use crate::metrics::{Counters, bump};
use crate::rewind::Rewind;
use crate::routes::AppState;
use crate::source::HubSource;
use crate::stream::{FrameSource, SseStream};
use crate::watchdog::StreamExecutor;

/// The body of the answer to a request over `--max-connections`.
const OVERLOADED_BODY: &str =
    "{\"error\":\"too many connections: the server is at --max-connections; retry after a second\"}\n";

/// hyper's HTTP/1 read buffer cap, which is also the largest request head (a larger
/// one is answered 431). 8 KiB is hyper's minimum and nginx's per-line default. Without
/// the cap hyper's read buffer, which stays allocated for as long as a stream is open
/// (hyper keeps a read pending to notice the client's close), grows to 16 KiB when it
/// reserves its next read while the request head still holds the first buffer: 8 KiB
/// more per idle stream.
pub const MAX_HEAD_BYTES: usize = 8192;

/// How long an idle connection may take to close after being told to.
const GOODBYE: Duration = Duration::from_millis(500);

/// The client's address, inserted into every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Timeouts and HTTP/2 settings of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Protocol {
    /// See [`crate::Args::header_timeout`].
    pub header_timeout: Duration,
    /// See [`crate::Args::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`crate::Args::send_timeout`] (here: for HTTP/2 streams without window).
    pub send_timeout: Duration,
    /// See [`crate::Args::max_concurrent_streams`].
    pub max_concurrent_streams: u32,
}

/// What every connection of one server shares.
pub struct Connections {
    builder: auto::Builder<StreamExecutor>,
    router: Router,
    /// The connection limits.
    pub admission: Admission,
    counters: Arc<Counters>,
    protocol: Protocol,
    stop: CancellationToken,
    hard_stop: CancellationToken,
    /// With `--lean-streams on`: what a lean `/events` subscriber is made of.
    lean: Option<LeanStreams>,
}

/// What lean `/events` subscribers need: the router's state and the server's task tracker.
#[derive(Debug, Clone)]
pub struct LeanStreams {
    /// The hub, the watcher, the counters and the stream options.
    pub state: AppState,
    /// The tracker whose tasks shutdown waits for.
    pub tasks: TaskTracker,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Connections served by `router`; `stop` starts the graceful end, `hard_stop` aborts.
    pub fn new(
        router: Router,
        admission: Admission,
        counters: Arc<Counters>,
        protocol: Protocol,
        stop: CancellationToken,
        hard_stop: CancellationToken,
    ) -> Self {
        let executor = StreamExecutor::new(protocol.send_timeout, Arc::clone(&counters));
        let mut builder = auto::Builder::new(executor);
        // Head and idle bounds are this module's (see the module docs), not hyper's timer.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(MAX_HEAD_BYTES);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(protocol.max_concurrent_streams);
        Self {
            builder,
            router,
            admission,
            counters,
            protocol,
            stop,
            hard_stop,
            lean: None,
        }
    }

    /// Serves plain HTTP/1.1 `/events` subscribers without hyper once their head is sent
    /// ([`Connections::serve_plain`]).
    pub fn with_lean_streams(mut self, lean: LeanStreams) -> Self {
        self.lean = Some(lean);
        self
    }

    /// Whether plain HTTP/1.1 `/events` subscribers take the lean path.
    pub fn lean_streams(&self) -> bool {
        self.lean.is_some()
    }

    /// Serves a plain (not TLS) connection. With lean streams on, its first request head
    /// is read here first ([`crate::head`]): a plain `GET /events` that gets a connection
    /// slot becomes a lean subscriber ([`crate::lean`]) on a task of its own, and this
    /// task ends; anything else is served by hyper as [`Connections::serve`] does, with
    /// the bytes already read replayed.
    pub async fn serve_plain<I>(
        self: Arc<Self>,
        mut io: I,
        peer: SocketAddr,
        conn: Arc<ConnShared>,
        accepted: Instant,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if self.lean.is_none() {
            return self.serve(io, peer, conn, accepted).await;
        }
        let Some((read, judged)) = self.read_head(&mut io, &conn, accepted).await else {
            self.admission.on_close(&conn);
            return;
        };
        match judged {
            Judged::Lean { last_event_id } if self.admission.try_admit(&conn) => {
                drop(read);
                self.start_lean(io, conn, last_event_id).await;
            }
            _ => {
                self.serve(Rewind::new(read.freeze(), io), peer, conn, accepted)
                    .await
            }
        }
    }

    /// Subscribes, sends the response head, then hands the subscriber to a task of its
    /// own whose state is only the subscriber's (its setup is no part of it).
    async fn start_lean<I>(self: Arc<Self>, mut io: I, conn: Arc<ConnShared>, last_event_id: Option<u64>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(lean) = &self.lean else {
            return self.admission.on_close(&conn);
        };
        let state = &lean.state;
        // Subscribed (and registered) before the head goes out, as on the hyper path: a
        // client that has its head misses no event published after.
        let source = HubSource::new(state.hub.subscribe(last_event_id), Arc::clone(&state.counters));
        let registration = state.watcher.register();
        let counters = Arc::clone(&state.counters);
        let options = state.stream_options;
        if let Err(err) = io.write_all(ResponseHead::now().as_bytes()).await {
            tracing::debug!(%err, "writing a lean stream's head failed");
            return self.admission.on_close(&conn);
        }
        // The test-only loss picks its own source here, as the `/events` route does.
        match options.drop_event {
            None => self.spawn_lean(io, SseStream::new(source, registration, counters, options), conn),
            Some(id) => {
                let stream = SseStream::new(source.dropping(id), registration, counters, options);
                self.spawn_lean(io, stream, conn);
            }
        }
    }

    /// Runs a lean subscriber on a tracked task (shutdown waits for it) until it ends.
    fn spawn_lean<I, S>(self: &Arc<Self>, io: I, stream: SseStream<S>, conn: Arc<ConnShared>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: FrameSource,
    {
        let Some(lean) = &self.lean else {
            return self.admission.on_close(&conn);
        };
        let this = Arc::clone(self);
        lean.tasks.spawn(async move {
            if let Err(err) = lean::serve(io, stream).await {
                tracing::debug!(%err, "lean stream ended with an error");
            }
            this.admission.on_close(&conn);
        });
    }

    /// Reads a first request head until it is judged, within the header timeout. `None`
    /// when the connection is to be closed: it closed, timed out, was pushed out by a
    /// newer unfinished connection, or the server is shutting down.
    async fn read_head<I>(
        &self,
        io: &mut I,
        conn: &ConnShared,
        accepted: Instant,
    ) -> Option<(BytesMut, Judged)>
    where
        I: AsyncRead + Unpin,
    {
        let deadline = accepted + self.protocol.header_timeout;
        let mut read = BytesMut::with_capacity(LEAN_HEAD_MAX);
        loop {
            let n = tokio::select! {
                n = io.read_buf(&mut read) => n.ok()?,
                () = tokio::time::sleep_until(deadline) => {
                    bump(&self.counters.connections_timed_out);
                    return None;
                }
                () = conn.evict.notified() => return None,
                () = self.stop.cancelled() => return None,
                () = self.hard_stop.cancelled() => return None,
            };
            if n == 0 {
                return None;
            }
            match head::judge(&read) {
                Judged::Incomplete => {}
                judged => return Some((read, judged)),
            }
        }
    }

    /// Completes the TLS handshake within the header timeout, then serves as [`Connections::serve`].
    pub async fn serve_tls<I>(
        self: Arc<Self>,
        tls: TlsAcceptor,
        io: I,
        peer: SocketAddr,
        conn: Arc<ConnShared>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let accepted = Instant::now();
        let deadline = accepted + self.protocol.header_timeout;
        let handshake = tokio::select! {
            result = tls.accept(io) => result.map_err(|err| tracing::debug!(%peer, %err, "TLS handshake failed")).ok(),
            () = tokio::time::sleep_until(deadline) => {
                bump(&self.counters.connections_timed_out);
                None
            }
            () = conn.evict.notified() => None,
            () = self.stop.cancelled() => None,
            () = self.hard_stop.cancelled() => None,
        };
        match handshake {
            Some(stream) => self.serve(stream, peer, conn, accepted).await,
            None => self.admission.on_close(&conn),
        }
    }

    /// Serves one connection accepted at `accepted` until it closes, times out or is shut down.
    pub async fn serve<I>(self: Arc<Self>, io: I, peer: SocketAddr, conn: Arc<ConnShared>, accepted: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = {
            let this = Arc::clone(&self);
            let conn = Arc::clone(&conn);
            hyper::service::service_fn(move |req| Arc::clone(&this).respond(req, Arc::clone(&conn), peer))
        };
        let http = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(http);
        let mut draining = false;
        let mut idle_since: Option<Instant> = None;
        loop {
            let deadline = if !conn.admitted() {
                Some(accepted + self.protocol.header_timeout)
            } else if conn.active() == 0 {
                Some(*idle_since.get_or_insert_with(Instant::now) + self.protocol.idle_timeout)
            } else {
                idle_since = None;
                None
            };
            tokio::select! {
                result = http.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, %err, "connection ended with an error");
                    }
                    break;
                }
                () = sleep_until(deadline) => {
                    // Re-judge: the connection may have been admitted or used meanwhile.
                    let idle_for = idle_since.map(|since| since.elapsed());
                    let timed_out = !conn.admitted()
                        || (conn.active() == 0 && idle_for.is_some_and(|idle| idle >= self.protocol.idle_timeout));
                    if timed_out {
                        bump(&self.counters.connections_timed_out);
                        tracing::debug!(%peer, admitted = conn.admitted(), "connection timed out");
                        if conn.admitted() {
                            // Idle: say goodbye properly (an HTTP/2 GOAWAY), briefly.
                            http.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(GOODBYE, http.as_mut()).await;
                        }
                        break;
                    }
                }
                // The last request in flight ended: the idle time starts now.
                () = conn.idle.notified() => idle_since = None,
                () = conn.evict.notified(), if !conn.admitted() => {
                    tracing::debug!(%peer, "unfinished connection closed for a newer one");
                    break;
                }
                () = self.stop.cancelled(), if !draining => {
                    draining = true;
                    http.as_mut().graceful_shutdown();
                    if !conn.admitted() || conn.active() == 0 {
                        break;
                    }
                }
                () = self.hard_stop.cancelled() => break,
            }
        }
        self.admission.on_close(&conn);
    }

    /// Answers one request: admission first, then the router.
    async fn respond(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        conn: Arc<ConnShared>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let in_flight = InFlight::new(Arc::clone(&conn));
        let verdict = self.admission.on_request(&conn, req.uri().path());
        let http1 = req.version() < Version::HTTP_2;
        let mut response = match verdict {
            Verdict::Rejected => overloaded(),
            Verdict::Admitted | Verdict::Exempt => {
                req.extensions_mut().insert(Peer(peer));
                let mut router = self.router.clone();
                match router.call(req.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        };
        if verdict != Verdict::Admitted && http1 {
            // Never admitted: answer, then close (HTTP/2 has no connection header; its
            // connection is closed by the header timeout).
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(response.map(|body| {
            Body::new(Tracked {
                body,
                _in_flight: in_flight,
            })
        }))
    }
}

/// Completes at `deadline`, or never when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn overloaded() -> Response<Body> {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, OVERLOADED_BODY).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A response body that counts its request as in flight until it is dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
