//! The comparator ladder: the same SSE workload served by three designs, so a run shows what each design decision buys.
//!
//! | design | what it is |
//! | --- | --- |
//! | [`Design::Floor`] | raw TCP: the reference server's frames on plain tokio sockets, a task per socket, pending frames coalesced into one vectored write, no HTTP framework. What the machine can do. |
//! | [`Design::Reference`] | the reference server (`sse-server`). |
//! | [`Design::Naive`] | what most tutorials show: axum's `Sse` over `tokio::sync::broadcast` of `String`s, an `Event` built (and formatted) per subscriber. |
//!
//! Every design is started the same way (`sse-load __serve --design NAME <server flags>`) and
//! speaks the subset of the reference server's interface the fan-out workloads use:
//! `GET /events` (built-in publisher events stamped `t=<unix-nanos>`, ids 1, 2, 3, …),
//! `GET /health` and `GET /metrics` (JSON, the reference server's key names for the
//! figures it has). Flags they have no use for (pings, replay, limits) are accepted and
//! ignored, so a scenario's server flags start any design.
//!
//! The generator has a floor too: [`lean`] reads the reference server with nothing but
//! epoll and `recv`, so `calibrate` shows what any reader pays per event here, under each
//! workload and ([`shape`]) at the shape of each scenario whose clients only read.

pub mod calibrate;
pub mod floor;
pub mod lean;
pub mod naive;
pub mod shape;
pub mod sweep;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sse_server::metrics::ProcessStats;
use sse_server::publisher::PublisherConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A server design of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Raw TCP, coalesced vectored writes, no HTTP framework: the floor.
    Floor,
    /// The reference server.
    Reference,
    /// axum `Sse` over `broadcast`, an `Event` built per subscriber.
    Naive,
}

impl Design {
    /// Every design, floor first.
    pub const ALL: [Self; 3] = [Self::Floor, Self::Reference, Self::Naive];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Reference => "reference",
            Self::Naive => "naive",
        }
    }
}

impl std::fmt::Display for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Serves `config` with `design` on `listener` until `shutdown` completes.
///
/// # Errors
/// The listener's IO errors.
pub async fn serve<F>(
    design: Design,
    listener: TcpListener,
    config: sse_server::Config,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    match design {
        Design::Reference => sse_server::serve(listener, config, shutdown).await,
        Design::Floor => floor::serve(listener, config, shutdown).await,
        Design::Naive => naive::serve(listener, config, shutdown).await,
    }
}

/// Figures every comparator keeps, served by `/metrics` under the reference server's names.
#[derive(Debug)]
pub(crate) struct ComparatorCounters {
    started: Instant,
    /// Streams open now (`registered_events`).
    pub streams: AtomicU64,
    /// TCP connections open now (`connections`).
    pub connections: AtomicU64,
    /// Events published (`events_published`).
    pub published: AtomicU64,
}

impl Default for ComparatorCounters {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            streams: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            published: AtomicU64::new(0),
        }
    }
}

impl ComparatorCounters {
    /// The `/metrics` body.
    pub fn to_json(&self, design: Design) -> String {
        let process = ProcessStats::read(None);
        let mib = 1024.0 * 1024.0;
        serde_json::json!({
            "design": design.name(),
            "pid": std::process::id(),
            "memory_rss_mb": process.rss_bytes as f64 / mib,
            "memory_vms_mb": process.vms_bytes as f64 / mib,
            "num_fds": process.fds,
            "num_threads": process.threads,
            "cpu_user_seconds": process.cpu_user,
            "cpu_system_seconds": process.cpu_system,
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "connections": self.connections.load(Ordering::Relaxed),
            "registered_events": self.streams.load(Ordering::Relaxed),
            "events_published": self.published.load(Ordering::Relaxed),
        })
        .to_string()
    }
}

/// Decrements a gauge when dropped (a stream or connection ending on any path).
#[derive(Debug)]
pub(crate) struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    /// Increments `gauge` until the guard drops.
    pub fn enter(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Calls `publish(id, data)` at `config.rate` with stamped data, ids 1, 2, 3, …: the
/// reference server's publisher pacing ([`sse_server::publisher::pace`]) until `stop`.
pub(crate) async fn pace(
    config: PublisherConfig,
    stop: CancellationToken,
    mut publish: impl FnMut(u64, &[u8]),
) {
    let mut id = 0;
    sse_server::publisher::pace(config, stop, |data| {
        id += 1;
        publish(id, data);
        true
    })
    .await;
}
