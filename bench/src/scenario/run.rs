//! Running one plan: start or reach the target, start the parts (clients, frozen clients,
//! publisher, sampler, shutdown action), stop, settle, and collect an [`Outcome`].
//!
//! Every part is a task bound to one [`CancellationToken`]; nothing polls a global flag.
//! The embedded server is owned here and stopped (or killed, on error paths, by
//! dropping it) before this returns.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use http::Uri;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::checks::CheckKind;
use super::client;
use super::context::{Live, RunContext, STREAMS_PER_SOURCE_ADDR};
use super::outcome::{FrozenOutcome, Outcome, ShutdownOutcome};
use super::plan::{Action, Capabilities, Plan};
use super::probe;
use crate::client::{ClientError, Target};
use crate::measure::cpu::{CpuSpent, CpuStopwatch};
use crate::measure::sampler;
use crate::measure::server::ServerSource;
use crate::measure::stats::{Metric, Shard, Totals, lock};
use crate::report::model::{Memory, Sample};
use crate::target::{EmbeddedServer, Launcher, TargetError, join};

/// How long the embedded server may take to answer `/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long clients get to finish after the stop signal before they are aborted.
const CLIENT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to release streams after the clients left.
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for every client to connect before a burst or a shutdown starts anyway.
pub(super) const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// The server under test.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, started per scenario as a child process.
    Embedded(Launcher),
    /// Any server at this base URL.
    External(Uri),
}

/// Errors that stop a scenario run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Starting or signalling the embedded server failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The target could not be reached.
    #[error("the target {url} is not reachable: {source}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The client error.
        source: ClientError,
    },
}

/// What one plan run produced.
#[derive(Debug)]
pub enum RunResult {
    /// The scenario ran.
    Done(Box<Measured>),
    /// The target lacks something the scenario needs.
    Skipped(String),
}

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
    /// The bounded timeline.
    pub timeline: Vec<Sample>,
    /// Generator CPU over the measured phase.
    pub generator_cpu: CpuSpent,
    /// Server CPU (user, system) over the measured phase, when known.
    pub server_cpu: Option<(f64, f64)>,
    /// Where server CPU came from (or why it is missing).
    pub cpu_note: String,
    /// Number of clients that connect at once spread over 127.0.0.0/8 sources.
    pub spread_sources: bool,
}

/// Runs `plan` against `spec`.
///
/// # Errors
/// The embedded server did not start, or the target is unreachable.
pub async fn run_plan(plan: &Plan, spec: &TargetSpec) -> Result<RunResult, RunError> {
    let (server, base) = match spec {
        TargetSpec::Embedded(launcher) => {
            let server = EmbeddedServer::start(launcher, &plan.server_flags()).await?;
            let base = server.url().clone();
            (Some(server), base)
        }
        TargetSpec::External(url) => (None, url.clone()),
    };
    let unreachable = |source| RunError::Unreachable {
        url: base.to_string(),
        source,
    };
    if server.is_some() {
        probe::wait_healthy(&base, HEALTH_TIMEOUT)
            .await
            .map_err(unreachable)?;
    }
    let caps = probe::capabilities(&base, server.is_some()).await;
    if let Some(reason) = plan.unmet(&caps) {
        if let Some(server) = server {
            server.stop(Duration::from_secs(5)).await?;
        }
        return Ok(RunResult::Skipped(reason));
    }
    let url = |path: &str| {
        join(&base, path).map_err(|_| {
            unreachable(ClientError::InvalidUrl {
                url: format!("{base}{path}"),
                reason: "not a valid URL",
            })
        })
    };
    let stream = Target::resolve(&url(&plan.feed.path())?)
        .await
        .map_err(unreachable)?;
    probe::reachable(&stream).await.map_err(unreachable)?;
    let metrics_url = url("/metrics")?;
    let source = ServerSource {
        metrics: caps.metrics.then(|| metrics_url.clone()),
        pid: server.as_ref().map(EmbeddedServer::pid),
    };
    let mut runner = Runner {
        plan,
        signal_cpu: OnceLock::new(),
        pause_rss: OnceLock::new(),
        caps,
        server,
        source,
        base: base.clone(),
    };
    let measured = runner.measure(stream).await?;
    Ok(RunResult::Done(Box::new(measured)))
}

