//! The gate logic: medians and spreads over repeats, relative checks against a baseline, absolute
//! checks always.

use crate::model::{ScenarioReport, median_of_sorted};

use super::{Finding, Judgement, Status, Thresholds};

/// Judges the runs of one scenario (one per `--repeat`) against `baseline` and `thresholds`.
///
/// See the [module docs](super) for which figure of the runs (median or worst) each check uses.
/// With no runs the judgement fails with a finding that says so.
pub fn judge(
    runs: &[ScenarioReport],
    baseline: Option<&ScenarioReport>,
    thresholds: &Thresholds,
) -> Judgement {
    let Some(first) = runs.first() else {
        let mut finding = Finding::note("runs", "no runs to judge: the scenario produced no report".into());
        finding.status = Status::Fail;
        return Judgement::new("", 0, vec![finding]);
    };
    let mut findings = Vec::new();
    match baseline {
        None => findings.push(Finding::note(
            "relative_checks",
            format!(
                "skipped: no baseline for scenario `{}`; record one with --update-baseline",
                first.scenario
            ),
        )),
        Some(base) if base.profile != first.profile || base.scenario != first.scenario => {
            findings.push(Finding::note(
                "relative_checks",
                format!(
                    "skipped: the baseline was recorded for `{}` with profile `{}`, this run is `{}` \
                     with profile `{}`; re-record it with --update-baseline",
                    base.scenario, base.profile, first.scenario, first.profile
                ),
            ));
        }
        Some(base) => relative(runs, base, thresholds, &mut findings),
    }
    absolute(runs, thresholds, &mut findings);
    Judgement::new(&first.scenario, runs.len(), findings)
}

/// The run to store as the baseline of a repeated scenario: the one whose primary latency p99 is
/// the (lower) median of the runs, or, without latency, whose throughput is. `None` for no runs.
pub fn representative(runs: &[ScenarioReport]) -> Option<&ScenarioReport> {
    let first = runs.first()?;
    let key = |run: &ScenarioReport| -> f64 {
        match first.primary_latency() {
            Some((name, _)) => run.latency.get(name).map_or(f64::INFINITY, |l| l.p99_ms),
            None => run.throughput.as_ref().map_or(0.0, |t| t.events_per_sec),
        }
    };
    let mut order: Vec<&ScenarioReport> = runs.iter().collect();
    order.sort_by(|a, b| key(a).total_cmp(&key(b)));
    Some(order[(order.len() - 1) / 2])
}

/// Median and spread (max − min, `None` for a single value) of a non-empty set of values.
struct Stats {
    median: f64,
    worst_high: f64,
    spread: Option<f64>,
}

fn stats(values: &[f64]) -> Option<Stats> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    Some(Stats {
        median: median_of_sorted(&sorted),
        worst_high: max,
        spread: (sorted.len() > 1).then_some(max - min),
    })
}

/// Change in percent for the status decision: +∞ when the baseline is zero and the value grew.
fn change_pct(base: f64, current: f64) -> f64 {
    if base > 0.0 {
        (current - base) / base * 100.0
    } else if current > base {
        f64::INFINITY
    } else {
        0.0
    }
}

/// " (noisy: ...)" when the repeats differ by more than `limit_pct` of their median.
fn noise_note(stats: &Stats, limit_pct: f64) -> String {
    match stats.spread {
        Some(spread) if stats.median.abs() > 0.0 && spread / stats.median.abs() * 100.0 > limit_pct => {
            format!(
                " (noisy: the repeats differ by {:.0}% of their median)",
                spread / stats.median.abs() * 100.0
            )
        }
        _ => String::new(),
    }
}

/// A relative finding for a metric where an *increase* is bad, with an absolute floor.
struct Increase<'a> {
    metric: String,
    unit: &'a str,
    warn_pct: f64,
    fail_pct: Option<f64>,
    floor: f64,
}

