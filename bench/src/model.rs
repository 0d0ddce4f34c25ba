//! The load-report data model: one [`ScenarioReport`] per run of one scenario, serialized as JSON.
//!
//! Shared contract between the harness (which fills it) and the reporters, baselines and gates
//! (which read it). Every name is snake_case and carries its unit (`_ms`, `_mb`, `_seconds`,
//! `_per_sec`, `_ns`). The JSON Schema in `bench/schema/report.schema.json` describes the same shape;
//! a test keeps the two in step.
//!
//! ## Versioning
//! [`SCHEMA_VERSION`] is bumped whenever a field is renamed, removed or changes meaning. Adding a
//! field keeps the version. Baselines with another version are refused with a clear error.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use crate::environment::Environment;
pub use crate::measure::timeline::Sample;
pub use crate::verdict::Judgement;

/// Version of the report format written into every report and baseline.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioReport {
    /// Format version, [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Scenario name, e.g. `throughput-single`.
    pub scenario: String,
    /// One line saying what the scenario does.
    pub description: String,
    /// Scale profile: `smoke`, `small`, `medium`, `large`, `soak` or `custom`.
    pub profile: String,
    /// 1-based index of this run with `--repeat K` (1 when not repeating).
    pub repeat: u32,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock length of the measured phase, seconds.
    pub duration_seconds: f64,
    /// Machine, toolchain and revision the figures were measured on.
    pub environment: Environment,
    /// The server under test.
    pub target: ReportedTarget,
    /// Scenario parameters as run (clients, duration_seconds, publish_rate, payload_size, ...).
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Event counts over all clients.
    pub events: EventCounts,
    /// Delivery rate, when the scenario measures one.
    pub throughput: Option<Throughput>,
    /// The rate the feed asked for and the rate the clients measured, when it has one.
    #[serde(default)]
    pub feed: Option<FeedRate>,
    /// Latency summaries by kind: `time_to_headers`, `time_to_first_event`, `inter_event`,
    /// `publish_to_receive`, `stream_end`, `reconnect_gap`, `eviction`, ...
    pub latency: BTreeMap<String, Latency>,
    /// Connection outcomes and errors.
    pub connections: Connections,
    /// CPU time of server and generator.
    pub cpu: Cpu,
    /// Server resident memory over the run, when it could be sampled.
    pub memory: Option<Memory>,
    /// The server's `/metrics` at start and end, when available.
    pub server: Option<ServerFigures>,
    /// Samples over time, bounded (at most about 600 points).
    pub timeline: Vec<Sample>,
    /// The scenario's own absolute checks.
    pub checks: Vec<Check>,
    /// The scenario's checks this run could not judge on its target, with the reason.
    #[serde(default)]
    pub unjudged_checks: Vec<UnjudgedCheck>,
    /// With `--repeat K`: each KPI (`latency.<kind>.p99_ms`, `throughput.events_per_sec`,
    /// `cpu.server_ns_per_event`, `memory.growth_mb`) over the K runs, so a baseline keeps the
    /// distribution it was recorded from; empty for a single run.
    #[serde(default)]
    pub kpi_runs: BTreeMap<String, Vec<f64>>,
    /// The gate's verdict over every run of the scenario (absent from baselines and
    /// from reports of runs that were not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Judgement>,
}

impl Default for ScenarioReport {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            scenario: String::new(),
            description: String::new(),
            profile: String::new(),
            repeat: 1,
            started_at: String::new(),
            duration_seconds: 0.0,
            environment: Environment::default(),
            target: ReportedTarget::default(),
            parameters: BTreeMap::new(),
            events: EventCounts::default(),
            throughput: None,
            feed: None,
            latency: BTreeMap::new(),
            connections: Connections::default(),
            cpu: Cpu::default(),
            memory: None,
            server: None,
            timeline: Vec::new(),
            checks: Vec::new(),
            unjudged_checks: Vec::new(),
            kpi_runs: BTreeMap::new(),
            verdict: None,
        }
    }
}

