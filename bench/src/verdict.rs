//! Verdicts: what a gate decided about one scenario ([`Judgement`]) and about a whole run
//! ([`RunVerdict`]), as data that the report carries and the exit code is derived from.
//!
//! ## Three kinds of finding
//! * **absolute**: a limit or a scenario check that holds whatever the baseline (lost events,
//!   frozen clients evicted, connection errors, a feed that fell short). A failed absolute
//!   finding always fails the run ([`crate::cli::exit::CHECK_FAILED`]).
//! * **relative**: a KPI compared with the baseline of the same target and profile. A failed
//!   relative finding is a regression ([`crate::cli::exit::REGRESSION`] with
//!   `--fail-on-regression`).
//! * either kind may be **not judged**: what this run could not observe (no `/metrics` on the
//!   target, no baseline, a window too short) is [`Status::NotJudged`] with the reason, never a
//!   pass or a failure.
//!
//! ## Before and after
//! A figure compared with its baseline is a [`Delta`]: both values and the relative change
//! between them, computed by one rule for every comparison of the workspace (the gate's
//! findings, profiling's baseline tables, criterion and instruction-count comparisons).
//!
//! ## Which rule decided
//! Every finding names the rule that decided it ([`Rule`]): a fixed limit, the relative
//! threshold alone, the threshold together with the measured noise (the whole confidence
//! interval of the change must lie past the threshold), or "not observable".

use std::fmt;

use serde::{Deserialize, Serialize};

/// Outcome of one check, ordered from "nothing decided" to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Could not be observed or compared on this run; the rule says why.
    NotJudged,
    /// Within limits.
    Pass,
    /// Past a warning threshold: reported, not a failure.
    Warn,
    /// Past a failure threshold or an absolute limit.
    Fail,
}

impl Status {
    /// Upper-case label for tables: `PASS`, `WARN`, `FAIL`, `NOT JUDGED`.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotJudged => "NOT JUDGED",
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

/// Whether a finding compares with a baseline or holds on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Compared with the baseline of the same target and profile; a failure is a regression.
    Relative,
    /// A limit or a scenario check; a failure fails the run whatever the flags.
    Absolute,
}

/// The rule that decided a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An absolute limit (`events.lost` above 0 fails) or a scenario check.
    Limit,
    /// The change was within the absolute floor (e.g. a p99 rise under 0.5 ms).
    Floor,
    /// The relative threshold alone: no noise figure was known for this KPI.
    Threshold,
    /// The threshold and the measured noise: the change's confidence interval
    /// (change ± z × noise × √(1/n + 1/m)) lies wholly past the threshold to fail, and a
    /// change inside it is explained by noise.
    NoiseInterval,
    /// Nothing to decide with: not observable on this target, no baseline, too short.
    NotObservable,
}

/// A figure before and after: its baseline value and its current value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    /// The value in the baseline.
    pub baseline: f64,
    /// The value now.
    pub current: f64,
}

impl Delta {
    /// The figure went from `baseline` to `current`.
    pub fn new(baseline: f64, current: f64) -> Self {
        Self { baseline, current }
    }

    /// The relative change, `(current − baseline) / |baseline|` (`0.10` = 10 % more); from a
    /// zero baseline, +∞ when the figure grew and 0 otherwise.
    pub fn change(&self) -> f64 {
        if self.baseline != 0.0 {
            (self.current - self.baseline) / self.baseline.abs()
        } else if self.current > self.baseline {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// [`Delta::change`] when it is finite (`None` from a zero baseline that grew).
    pub fn finite_change(&self) -> Option<f64> {
        Some(self.change()).filter(|c| c.is_finite())
    }

    /// [`Delta::finite_change`] in percent, as reports print it.
    pub fn finite_change_pct(&self) -> Option<f64> {
        self.finite_change().map(|c| c * 100.0)
    }
}

/// One metric checked, or a check that could not be judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Dotted metric path in the report, e.g. `latency.inter_event.p99_ms`, `events.lost`,
    /// `check.<name>`; `relative_checks` for a skipped comparison.
    pub metric: String,
    /// Relative (vs baseline) or absolute.
    pub kind: Kind,
    /// The baseline's value (median of its runs), for relative checks.
    pub baseline: Option<f64>,
    /// The judged value (median or worst over the runs); `None` when not judged.
    pub current: Option<f64>,
    /// Spread over the runs, max − min in the metric's unit; `None` with a single run.
    pub spread: Option<f64>,
    /// Change from the baseline in percent, `(current − baseline) / |baseline| × 100`.
    pub change_pct: Option<f64>,
    /// Half-width of the change's confidence interval in percentage points, when the noise
    /// of this KPI was known.
    pub noise_pct: Option<f64>,
    /// Outcome.
    pub status: Status,
    /// The rule that decided.
    pub decided_by: Rule,
    /// The rule applied, in words, with what to do when it failed or could not be judged.
    pub rule: String,
}

impl Finding {
    /// A finding that could not be judged, with the reason.
    pub fn not_judged(metric: &str, kind: Kind, reason: String) -> Self {
        Self {
            metric: metric.to_owned(),
            kind,
            baseline: None,
            current: None,
            spread: None,
            change_pct: None,
            noise_pct: None,
            status: Status::NotJudged,
            decided_by: Rule::NotObservable,
            rule: reason,
        }
    }

