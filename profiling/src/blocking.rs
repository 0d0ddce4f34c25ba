//! Event-loop blocking of the server's runtime under load: longest and p99 task poll and scheduling delay, from tokio-metrics.
//!
//! ## What is measured, and how
//! * **Poll time** of the tasks this crate spawns on the server runtime — the `serve`
//!   future (accept loop) and the in-process publisher — each instrumented with a
//!   [`TaskMonitor`] (poll counts, slow polls past the threshold) and timed poll by poll
//!   into an HDR histogram for the maximum and p99 (tokio-metrics keeps totals only).
//! * **Scheduling delay** (woken → polled) of a probe task that sleeps 1 ms in a loop on
//!   the same runtime, read from tokio-metrics' [`TaskScheduling`] around every wake-up.
//!   A connection task that blocks its worker delays the probe whenever they share it,
//!   so this is the figure that covers the connection tasks too.
//! * **Timer lateness** of the same probe (woken − deadline): also catches a worker so
//!   busy that the timer itself fires late. It includes tokio's 1 ms timer resolution,
//!   which is subtracted before comparing with the threshold.
//! * **Runtime busy ratio** from [`RuntimeMonitor`] (stable metrics only).
//!
//! ## What it needs
//! Nothing beyond stable tokio: per-poll times of *every* task (the runtime's poll-time
//! histogram, `on_before_task_poll` hooks) need `--cfg tokio_unstable`, which this crate
//! does not require. The connection tasks that `axum::serve` spawns are therefore seen
//! through the probe, not poll by poll.
//!
//! A figure above the threshold (default 10 ms, `--block-threshold`) flags the run.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use sse_bench::measure::histogram::{Unit, histogram_of};
use tokio::task::JoinHandle;
use tokio_metrics::{RuntimeIntervals, RuntimeMonitor, TaskMetrics, TaskMonitor, TaskScheduling};
use tokio_util::sync::CancellationToken;

/// How often the probe wakes up.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// tokio's timer resolution, subtracted from timer lateness before flagging.
pub const TIMER_RESOLUTION: Duration = Duration::from_millis(1);
/// Longest duration the histograms hold (longer samples are clamped to it).
const MAX_TRACKED: Duration = Duration::from_secs(60);

type SharedHistogram = Arc<Mutex<Histogram<u64>>>;

fn histogram() -> SharedHistogram {
    // 3 significant digits over 1 ns ..= 60 s: fixed size, recording never allocates.
    Arc::new(Mutex::new(histogram_of(Unit::Nanos, MAX_TRACKED)))
}

fn record(histogram: &SharedHistogram, value: Duration) {
    histogram
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .saturating_record(Unit::Nanos.count(value));
}

/// Watches the server runtime for blocking (see the module docs).
#[derive(Debug)]
pub struct BlockingMonitor {
    threshold: Duration,
    tasks: TaskMonitor,
    probe: TaskMonitor,
    polls: SharedHistogram,
    delays: SharedHistogram,
    lateness: SharedHistogram,
    /// Bumped by every window start; the probe drops a sample whose wait spanned one.
    generation: Arc<AtomicU64>,
    runtime: RuntimeIntervals,
    window: Option<Window>,
}

/// The cumulative task counters when the measured window started.
#[derive(Debug, Clone)]
struct Window {
    tasks: TaskMetrics,
    probe: TaskMetrics,
}

impl BlockingMonitor {
    /// A monitor of the runtime of `handle` that flags anything longer than `threshold`.
    pub fn new(handle: &tokio::runtime::Handle, threshold: Duration) -> Self {
        let mut tasks = TaskMonitor::builder();
        tasks
            .with_slow_poll_threshold(threshold)
            .with_long_delay_threshold(threshold);
        let mut probe = TaskMonitor::builder();
        probe
            .with_slow_poll_threshold(threshold)
            .with_long_delay_threshold(threshold)
            .publish_scheduling_delay();
        Self {
            threshold,
            tasks: tasks.build(),
            probe: probe.build(),
            polls: histogram(),
            delays: histogram(),
            lateness: histogram(),
            generation: Arc::new(AtomicU64::new(0)),
            runtime: RuntimeMonitor::new(handle).intervals(),
            window: None,
        }
    }

