//! The sampler: every interval, one timeline point (event rate, open streams, server RSS and fds).
//!
//! Runs as one task beside the clients, reading their relaxed counters; RSS also feeds
//! bounded peak and slope figures (Theil–Sen, see [`super::slope`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::server::ServerSource;
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
pub async fn run<C: LiveCounts>(
    counters: Arc<C>,
    server: ServerSource,
    every: Duration,
    warmup: Duration,
    stop: CancellationToken,
) -> Sampled {
    let started = Instant::now();
    let mut timeline = Timeline::new();
    let mut slope = SlopeSeries::default();
    let mut steady_slope = SlopeSeries::default();
    let mut peak: Option<f64> = None;
    let mut last_events = counters.events();
    let mut last_at = started;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        let events = counters.events();
        let dt = now.duration_since(last_at).as_secs_f64();
        let rate = if dt > 0.0 {
            (events - last_events) as f64 / dt
        } else {
            0.0
        };
        (last_events, last_at) = (events, now);
        let resources = server.resources().await;
        let t = now.duration_since(started).as_secs_f64();
        if let Some(rss) = resources.rss_mb {
            slope.push(t, rss);
            if counters.steady() && now.duration_since(started) >= warmup {
                steady_slope.push(t, rss);
            }
            peak = Some(peak.map_or(rss, |p: f64| p.max(rss)));
        }
        timeline.push(Sample {
            t_seconds: t,
            events_per_sec: rate,
            open_streams: counters.open_streams(),
            server_rss_mb: resources.rss_mb,
            server_fds: resources.fds,
        });
    }
    let steady = steady_slope.span() > 0.0;
    let fitted = if steady { steady_slope } else { slope };
    Sampled {
        timeline: timeline.into_points(),
        peak_rss_mb: peak,
        rss_slope_mb_per_sec: fitted.slope(),
        rss_slope_window_seconds: fitted.span(),
        rss_slope_steady: steady,
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
