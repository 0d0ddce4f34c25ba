//! Gate tests of the paired mode: B's runs judged against A's runs of the same invocation.

use super::*;
use crate::gate::paired::{PAIRED_RULE, baseline_check_failures, judge_paired};

#[test]
fn identical_sides_pass_and_every_relative_finding_names_the_in_run_baseline() {
    let t = Thresholds::default();
    let a = [run(10.0), run(10.2), run(9.8)];
    let b = [run(10.1), run(9.9), run(10.0)];
    let (j, base) = judge_paired(&b, &a, None, "measured in this run", &t);
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
    let (j, _) = judge_paired(&[run(20.0), run(20.0)], &[run(10.0), run(10.0)], None, "x", &t);
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
    let (j, _) = judge_paired(&b, &a, None, "x", &t);
    assert!(!j.check_failed, "{j:#?}");
    let failures = baseline_check_failures(&a, &t);
    assert_eq!(
        failures.iter().map(|f| f.metric.as_str()).collect::<Vec<_>>(),
        ["events.lost"]
    );
    assert!(baseline_check_failures(&b, &t).is_empty());
}

#[test]
fn pooled_sigma_weights_each_estimate_by_its_runs() {
    use crate::gate::pooled_sd;
    // Ten recorded runs at 5% and three a side at 11%: (9·25 + 2·121 + 2·121) / 13.
    let pooled = pooled_sd([(5.0, 10), (11.0, 3), (11.0, 3)]).unwrap();
    assert!(
        (pooled - ((9.0 * 25.0 + 4.0 * 121.0) / 13.0_f64).sqrt()).abs() < 1e-9,
        "{pooled}"
    );
    // One estimate alone is itself; estimates of one run carry no information.
    assert_eq!(pooled_sd([(7.0, 3), (99.0, 1)]), Some(7.0));
    assert_eq!(pooled_sd([(99.0, 1)]), None);
}