    /// Wraps a task future so its polls are timed and counted.
    pub fn instrument<F>(&self, future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
    {
        self.tasks.instrument(Timed {
            inner: Box::pin(future),
            polls: Arc::clone(&self.polls),
        })
    }

    /// Spawns the probe on the current runtime; it runs until `stop` is cancelled.
    pub fn spawn_probe(&self, stop: CancellationToken) -> JoinHandle<()> {
        let delays = Arc::clone(&self.delays);
        let lateness = Arc::clone(&self.lateness);
        let generation = Arc::clone(&self.generation);
        tokio::spawn(self.probe.instrument(async move {
            let mut deadline = tokio::time::Instant::now() + PROBE_INTERVAL;
            loop {
                let before = TaskScheduling::try_current();
                let window = generation.load(Ordering::Acquire);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep_until(deadline) => {}
                }
                let now = tokio::time::Instant::now();
                if generation.load(Ordering::Acquire) != window {
                    // The wait began before the current window: not the window's sample.
                    deadline = now + PROBE_INTERVAL;
                    continue;
                }
                record(&lateness, now - deadline);
                if let (Some(before), Some(after)) = (before, TaskScheduling::try_current()) {
                    if after.scheduled_count > before.scheduled_count {
                        record(
                            &delays,
                            after.total_scheduled_duration - before.total_scheduled_duration,
                        );
                    }
                }
                deadline = now + PROBE_INTERVAL;
            }
        }))
    }

    /// Starts the measured window: clears the histograms and remembers the counters.
    pub fn start_window(&mut self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for histogram in [&self.polls, &self.delays, &self.lateness] {
            histogram.lock().unwrap_or_else(PoisonError::into_inner).reset();
        }
        // Ends the runtime monitor's current interval: the next one is the window.
        let _ = self.runtime.next();
        self.window = Some(Window {
            tasks: self.tasks.cumulative(),
            probe: self.probe.cumulative(),
        });
    }

    /// The figures since [`BlockingMonitor::start_window`] (or since the monitor was made).
    pub fn report(&mut self) -> BlockingReport {
        let zero = TaskMetrics::default();
        let (tasks0, probe0) = match &self.window {
            Some(w) => (&w.tasks, &w.probe),
            None => (&zero, &zero),
        };
        let tasks = self.tasks.cumulative();
        let probe = self.probe.cumulative();
        let runtime = self.runtime.next().unwrap_or_default();
        let workers = runtime.workers_count;
        let polls = DurationStats::of(&self.polls);
        let delays = DurationStats::of(&self.delays);
        let lateness = DurationStats::of(&self.lateness);
        let threshold_us = self.threshold.as_secs_f64() * 1e6;
        let mut flagged = Vec::new();
        if polls.max_us > threshold_us {
            flagged.push(format!("a task poll took {:.1} ms", polls.max_us / 1e3));
        }
        if delays.max_us > threshold_us {
            flagged.push(format!(
                "a woken task waited {:.1} ms to be polled",
                delays.max_us / 1e3
            ));
        }
        let resolution_us = TIMER_RESOLUTION.as_secs_f64() * 1e6;
        if lateness.max_us - resolution_us > threshold_us {
            flagged.push(format!("a 1 ms timer fired {:.1} ms late", lateness.max_us / 1e3));
        }
        BlockingReport {
            threshold_ms: self.threshold.as_secs_f64() * 1e3,
            flagged: !flagged.is_empty(),
            flagged_because: flagged,
            task_polls: TaskPolls {
                tasks: "serve (accept loop) and the in-process publisher".to_owned(),
                polls: tasks.total_poll_count - tasks0.total_poll_count,
                slow_polls: tasks.total_slow_poll_count - tasks0.total_slow_poll_count,
                figures: polls,
            },
            scheduling_delay: SchedulingDelay {
                long_delays: probe.total_long_delay_count - probe0.total_long_delay_count,
                figures: delays,
            },
            timer_lateness: lateness,
            runtime: RuntimeLoad {
                workers,
                busy_ratio: if runtime.elapsed.is_zero() || workers == 0 {
                    0.0
                } else {
                    runtime.busy_ratio() / workers as f64
                },
                alive_tasks: runtime.live_tasks_count,
            },
        }
    }
}

/// A future whose every poll is timed into a histogram.
struct Timed<F: Future> {
    inner: Pin<Box<F>>,
    polls: SharedHistogram,
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let poll = self.inner.as_mut().poll(cx);
        record(&self.polls, started.elapsed());
        poll
    }
}

