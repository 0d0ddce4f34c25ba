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

use super::context::{Live, RunContext, STREAMS_PER_SOURCE_ADDR};
use super::{frozen, probe, publish, reader};
use crate::client::{ClientError, Target};
use crate::description::Description;
use crate::measure::cpu::{CpuSpent, CpuStopwatch};
use crate::measure::histogram;
use crate::measure::sampler;
use crate::measure::send_time::SendTime;
use crate::measure::server::{CpuDelta, CpuReading, ServerSource};
use crate::measure::stats::{Metric, Shard, Totals, lock};
use crate::measure::timeline::Sample;
use crate::model::Memory;
use crate::scenario::checks::CheckKind;
use crate::scenario::feed::{Feed, Publisher};
use crate::scenario::outcome::{Figures, FrozenOutcome, Outcome, ShutdownOutcome};
use crate::scenario::plan::{Action, Capabilities, Plan};
use crate::target::{EmbeddedServer, Launcher, TargetError, join};

/// How long the embedded server may take to answer `/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long clients get to finish after the stop signal before they are aborted.
const CLIENT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to release streams after the clients left.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for every client to connect before a burst or a shutdown starts anyway.
const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// The server under test.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, started per scenario as a child process.
    Embedded(Launcher),
    /// Any server at this base URL (`pid`: its local process, `--server-pid`).
    External {
        /// The base URL.
        url: Uri,
        /// The server's process id, for `/proc/<pid>` figures.
        pid: Option<u32>,
    },
    /// Any server, as a target file describes it (`pid`: `--server-pid`, which wins over
    /// the file's `[process]`).
    Described {
        /// The validated description.
        description: Arc<Description>,
        /// The server's process id from the command line.
        pid: Option<u32>,
    },
}

/// Errors that stop a scenario run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Starting or signalling the embedded server failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The target's process cannot be found (pid file, `--server-pid`).
    #[error("{0}")]
    Process(String),
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
    /// Server CPU over the measured phase, when known.
    pub server_cpu: Option<CpuDelta>,
    /// Where server CPU came from (or why it is missing).
    pub cpu_note: String,
    /// Number of clients that connect at once spread over 127.0.0.0/8 sources.
    pub spread_sources: bool,
    /// What a target file said about the target (secrets redacted), for the parameters.
    pub target_notes: Vec<(&'static str, serde_json::Value)>,
}

/// Runs `plan` against `spec`.
///
/// # Errors
/// The embedded server did not start, or the target is unreachable.
pub async fn run_reference(plan: &Plan, spec: &TargetSpec) -> Result<RunResult, RunError> {
    let mut external_pid = None;
    let (server, base) = match spec {
        TargetSpec::Embedded(launcher) => {
            let server = EmbeddedServer::start(launcher, &plan.server_flags()).await?;
            let base = server.url().clone();
            (Some(server), base)
        }
        TargetSpec::External { url, pid } => {
            external_pid = *pid;
            (None, url.clone())
        }
        TargetSpec::Described { .. } => {
            return Err(RunError::Process(
                "a described target runs through runner::described".into(),
            ));
        }
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
        pid: server.as_ref().map(EmbeddedServer::pid).or(external_pid),
        ..ServerSource::default()
    };
    let parts = Parts {
        plan,
        caps,
        server,
        source,
        base: base.clone(),
        feed: plan.feed,
        publication: None,
        streams: vec![stream],
        send_time: SendTime::Reference,
    };
    let measured = measure(parts).await?;
    Ok(RunResult::Done(Box::new(measured)))
}

/// Everything a run needs once the target is reached: what [`measure`] runs.
#[derive(Debug)]
pub struct Parts<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// What the target offers.
    pub caps: Capabilities,
    /// The embedded server, owned by the run.
    pub server: Option<EmbeddedServer>,
    /// Where server figures come from.
    pub source: ServerSource,
    /// The target's base URL (frozen clients, `/publish`).
    pub base: Uri,
    /// The feed as run (a self-publishing target's has no rate).
    pub feed: Feed,
    /// The request publishing one event, when a target file gives it (else `POST /publish`).
    pub publication: Option<publish::Publication>,
    /// The stream endpoints; client `i` opens `streams[i % len]`.
    pub streams: Vec<Target>,
    /// Where events carry their send time.
    pub send_time: SendTime,
}

