//! The gate logic: medians and spreads over repeats, relative checks against a baseline (with
//! the noise model when there is one), absolute checks always.

use crate::model::{ScenarioReport, median_of_sorted};
use crate::verdict::Delta;

use super::limits::{Limits, classify, limits, outcome_in_words, thresholds_in_words};
use super::noise::{NoiseModel, Worse, interval_half_width, kpis, rel_sd_pct};
use super::{Finding, Judgement, Kind, Status, Thresholds};

/// Judges the runs of one scenario (one per `--repeat`) against `baseline` and `thresholds`,
/// without a noise model (see [`judge_with`]).
pub fn judge(
    runs: &[ScenarioReport],
    baseline: Option<&ScenarioReport>,
    thresholds: &Thresholds,
) -> Judgement {
    judge_with(runs, baseline, None, thresholds)
}

/// Judges the runs of one scenario against `baseline`, `noise` and `thresholds`.
///
/// See the [module docs](super) for which figure of the runs (median or worst) each check uses
/// and how noise widens the interval a change must clear. With no runs the judgement fails
/// with a finding that says so.
pub fn judge_with(
    runs: &[ScenarioReport],
    baseline: Option<&ScenarioReport>,
    noise: Option<&NoiseModel>,
    thresholds: &Thresholds,
) -> Judgement {
    judge_by(runs, baseline, noise, SigmaRule::Largest, thresholds)
}

/// As [`judge_with`], with σ pooled from the noise model and both sides' runs (the paired
/// gate's rule, see [`super::paired`]) instead of the largest of them.
pub fn judge_pooled(
    runs: &[ScenarioReport],
    baseline: Option<&ScenarioReport>,
    noise: Option<&NoiseModel>,
    thresholds: &Thresholds,
) -> Judgement {
    judge_by(runs, baseline, noise, SigmaRule::Pooled, thresholds)
}

/// How the noise estimates of one KPI combine into the σ of its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigmaRule {
    /// The largest estimate (a stored baseline: its runs and the current ones may sit in
    /// different host states).
    Largest,
    /// Variances pooled by degrees of freedom (runs measured interleaved, in one host state).
    Pooled,
}

