//! The after-stop half of a run: stop the parts, let the server settle, read its final
//! figures, merge the clients' statistics and assemble the [`Measured`] result.
//!
//! `collect` takes everything still running when the measured phase ends (`Running`)
//! and what the runner read before and during it (`Readings`); nothing here starts new
//! load. The publisher's count of accepted and failed publishes is kept and reaches the
//! report (`events.published`, `events.publish_failed`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::context::{Live, RunContext};
use super::crowd::Crowd;
use super::frozen::{Evictions, Frozen};
use super::pool::ReaderPool;
use super::probe;
use crate::measure::cpu::{CpuMark, CpuSpent, CpuStopwatch};
use crate::measure::sampler::Sampled;
use crate::measure::server::ServerSource;
use crate::measure::server::{CpuDelta, CpuReading};
use crate::measure::stats::{ClientSummary, Metric, Totals, lock};
use crate::measure::timeline::Sample;
use crate::model::Memory;
use crate::scenario::checks::CheckKind;
use crate::scenario::feed::Feed;
use crate::scenario::outcome::{Figures, FrozenOutcome, Outcome, Published, ShutdownOutcome};
use crate::scenario::plan::{Capabilities, Plan};
use crate::target::{EmbeddedServer, TargetError};

/// How long clients get to finish after the stop signal before they are aborted.
const CLIENT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to release streams after the clients left.
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The measurements of one run.
#[derive(Debug)]
pub struct Measured {
    /// Input of the checks and the report.
    pub outcome: Outcome,
    /// When the measured phase started.
    pub started_at: SystemTime,
    /// Base URL of the target.
    pub url: String,
    /// What the target offered.
    pub capabilities: Capabilities,
    /// The protocol the streams used.
    pub protocol: crate::client::Protocol,
    /// The bounded timeline.
    pub timeline: Vec<Sample>,
    /// Generator CPU over the measured phase.
    pub generator_cpu: CpuSpent,
    /// The reader threads the clients ran on.
    pub reader_threads: usize,
    /// Server CPU over the measured phase, when known.
    pub server_cpu: Option<CpuDelta>,
    /// Where server CPU came from (or why it is missing).
    pub cpu_note: String,
    /// Number of clients that connect at once spread over 127.0.0.0/8 sources.
    pub spread_sources: bool,
    /// What a target file said about the target (secrets redacted), for the parameters.
    pub target_notes: Vec<(&'static str, serde_json::Value)>,
}

/// The parts still running when the measured phase ends.
pub(super) struct Running {
    /// The run's shared state; `ctx.stop` stops the clients and the publisher.
    pub(super) ctx: Arc<RunContext>,
    /// The reader threads the clients run on (stopped once the clients are done).
    pub(super) pool: ReaderPool,
    /// The reading clients, with the summaries of those that finished.
    pub(super) crowd: Crowd,
    /// The generator's publisher, when the feed has one (on the first reader thread).
    pub(super) publisher: Option<JoinHandle<Published>>,
    /// The mid-run `/metrics` probe.
    pub(super) mid: JoinHandle<Option<(Figures, u64)>>,
    /// Frozen clients, drained at the end.
    pub(super) frozen: Vec<Frozen>,
    /// The eviction watch of the frozen clients.
    pub(super) evictions: Option<JoinHandle<Evictions>>,
    /// Stops the sampler.
    pub(super) sampler_stop: CancellationToken,
    /// The sampler.
    pub(super) sampling: JoinHandle<Sampled>,
    /// Generator CPU since the measured phase started.
    pub(super) generator: CpuStopwatch,
    /// When the measured phase started.
    pub(super) started: Instant,
    /// The same, as wall-clock time.
    pub(super) started_at: SystemTime,
}

/// What the runner read before and during the measured phase.
pub(super) struct Readings {
    /// Server figures before the clients started.
    pub(super) server_start: Option<Figures>,
    /// Server RSS before the clients started.
    pub(super) rss_start: Option<f64>,
    /// Server CPU (user, system) before the clients started.
    pub(super) server_cpu_start: Option<CpuReading>,
    /// Server CPU read just before SIGTERM by the shutdown action.
    pub(super) signal_cpu: Option<CpuReading>,
    /// The generator's CPU at the same moment.
    pub(super) signal_generator_cpu: Option<CpuMark>,
    /// Server RSS read during the pause action.
    pub(super) pause_rss: Option<f64>,
    /// Server RSS read by the pause action just before the first wave left.
    pub(super) wave_rss: Option<f64>,
    /// Whether clients connect from several loopback source addresses.
    pub(super) spread_sources: bool,
}

/// The target as the runner holds it.
pub(super) struct TargetSide<'a> {
    /// Where server figures come from.
    pub(super) source: &'a ServerSource,
    /// The embedded server, stopped here.
    pub(super) server: Option<EmbeddedServer>,
    /// What the target offers.
    pub(super) caps: Capabilities,
    /// Base URL.
    pub(super) url: String,
    /// The feed as run (a self-publishing target's has no rate).
    pub(super) feed: crate::scenario::feed::Feed,
    /// The protocol the streams used.
    pub(super) protocol: crate::client::Protocol,
}