impl ScenarioReport {
    /// Latency keys in the order [`ScenarioReport::primary_latency`] prefers them.
    pub const PRIMARY_LATENCY_KEYS: [&'static str; 3] =
        ["publish_to_receive", "inter_event", "time_to_first_event"];

    /// The latency that gates and summaries judge a scenario by: `publish_to_receive` if present,
    /// else `inter_event`, else `time_to_first_event`. Returns the key with the summary.
    pub fn primary_latency(&self) -> Option<(&'static str, &Latency)> {
        Self::PRIMARY_LATENCY_KEYS
            .iter()
            .find_map(|key| self.latency.get(*key).filter(|l| l.count > 0).map(|l| (*key, l)))
    }

    /// Whether every scenario check passed (true when there are none).
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// The server under test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportedTarget {
    /// Base URL of the server.
    pub url: String,
    /// Whether `sse-load` started the reference server itself.
    pub embedded: bool,
    /// Whether the server answered `/metrics`, so server-side figures are present.
    pub server_metrics: bool,
    /// The streams' HTTP version: `h1` or `h2` (reports written before it read as `h1`).
    #[serde(default = "http1")]
    pub protocol: String,
    /// Streams one connection carried: 1 under `h1`, `--streams-per-connection` under `h2`.
    #[serde(default = "one")]
    pub streams_per_connection: u32,
}

impl Default for ReportedTarget {
    fn default() -> Self {
        Self {
            url: String::new(),
            embedded: false,
            server_metrics: false,
            protocol: http1(),
            streams_per_connection: one(),
        }
    }
}

fn http1() -> String {
    "h1".to_owned()
}

fn one() -> u32 {
    1
}

/// Event counts over all clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EventCounts {
    /// Events received (keep-alive comments not included).
    pub received: u64,
    /// Events missing, from gaps in the ids.
    pub lost: u64,
    /// Events received more than once.
    pub duplicated: u64,
    /// Events that arrived with a smaller id than one seen before.
    pub out_of_order: u64,
    /// Keep-alive comment lines received.
    pub comments: u64,
    /// Events the generator published with `POST /publish` and the target accepted (0 when
    /// the generator does not publish: generated streams, or the embedded server's own publisher).
    #[serde(default)]
    pub published: u64,
    /// `POST /publish` requests of the generator that failed (refused, timed out, cut): events
    /// that no client could receive. Reports written before this field read as 0.
    #[serde(default)]
    pub publish_failed: u64,
}

/// Delivery rate over the measured phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    /// Events per second over all clients.
    pub events_per_sec: f64,
    /// Bytes per second over all clients (body bytes).
    pub bytes_per_sec: f64,
    /// Events per second per client: the events each client received divided by the run's
    /// wall time (a churning client that held a stream a tenth of the time gets a tenth).
    pub per_client: Spread,
}

/// A fixed-rate feed: asked for, and measured at the clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedRate {
    /// Events per second per stream the scenario asked for (the publish rate, or 1 / the
    /// `/sse` event delay).
    pub nominal_per_sec: f64,
    /// Events per second per stream the clients received while streaming: 1 / the mean gap
    /// between consecutive events; `None` when no gaps were recorded.
    pub achieved_per_sec: Option<f64>,
    /// `achieved / nominal − 1`, percent.
    pub deviation_pct: Option<f64>,
    /// How late the generator's publisher sent against its schedule, 99th percentile, ms
    /// (publish-to-send lag); `None` when the generator did not publish (a server's own
    /// publisher, `/sse`).
    #[serde(default)]
    pub publish_lag_p99_ms: Option<f64>,
    /// The largest publish-to-send lag, ms.
    #[serde(default)]
    pub publish_lag_max_ms: Option<f64>,
}

/// Minimum, median, mean and maximum of a set of values.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero when empty; NaNs are ignored).
    pub fn of(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return Self::default();
        }
        sorted.sort_by(f64::total_cmp);
        Self {
            min: sorted[0],
            p50: median_of_sorted(&sorted),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            max: sorted[sorted.len() - 1],
        }
    }
}

/// Median of an ascending, non-empty slice (mean of the middle two for even lengths).
pub(crate) fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Latency summary from an HDR histogram (microsecond resolution, values reported in ms).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Number of recorded values.
    pub count: u64,
    /// Smallest value, ms.
    pub min_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Largest value, ms.
    pub max_ms: f64,
    /// `[percentile 0..=100, ms]` pairs at up to [`Latency::DISTRIBUTION_POINTS`] log-spaced points
    /// (denser towards the tail), for the percentile chart.
    pub distribution: Vec<[f64; 2]>,
    /// Coordinated-omission corrected figures, when the intended schedule is known.
    pub corrected: Option<Box<Latency>>,
    /// One line: what was timed, from where to where.
    pub measured: String,
}

impl Latency {
    /// Most points kept in [`Latency::distribution`].
    pub const DISTRIBUTION_POINTS: usize = 40;

