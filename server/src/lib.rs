//! Reference Server-Sent Events server: how SSE should be served in Rust.
//!
//! * One broadcast [`hub`]: every event is encoded once ([`frame`]) and fanned out as
//!   shared `Bytes`; the per-client work is a reference-count bump and a write.
//! * One shutdown [`watcher`] for the whole process; every stream registers with it.
//! * Keep-alive pings, `Last-Event-ID` replay, a `/metrics` endpoint, graceful shutdown.
//! * [`Running`]: the server inside this process on a free loopback port, the one handle
//!   that tests, benches and profiling runs use.
//! * HTTP/1.1 and HTTP/2 on one port ([`connection`]), HTTPS with rustls ([`tls`]).
//! * Plain HTTP/1.1 `GET /events` subscribers leave hyper once their head is sent: the
//!   head is read and judged before hyper ([`head`]) and the subscriber is a small task
//!   holding its socket and its frame stream ([`lean`]), about 2.4 KB of heap when idle
//!   instead of hyper's 21 KB; every other request is hyper's ([`rewind`]).
//! * A bound on every phase of a connection and on every byte a client can make the
//!   server hold: head, body and idle timeouts, admission ([`admission`]), publish
//!   rules ([`access`]), a replay ring bounded in bytes ([`hub`]).
//!
//! ## Slow clients
//! A client that stops reading is disconnected once a write to it has been pending for
//! `send_timeout` (default 10 s): the connection is reset (`SO_LINGER` 0, so the kernel
//! drops its unsent data too) and its fd freed, and the client is counted in
//! `clients_evicted`. Under HTTP/2 a stream whose window the client withholds is reset
//! alone after the same time ([`watchdog`]). The timeout is enforced in the socket layer
//! ([`listener::ClientIo`]) because hyper stops polling the body of a connection that
//! cannot take data, so nothing inside the body stream would ever notice. A frozen
//! client never stalls the publisher or other clients: the hub's broadcast never
//! blocks, and the frozen client's backlog is bounded by its socket buffers and the
//! hub's channel (`--replay-capacity` events). A client that reads, but slower than
//! events arrive, is ended once it falls that many events behind (`clients_lagged`) and
//! may resume with `Last-Event-ID`.
//!
//! ## Shutdown
//! [`Server::serve`] takes the shutdown signal as a future. When it completes, the
//! watcher ends every stream (hyper, or a lean subscriber, then writes the final chunk: a
//! clean end, not a reset) and the server stops accepting. Connections still open near the end of
//! `shutdown_grace` (a frozen client cannot take even the final chunk) are aborted, so
//! `serve` returns within the grace.

pub mod access;
pub mod admission;
pub mod config;
pub mod connection;
pub mod frame;
pub mod head;
pub mod hub;
pub mod lean;
pub mod limits;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod params;
pub mod publisher;
pub mod rewind;
pub mod routes;
pub mod running;
pub mod signal;
pub mod source;
pub mod stream;
pub mod tls;
pub mod watchdog;
pub mod watcher;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Args, Config};
pub use hub::Hub;
pub use metrics::Snapshot;
pub use running::Running;

use admission::Admission;
use connection::{Connections, LeanStreams, Protocol};
use listener::ClientListener;
use metrics::Counters;
use routes::{AppState, Publishing};
use stream::StreamOptions;
use watcher::Watcher;

/// A configured server: its hub, watcher and counters, ready to serve.
#[derive(Debug, Clone)]
pub struct Server {
    config: Config,
    state: AppState,
}

impl Server {
    /// Builds the hub, the watcher and the counters for `config`.
    pub fn new(config: Config) -> Self {
        let state = AppState {
            hub: Hub::with_limits(config.replay_capacity, config.hub_limits),
            watcher: Watcher::new(),
            counters: Arc::new(Counters::default()),
            stream_options: StreamOptions {
                ping_interval: config.ping_interval,
                frame_delay: config.frame_delay,
                frame_cost: config.frame_cost,
                drop_event: config.drop_event,
            },
            publishing: Publishing {
                access: config.publish_access.clone(),
                body_timeout: config.body_timeout,
                max_event_bytes: config.hub_limits.max_event_bytes,
            },
        };
        Self { config, state }
    }

    /// The hub, for publishing in-process.
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// The figures `/metrics` serves.
    pub fn metrics(&self) -> Snapshot {
        self.state.counters.snapshot(&self.state.hub, &self.state.watcher)
    }