    /// An absolute finding: `status` by a limit or a check, with the value seen.
    pub fn absolute(metric: &str, current: f64, spread: Option<f64>, status: Status, rule: String) -> Self {
        Self {
            metric: metric.to_owned(),
            kind: Kind::Absolute,
            baseline: None,
            current: Some(current),
            spread,
            change_pct: None,
            noise_pct: None,
            status,
            decided_by: Rule::Limit,
            rule,
        }
    }

    /// Whether this failure is a regression (relative) rather than a failed check.
    pub fn is_regression(&self) -> bool {
        self.status == Status::Fail && self.kind == Kind::Relative
    }

    /// Whether this is a failed absolute check.
    pub fn is_check_failure(&self) -> bool {
        self.status == Status::Fail && self.kind == Kind::Absolute
    }
}

/// The verdict on one scenario over all its runs: the `verdict` object of its JSON report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Scenario name.
    pub scenario: String,
    /// Worst status among the judged findings; [`Status::NotJudged`] when nothing was judged.
    pub status: Status,
    /// Some relative finding failed: a regression against the baseline.
    pub regression: bool,
    /// Some absolute finding failed: a broken server (or target), whatever the baseline.
    pub check_failed: bool,
    /// Number of runs judged.
    pub runs: usize,
    /// The baseline compared against, when there was one: its file, or with `--paired` a
    /// sentence saying it was measured in this run (interleaved A/B) and by which executable.
    pub baseline: Option<String>,
    /// Every check made, in a stable order: relative checks first, then absolute ones.
    pub findings: Vec<Finding>,
}

impl Judgement {
    /// Builds a judgement whose status is the worst of `findings`.
    pub fn new(scenario: &str, runs: usize, findings: Vec<Finding>) -> Self {
        let status = findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::NotJudged);
        Self {
            scenario: scenario.to_owned(),
            status,
            regression: findings.iter().any(Finding::is_regression),
            check_failed: findings.iter().any(Finding::is_check_failure),
            runs,
            baseline: None,
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

    /// The findings that could not be judged.
    pub fn not_judged(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::NotJudged)
    }
}

/// What a whole run decided: the last line `sse-load` prints and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunVerdict {
    /// Scenarios judged.
    pub scenarios: usize,
    /// Scenarios whose judged findings all passed (warnings allowed).
    pub passed: Vec<String>,
    /// Scenarios with a failed absolute check.
    pub check_failed: Vec<String>,
    /// Scenarios with a regression against their baseline.
    pub regressed: Vec<String>,
    /// Scenarios where nothing could be judged, or that were skipped, with the reason.
    pub not_judged: Vec<(String, String)>,
    /// Findings not judged inside scenarios that were otherwise judged.
    pub findings_not_judged: usize,
    /// The run was interrupted (Ctrl-C) before every scenario ran.
    pub interrupted: bool,
}

impl RunVerdict {
    /// Adds the judgement of one scenario.
    pub fn add(&mut self, j: &Judgement) {
        self.scenarios += 1;
        if j.check_failed {
            self.check_failed.push(j.scenario.clone());
        }
        if j.regression {
            self.regressed.push(j.scenario.clone());
        }
        if j.status == Status::NotJudged {
            let reason = j.findings.first().map_or("no findings", |f| f.rule.as_str());
            self.not_judged.push((j.scenario.clone(), reason.to_owned()));
        } else {
            self.findings_not_judged += j.not_judged().count();
            if !j.check_failed && !j.regression {
                self.passed.push(j.scenario.clone());
            }
        }
    }

    /// Adds a scenario that did not run on this target, with the reason.
    pub fn skip(&mut self, scenario: &str, reason: &str) {
        self.not_judged.push((scenario.to_owned(), reason.to_owned()));
    }

    /// `PASS`, `FAIL` or `NOT JUDGED` (nothing judged at all): regressions count as a
    /// failure only when `fail_on_regression`.
    pub fn status(&self, fail_on_regression: bool) -> Status {
        if !self.check_failed.is_empty() || (fail_on_regression && !self.regressed.is_empty()) {
            Status::Fail
        } else if !self.regressed.is_empty() {
            Status::Warn
        } else if self.passed.is_empty() || self.interrupted {
            Status::NotJudged
        } else {
            Status::Pass
        }
    }

