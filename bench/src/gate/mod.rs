//! Regression gates: judge the runs of one scenario against absolute limits and a baseline.
//!
//! [`judge`] turns the K runs of a scenario (`--repeat K`) and an optional baseline into a
//! [`Judgement`]: a list of [`Finding`]s, one per metric checked, and the worst [`Status`] among them.
//!
//! ## Repeats
//! Performance metrics (latency p99, throughput, memory growth and slope) are judged on the
//! **median** over the runs, and every finding carries the spread (max − min) so a reader sees how
//! noisy the figure was; one slow run out of three does not fail a gate. Correctness metrics (lost
//! events, error rate, the scenario's own checks) are judged on the **worst** run: one run that
//! lost an event has a real bug, however good the others were.
//!
//! ## Relative checks
//! Latency p99, throughput and memory growth are compared with the baseline. Latency means the
//! scenario's *primary* latency ([`primary_latency`]): `publish_to_receive` when measured, else
//! `inter_event`, else `time_to_first_event`. A change is a regression only when it is
//! past the percentage threshold **and** larger than the absolute floor ([`Thresholds`]), so a
//! 0.1 ms → 0.2 ms p99 on loopback is not called +100%. Without a baseline, or with one recorded
//! under another profile, relative checks are skipped and a note-finding says so.
//!
//! ## Absolute checks
//! Apply with or without a baseline: memory slope, error rate, lost events, scenario checks.
//!
//! A [`Status::Warn`] is not a failure: only [`Status::Fail`] makes `--fail-on-regression` exit
//! with the regression code.
//!
//! [`primary_latency`]: crate::model::ScenarioReport::primary_latency

mod judge;
mod thresholds;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;

pub use judge::{judge, representative};
pub use thresholds::{Thresholds, ThresholdsError};

/// Outcome of one check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within limits.
    Pass,
    /// Past a warning threshold: reported, not a failure.
    Warn,
    /// Past a failure threshold: a regression.
    Fail,
}

impl Status {
    /// Upper-case label for tables: `PASS`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One metric checked, or a note about checks that were skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Dotted metric path in the report, e.g. `latency.inter_event.p99_ms`, `events.lost`,
    /// `check.<name>`; `relative_checks` for the skip note.
    pub metric: String,
    /// The baseline's value, for relative checks.
    pub baseline: Option<f64>,
    /// The judged value (median or worst over the runs, see the module docs); NaN for a note
    /// that carries no value ([`Finding::is_note`]).
    pub current: f64,
    /// Spread over the runs, max − min in the metric's unit; `None` with a single run.
    pub spread: Option<f64>,
    /// Change from the baseline in percent, `(current − baseline) / |baseline| × 100`.
    pub change_pct: Option<f64>,
    /// Outcome.
    pub status: Status,
    /// The rule applied, in words, with what to do when it failed.
    pub rule: String,
}

impl Finding {
    /// A finding that only informs (no value, status pass), e.g. "relative checks skipped".
    pub fn note(metric: &str, rule: String) -> Self {
        Self {
            metric: metric.to_owned(),
            baseline: None,
            current: f64::NAN,
            spread: None,
            change_pct: None,
            status: Status::Pass,
            rule,
        }
    }

    /// Whether this finding is a note without a value.
    pub fn is_note(&self) -> bool {
        self.current.is_nan()
    }
}

/// The verdict on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// Scenario name.
    pub scenario: String,
    /// Worst status among the findings ([`Status::Pass`] when there are none).
    pub status: Status,
    /// Number of runs judged.
    pub runs: usize,
    /// Every check made, in a stable order: relative checks first, then absolute ones.
    pub findings: Vec<Finding>,
}

impl Judgement {
    /// Builds a judgement whose status is the worst of `findings`.
    pub fn new(scenario: &str, runs: usize, findings: Vec<Finding>) -> Self {
        let status = findings.iter().map(|f| f.status).max().unwrap_or(Status::Pass);
        Self {
            scenario: scenario.to_owned(),
            status,
            runs,
            findings,
        }
    }

    /// Whether the gate failed (a warning is not a failure).
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }

    /// The findings that warned or failed.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status > Status::Pass)
    }
}
