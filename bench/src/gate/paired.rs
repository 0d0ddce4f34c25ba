//! The paired gate: the baseline measured in the same invocation, interleaved with the current runs.
//!
//! ## Why
//! A baseline recorded earlier carries the host's state of that moment; on a shared VM the
//! host drifts within minutes (server CPU per event moving by +25% with no code change), so a
//! gate against a stored baseline fires on drift. Here each repeat runs the baseline server
//! (A) and then the current server (B) back to back, A1 B1 A2 B2 …, so both sides see the
//! same host, and B's runs are judged against A's with the usual rules: the same
//! thresholds, the same noise interval, A's runs in the role of a baseline's `kpi_runs`.
//!
//! ## Which σ
//! σ of a KPI is pooled from every independent estimate of the same run-to-run noise: the
//! recorded noise model's (sequential runs, so it also holds some drift and errs wide) and A's
//! and B's own, each weighted by its degrees of freedom (runs − 1):
//! σ² = Σ (nᵢ − 1)·σᵢ² / Σ (nᵢ − 1). Three runs a side alone give a σ that is itself uncertain
//! by a factor of three either way; pooling with ten recorded runs steadies it. Without a
//! recorded model the paired runs alone decide (three or more a side; with two the threshold
//! alone decides, and the finding says so).
//!
//! ## Absolute checks
//! Only B's runs decide absolute checks. A's are judged too ([`baseline_check_failures`]), so
//! a broken baseline server is reported, but they never fail B's verdict.

use crate::model::ScenarioReport;

use super::judge::{judge_pooled, judge_with, summarize};
use super::noise::NoiseModel;
use super::{Finding, Judgement, Kind, Status, Thresholds};

/// What every relative finding of a paired judgement says first: where its baseline came from.
pub const PAIRED_RULE: &str = "baseline measured in this run, interleaved A/B (each repeat ran the baseline \
     server, then the current one); noise pooled from these runs and the recorded noise model, if any";

/// Judges `current` (B's runs) against `baseline` (A's runs, measured interleaved with them).
///
/// Returns the judgement, with `described` as its `baseline`, and the baseline report that
/// stands for A's runs (for the reports' comparison), `None` when A produced no run.
pub fn judge_paired(
    current: &[ScenarioReport],
    baseline: &[ScenarioReport],
    noise: Option<&NoiseModel>,
    described: &str,
    thresholds: &Thresholds,
) -> (Judgement, Option<ScenarioReport>) {
    let base = summarize(baseline);
    let mut judgement = judge_pooled(current, base.as_ref(), noise, thresholds);
    for finding in &mut judgement.findings {
        if finding.kind == Kind::Relative {
            finding.rule = format!("{PAIRED_RULE}; {}", finding.rule);
        }
    }
    judgement.baseline = Some(described.to_owned());
    (judgement, base)
}

/// The absolute checks A's runs failed: reported as warnings, never B's verdict.
pub fn baseline_check_failures(baseline: &[ScenarioReport], thresholds: &Thresholds) -> Vec<Finding> {
    judge_with(baseline, None, None, thresholds)
        .findings
        .into_iter()
        .filter(|f| f.kind == Kind::Absolute && f.status == Status::Fail)
        .collect()
}
