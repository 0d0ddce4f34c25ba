//! What a run observed, before it becomes a report: the input of the scenario checks.

use std::time::Duration;

use crate::measure::stats::{Metric, Totals};
use crate::model::Memory;

pub use crate::measure::server::Figures;

/// Frozen (never reading) clients and what happened to them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrozenOutcome {
    /// Frozen clients whose request was sent.
    pub clients: u64,
    /// `clients_evicted` growth on the server during the run.
    pub evicted: u64,
    /// Time from the frozen clients' connect until the server had evicted them all
    /// (`None` if it never did during the run).
    pub all_evicted_after: Option<Duration>,
    /// Frozen sockets found closed by the server when drained at the end.
    pub closed_by_server: u64,
}

/// The graceful-shutdown action and what followed it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ShutdownOutcome {
    /// Streams open when SIGTERM was sent.
    pub open_at_signal: u64,
    /// Streams that ended after the signal.
    pub ended: u64,
    /// Of those, ended cleanly (final chunk).
    pub ended_clean: u64,
    /// Of those, reset or cut.
    pub ended_reset: u64,
    /// Signal → the last client saw its end (`None` if some never did).
    pub all_ended_after: Option<Duration>,
    /// Server exit: `Some(true)` exit 0, `Some(false)` another status, `None` killed after timeout.
    pub exit_clean: Option<bool>,
}

/// What the generator's publisher did (`POST /publish`), when the feed has one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Events the server accepted.
    pub events: u64,
    /// Requests that failed.
    pub failed: u64,
    /// How late the fixed-rate publisher sent its requests against its schedule
    /// (start + n / rate), 99th percentile and maximum in microseconds; `None` for a
    /// burst or when nothing was sent.
    pub lag: Option<PublishLag>,
}

/// How far behind its schedule a fixed-rate publisher sent (publish-to-send lag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishLag {
    /// 99th percentile, microseconds.
    pub p99_micros: u64,
    /// Maximum, microseconds.
    pub max_micros: u64,
}

/// Everything a scenario run observed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Merged client statistics.
    pub totals: Totals,
    /// Wall time of the measured phase.
    pub wall: Duration,
    /// Server `/metrics` before the clients started.
    pub server_start: Option<Figures>,
    /// Server `/metrics` mid-run, with the streams the generator had open at that moment.
    pub server_mid: Option<(Figures, u64)>,
    /// Server `/metrics` at the end (after settling, when the plan settles).
    pub server_end: Option<Figures>,
    /// Whether the server released every stream after the clients closed (None: not known).
    pub settled: Option<bool>,
    /// Server RSS over the run (peak with clients connected; end after they left).
    pub memory: Option<Memory>,
    /// Server RSS (MiB) during the pause, after the first wave of clients left.
    pub rss_after_leave_mb: Option<f64>,
    /// Server RSS (MiB) with the first wave of clients connected, just before it left.
    pub rss_first_wave_mb: Option<f64>,
    /// Frozen clients.
    pub frozen: FrozenOutcome,
    /// Graceful shutdown, when the plan had one.
    pub shutdown: Option<ShutdownOutcome>,
    /// Streams the server ended before the run stopped (outside a shutdown action).
    pub early_ends: u64,
    /// Events each client should have received, when the feed fixes it (burst).
    pub expected_events: Option<u64>,
    /// Events per second one client should get, when the feed fixes it.
    pub nominal_rate: Option<f64>,
    /// Publishes the generator made: accepted and failed (all zero when it published nothing).
    pub published: Published,
    /// The p99 gap between events in the same run without frozen clients
    /// ([`super::plan::Plan::control`]), when the plan has one and it recorded gaps.
    pub control_gap_p99: Option<Duration>,
}

impl Outcome {
    /// The p99 gap between events on the same stream, when the run recorded any.
    pub fn gap_p99(&self) -> Option<Duration> {
        let gaps = self.totals.histogram(Metric::InterEvent)?;
        (!gaps.is_empty()).then(|| Duration::from_micros(gaps.value_at_quantile(0.99)))
    }

    /// The final server figures, when known.
    pub fn end(&self) -> Option<&Figures> {
        self.server_end.as_ref()
    }

    /// The initial server figures, when known.
    pub fn start(&self) -> Option<&Figures> {
        self.server_start.as_ref()
    }
}