    /// The one-line verdict, e.g. `verdict: FAIL — 1 check failed (burst), 12 passed, 1 not
    /// judged (backpressure: the target has no /metrics)`.
    pub fn line(&self, fail_on_regression: bool) -> String {
        let status = self.status(fail_on_regression);
        let mut parts = Vec::new();
        let names = |v: &[String]| v.join(", ");
        if !self.check_failed.is_empty() {
            parts.push(format!(
                "{} with a failed check ({})",
                self.check_failed.len(),
                names(&self.check_failed)
            ));
        }
        if !self.regressed.is_empty() {
            let gate = if fail_on_regression {
                ""
            } else {
                "; not failing: no --fail-on-regression"
            };
            parts.push(format!(
                "{} regressed ({}{gate})",
                self.regressed.len(),
                names(&self.regressed)
            ));
        }
        parts.push(format!("{} passed", self.passed.len()));
        if !self.not_judged.is_empty() {
            let list: Vec<String> = self.not_judged.iter().map(|(s, r)| format!("{s}: {r}")).collect();
            parts.push(format!(
                "{} not judged ({})",
                self.not_judged.len(),
                list.join("; ")
            ));
        }
        if self.findings_not_judged > 0 {
            parts.push(format!(
                "{} finding(s) not judged (see the reports)",
                self.findings_not_judged
            ));
        }
        if self.interrupted {
            parts.push("interrupted before every scenario ran".to_owned());
        }
        let label = match status {
            Status::Fail => "FAIL",
            _ if self.interrupted => "INTERRUPTED",
            Status::Warn => "PASS with regressions",
            other => other.label(),
        };
        format!("verdict: {label} — {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(name: &str, findings: Vec<Finding>) -> Judgement {
        Judgement::new(name, 1, findings)
    }

    #[test]
    fn a_delta_changes_relative_to_the_baseline_and_from_zero_to_infinity() {
        assert_eq!(Delta::new(100.0, 110.0).change(), 0.1);
        assert_eq!(Delta::new(-4.0, -2.0).change(), 0.5);
        assert_eq!(Delta::new(0.0, 3.0).change(), f64::INFINITY);
        assert_eq!(Delta::new(0.0, 3.0).finite_change(), None);
        assert_eq!(Delta::new(0.0, 0.0).change(), 0.0);
        assert_eq!(Delta::new(0.0, -1.0).change(), 0.0);
        assert_eq!(Delta::new(50.0, 25.0).finite_change_pct(), Some(-50.0));
    }

    #[test]
    fn not_judged_is_neither_pass_nor_fail() {
        let j = judged(
            "backpressure",
            vec![Finding::not_judged(
                "check.frozen_clients_evicted",
                Kind::Absolute,
                "the target has no /metrics".into(),
            )],
        );
        assert_eq!(j.status, Status::NotJudged);
        assert!(!j.failed() && !j.check_failed && !j.regression);
        let mut v = RunVerdict::default();
        v.add(&j);
        assert_eq!(v.status(true), Status::NotJudged);
        assert!(
            v.line(true).contains("backpressure: the target has no /metrics"),
            "{}",
            v.line(true)
        );
    }

    #[test]
    fn a_failed_check_fails_with_or_without_the_regression_flag() {
        let lost = Finding::absolute("events.lost", 1.0, None, Status::Fail, "above 0 fails".into());
        let ok = Finding::absolute("connections.error_rate", 0.0, None, Status::Pass, "x".into());
        let mut v = RunVerdict::default();
        v.add(&judged("burst", vec![lost]));
        v.add(&judged("fanout", vec![ok]));
        assert_eq!(v.status(false), Status::Fail);
        assert_eq!(v.passed, ["fanout"]);
        assert!(
            v.line(false)
                .starts_with("verdict: FAIL — 1 with a failed check (burst), 1 passed")
        );
    }

    #[test]
    fn a_regression_fails_only_with_the_flag() {
        let mut f = Finding::not_judged("throughput.events_per_sec", Kind::Relative, String::new());
        f.status = Status::Fail;
        f.current = Some(1.0);
        let j = judged("fanout", vec![f]);
        assert!(j.regression && !j.check_failed);
        let mut v = RunVerdict::default();
        v.add(&j);
        assert_eq!(v.status(true), Status::Fail);
        assert_eq!(v.status(false), Status::Warn);
        assert!(
            v.line(false).contains("not failing: no --fail-on-regression"),
            "{}",
            v.line(false)
        );
    }
}
