//! Running one plan: start or reach the target, start the parts (clients, frozen clients,
//! publisher, sampler, mid-run actions), run the measured phase, then `collect` the result.
//!
//! Every part is a task bound to one [`CancellationToken`]; nothing polls a global flag.
//! The embedded server is owned here and stopped (or killed, on error paths, by
//! dropping it) before this returns.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use http::Uri;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::collect::{Measured, Readings, Running, SETTLE_TIMEOUT, TargetSide, collect};
use super::context::{Live, MAX_CONNECTS_IN_FLIGHT, RunContext, STREAMS_PER_SOURCE_ADDR};
use super::crowd::Crowd;
use super::pool::ReaderPool;
use super::{frozen, probe, publish};
use crate::client::{ClientError, Target};
use crate::measure::cpu::{CpuMark, CpuStopwatch};
use crate::measure::histogram;
use crate::measure::sampler;
use crate::measure::send_time::SendTime;
use crate::measure::server::{CpuReading, ServerSource};
use crate::measure::stats::Shard;
use crate::scenario::feed::{Feed, PublishSchedule};
use crate::scenario::outcome::{Figures, Published};
use crate::scenario::plan::{Action, Capabilities, Plan};
use crate::target::{EmbeddedServer, TargetError, join};

/// Longest wait for every client to connect before a burst or a shutdown starts anyway.
const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// Errors that stop a scenario run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Starting or signalling the embedded server failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The target's process cannot be found (pid file, `--server-pid`).
    #[error("{0}")]
    Process(String),
    /// The reader threads could not be started.
    #[error("starting the reader threads: {0}")]
    Readers(#[source] std::io::Error),
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
        signal_generator_cpu: OnceLock::new(),
        pause_rss: OnceLock::new(),
        wave_rss: OnceLock::new(),
        caps: parts.caps,
        server: parts.server,
        source: parts.source,
        base: parts.base,
        feed: parts.feed,
        publication: parts.publication,
    };
    runner.measure(parts.streams, parts.send_time).await
}

struct Runner<'a> {
    plan: &'a Plan,
    /// Server CPU read just before SIGTERM, by the shutdown action.
    signal_cpu: OnceLock<CpuReading>,
    /// The generator's CPU at the same moment.
    signal_generator_cpu: OnceLock<CpuMark>,
    /// Server RSS read during the pause action.
    pause_rss: OnceLock<f64>,
    /// Server RSS read by the pause action just before the first wave left.
    wave_rss: OnceLock<f64>,
    caps: Capabilities,
    server: Option<EmbeddedServer>,
    source: ServerSource,
    base: Uri,
    feed: Feed,
    publication: Option<publish::Publication>,
}

impl Runner<'_> {
    /// Starts every part, runs the measured phase, then [`collect`]s.
    async fn measure(&mut self, streams: Vec<Target>, send_time: SendTime) -> Result<Measured, RunError> {
        let plan = self.plan;
        let stream = streams[0].clone();
        let server_start = self.source.figures().await;
        let rss_start = self.source.resources().await.rss_mb;
        let spread_sources = plan.population.clients + plan.population.frozen > STREAMS_PER_SOURCE_ADDR
            && stream.addr().ip().is_loopback()
            && stream.addr().is_ipv4();
        let threads = plan
            .reader_threads
            .unwrap_or_else(|| ReaderPool::threads_for(plan.population.clients, self.feed.nominal_rate()))
            .clamp(1, plan.population.clients.max(1));
        let ctx = Arc::new(context(
            plan,
            self.feed,
            streams,
            send_time,
            spread_sources,
            threads,
        ));
        let server_cpu_start = self.source.cpu().await;
        let mut running = self.start(ctx, threads).await?;
        self.measured_phase(&mut running).await;
        let readings = Readings {
            server_start,
            rss_start,
            server_cpu_start,
            signal_cpu: self.signal_cpu.get().copied(),
            signal_generator_cpu: self.signal_generator_cpu.get().copied(),
            pause_rss: self.pause_rss.get().copied(),
            wave_rss: self.wave_rss.get().copied(),
            spread_sources,
        };
        let target = TargetSide {
            source: &self.source,
            server: self.server.take(),
            caps: self.caps,
            url: self.base.to_string(),
            feed: self.feed,
            protocol: stream.protocol(),
        };
        Ok(collect(plan, running, readings, target).await?)
    }

    /// Starts the clocks, the sampler, the reading clients, the frozen clients, the
    /// publisher and the mid-run probe.
    async fn start(&self, ctx: Arc<RunContext>, threads: usize) -> Result<Running, RunError> {
        let plan = self.plan;
        // Clients live on the reader threads, partitioned by index (see `pool`). The
        // threads and their runtimes are set up before the generator's clock starts, as
        // the runner's own runtime is: the clock counts the work of generating load.
        let pool = ReaderPool::start(threads).map_err(RunError::Readers)?;
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
        let crowd = Crowd::spawn(&pool, &ctx, |index| plan.population.start_offset(index));
        let (frozen, evictions) = self.start_frozen(&ctx.stop).await;
        // The publisher shares the first reader thread: on a multi-thread runtime each
        // publish woke a second worker, and a burst's publishes cost the generator a third
        // of its CPU.
        let publisher = self.start_publisher(&ctx, pool.handle(0))?;
        let mid = tokio::spawn(mid_probe(
            self.source.clone(),
            Arc::clone(&ctx),
            plan.stop.duration / 2,
        ));
        Ok(Running {
            ctx,
            pool,
            crowd,
            publisher,
            mid,
            frozen,
            evictions,
            sampler_stop,
            sampling,
            generator,
            started,
            started_at,
        })
    }

    /// The measured phase: until the duration is over, every client is done, or the
    /// shutdown action has ended every stream.
    async fn measured_phase(&self, running: &mut Running) {
        let deadline = tokio::time::sleep(self.plan.stop.duration);
        tokio::pin!(deadline);
        let action = self.action(&running.ctx);
        tokio::pin!(action);
        let mut action_done = self.plan.action == Action::None;
        loop {
            tokio::select! {
                () = &mut deadline => break,
                () = &mut action, if !action_done => action_done = true,
                group = running.crowd.next_group_done() => if group.is_none() {
                    break;
                },
            }
        }
    }
}

