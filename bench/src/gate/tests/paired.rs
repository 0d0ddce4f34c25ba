//! Gate tests of the paired mode: B's runs judged against A's runs of the same invocation.

use super::*;
use crate::gate::paired::{PAIRED_RULE, baseline_check_failures, judge_paired};

#[test]
fn identical_sides_pass_and_every_relative_finding_names_the_in_run_baseline() {
    let t = Thresholds::default();
    let a = [run(10.0), run(10.2), run(9.8)];
    let b = [run(10.1), run(9.9), run(10.0)];
    let (j, base) = judge_paired(&b, &a, "measured in this run", &t);
    assert_eq!(j.status, Status::Pass, "{j:#?}");
    assert_eq!(j.baseline.as_deref(), Some("measured in this run"));
    let base = base.expect("A ran");
    assert_eq!(
        base.kpi_runs[P99],
        [10.0, 10.2, 9.8],
        "A's runs are the baseline's"
    );
    let f = finding(&j, P99);
    assert_eq!((f.baseline, f.current), (Some(10.0), Some(10.0)));
    assert_eq!(
        f.decided_by,
        Rule::NoiseInterval,
        "σ from three runs a side: {f:?}"
    );
    assert!(f.rule.starts_with(PAIRED_RULE), "{}", f.rule);
    assert!(
        j.findings
            .iter()
            .filter(|f| f.kind == Kind::Absolute)
            .all(|f| !f.rule.contains(PAIRED_RULE))
    );
}

#[test]
fn two_runs_a_side_leave_the_threshold_alone_and_a_large_change_regresses() {
    let t = Thresholds::default();
    let (j, _) = judge_paired(&[run(20.0), run(20.0)], &[run(10.0), run(10.0)], "x", &t);
    let f = finding(&j, P99);
    assert_eq!((f.status, f.decided_by), (Status::Fail, Rule::Threshold), "{f:?}");
    assert!(j.regression && !j.check_failed);
}

#[test]
fn a_failed_check_of_the_baseline_side_is_reported_not_judged_against_b() {
    let t = Thresholds::default();
    let mut broken = run(10.0);
    broken.events.lost = 3;
    let a = [broken, run(10.0)];
    let b = [run(10.0), run(10.0)];
    let (j, _) = judge_paired(&b, &a, "x", &t);
    assert!(!j.check_failed, "{j:#?}");
    let failures = baseline_check_failures(&a, &t);
    assert_eq!(
        failures.iter().map(|f| f.metric.as_str()).collect::<Vec<_>>(),
        ["events.lost"]
    );
    assert!(baseline_check_failures(&b, &t).is_empty());
}