fn judge_by(
    runs: &[ScenarioReport],
    baseline: Option<&ScenarioReport>,
    noise: Option<&NoiseModel>,
    sigma_rule: SigmaRule,
    thresholds: &Thresholds,
) -> Judgement {
    let Some(first) = runs.first() else {
        let mut finding = Finding::not_judged(
            "runs",
            Kind::Absolute,
            "no runs to judge: the scenario produced no report".into(),
        );
        finding.status = Status::Fail;
        return Judgement::new("", 0, vec![finding]);
    };
    let mut findings = Vec::new();
    match baseline {
        None => findings.push(Finding::not_judged(
            "relative_checks",
            Kind::Relative,
            format!(
                "no baseline for scenario `{}` on this target and profile `{}`; record one with --update-baseline",
                first.scenario, first.profile
            ),
        )),
        Some(base) if base.profile != first.profile || base.scenario != first.scenario => {
            findings.push(Finding::not_judged(
                "relative_checks",
                Kind::Relative,
                format!(
                    "the baseline was recorded for `{}` with profile `{}`, this run is `{}` with profile `{}`: \
                     not comparable",
                    base.scenario, base.profile, first.scenario, first.profile
                ),
            ));
        }
        Some(base) => relative(runs, base, noise, sigma_rule, thresholds, &mut findings),
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

/// The run that stands for a repeated scenario ([`representative`]), carrying each KPI of every
/// run in its `kpi_runs` when there was more than one, so a comparison sees the distribution.
/// `None` for no runs.
pub fn summarize(runs: &[ScenarioReport]) -> Option<ScenarioReport> {
    let mut shown = representative(runs)?.clone();
    if runs.len() > 1 {
        let mut all: std::collections::BTreeMap<String, Vec<f64>> = std::collections::BTreeMap::new();
        for run in runs {
            for (metric, value, _) in kpis(run) {
                all.entry(metric).or_default().push(value);
            }
        }
        shown.kpi_runs = all;
    }
    Some(shown)
}

/// Median, worst-high and spread (max − min, `None` for a single value) of a set of values.
struct Stats {
    median: f64,
    worst_high: f64,
    spread: Option<f64>,
    n: usize,
    rel_sd_pct: Option<f64>,
}

fn stats(values: &[f64]) -> Option<Stats> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let median = median_of_sorted(&sorted);
    Some(Stats {
        median,
        worst_high: max,
        spread: (sorted.len() > 1).then_some(max - min),
        n: sorted.len(),
        // Two runs say little about the spread: estimate it from three or more.
        rel_sd_pct: (sorted.len() >= 3).then(|| rel_sd_pct(&sorted, median)).flatten(),
    })
}

/// The values of `metric` in `runs`.
fn values_of(runs: &[ScenarioReport], metric: &str) -> Vec<f64> {
    runs.iter()
        .flat_map(kpis)
        .filter(|(m, _, _)| m == metric)
        .map(|(_, v, _)| v)
        .collect()
}

/// The baseline's values of `metric`: every run it was recorded from, or its own value.
fn baseline_values(base: &ScenarioReport, metric: &str) -> Vec<f64> {
    match base.kpi_runs.get(metric) {
        Some(values) if !values.is_empty() => values.clone(),
        _ => values_of(std::slice::from_ref(base), metric),
    }
}

/// Relative checks: every KPI of [`kpis`] present in the runs.
fn relative(
    runs: &[ScenarioReport],
    base: &ScenarioReport,
    noise: Option<&NoiseModel>,
    sigma_rule: SigmaRule,
    t: &Thresholds,
    out: &mut Vec<Finding>,
) {
    for (metric, _, worse) in kpis(&runs[0]) {
        let (Some(current), Some(base_stats)) = (
            stats(&values_of(runs, &metric)),
            stats(&baseline_values(base, &metric)),
        ) else {
            out.push(Finding::not_judged(
                &metric,
                Kind::Relative,
                format!("the baseline has no `{metric}`; re-record it with --update-baseline"),
            ));
            continue;
        };
        let measured = noise
            .and_then(|n| n.get(&base.scenario, &metric))
            .map(|k| (k.rel_sd_pct, k.runs));
        let estimates = [
            measured,
            current.rel_sd_pct.map(|s| (s, current.n)),
            base_stats.rel_sd_pct.map(|s| (s, base_stats.n)),
        ];
        let sigma = match sigma_rule {
            SigmaRule::Largest => estimates.into_iter().flatten().map(|(s, _)| s).reduce(f64::max),
            SigmaRule::Pooled => pooled_sd(estimates.into_iter().flatten()),
        };
        out.push(decide(
            &metric,
            worse,
            &limits(&metric, t),
            &base_stats,
            &current,
            sigma,
            t.noise_z,
        ));
    }
}

/// Standard deviations pooled by degrees of freedom: √(Σ (nᵢ − 1)·σᵢ² / Σ (nᵢ − 1)) over
/// `(σᵢ, nᵢ)`; `None` when no estimate has two runs or more.
pub fn pooled_sd(estimates: impl IntoIterator<Item = (f64, usize)>) -> Option<f64> {
    let (weighted, dof) = estimates
        .into_iter()
        .filter(|&(_, n)| n >= 2)
        .fold((0.0, 0usize), |(w, d), (s, n)| {
            (w + (n - 1) as f64 * s * s, d + n - 1)
        });
    (dof > 0).then(|| (weighted / dof as f64).sqrt())
}

/// The relative finding of one KPI: the change, its interval, the status and the rule.
fn decide(
    metric: &str,
    worse: Worse,
    limits: &Limits,
    base: &Stats,
    current: &Stats,
    sigma: Option<f64>,
    z: f64,
) -> Finding {
    let half = sigma.map(|s| interval_half_width(z, s, current.n, base.n));
    let decision = classify(worse, limits, base.median, current.median, half);
    let mut rule = thresholds_in_words(worse, limits);
    match (half, sigma) {
        (Some(h), Some(s)) => rule.push_str(&format!(
            "; measured noise {s:.1}% per run, so the change is {:+.1}% ± {h:.1} points \
             ({} run(s) vs {} baseline run(s), z = {z})",
            decision.pct, current.n, base.n
        )),
        _ => rule.push_str(
            "; no noise figure for this KPI (record one with `sse-load noise`, or use --repeat 3): \
             the threshold alone decides",
        ),
    }
    rule.push_str(&outcome_in_words(&decision, limits.unit));
    Finding {
        metric: metric.to_owned(),
        kind: Kind::Relative,
        baseline: Some(base.median),
        current: Some(current.median),
        spread: current.spread,
        change_pct: Delta::new(base.median, current.median).finite_change_pct(),
        noise_pct: half,
        status: decision.status,
        decided_by: decision.decided_by,
        rule,
    }
}

/// An absolute "above the limit fails" finding.
fn limit_finding(metric: &str, value: f64, spread: Option<f64>, limit: f64, what: &str) -> Finding {
    let status = if value > limit { Status::Fail } else { Status::Pass };
    Finding::absolute(
        metric,
        value,
        spread,
        status,
        format!("{what} above {limit} fails"),
    )
}

/// Absolute checks: memory slope (median), error rate and lost events (worst run), scenario checks
/// (any run), and the checks no run could judge.
fn absolute(runs: &[ScenarioReport], t: &Thresholds, out: &mut Vec<Finding>) {
    let memories: Vec<&crate::model::Memory> = runs.iter().filter_map(|r| r.memory.as_ref()).collect();
    let window = memories
        .iter()
        .map(|m| m.slope_window_seconds)
        .fold(f64::INFINITY, f64::min);
    let slopes: Vec<f64> = memories.iter().map(|m| m.slope_mb_per_sec).collect();
    if memories.iter().any(|m| !m.slope_steady) {
        out.push(Finding::not_judged(
            "memory.slope_mb_per_sec",
            Kind::Absolute,
            "RSS slope not judged: clients were still connecting when the run ended, so RSS grew \
             with new connections, not with a leak; give the run more time (--duration) or fewer clients"
                .into(),
        ));
    } else if !memories.is_empty() && window < t.memory_slope_min_window_seconds {
        out.push(Finding::not_judged(
            "memory.slope_mb_per_sec",
            Kind::Absolute,
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
    let failed: Vec<f64> = runs.iter().map(|r| r.events.publish_failed as f64).collect();
    if runs
        .iter()
        .any(|r| r.events.published + r.events.publish_failed > 0)
    {
        if let Some(s) = stats(&failed) {
            out.push(limit_finding(
                "events.publish_failed",
                s.worst_high,
                s.spread,
                0.0,
                "failed POST /publish requests, events no client could receive (worst run)",
            ));
        }
    }
    feed_rate(runs, t, out);
    publish_lag(runs, out);
    checks(runs, out);
}

/// The feed's measured rate against the one asked for (worst run).
fn feed_rate(runs: &[ScenarioReport], t: &Thresholds, out: &mut Vec<Finding>) {
    let metric = "feed.achieved_per_sec";
    let feeds: Vec<&crate::model::FeedRate> = runs.iter().filter_map(|r| r.feed.as_ref()).collect();
    let Some(first) = feeds.first() else { return };
    let nominal = first.nominal_per_sec;
    let worst = feeds
        .iter()
        .filter_map(|f| f.achieved_per_sec)
        .max_by(|a, b| (a / nominal - 1.0).abs().total_cmp(&(b / nominal - 1.0).abs()));
    let Some(achieved) = worst else {
        out.push(Finding::not_judged(
            metric,
            Kind::Absolute,
            "the feed's rate was not measured: this scenario records no gaps between events".into(),
        ));
        return;
    };
    let deviation = (achieved / nominal - 1.0) * 100.0;
    let tolerance = t.feed_rate_tolerance_pct;
    let (status, verdict) = if achieved < nominal * (1.0 - tolerance / 100.0) {
        (
            Status::Fail,
            format!(
                "; the feed fell short: {achieved:.1} events/s of the {nominal} asked ({deviation:+.1}%): \
                 the server or the host could not keep up, so the other figures describe a slower feed"
            ),
        )
    } else if achieved > nominal * (1.0 + tolerance / 100.0) {
        (
            Status::Fail,
            format!(
                "; the feed ran at {achieved:.1} events/s where {nominal} were asked ({deviation:+.1}%): \
                 a rate the scenario did not ask for (a second publisher, or a /sse that ignores ?delay=)"
            ),
        )
    } else {
        (Status::Pass, String::new())
    };
    let mut finding = Finding::absolute(
        metric,
        achieved,
        None,
        status,
        format!(
            "measured rate per stream (1 / mean gap between events, worst run) vs the {nominal} events/s asked: \
             more than ±{tolerance}% off fails{verdict}"
        ),
    );
    finding.baseline = Some(nominal);
    finding.change_pct = Some(deviation);
    out.push(finding);
}

/// How late the generator's own publisher sent (worst run's p99), against the period of
/// the rate asked: a lag beyond one period bunches the feed, so the latency figures describe
/// a burstier feed than asked. Judged only where the generator published at a fixed rate.
fn publish_lag(runs: &[ScenarioReport], out: &mut Vec<Finding>) {
    let metric = "feed.publish_lag_p99_ms";
    let lags = runs.iter().filter_map(|r| {
        Some((
            r.feed.as_ref()?.publish_lag_p99_ms?,
            r.feed.as_ref()?.nominal_per_sec,
        ))
    });
    let Some((worst, nominal)) = lags.max_by(|a, b| a.0.total_cmp(&b.0)) else {
        return;
    };
    let period_ms = 1000.0 / nominal;
    let status = if worst > period_ms {
        Status::Warn
    } else {
        Status::Pass
    };
    let mut finding = Finding::absolute(
        metric,
        worst,
        None,
        status,
        format!(
            "publish-to-send lag of the generator's publisher, p99 of the worst run, vs one period of the \
             {nominal} events/s asked ({period_ms:.3} ms): beyond it the feed arrives bunched, so warn"
        ),
    );
    finding.baseline = Some(period_ms);
    out.push(finding);
}

/// The scenario's own checks: failed in any run fails; not judged in every run is "not judged".
fn checks(runs: &[ScenarioReport], out: &mut Vec<Finding>) {
    let mut names: Vec<&str> = Vec::new();
    for name in runs.iter().flat_map(|r| {
        r.checks
            .iter()
            .map(|c| c.name.as_str())
            .chain(r.unjudged_checks.iter().map(|c| c.name.as_str()))
    }) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let metric = format!("check.{name}");
        let results: Vec<_> = runs
            .iter()
            .flat_map(|r| r.checks.iter().filter(|c| c.name == name))
            .collect();
        let failed: Vec<_> = results.iter().filter(|c| !c.passed).collect();
        let finding = match (failed.first(), results.first()) {
            (Some(first), _) => Finding::absolute(
                &metric,
                failed.len() as f64,
                None,
                Status::Fail,
                format!(
                    "scenario check failed in {} of {} runs: {}",
                    failed.len(),
                    results.len(),
                    first.detail
                ),
            ),
            (None, Some(first)) => Finding::absolute(
                &metric,
                0.0,
                None,
                Status::Pass,
                format!("scenario check held: {}", first.detail),
            ),
            (None, None) => {
                let reason = runs
                    .iter()
                    .flat_map(|r| &r.unjudged_checks)
                    .find(|c| c.name == name)
                    .map_or_else(String::new, |c| c.reason.clone());
                Finding::not_judged(&metric, Kind::Absolute, format!("not judged: {reason}"))
            }
        };
        out.push(finding);
    }
}