/// Distribution figures of one histogram, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    /// Samples recorded.
    pub samples: u64,
    /// Mean.
    pub mean_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Longest.
    pub max_us: f64,
}

impl DurationStats {
    fn of(histogram: &SharedHistogram) -> Self {
        let h = histogram.lock().unwrap_or_else(PoisonError::into_inner);
        if h.is_empty() {
            return Self::default();
        }
        Self {
            samples: h.len(),
            mean_us: h.mean() / 1e3,
            p99_us: h.value_at_quantile(0.99) as f64 / 1e3,
            max_us: h.max() as f64 / 1e3,
        }
    }
}

/// Poll times of the instrumented tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPolls {
    /// Which tasks are instrumented.
    pub tasks: String,
    /// Polls counted by tokio-metrics.
    pub polls: u64,
    /// Polls longer than the threshold (tokio-metrics' slow polls).
    pub slow_polls: u64,
    /// Per-poll distribution.
    #[serde(flatten)]
    pub figures: DurationStats,
}

/// Scheduling delay of the probe task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulingDelay {
    /// Delays longer than the threshold (tokio-metrics' long delays).
    pub long_delays: u64,
    /// Per-wake distribution.
    #[serde(flatten)]
    pub figures: DurationStats,
}

/// How busy the runtime's workers were over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuntimeLoad {
    /// Worker threads.
    pub workers: usize,
    /// Busy time of all workers over (elapsed × workers): 1.0 = every worker always busy.
    pub busy_ratio: f64,
    /// Tasks alive at the end of the window.
    pub alive_tasks: usize,
}

/// The event-loop blocking section of a CPU summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockingReport {
    /// The threshold, milliseconds.
    pub threshold_ms: f64,
    /// Whether any figure crossed it.
    pub flagged: bool,
    /// Which figures crossed it.
    pub flagged_because: Vec<String>,
    /// Poll times of the instrumented tasks.
    pub task_polls: TaskPolls,
    /// Scheduling delay of the probe.
    pub scheduling_delay: SchedulingDelay,
    /// Timer lateness of the probe (includes the 1 ms timer resolution).
    pub timer_lateness: DurationStats,
    /// Runtime load.
    pub runtime: RuntimeLoad,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_blocking_poll_is_measured_and_flagged() {
        let mut monitor = BlockingMonitor::new(&tokio::runtime::Handle::current(), Duration::from_millis(10));
        let stop = CancellationToken::new();
        let probe = monitor.spawn_probe(stop.clone());
        // Let the probe run a few rounds, then measure a window with one blocking poll.
        tokio::time::sleep(Duration::from_millis(20)).await;
        monitor.start_window();
        // Let the probe start a wait inside the window (waits spanning its start are dropped).
        tokio::time::sleep(Duration::from_millis(5)).await;
        let blocker = tokio::spawn(monitor.instrument(async {
            std::thread::sleep(Duration::from_millis(30));
        }));
        tokio::time::timeout(Duration::from_secs(10), blocker)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.cancel();
        probe.await.unwrap();
        let report = monitor.report();
        assert_eq!(report.task_polls.polls, 1);
        assert!(report.runtime.busy_ratio > 0.0, "{report:?}");
        assert_eq!(report.task_polls.slow_polls, 1);
        assert!(report.task_polls.figures.max_us >= 30_000.0, "{report:?}");
        assert!(report.flagged, "{report:?}");
        assert!(
            report.flagged_because.iter().any(|r| r.contains("task poll")),
            "{report:?}"
        );
        // The probe shares the only worker with the blocker, so it was held up too.
        assert!(report.timer_lateness.max_us >= 20_000.0, "{report:?}");
        assert!(report.scheduling_delay.figures.samples > 0);
        assert_eq!(report.runtime.workers, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quiet_runtime_is_not_flagged() {
        let mut monitor =
            BlockingMonitor::new(&tokio::runtime::Handle::current(), Duration::from_millis(500));
        let stop = CancellationToken::new();
        let probe = monitor.spawn_probe(stop.clone());
        monitor.start_window();
        monitor
            .instrument(tokio::time::sleep(Duration::from_millis(20)))
            .await;
        stop.cancel();
        probe.await.unwrap();
        let report = monitor.report();
        assert!(!report.flagged, "{report:?}");
        assert!(report.task_polls.polls >= 2, "{report:?}");
        assert!(report.task_polls.figures.max_us < 500_000.0);
    }
}