/// The shared state of one run of `plan` reading `feed` from `streams`.
fn context(
    plan: &Plan,
    feed: Feed,
    streams: Vec<Target>,
    send_time: SendTime,
    spread_sources: bool,
    reader_threads: usize,
) -> RunContext {
    let clients = plan.population.clients;
    let stop = CancellationToken::new();
    RunContext {
        streams,
        send_time,
        clients,
        feed,
        behaviour: plan.population.behaviour,
        thread_stops: (0..reader_threads).map(|_| stop.child_token()).collect(),
        stop,
        events_per_client: plan.stop.events_per_client,
        shards: (0..reader_threads)
            .map(|_| Mutex::new(Shard::with_histograms()))
            .collect(),
        live: Live::default(),
        leave: CancellationToken::new(),
        rejoin: CancellationToken::new(),
        shutdown_at: OnceLock::new(),
        spread_sources,
        connect_timeout: crate::client::DEFAULT_CONNECT_TIMEOUT,
        connecting: Semaphore::new(MAX_CONNECTS_IN_FLIGHT),
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
        // The eviction count before any frozen client exists: a first poll that only gets
        // through once the connect storm is over would otherwise miss early evictions.
        let evicted_before = self
            .source
            .figures()
            .await
            .and_then(|f| f.clients_evicted)
            .map(|n| n as u64);
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
                    frozen::watch_evictions(metrics, expected, evicted_before, since, watch_stop),
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

    /// Starts the generator's publisher on `on` (a reader thread's runtime), if the feed
    /// needs one on this target.
    fn start_publisher(
        &self,
        ctx: &Arc<RunContext>,
        on: &tokio::runtime::Handle,
    ) -> Result<Option<tokio::task::JoinHandle<Published>>, RunError> {
        // A target that publishes by itself (a target file's `source = "self"`) gets no publisher.
        let publisher = if self.caps.embedded || self.caps.publish {
            self.feed.publish_schedule(self.caps.embedded)
        } else {
            PublishSchedule::None
        };
        if publisher == PublishSchedule::None {
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
        Ok(Some(on.spawn(async move {
            let target = match given {
                Some(publication) => publication,
                None => match Target::resolve(&url).await {
                    Ok(target) => publish::Publication::reference(target),
                    Err(_) => return Published::default(),
                },
            };
            match publisher {
                PublishSchedule::None => Published::default(),
                PublishSchedule::Rate { rate, payload } => {
                    publish::at_rate(target, rate, payload, ctx.stop.clone()).await
                }
                PublishSchedule::Burst {
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
        if let Some(rss) = self.source.resources().await.rss_mb {
            let _ = self.wave_rss.set(rss);
        }
        ctx.leave.cancel();
        let closed = ctx.live.until(|l| Live::get(&l.open_streams) == 0);
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, closed).await;
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
            let _ = self.signal_generator_cpu.set(CpuMark::now());
        }
        let _ = ctx.shutdown_at.set(Instant::now());
        if let Err(err) = server.terminate() {
            tracing::warn!(%err, "could not signal the server");
        }
        ctx.live.until(|l| Live::get(&l.open_streams) == 0).await;
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
    let connected = ctx
        .live
        .until(|l| Live::get(&l.connected_clients) + Live::get(&l.finished_clients) >= clients);
    tokio::select! {
        _ = tokio::time::timeout(CONNECT_WAIT, connected) => {}
        () = ctx.stop.cancelled() => {}
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