    /// Summarises `histogram`, whose values are **microseconds**; the summary is in milliseconds.
    ///
    /// The distribution samples percentiles spaced evenly in "nines" (`-log10(1 - q)`), like
    /// HdrHistogram's percentile plots, up to the resolution the count supports (no p99.99 claimed
    /// from 100 values), and ends with the maximum at 100. An empty histogram gives `count: 0`,
    /// zeros and no distribution.
    pub fn from_histogram(histogram: &Histogram<u64>, measured: &str) -> Self {
        let count = histogram.len();
        if count == 0 {
            return Self {
                measured: measured.to_owned(),
                ..Self::default()
            };
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let at = |q: f64| ms(histogram.value_at_quantile(q));
        Self {
            count,
            min_ms: ms(histogram.min()),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(histogram.max()),
            distribution: distribution(histogram),
            corrected: None,
            measured: measured.to_owned(),
        }
    }

    /// Adds coordinated-omission corrected figures from a second histogram (µs values).
    pub fn with_corrected(mut self, corrected: &Histogram<u64>) -> Self {
        let measured = format!("{} (corrected for coordinated omission)", self.measured);
        self.corrected = Some(Box::new(Self::from_histogram(corrected, &measured)));
        self
    }
}

/// Percentile curve of a non-empty histogram, see [`Latency::from_histogram`].
fn distribution(histogram: &Histogram<u64>) -> Vec<[f64; 2]> {
    // Nines the data can support: with n values, 1 - 1/n is the last distinct quantile.
    let max_nines = (histogram.len() as f64).log10().clamp(0.0, 6.0);
    let steps = Latency::DISTRIBUTION_POINTS - 1;
    let mut points: Vec<[f64; 2]> = Vec::with_capacity(Latency::DISTRIBUTION_POINTS);
    for i in 0..steps {
        let nines = max_nines * i as f64 / (steps - 1).max(1) as f64;
        let quantile = 1.0 - 10f64.powf(-nines);
        let value = histogram.value_at_quantile(quantile) as f64 / 1000.0;
        let percentile = quantile * 100.0;
        if points.last().is_some_and(|p| (p[0] - percentile).abs() < 1e-9) {
            continue;
        }
        points.push([percentile, value]);
    }
    points.push([100.0, histogram.max() as f64 / 1000.0]);
    points
}

/// Connection outcomes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Connections {
    /// Connections tried.
    pub attempted: u64,
    /// Connections that got a `200` with an event stream.
    pub succeeded: u64,
    /// Connections that failed (refused, bad status, timeout, ...).
    pub failed: u64,
    /// Streams that ended with a clean end of body.
    pub ended_clean: u64,
    /// Streams that ended with a reset or I/O error.
    pub ended_reset: u64,
    /// `failed / attempted`, 0..=1 (0 when nothing was attempted).
    pub error_rate: f64,
    /// Errors by kind, e.g. `http_503`, `connect_refused`.
    pub errors: BTreeMap<String, u64>,
}

/// CPU time of server and generator over the measured phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    /// Server CPU time (user + system), seconds, when known.
    pub server_seconds: Option<f64>,
    /// Server CPU time per received event, ns.
    pub server_ns_per_event: Option<f64>,
    /// Server user CPU time, seconds.
    pub server_user_seconds: Option<f64>,
    /// Server system CPU time, seconds.
    pub server_system_seconds: Option<f64>,
    /// Received events per write-type system call of the server (`/proc/<pid>/io`
    /// `syscw`, so a local process only): how many events one `write`/`writev` carried.
    #[serde(default)]
    pub server_events_per_write: Option<f64>,
    /// Generator (`sse-load`) CPU time, seconds.
    pub generator_seconds: f64,
    /// Generator CPU time per received event, ns.
    pub generator_ns_per_event: Option<f64>,
    /// Whether the generator was the bottleneck: it used at least 90% of the cores it could
    /// use (the host's cores minus the server's) and at least half a core.
    pub generator_bound: bool,
    /// The generator's CPU over the cores it could use (host cores minus the server's), 0..1+.
    #[serde(default)]
    pub generator_saturation: Option<f64>,
    /// Events received per generator CPU-second: the generator's capacity on this host.
    #[serde(default)]
    pub generator_events_per_cpu_second: Option<f64>,
    /// Remark on how CPU was measured or why figures are missing.
    pub note: Option<String>,
}

/// Server resident memory (RSS) over the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// RSS at the start, MiB.
    pub start_mb: f64,
    /// Highest RSS seen, MiB.
    pub peak_mb: f64,
    /// RSS at the end, MiB.
    pub end_mb: f64,
    /// `end_mb - start_mb`, MiB.
    pub growth_mb: f64,
    /// Slope of RSS over time (Theil–Sen: the median of the slopes between pairs of
    /// samples), MiB per second.
    pub slope_mb_per_sec: f64,
    /// Seconds of samples the slope was fitted over (the steady part of the run). A slope
    /// over a few seconds measures allocator warm-up, not a leak; gates judge it only over
    /// a long enough window (`Thresholds::memory_slope_min_window_seconds`).
    #[serde(default)]
    pub slope_window_seconds: f64,
    /// Whether every client had connected (after the warm-up) for the samples the slope
    /// was fitted over; when not, RSS grew with clients still arriving and the slope is
    /// not judged.
    #[serde(default = "steady_by_default")]
    pub slope_steady: bool,
}

/// Reports written before `slope_steady` existed fitted their slope the same way.
fn steady_by_default() -> bool {
    true
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            start_mb: 0.0,
            peak_mb: 0.0,
            end_mb: 0.0,
            growth_mb: 0.0,
            slope_mb_per_sec: 0.0,
            slope_window_seconds: 0.0,
            slope_steady: steady_by_default(),
        }
    }
}

/// The server's `/metrics` at start and end (bools as 0/1, keys as the server names them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerFigures {
    /// Figures before the measured phase.
    pub start: BTreeMap<String, f64>,
    /// Figures after the measured phase.
    pub end: BTreeMap<String, f64>,
}

/// One of a scenario's own absolute checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// Short name, e.g. `fast_clients_keep_throughput`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was expected and what was seen.
    pub detail: String,
}

/// One of a scenario's checks that a run could not judge, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UnjudgedCheck {
    /// Short name, as in [`Check::name`].
    pub name: String,
    /// What was missing, e.g. "the target has no /metrics: evictions cannot be observed".
    pub reason: String,
}

#[cfg(test)]
mod tests;