impl Increase<'_> {
    fn finding(&self, base: f64, current: &Stats) -> Finding {
        let delta = current.median - base;
        let pct = change_pct(base, current.median);
        let past = |limit: f64| pct > limit && delta > self.floor;
        let status = if self.fail_pct.is_some_and(past) {
            Status::Fail
        } else if past(self.warn_pct) {
            Status::Warn
        } else {
            Status::Pass
        };
        let fail = self
            .fail_pct
            .map_or(String::new(), |f| format!(", above +{f}% fails"));
        let (floor, unit) = (self.floor, self.unit);
        let mut rule = format!(
            "vs baseline: above +{}% warns{fail}; increases of at most {floor} {unit} are ignored",
            self.warn_pct
        );
        if status > Status::Pass {
            rule.push_str(&format!(
                "; rose by {delta:.3} {unit}: find the cause, or accept it with --update-baseline"
            ));
        }
        rule.push_str(&noise_note(current, self.warn_pct));
        Finding {
            metric: self.metric.clone(),
            baseline: Some(base),
            current: current.median,
            spread: current.spread,
            change_pct: pct.is_finite().then_some(pct),
            status,
            rule,
        }
    }
}

/// Relative checks: primary latency p99, throughput, memory growth.
fn relative(runs: &[ScenarioReport], base: &ScenarioReport, t: &Thresholds, out: &mut Vec<Finding>) {
    if let Some((key, _)) = runs[0].primary_latency() {
        let metric = format!("latency.{key}.p99_ms");
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.latency.get(key).filter(|l| l.count > 0))
            .map(|l| l.p99_ms)
            .collect();
        match (base.latency.get(key).filter(|l| l.count > 0), stats(&values)) {
            (Some(base_latency), Some(current)) => {
                let check = Increase {
                    metric,
                    unit: "ms",
                    warn_pct: t.latency_p99_warn_pct,
                    fail_pct: Some(t.latency_p99_fail_pct),
                    floor: t.latency_floor_ms,
                };
                out.push(check.finding(base_latency.p99_ms, &current));
            }
            _ => out.push(Finding::note(
                &metric,
                format!("skipped: the baseline has no `{key}` latency; re-record it with --update-baseline"),
            )),
        }
    }

    let values: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.throughput.as_ref())
        .map(|x| x.events_per_sec)
        .collect();
    if let Some(current) = stats(&values) {
        let metric = "throughput.events_per_sec";
        match base.throughput.as_ref().filter(|x| x.events_per_sec > 0.0) {
            Some(base_throughput) => {
                out.push(throughput_finding(base_throughput.events_per_sec, &current, t))
            }
            None => out.push(Finding::note(
                metric,
                "skipped: the baseline has no throughput; re-record it with --update-baseline".into(),
            )),
        }
    }

    let values: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.memory.as_ref())
        .map(|m| m.growth_mb)
        .collect();
    if let (Some(current), Some(base_memory)) = (stats(&values), base.memory.as_ref()) {
        let check = Increase {
            metric: "memory.growth_mb".into(),
            unit: "MiB",
            warn_pct: t.memory_growth_warn_pct,
            fail_pct: t.memory_growth_fail_pct,
            floor: t.memory_growth_floor_mb,
        };
        out.push(check.finding(base_memory.growth_mb, &current));
    }
}

/// Throughput: a *drop* is bad.
fn throughput_finding(base: f64, current: &Stats, t: &Thresholds) -> Finding {
    let pct = change_pct(base, current.median);
    let status = if t.throughput_fail_pct.is_some_and(|f| pct < -f) {
        Status::Fail
    } else if pct < -t.throughput_warn_pct {
        Status::Warn
    } else {
        Status::Pass
    };
    let fail = t
        .throughput_fail_pct
        .map_or(String::new(), |f| format!(", below -{f}% fails"));
    let mut rule = format!("vs baseline: below -{}% warns{fail}", t.throughput_warn_pct);
    if status > Status::Pass {
        rule.push_str(&format!(
            "; dropped {:.1}%: check the generator was not CPU-bound, or accept with --update-baseline",
            -pct
        ));
    }
    rule.push_str(&noise_note(current, t.throughput_warn_pct));
    Finding {
        metric: "throughput.events_per_sec".into(),
        baseline: Some(base),
        current: current.median,
        spread: current.spread,
        change_pct: Some(pct),
        status,
        rule,
    }
}

