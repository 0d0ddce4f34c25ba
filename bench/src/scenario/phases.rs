//! The parts started beside the reading clients: frozen clients and their eviction watch,
//! the generator's publisher, the mid-run `/metrics` probe, and the mid-run actions
//! (pause, SIGTERM).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::context::{Live, RunContext};
use super::feed::{Feed, Publisher};
use super::plan::{Action, Plan};
use super::run::{CONNECT_WAIT, RunError, Runner, SETTLE_TIMEOUT};
use super::{frozen, probe, publish};
use crate::client::{ClientError, Target};
use crate::measure::histogram;
use crate::measure::server::ServerSource;
use crate::target::join;

impl Runner<'_> {
    /// Connects the frozen clients and starts watching the server evict them.
    pub(super) async fn start_frozen(
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
    pub(super) fn start_publisher(
        &self,
        ctx: &Arc<RunContext>,
    ) -> Result<Option<tokio::task::JoinHandle<publish::Published>>, RunError> {
        let publisher = self.plan.feed.publisher(self.caps.embedded);
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
        let ctx = Arc::clone(ctx);
        let clients = self.plan.population.clients as u64;
        Ok(Some(tokio::spawn(async move {
            let Ok(target) = Target::resolve(&url).await else {
                return publish::Published::default();
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
    pub(super) async fn action(&self, ctx: &Arc<RunContext>) {
        match self.plan.action {
            Action::None => std::future::pending().await,
            Action::Pause => self.pause_action(ctx).await,
            Action::Shutdown { .. } => self.shutdown_action(ctx).await,
        }
    }

    /// The pause: halfway through, every client leaves; once the server released their
    /// streams its RSS is read; then they come back.
    pub(super) async fn pause_action(&self, ctx: &Arc<RunContext>) {
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
    pub(super) async fn shutdown_action(&self, ctx: &Arc<RunContext>) {
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
pub(super) async fn mid_probe(
    source: ServerSource,
    ctx: Arc<RunContext>,
    at: Duration,
) -> Option<(super::outcome::Figures, u64)> {
    tokio::select! {
        () = ctx.stop.cancelled() => return None,
        () = tokio::time::sleep(at) => {}
    }
    let open = Live::get(&ctx.live.open_streams);
    let figures = source.figures().await?;
    Some((figures, open))
}
