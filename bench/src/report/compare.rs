//! `sse-load compare BASELINE CURRENT`: the KPIs of one report judged against another, one line
//! each with the sign of the change and the gate's verdict.
//!
//! Only what the gate compares is shown (primary latency p99, throughput, server CPU per event,
//! memory growth): process ids, uptimes and start times differ between any two runs and say
//! nothing. A change is `(current − baseline) / |baseline|`, so `+` on a latency is worse and
//! `−` on a throughput is worse; a 0 → 0 change is 0%, and a change from 0 is shown as `—`.

use std::fmt::Write as _;

use super::format::{num, opt, pct};
use crate::gate::{Judgement, Kind};
use crate::model::ScenarioReport;

/// The KPI table of a relative `judgement` of `current` against `baseline`, ending with a
/// one-line verdict.
pub fn render(baseline: &ScenarioReport, current: &ScenarioReport, judgement: &Judgement) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: baseline {} ({}, revision {}) → current {} ({}, revision {})",
        current.scenario,
        baseline.started_at,
        baseline.profile,
        baseline.environment.git_revision,
        current.started_at,
        current.profile,
        current.environment.git_revision
    );
    let rows: Vec<_> = judgement
        .findings
        .iter()
        .filter(|f| f.kind == Kind::Relative)
        .collect();
    let width = rows.iter().map(|f| f.metric.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        out,
        "{:<width$} {:>12} {:>12} {:>9}  verdict",
        "metric", "baseline", "current", "change"
    );
    for f in &rows {
        let _ = writeln!(
            out,
            "{:<width$} {:>12} {:>12} {:>9}  {} ({})",
            f.metric,
            opt(f.baseline),
            opt(f.current),
            pct(f.change_pct),
            f.status,
            rule_name(f)
        );
    }
    for f in rows
        .iter()
        .filter(|f| f.status > crate::gate::Status::Pass || f.current.is_none())
    {
        let _ = writeln!(out, "  {}: {}", f.metric, f.rule);
    }
    let regressed: Vec<&str> = rows
        .iter()
        .filter(|f| f.is_regression())
        .map(|f| f.metric.as_str())
        .collect();
    if regressed.is_empty() {
        let _ = writeln!(out, "verdict: PASS — no KPI regressed");
    } else {
        let _ = writeln!(out, "verdict: FAIL — regressed: {}", regressed.join(", "));
    }
    out
}

fn rule_name(f: &crate::gate::Finding) -> String {
    let name = serde_json::to_value(f.decided_by)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match f.noise_pct {
        Some(h) => format!("{name} ±{}", num(h)),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Thresholds, judge};
    use crate::model::{Latency, Throughput};

    fn report(p99: f64, events_per_sec: f64) -> ScenarioReport {
        let mut r = ScenarioReport {
            scenario: "fanout".into(),
            profile: "smoke".into(),
            ..ScenarioReport::default()
        };
        r.latency.insert(
            "publish_to_receive".into(),
            Latency {
                count: 10,
                p99_ms: p99,
                ..Latency::default()
            },
        );
        r.throughput = Some(Throughput {
            events_per_sec,
            ..Throughput::default()
        });
        r
    }

    #[test]
    fn the_sign_follows_current_minus_baseline_and_only_kpis_show() {
        let (base, current) = (report(3.3, 1000.0), report(6.1, 1000.0));
        let j = judge(
            std::slice::from_ref(&current),
            Some(&base),
            &Thresholds::default(),
        );
        let text = render(&base, &current, &j);
        assert!(text.contains("+84.8%"), "{text}");
        assert!(
            text.contains("FAIL") && text.ends_with("regressed: latency.publish_to_receive.p99_ms\n"),
            "{text}"
        );
        assert!(!text.contains("pid") && text.lines().count() < 8, "{text}");
        let j = judge(std::slice::from_ref(&base), Some(&base), &Thresholds::default());
        assert!(render(&base, &base, &j).contains("+0.0%"));
        assert!(render(&base, &base, &j).ends_with("verdict: PASS — no KPI regressed\n"));
    }
}