/// Stops every part of the run and assembles what it measured.
///
/// # Errors
/// Stopping the embedded server failed.
pub(super) async fn collect(
    plan: &Plan,
    running: Running,
    readings: Readings,
    target: TargetSide<'_>,
) -> Result<Measured, TargetError> {
    let ctx = running.ctx;
    // Both sides' CPU ends here, before the clients close their streams (or at SIGTERM,
    // where the server's ends). On loopback a client's close(2) also runs the server
    // socket's FIN handling, while the server's own teardown came after its reading: the
    // generator alone paid for teardown: about a third of its reader threads' CPU samples
    // in time-to-first-event, watcher-scale and graceful-shutdown (`perf record -g`).
    let generator_cpu = running
        .generator
        .until(readings.signal_generator_cpu.unwrap_or_else(CpuMark::now));
    let server_cpu_end = match readings.signal_cpu {
        Some(cpu) => Some(cpu),
        None => target.source.cpu().await,
    };
    ctx.stop.cancel();
    let summaries = running.crowd.finish(CLIENT_EXIT_TIMEOUT).await;
    // The publisher runs on a reader thread: it ends with the stop, before the pool does.
    let published = publisher_end(running.publisher).await;
    let reader_threads = running.pool.threads();
    drop(running.pool);
    let wall = running.started.elapsed();
    let mid = running.mid.await.ok().flatten();
    let (frozen_outcome, evictions) = frozen_outcome(running.frozen, running.evictions).await;
    running.sampler_stop.cancel();
    let sampled = running.sampling.await.unwrap_or_default();
    let signalled = ctx.shutdown_at.get().is_some();
    let early_ends = early_ends(&ctx, signalled);
    let (caps, url, feed, source, protocol) = (
        target.caps,
        target.url.clone(),
        target.feed,
        target.source,
        target.protocol,
    );
    let mut after = server_after(plan, target, readings.server_start.as_ref(), signalled).await?;
    let mut totals = merge(ctx, &summaries);
    if let Some(e) = evictions.filter(|e| !e.latencies.is_empty()) {
        totals.histograms.insert(Metric::Eviction, e.latencies);
    }
    if let Some(outcome) = after.shutdown.as_mut() {
        fill_shutdown(outcome, &totals, plan.population.clients as u64);
    }
    let memory = readings
        .rss_start
        .map(|start| memory(start, after.rss_end, &sampled));
    let outcome = Outcome {
        totals,
        wall,
        server_start: readings.server_start,
        server_mid: mid,
        server_end: after.figures,
        settled: after.settled,
        memory,
        rss_after_leave_mb: readings.pause_rss,
        rss_first_wave_mb: readings.wave_rss,
        frozen: frozen_outcome,
        shutdown: after.shutdown,
        early_ends,
        expected_events: expected_events(&plan.feed),
        nominal_rate: feed.nominal_rate(),
        published,
        control_gap_p99: None,
    };
    let server_cpu = readings
        .server_cpu_start
        .zip(server_cpu_end)
        .and_then(|(start, end)| end.since(&start));
    Ok(Measured {
        outcome,
        started_at: running.started_at,
        url,
        capabilities: caps,
        protocol,
        timeline: sampled.timeline,
        generator_cpu,
        reader_threads,
        cpu_note: cpu_note(source, server_cpu.is_some()),
        server_cpu,
        spread_sources: readings.spread_sources,
        target_notes: Vec::new(),
    })
}

/// Streams the server ended before the run stopped; after a SIGTERM, ends are the shutdown's
/// and counted there instead.
fn early_ends(ctx: &RunContext, signalled: bool) -> u64 {
    if signalled {
        0
    } else {
        Live::get(&ctx.live.early_ends)
    }
}

/// Events each client should have received, when the feed fixes it (a burst).
fn expected_events(feed: &Feed) -> Option<u64> {
    match feed {
        Feed::Burst { events, .. } => Some(*events),
        _ => None,
    }
}

/// The server after the clients left (nothing is read from a server that was signalled).
struct ServerAfter {
    /// Whether it released every stream (`None`: not judged).
    settled: Option<bool>,
    /// Its final figures.
    figures: Option<Figures>,
    /// Its final RSS.
    rss_end: Option<f64>,
    /// How the signalled embedded server exited.
    shutdown: Option<ShutdownOutcome>,
}