    /// Serves on `listener` until `shutdown` completes, then drains within the grace.
    ///
    /// # Errors
    /// Only the listener's own IO errors; client errors are handled per connection.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self { mut config, state } = self;
        let tls = tls_acceptor(&config)?;
        let stop = state.watcher.token();
        state.watcher.start(shutdown);
        if let Some(publisher) = config.publisher.take() {
            tokio::spawn(publisher::run(state.hub.clone(), publisher, stop.clone()));
        }
        let hard_stop = CancellationToken::new();
        let counters = Arc::clone(&state.counters);
        let mut listener = ClientListener::new(
            listener,
            config.send_timeout,
            config.send_buffer,
            Arc::clone(&counters),
            hard_stop.clone(),
        );
        let tasks = TaskTracker::new();
        let connections = connections_for(&config, state, &tasks, &stop, &hard_stop);
        accept_until_stopped(&mut listener, &connections, tls.as_ref(), &tasks, &stop).await;
        drop(listener);
        tasks.close();
        drain(&tasks, config.shutdown_grace, &counters, &hard_stop).await;
        Ok(())
    }
}

/// The TLS acceptor of `config.tls`, if any; unreadable certificate or key files are
/// an `InvalidInput` error.
fn tls_acceptor(config: &Config) -> io::Result<Option<TlsAcceptor>> {
    config
        .tls
        .as_ref()
        .map(|files| {
            files
                .acceptor()
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))
        })
        .transpose()
}

/// What serves each accepted connection: the router, admission, the protocol bounds of
/// `config`, and the lean path for `/events` subscribers when it is on.
fn connections_for(
    config: &Config,
    state: AppState,
    tasks: &TaskTracker,
    stop: &CancellationToken,
    hard_stop: &CancellationToken,
) -> Arc<Connections> {
    let counters = Arc::clone(&state.counters);
    let lean = LeanStreams {
        state: state.clone(),
        tasks: tasks.clone(),
    };
    let connections = Connections::new(
        routes::router(state),
        Admission::new(
            config.max_connections,
            config.max_pending_connections,
            Arc::clone(&counters),
        ),
        Arc::clone(&counters),
        Protocol {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            send_timeout: config.send_timeout,
            max_concurrent_streams: config.max_concurrent_streams,
        },
        stop.clone(),
        hard_stop.clone(),
    );
    Arc::new(if config.lean_streams {
        connections.with_lean_streams(lean)
    } else {
        connections
    })
}

/// Accepts connections until `stop` is cancelled, serving each on its own task in `tasks`.
async fn accept_until_stopped(
    listener: &mut ClientListener,
    connections: &Arc<Connections>,
    tls: Option<&TlsAcceptor>,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            (io, peer) = listener.accept() => {
                let conn = connections.admission.accept();
                let connections = Arc::clone(connections);
                match tls {
                    Some(tls) => tasks.spawn(connections.serve_tls(tls.clone(), io, peer, conn)),
                    // Off the lean path, the connection's task holds nothing of it.
                    None if connections.lean_streams() => {
                        tasks.spawn(connections.serve_plain(io, peer, conn, Instant::now()))
                    }
                    None => tasks.spawn(connections.serve(io, peer, conn, Instant::now())),
                };
            }
        }
    }
}

/// Waits for the (closed) `tasks` to finish within `grace`: aborts what is still open
/// shortly before the grace runs out, then gives the aborted connections the rest of the
/// grace to be torn down.
async fn drain(tasks: &TaskTracker, grace: Duration, counters: &Counters, hard_stop: &CancellationToken) {
    let margin = (grace / 10).min(Duration::from_millis(250));
    if tokio::time::timeout(grace - margin, tasks.wait()).await.is_ok() {
        return;
    }
    let open = counters.connections.load(std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(
        open,
        "shutdown grace nearly over; aborting the connections still open"
    );
    hard_stop.cancel();
    let _ = tokio::time::timeout(margin, tasks.wait()).await;
}

/// Binds `config.bind`, reports the bound address to `on_bound` (before serving, so a
/// parent process can learn the port of `127.0.0.1:0`), then serves until SIGTERM/SIGINT.
///
/// This is the whole of the `sse-server` binary, shared with tools that re-execute
/// themselves as the server.
///
/// # Errors
/// Binding or serving failed.
pub async fn run_until_signal(config: Config, on_bound: impl FnOnce(std::net::SocketAddr)) -> io::Result<()> {
    if let Err(err) = limits::raise_fd_limit() {
        tracing::warn!(%err, "could not raise the open-file limit");
    }
    let listener = TcpListener::bind(config.bind).await.map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "binding {}: {err} (is another server running? try --bind 127.0.0.1:0)",
                config.bind
            ),
        )
    })?;
    let addr = listener.local_addr()?;
    if let Some(warning) = access::exposure_warning(addr, &config.publish_access) {
        tracing::warn!("{warning}");
    }
    on_bound(addr);
    serve(listener, config, signal::terminate_or_interrupt()).await
}

/// Serves `config` on `listener` until `shutdown` completes (see [`Server::serve`]).
///
/// # Errors
/// The listener's IO errors.
pub async fn serve<F>(listener: TcpListener, config: Config, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    Server::new(config).serve(listener, shutdown).await
}