/// An absolute "above the limit fails" finding.
fn limit_finding(metric: &str, value: f64, spread: Option<f64>, limit: f64, what: &str) -> Finding {
    let status = if value > limit { Status::Fail } else { Status::Pass };
    Finding {
        metric: metric.to_owned(),
        baseline: None,
        current: value,
        spread,
        change_pct: None,
        status,
        rule: format!("{what} above {limit} fails"),
    }
}

/// Absolute checks: memory slope (median), error rate and lost events (worst run), scenario checks
/// (any run).
fn absolute(runs: &[ScenarioReport], t: &Thresholds, out: &mut Vec<Finding>) {
    let memories: Vec<&crate::model::Memory> = runs.iter().filter_map(|r| r.memory.as_ref()).collect();
    let window = memories
        .iter()
        .map(|m| m.slope_window_seconds)
        .fold(f64::INFINITY, f64::min);
    let slopes: Vec<f64> = memories.iter().map(|m| m.slope_mb_per_sec).collect();
    if !memories.is_empty() && window < t.memory_slope_min_window_seconds {
        out.push(Finding::note(
            "memory.slope_mb_per_sec",
            format!(
                "RSS slope not judged: fitted over {window:.1} s, under the {} s a slope needs \
                 (a shorter window measures allocator warm-up); run a longer profile",
                t.memory_slope_min_window_seconds
            ),
        ));
    } else if let Some(s) = stats(&slopes) {
        out.push(limit_finding(
            "memory.slope_mb_per_sec",
            s.median,
            s.spread,
            t.memory_slope_fail_mb_per_sec,
            "server RSS slope (MiB/s, median of runs)",
        ));
    }

    let rates: Vec<f64> = runs.iter().map(|r| r.connections.error_rate).collect();
    if let Some(s) = stats(&rates) {
        out.push(limit_finding(
            "connections.error_rate",
            s.worst_high,
            s.spread,
            t.error_rate_fail,
            "connection error rate (fraction, worst run)",
        ));
    }

    let lost: Vec<f64> = runs.iter().map(|r| r.events.lost as f64).collect();
    if let Some(s) = stats(&lost) {
        out.push(limit_finding(
            "events.lost",
            s.worst_high,
            s.spread,
            t.lost_events_fail as f64,
            "lost events (worst run)",
        ));
    }

    scenario_checks(runs, out);
}

/// One finding per scenario check: failed when it failed in any run.
fn scenario_checks(runs: &[ScenarioReport], out: &mut Vec<Finding>) {
    let mut names: Vec<&str> = Vec::new();
    for check in runs.iter().flat_map(|r| &r.checks) {
        if !names.contains(&check.name.as_str()) {
            names.push(&check.name);
        }
    }
    for name in names {
        let results: Vec<_> = runs
            .iter()
            .flat_map(|r| r.checks.iter().filter(|c| c.name == name))
            .collect();
        let failed: Vec<_> = results.iter().filter(|c| !c.passed).collect();
        let (status, rule) = match failed.first() {
            Some(first) => (
                Status::Fail,
                format!(
                    "scenario check failed in {} of {} runs: {}",
                    failed.len(),
                    results.len(),
                    first.detail
                ),
            ),
            None => (
                Status::Pass,
                format!("scenario check held: {}", results[0].detail),
            ),
        };
        out.push(Finding {
            metric: format!("check.{name}"),
            baseline: None,
            current: failed.len() as f64,
            spread: None,
            change_pct: None,
            status,
            rule,
        });
    }
}
