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
//! ## Paired
//! [`paired::judge_paired`] judges the runs against a baseline measured in the same invocation,
//! interleaved with them, so the host's drift between the two cancels.
//!
//! A [`Status::Warn`] is not a failure: only [`Status::Fail`] makes `--fail-on-regression` exit
//! with the regression code.
//!
//! [`primary_latency`]: crate::model::ScenarioReport::primary_latency

mod judge;
mod limits;
pub mod noise;
pub mod paired;
mod thresholds;

#[cfg(test)]
mod tests;

pub use judge::{judge, judge_pooled, judge_with, pooled_sd, representative, summarize};
pub use thresholds::{Thresholds, ThresholdsError};

pub use crate::verdict::{Finding, Judgement, Kind, Rule, RunVerdict, Status};
