//! The sampler: every interval, one timeline point (event rate, open streams, server RSS and fds).
//!
//! Runs as one task beside the clients (a thread of its own for a local server), reading
//! their relaxed counters; RSS also feeds bounded peak and slope figures (Theil–Sen, see
//! [`super::slope`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::process::LocalProbe;
use super::server::{Resources, ServerSource};
use super::slope::SlopeSeries;
use super::timeline::Sample;
use super::timeline::Timeline;

/// The live counts of a run the sampler reads each tick.
pub trait LiveCounts: Send + Sync + 'static {
    /// Events received so far.
    fn events(&self) -> u64;
    /// Streams open now.
    fn open_streams(&self) -> u64;
    /// Whether the run is in its steady state (every client connected); the RSS slope is
    /// fitted over steady samples only, so the ramp-up's allocations do not count as a leak.
    fn steady(&self) -> bool {
        true
    }
}

/// What the sampler collected.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// The bounded timeline.
    pub timeline: Vec<Sample>,
    /// Highest RSS seen, MiB.
    pub peak_rss_mb: Option<f64>,
    /// RSS slope over the steady part of the run (the whole run if it never got steady), MiB/s.
    pub rss_slope_mb_per_sec: Option<f64>,
    /// Seconds of samples the slope was fitted over.
    pub rss_slope_window_seconds: f64,
    /// Whether the run reached its steady state (every client connected) after the
    /// warm-up, so the slope was fitted over steady samples. When it did not, the slope
    /// covers clients still arriving: RSS grows with them, which is not a leak.
    pub rss_slope_steady: bool,
}

/// Samples every `every` until `stop`. The RSS slope is fitted over the samples after
/// `warmup` taken in the steady state (connection buffers and allocator arenas grow while
/// clients arrive; that is not a leak).
///
/// A local server (`server.pid`) is sampled from a thread of its own that sleeps until
/// each sample and reads two `/proc` entries: on a runtime's worker a sample woke the
/// worker two or three times and cost about 300 µs of generator CPU on a 2-core VM,
/// 1.3 ms per second of an idle run. Other servers are sampled from `/metrics` here.
pub async fn run<C: LiveCounts>(
    counters: Arc<C>,
    server: ServerSource,
    every: Duration,
    warmup: Duration,
    stop: CancellationToken,
) -> Sampled {
    if let Some(probe) = server.pid.and_then(LocalProbe::open) {
        if let Some(sampled) = on_own_thread(Arc::clone(&counters), probe, every, warmup, &stop).await {
            return sampled;
        }
    }
    let mut series = Series::new(Instant::now(), warmup, counters.events());
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        let resources = server.resources().await;
        series.record(now, counters.as_ref(), resources);
    }
    series.finish()
}

/// Samples `probe` every `every` from a thread of its own until `stop`; `None` when the
/// thread could not be started.
async fn on_own_thread<C: LiveCounts>(
    counters: Arc<C>,
    probe: LocalProbe,
    every: Duration,
    warmup: Duration,
    stop: &CancellationToken,
) -> Option<Sampled> {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sse-load-sampler".into())
        .spawn(move || {
            let started = Instant::now();
            let mut series = Series::new(started, warmup, counters.events());
            // The first sample at once, as a tokio interval's first tick.
            let mut next = started;
            // Sleeps until the next sample; a message or a dropped sender stops it.
            while let Err(RecvTimeoutError::Timeout) =
                stop_rx.recv_timeout(next.saturating_duration_since(Instant::now()))
            {
                let now = Instant::now();
                series.record(now, counters.as_ref(), probe.read().into());
                // A late sample delays the next one rather than bunching them up.
                next = (next + every).max(now + every / 2);
            }
            let _ = done_tx.send(series.finish());
        })
        .ok()?;
    stop.cancelled().await;
    let _ = stop_tx.send(());
    done_rx.await.ok()
}

/// The samples so far: the timeline, the RSS peak and the RSS slopes.
struct Series {
    started: Instant,
    warmup: Duration,
    timeline: Timeline,
    slope: SlopeSeries,
    steady_slope: SlopeSeries,
    peak: Option<f64>,
    last_events: u64,
    last_at: Instant,
}

impl Series {
    fn new(started: Instant, warmup: Duration, events: u64) -> Self {
        Self {
            started,
            warmup,
            timeline: Timeline::new(),
            slope: SlopeSeries::default(),
            steady_slope: SlopeSeries::default(),
            peak: None,
            last_events: events,
            last_at: started,
        }
    }

    /// Adds the sample taken at `now`.
    fn record(&mut self, now: Instant, counters: &impl LiveCounts, resources: Resources) {
        let events = counters.events();
        let dt = now.duration_since(self.last_at).as_secs_f64();
        let rate = if dt > 0.0 {
            events.saturating_sub(self.last_events) as f64 / dt
        } else {
            0.0
        };
        (self.last_events, self.last_at) = (events, now);
        let t = now.duration_since(self.started).as_secs_f64();
        if let Some(rss) = resources.rss_mb {
            self.slope.push(t, rss);
            if counters.steady() && now.duration_since(self.started) >= self.warmup {
                self.steady_slope.push(t, rss);
            }
            self.peak = Some(self.peak.map_or(rss, |p: f64| p.max(rss)));
        }
        self.timeline.push(Sample {
            t_seconds: t,
            events_per_sec: rate,
            open_streams: counters.open_streams(),
            server_rss_mb: resources.rss_mb,
            server_fds: resources.fds,
        });
    }

    fn finish(self) -> Sampled {
        let steady = self.steady_slope.span() > 0.0;
        let fitted = if steady { self.steady_slope } else { self.slope };
        Sampled {
            timeline: self.timeline.into_points(),
            peak_rss_mb: self.peak,
            rss_slope_mb_per_sec: fitted.slope(),
            rss_slope_window_seconds: fitted.span(),
            rss_slope_steady: steady,
        }
    }
}

/// A pair of plain atomics as [`LiveCounts`].
#[derive(Debug, Default)]
pub struct AtomicCounters {
    /// Events.
    pub events: AtomicU64,
    /// Open streams.
    pub open: AtomicU64,
}

impl LiveCounts for AtomicCounters {
    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    fn open_streams(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

/// The warm-up excluded from the RSS slope of a run of `duration`: its first half, at most a minute.
pub fn warmup_for(duration: Duration) -> Duration {
    (duration / 2).min(Duration::from_secs(60))
}

/// The sampling interval for a run of `duration`: 4 per second, fewer on long runs.
pub fn interval_for(duration: Duration) -> Duration {
    let per_point = duration.as_secs_f64() / (super::timeline::MAX_POINTS as f64 / 2.0);
    Duration::from_secs_f64(per_point.max(0.25))
}
