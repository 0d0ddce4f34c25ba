//! The noise model: how much each KPI of each scenario moves between identical runs on one
//! host class, and the confidence interval of a change that follows from it.
//!
//! `sse-load noise --runs K` runs every selected scenario K times unchanged and records, per
//! KPI, the relative standard deviation of the K values ([`KpiNoise::rel_sd_pct`]) with the
//! environment, under `baselines/load/<target>/<profile>/noise/<host-class>.json`. The gate then
//! calls a change a regression only when its whole confidence interval,
//! `change ± z × σ × √(1/n + 1/m)` (σ the relative noise, n and m the runs on each side), lies
//! past the threshold ([`interval_half_width`]). The same formula compares two sets of repeats
//! (`--repeat` on both the baseline and the current run): σ is then also estimated from the
//! runs themselves, and the larger estimate is used.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::model::ScenarioReport;

/// Format tag of a noise file.
pub const FORMAT: &str = "sse-load-noise/1";

/// Which way a KPI gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// Higher is worse (latency, CPU per event, memory growth).
    Up,
    /// Lower is worse (throughput).
    Down,
}

/// The KPIs compared against a baseline, with their direction. Latency is the scenario's
/// primary latency ([`ScenarioReport::primary_latency`]).
pub fn kpis(report: &ScenarioReport) -> Vec<(String, f64, Worse)> {
    let mut out = Vec::new();
    if let Some((key, latency)) = report.primary_latency() {
        out.push((format!("latency.{key}.p99_ms"), latency.p99_ms, Worse::Up));
    }
    if let Some(t) = &report.throughput {
        out.push(("throughput.events_per_sec".into(), t.events_per_sec, Worse::Down));
    }
    if let Some(ns) = report.cpu.server_ns_per_event {
        out.push(("cpu.server_ns_per_event".into(), ns, Worse::Up));
    }
    if let Some(m) = &report.memory {
        out.push(("memory.growth_mb".into(), m.growth_mb, Worse::Up));
    }
    out
}

/// The noise of one KPI over K identical runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiNoise {
    /// Runs measured.
    pub runs: usize,
    /// Median of the runs, in the KPI's unit.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sample standard deviation as a percentage of the median.
    pub rel_sd_pct: f64,
}

impl KpiNoise {
    /// The noise of `values` (`None` with fewer than 2 finite values or a zero median).
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.len() < 2 {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let median = crate::model::median_of_sorted(&sorted);
        if median == 0.0 {
            return None;
        }
        Some(Self {
            runs: sorted.len(),
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            rel_sd_pct: rel_sd_pct(&sorted, median)?,
        })
    }
}

/// Sample standard deviation of `values` in percent of `median` (`None` under 2 values).
pub fn rel_sd_pct(values: &[f64], median: f64) -> Option<f64> {
    let n = values.len();
    if n < 2 || median == 0.0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some(var.sqrt() / median.abs() * 100.0)
}

/// Half-width, in percentage points, of the confidence interval of a relative change between
/// the medians of `n` and `m` runs of a KPI whose run-to-run noise is `rel_sd_pct`.
pub fn interval_half_width(z: f64, rel_sd_pct: f64, n: usize, m: usize) -> f64 {
    z * rel_sd_pct * (1.0 / n.max(1) as f64 + 1.0 / m.max(1) as f64).sqrt()
}

/// The noise of every KPI of every scenario, on one host class, target and profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseModel {
    /// [`FORMAT`].
    pub format: String,
    /// `<arch>-<cpus>cpu`, see [`Environment::host_class`].
    pub host_class: String,
    /// The target the runs measured (`embedded`, or the `--target-name`).
    pub target: String,
    /// The profile label of the runs.
    pub profile: String,
    /// Where and when it was measured.
    pub environment: Environment,
    /// 1-minute load average at the end of the measurement (what else was running).
    pub host_load_1m: Option<f64>,
    /// Scenario → KPI metric path → noise.
    pub scenarios: BTreeMap<String, BTreeMap<String, KpiNoise>>,
}

impl NoiseModel {
    /// The noise of `metric` of `scenario`, if measured.
    pub fn get(&self, scenario: &str, metric: &str) -> Option<&KpiNoise> {
        self.scenarios.get(scenario)?.get(metric)
    }

    /// A model from the runs of each scenario (K runs each).
    pub fn measure<'a>(
        runs: impl IntoIterator<Item = &'a [ScenarioReport]>,
        target: &str,
        profile: &str,
    ) -> Self {
        let mut scenarios = BTreeMap::new();
        for set in runs {
            let Some(first) = set.first() else { continue };
            let mut by_metric: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for run in set {
                for (metric, value, _) in kpis(run) {
                    by_metric.entry(metric).or_default().push(value);
                }
            }
            let noise: BTreeMap<String, KpiNoise> = by_metric
                .into_iter()
                .filter_map(|(metric, values)| Some((metric, KpiNoise::of(&values)?)))
                .collect();
            scenarios.insert(first.scenario.clone(), noise);
        }
        let environment = Environment::capture();
        Self {
            format: FORMAT.to_owned(),
            host_class: environment.host_class(),
            target: target.to_owned(),
            profile: profile.to_owned(),
            environment,
            host_load_1m: crate::environment::host_load(),
            scenarios,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sd_and_interval() {
        let n = KpiNoise::of(&[90.0, 100.0, 110.0]).unwrap();
        assert_eq!((n.runs, n.median, n.min, n.max), (3, 100.0, 90.0, 110.0));
        assert!((n.rel_sd_pct - 10.0).abs() < 1e-9, "{n:?}");
        assert!(KpiNoise::of(&[1.0]).is_none());
        assert!(KpiNoise::of(&[0.0, 0.0]).is_none());
        // 3 × 10% × √(1/1 + 1/1)
        assert!((interval_half_width(3.0, 10.0, 1, 1) - 42.426).abs() < 1e-3);
        assert!(interval_half_width(3.0, 10.0, 3, 3) < interval_half_width(3.0, 10.0, 1, 3));
    }
}