pub(super) struct Runner<'a> {
    pub(super) plan: &'a Plan,
    /// Server CPU (user, system) read just before SIGTERM, by the shutdown action.
    pub(super) signal_cpu: OnceLock<(f64, f64)>,
    /// Server RSS read during the pause action.
    pub(super) pause_rss: OnceLock<f64>,
    pub(super) caps: Capabilities,
    pub(super) server: Option<EmbeddedServer>,
    pub(super) source: ServerSource,
    pub(super) base: Uri,
}

impl Runner<'_> {
    async fn measure(&mut self, stream: Target) -> Result<Measured, RunError> {
        let plan = self.plan;
        let clients = plan.population.clients;
        let server_start = self.source.figures().await;
        let rss_start = self.source.resources().await.rss_mb;
        let spread_sources = clients + plan.population.frozen > STREAMS_PER_SOURCE_ADDR
            && stream.addr().ip().is_loopback()
            && stream.addr().is_ipv4();
        let stop = CancellationToken::new();
        let ctx = Arc::new(RunContext {
            stream,
            clients,
            feed: plan.feed,
            behaviour: plan.population.behaviour,
            stop: stop.clone(),
            events_per_client: plan.stop.events_per_client,
            shards: (0..RunContext::shard_count(clients))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            live: Live::default(),
            leave: CancellationToken::new(),
            rejoin: CancellationToken::new(),
            shutdown_at: OnceLock::new(),
            spread_sources,
            connect_timeout: crate::client::DEFAULT_CONNECT_TIMEOUT,
        });

        let server_cpu_start = self.source.cpu().await;
        let generator = CpuStopwatch::start();
        let started_at = SystemTime::now();
        let started = Instant::now();
        let sampler_stop = CancellationToken::new();
        let sampling = tokio::spawn(sampler::run(
            Arc::clone(&ctx),
            self.source.clone(),
            sampler::interval_for(plan.stop.duration),
            sampler::warmup_for(plan.stop.duration),
            sampler_stop.clone(),
        ));

        let mut tasks = JoinSet::new();
        for index in 0..clients {
            tasks.spawn(client::run(
                Arc::clone(&ctx),
                index,
                plan.population.start_offset(index),
            ));
        }
        let (frozen, evictions) = self.start_frozen(&stop).await;
        let publisher = self.start_publisher(&ctx)?;
        let mid = tokio::spawn(super::phases::mid_probe(
            self.source.clone(),
            Arc::clone(&ctx),
            plan.stop.duration / 2,
        ));

        // The measured phase: until the duration is over, every client is done, or the
        // shutdown action has ended every stream.
        let mut summaries = Vec::with_capacity(clients);
        {
            let deadline = tokio::time::sleep(plan.stop.duration);
            tokio::pin!(deadline);
            let action = self.action(&ctx);
            tokio::pin!(action);
            let mut action_done = plan.action == Action::None;
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    () = &mut action, if !action_done => action_done = true,
                    joined = tasks.join_next() => match joined {
                        Some(Ok(summary)) => summaries.push(summary),
                        Some(Err(err)) => tracing::warn!(%err, "client task failed"),
                        None => break,
                    },
                }
            }
        }
        stop.cancel();
        while let Ok(Some(joined)) = tokio::time::timeout(CLIENT_EXIT_TIMEOUT, tasks.join_next()).await {
            if let Ok(summary) = joined {
                summaries.push(summary);
            }
        }
        tasks.abort_all();
        let wall = started.elapsed();
        let generator_cpu = generator.elapsed();
        let server_cpu_end = match self.signal_cpu.get() {
            Some(&cpu) => Some(cpu),
            None => self.source.cpu().await,
        };
        if let Some(publisher) = publisher {
            let _ = publisher.await;
        }
        let mid = mid.await.ok().flatten();

        let mut frozen_outcome = FrozenOutcome {
            clients: frozen.len() as u64,
            ..FrozenOutcome::default()
        };
        for socket in frozen {
            frozen_outcome.closed_by_server += u64::from(socket.closed_by_server().await);
        }
        let evictions = match evictions {
            Some(watch) => watch.await.ok(),
            None => None,
        };
        if let Some(e) = &evictions {
            frozen_outcome.evicted = e.evicted;
            frozen_outcome.all_evicted_after = e.all_after;
        }

        sampler_stop.cancel();
        let sampled = sampling.await.unwrap_or_default();

        // The clients are gone: let the server release them, then read its final figures.
        let mut settled = None;
        let mut server_end = None;
        if self
            .server
            .as_ref()
            .is_none_or(|_| ctx.shutdown_at.get().is_none())
        {
            if let (true, Some(metrics)) = (plan.settle, self.source.metrics.clone()) {
                let fds_limit = plan
                    .checks
                    .contains(&CheckKind::FdsReleased)
                    .then(|| server_start.as_ref().and_then(|f| f.get("num_fds").copied()))
                    .flatten();
                let (ok, figures) = probe::settle(&metrics, fds_limit, SETTLE_TIMEOUT).await;
                settled = Some(ok);
                server_end = figures;
            } else {
                server_end = self.source.figures().await;
            }
        }
        let rss_end = if ctx.shutdown_at.get().is_none() {
            self.source.resources().await.rss_mb
        } else {
            None
        };

        let signalled = ctx.shutdown_at.get().is_some();
        let early_ends = if signalled {
            0
        } else {
            Live::get(&ctx.live.early_ends)
        };
        let mut shutdown = None;
        if let Some(server) = self.server.take() {
            let exit = server.stop(Duration::from_secs(10)).await?;
            if signalled {
                shutdown = Some(ShutdownOutcome {
                    exit_clean: exit.map(|s| s.success()),
                    ..ShutdownOutcome::default()
                });
            }
        }

        let shards = Arc::try_unwrap(ctx).map(|ctx| ctx.shards).unwrap_or_else(|ctx| {
            ctx.shards
                .iter()
                .map(|m| Mutex::new(std::mem::take(&mut *lock(m))))
                .collect()
        });
        {
            let first = &shards[0];
            let mut shard = lock(first);
            for summary in &summaries {
                shard.finish_client(summary);
            }
        }
        let mut totals = Totals::merge(
            shards
                .into_iter()
                .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())),
        );
        if let Some(e) = evictions.filter(|e| !e.latencies.is_empty()) {
            totals.histograms.insert(Metric::Eviction, e.latencies);
        }
        if let Some(outcome) = shutdown.as_mut() {
            fill_shutdown(outcome, &totals, clients as u64);
        }

        let memory = rss_start.map(|start| {
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
            }
        });
        let outcome = Outcome {
            totals,
            wall,
            server_start,
            server_mid: mid,
            server_end,
            settled,
            memory,
            rss_after_leave_mb: self.pause_rss.get().copied(),
            frozen: frozen_outcome,
            shutdown,
            early_ends,
            expected_events: match plan.feed {
                super::feed::Feed::Burst { events, .. } => Some(events),
                _ => None,
            },
            nominal_rate: plan.feed.nominal_rate(),
        };
        let server_cpu = match (server_cpu_start, server_cpu_end) {
            (Some((u0, s0)), Some((u1, s1))) => Some(((u1 - u0).max(0.0), (s1 - s0).max(0.0))),
            _ => None,
        };
        let cpu_note = cpu_note(self.caps, server_cpu.is_some());
        Ok(Measured {
            outcome,
            started_at,
            url: self.base.to_string(),
            capabilities: self.caps,
            timeline: sampled.timeline,
            generator_cpu,
            server_cpu,
            cpu_note,
            spread_sources,
        })
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

fn cpu_note(caps: Capabilities, have_server: bool) -> String {
    match (caps.embedded, caps.metrics, have_server) {
        (true, _, true) => "server CPU from /proc/<pid> of the embedded server; generator CPU from getrusage(RUSAGE_SELF)".into(),
        (false, true, true) => "server CPU from the target's /metrics (cpu_user_seconds, cpu_system_seconds); generator CPU from getrusage".into(),
        (false, true, false) => "the target's /metrics has no cpu_user_seconds/cpu_system_seconds: server CPU not available".into(),
        _ => "the target has no /metrics: server CPU not available".into(),
    }
}