/// Lets the server settle, reads its final figures, then stops the embedded server.
async fn server_after(
    plan: &Plan,
    target: TargetSide<'_>,
    server_start: Option<&Figures>,
    signalled: bool,
) -> Result<ServerAfter, TargetError> {
    let (settled, figures) = if target.server.is_none() || !signalled {
        settle(plan, target.source, server_start).await
    } else {
        (None, None)
    };
    let rss_end = if signalled {
        None
    } else {
        target.source.resources().await.rss_mb
    };
    let mut shutdown = None;
    if let Some(server) = target.server {
        let exit = server.stop(Duration::from_secs(10)).await?;
        if signalled {
            shutdown = Some(ShutdownOutcome {
                exit_clean: exit.map(|s| s.success()),
                ..ShutdownOutcome::default()
            });
        }
    }
    Ok(ServerAfter {
        settled,
        figures,
        rss_end,
        shutdown,
    })
}

/// What the publisher published, once it has stopped (nothing when there was none).
async fn publisher_end(publisher: Option<JoinHandle<Published>>) -> Published {
    match publisher {
        Some(publisher) => publisher.await.unwrap_or_default(),
        None => Published::default(),
    }
}

/// Drains the frozen sockets and ends the eviction watch.
async fn frozen_outcome(
    frozen: Vec<Frozen>,
    evictions: Option<JoinHandle<Evictions>>,
) -> (FrozenOutcome, Option<Evictions>) {
    let mut outcome = FrozenOutcome {
        clients: frozen.len() as u64,
        ..FrozenOutcome::default()
    };
    for socket in frozen {
        outcome.closed_by_server += u64::from(socket.closed_by_server().await);
    }
    let evictions = match evictions {
        Some(watch) => watch.await.ok(),
        None => None,
    };
    if let Some(e) = &evictions {
        outcome.evicted = e.evicted;
        outcome.all_evicted_after = e.all_after;
    }
    (outcome, evictions)
}

/// The clients are gone: lets the server release them (when the plan settles), then reads
/// its final figures. Returns (settled, final figures).
async fn settle(
    plan: &Plan,
    source: &ServerSource,
    server_start: Option<&Figures>,
) -> (Option<bool>, Option<Figures>) {
    match (plan.settle, source.metrics.clone()) {
        (true, Some(metrics)) => {
            let fds_limit = plan
                .checks
                .contains(&CheckKind::FdsReleased)
                .then(|| server_start.and_then(|f| f.num_fds))
                .flatten();
            let (ok, figures) = probe::settle(&metrics, fds_limit, SETTLE_TIMEOUT).await;
            (Some(ok), figures)
        }
        _ => (None, source.figures().await),
    }
}

/// Merges every shard of the run (the clients' summaries go into the first).
fn merge(ctx: Arc<RunContext>, summaries: &[ClientSummary]) -> Totals {
    let shards = Arc::try_unwrap(ctx).map(|ctx| ctx.shards).unwrap_or_else(|ctx| {
        ctx.shards
            .iter()
            .map(|m| Mutex::new(std::mem::take(&mut *lock(m))))
            .collect()
    });
    {
        let mut shard = lock(&shards[0]);
        for summary in summaries {
            shard.finish_client(summary);
        }
    }
    Totals::merge(
        shards
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())),
    )
}

/// Server memory over the run, from the RSS at start and end and the sampler's peak and slope.
fn memory(start: f64, rss_end: Option<f64>, sampled: &Sampled) -> Memory {
    let end = rss_end
        .or(sampled.timeline.last().and_then(|s| s.server_rss_mb))
        .unwrap_or(start);
    let peak = sampled.peak_rss_mb.unwrap_or(start).max(start).max(end);
    Memory {
        start_mb: start,
        peak_mb: peak,
        end_mb: end,
        growth_mb: end - start,
        slope_mb_per_sec: sampled.rss_slope_mb_per_sec.unwrap_or(0.0),
        slope_window_seconds: sampled.rss_slope_window_seconds,
        slope_steady: sampled.rss_slope_steady,
    }
}

fn fill_shutdown(outcome: &mut ShutdownOutcome, totals: &Totals, clients: u64) {
    let c = &totals.counts.connections;
    outcome.open_at_signal = clients;
    outcome.ended = c.ended_clean + c.ended_reset;
    outcome.ended_clean = c.ended_clean;
    outcome.ended_reset = c.ended_reset;
    if outcome.ended >= clients {
        outcome.all_ended_after = totals
            .histogram(Metric::StreamEnd)
            .map(|h| Duration::from_micros(h.max()));
    }
}

fn cpu_note(source: &ServerSource, have_server: bool) -> String {
    if have_server {
        format!(
            "server CPU from {}; generator CPU from getrusage(RUSAGE_SELF)",
            source.cpu_origin()
        )
    } else if source.metrics.is_some() || source.prometheus.is_some() {
        "the target's metrics have no CPU figures (cpu_user_seconds/cpu_system_seconds or process_cpu_seconds_total): server CPU not available; give --server-pid".into()
    } else {
        "no server pid and no metrics: server CPU not available; give --server-pid or a metrics endpoint"
            .into()
    }
}