/// Measures a run of `parts` (the target is reached and the plan can run).
///
/// # Errors
/// Stopping the embedded server failed.
pub async fn measure(parts: Parts<'_>) -> Result<Measured, RunError> {
    let mut runner = Runner {
        plan: parts.plan,
        signal_cpu: OnceLock::new(),
        pause_rss: OnceLock::new(),
        caps: parts.caps,
        server: parts.server,
        source: parts.source,
        base: parts.base,
        feed: parts.feed,
        publication: parts.publication,
    };
    runner.run(parts.streams, parts.send_time).await
}

struct Runner<'a> {
    plan: &'a Plan,
    /// Server CPU (user, system) read just before SIGTERM, by the shutdown action.
    signal_cpu: OnceLock<CpuReading>,
    /// Server RSS read during the pause action.
    pause_rss: OnceLock<f64>,
    caps: Capabilities,
    server: Option<EmbeddedServer>,
    source: ServerSource,
    base: Uri,
    feed: Feed,
    publication: Option<publish::Publication>,
}

impl Runner<'_> {
    async fn run(&mut self, streams: Vec<Target>, send_time: SendTime) -> Result<Measured, RunError> {
        let plan = self.plan;
        let stream = streams[0].clone();
        let clients = plan.population.clients;
        let server_start = self.source.figures().await;
        let rss_start = self.source.resources().await.rss_mb;
        let spread_sources = clients + plan.population.frozen > STREAMS_PER_SOURCE_ADDR
            && stream.addr().ip().is_loopback()
            && stream.addr().is_ipv4();
        let stop = CancellationToken::new();
        let ctx = Arc::new(RunContext {
            streams,
            send_time,
            clients,
            feed: self.feed,
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
            tasks.spawn(reader::run(
                Arc::clone(&ctx),
                index,
                plan.population.start_offset(index),
            ));
        }
        let (frozen, evictions) = self.start_frozen(&stop).await;
        let publisher = self.start_publisher(&ctx)?;
        let mid = tokio::spawn(mid_probe(
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
            Some(cpu) => Some(*cpu),
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
                Feed::Burst { events, .. } => Some(events),
                _ => None,
            },
            nominal_rate: self.feed.nominal_rate(),
        };
        let server_cpu = match (server_cpu_start, server_cpu_end) {
            (Some(start), Some(end)) => end.since(&start),
            _ => None,
        };
        let cpu_note = cpu_note(&self.source, server_cpu.is_some());
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
            target_notes: Vec::new(),
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

impl Runner<'_> {
    /// Connects the frozen clients and starts watching the server evict them.
    async fn start_frozen(
        &self,
        stop: &CancellationToken,
    ) -> (
        Vec<frozen::Frozen>,
        Option<tokio::task::JoinHandle<frozen::Evictions>>,
    ) {
        let count = self.plan.population.frozen;
        if count == 0 {
            return (Vec::new(), None);
        }
        let authority = self.base.authority().map_or_else(String::new, |a| a.to_string());
        let addr = match tokio::net::lookup_host(authority.as_str())
            .await
            .ok()
            .and_then(|mut a| a.next())
        {
            Some(addr) => addr,
            None => return (Vec::new(), None),
        };
        let since = Instant::now();
        let path = frozen_path(self.plan);
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count {
            match frozen::connect(addr, &authority, &path).await {
                Ok(socket) => sockets.push(socket),
                Err(err) => tracing::warn!(%err, "frozen client could not connect"),
            }
        }
        let watch = self.source.metrics.clone().map(|metrics| {
            // Keep watching a little past the run so a late eviction is still timed.
            let watch_stop = CancellationToken::new();
            let run_stop = stop.clone();
            let limit = self.plan.stop.duration + Duration::from_secs(5);
            let expected = sockets.len() as u64;
            let stopper = watch_stop.clone();
            tokio::spawn(async move {
                run_stop.cancelled().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                stopper.cancel();
            });
            tokio::spawn(async move {
                tokio::time::timeout(
                    limit,
                    frozen::watch_evictions(metrics, expected, since, watch_stop),
                )
                .await
                .unwrap_or(frozen::Evictions {
                    evicted: 0,
                    all_after: None,
                    latencies: histogram::new_histogram(),
                })
            })
        });
        (sockets, watch)
    }

    /// Starts the generator's publisher, if the feed needs one on this target.
    fn start_publisher(
        &self,
        ctx: &Arc<RunContext>,
    ) -> Result<Option<tokio::task::JoinHandle<publish::Published>>, RunError> {
        // A target that publishes by itself (a target file's `source = "self"`) gets no publisher.
        let publisher = if self.caps.embedded || self.caps.publish {
            self.feed.publisher(self.caps.embedded)
        } else {
            Publisher::None
        };
        if publisher == Publisher::None {
            return Ok(None);
        }
        let url = join(&self.base, "/publish").map_err(|_| RunError::Unreachable {
            url: self.base.to_string(),
            source: ClientError::InvalidUrl {
                url: self.base.to_string(),
                reason: "cannot append /publish",
            },
        })?;
        let given = self.publication.clone();
        let ctx = Arc::clone(ctx);
        let clients = self.plan.population.clients as u64;
        Ok(Some(tokio::spawn(async move {
            let target = match given {
                Some(publication) => publication,
                None => match Target::resolve(&url).await {
                    Ok(target) => publish::Publication::reference(target),
                    Err(_) => return publish::Published::default(),
                },
            };
            match publisher {
                Publisher::None => publish::Published::default(),
                Publisher::Rate { rate, payload } => {
                    publish::at_rate(target, rate, payload, ctx.stop.clone()).await
                }
                Publisher::Burst {
                    events,
                    payload,
                    concurrency,
                } => {
                    wait_connected(&ctx, clients).await;
                    publish::burst(target, events, payload, concurrency, ctx.stop.clone()).await
                }
            }
        })))
    }

    /// The plan's mid-run action (never completes when there is none).
    async fn action(&self, ctx: &Arc<RunContext>) {
        match self.plan.action {
            Action::None => std::future::pending().await,
            Action::Pause => self.pause_action(ctx).await,
            Action::Shutdown { .. } => self.shutdown_action(ctx).await,
        }
    }

    /// The pause: halfway through, every client leaves; once the server released their
    /// streams its RSS is read; then they come back.
    async fn pause_action(&self, ctx: &Arc<RunContext>) {
        tokio::time::sleep(self.plan.stop.duration / 2).await;
        ctx.leave.cancel();
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while Live::get(&ctx.live.open_streams) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(metrics) = &self.source.metrics {
            probe::settle(metrics, None, SETTLE_TIMEOUT).await;
        }
        if let Some(rss) = self.source.resources().await.rss_mb {
            let _ = self.pause_rss.set(rss);
        }
        ctx.rejoin.cancel();
    }

    /// The shutdown action: once every client is connected and `after` passed, SIGTERM
    /// the embedded server and wait until every stream ended. The server's CPU is read
    /// just before the signal (afterwards the process is gone).
    async fn shutdown_action(&self, ctx: &Arc<RunContext>) {
        let Action::Shutdown { after } = self.plan.action else {
            return;
        };
        let Some(server) = self.server.as_ref() else {
            return;
        };
        wait_connected(ctx, self.plan.population.clients as u64).await;
        tokio::time::sleep(after).await;
        if let Some(cpu) = self.source.cpu().await {
            let _ = self.signal_cpu.set(cpu);
        }
        let _ = ctx.shutdown_at.set(Instant::now());
        if let Err(err) = server.terminate() {
            tracing::warn!(%err, "could not signal the server");
        }
        while Live::get(&ctx.live.open_streams) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The path frozen clients request: a fast, large-event stream fills the buffers at once.
fn frozen_path(plan: &Plan) -> String {
    match plan.feed {
        Feed::Stream { .. } => "/sse?delay=0&size=4096".to_owned(),
        _ => plan.feed.path(),
    }
}

/// Waits until `clients` clients have opened a stream (bounded by [`CONNECT_WAIT`] and the stop).
async fn wait_connected(ctx: &RunContext, clients: u64) {
    let deadline = Instant::now() + CONNECT_WAIT;
    while Live::get(&ctx.live.connected_clients) + Live::get(&ctx.live.finished_clients) < clients
        && Instant::now() < deadline
        && !ctx.stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Mid-run `/metrics` with the number of streams the generator held at that moment.
async fn mid_probe(source: ServerSource, ctx: Arc<RunContext>, at: Duration) -> Option<(Figures, u64)> {
    tokio::select! {
        () = ctx.stop.cancelled() => return None,
        () = tokio::time::sleep(at) => {}
    }
    let open = Live::get(&ctx.live.open_streams);
    let figures = source.figures().await?;
    Some((figures, open))
}
