//! Gate tests of what it measures beyond thresholds: the noise interval, baseline repeats,
//! the feed's rate and failed publishes.

use super::*;

/// A noise model with `rel_sd_pct` for the p99 of `throughput-single`.
fn noise_of(rel_sd_pct: f64) -> noise::NoiseModel {
    let runs = [run(9.0), run(10.0), run(11.0)];
    let mut model = noise::NoiseModel::measure([&runs[..]], "embedded", "smoke");
    let k = model
        .scenarios
        .get_mut("throughput-single")
        .and_then(|m| m.get_mut(P99))
        .expect("measured p99 noise");
    k.rel_sd_pct = rel_sd_pct;
    model
}

#[test]
fn measured_noise_explains_a_change_past_the_threshold() {
    let t = Thresholds::default();
    let base = run(10.0);
    // +60% on one run each side: past the 50% fail threshold by the threshold alone…
    let alone = judge(&[run(16.0)], Some(&base), &t);
    assert_eq!(finding(&alone, P99).status, Status::Fail);
    assert_eq!(finding(&alone, P99).decided_by, Rule::Threshold);
    // …but with 20% noise per run the interval is 60 ± 3 × 20 × √2 = 60 ± 84.9: explained.
    let model = noise_of(20.0);
    let j = judge_with(&[run(16.0)], Some(&base), Some(&model), &t);
    let f = finding(&j, P99);
    assert_eq!(
        (f.status, f.decided_by),
        (Status::Pass, Rule::NoiseInterval),
        "{f:?}"
    );
    assert!((f.noise_pct.unwrap() - 84.85).abs() < 0.01, "{f:?}");
    assert!(f.rule.contains("explained by the measured noise"), "{}", f.rule);
    // With 2% noise, 60 ± 8.5 lies wholly past +50%: a regression, decided by the interval.
    let j = judge_with(&[run(16.0)], Some(&base), Some(&noise_of(2.0)), &t);
    let f = finding(&j, P99);
    assert_eq!(
        (f.status, f.decided_by),
        (Status::Fail, Rule::NoiseInterval),
        "{f:?}"
    );
    assert!(j.regression && !j.check_failed);
}

#[test]
fn baseline_repeats_narrow_the_interval() {
    let t = Thresholds::default();
    let mut base = run(10.0);
    base.kpi_runs.insert(P99.into(), vec![10.0, 10.1, 9.9]);
    let j = judge(&[run(16.0), run(16.1), run(15.9)], Some(&base), &t);
    let f = finding(&j, P99);
    assert_eq!((f.status, f.baseline), (Status::Fail, Some(10.0)), "{f:?}");
    assert_eq!(f.decided_by, Rule::NoiseInterval);
}

#[test]
fn a_feed_off_its_rate_fails_either_way_and_an_unmeasured_one_is_not_judged() {
    let t = Thresholds::default();
    let feed = |achieved: Option<f64>| {
        let mut r = run(1.0);
        r.feed = Some(crate::model::FeedRate {
            nominal_per_sec: 100.0,
            achieved_per_sec: achieved,
            deviation_pct: None,
            ..Default::default()
        });
        r
    };
    let status = |runs: &[ScenarioReport]| finding(&judge(runs, None, &t), "feed.achieved_per_sec").status;
    assert_eq!(status(&[feed(Some(95.0))]), Status::Pass, "exactly -5% passes");
    assert_eq!(status(&[feed(Some(105.0))]), Status::Pass, "exactly +5% passes");
    let short = judge(&[feed(Some(100.0)), feed(Some(61.0))], None, &t);
    let f = finding(&short, "feed.achieved_per_sec");
    assert_eq!(
        (f.status, f.current),
        (Status::Fail, Some(61.0)),
        "worst run: {f:?}"
    );
    assert!(f.rule.contains("fell short") && short.check_failed, "{}", f.rule);
    let over = judge(&[feed(Some(199.9))], None, &t);
    assert!(
        finding(&over, "feed.achieved_per_sec")
            .rule
            .contains("did not ask for")
    );
    assert_eq!(status(&[feed(None)]), Status::NotJudged);
    assert!(
        judge(&[run(1.0)], None, &t)
            .findings
            .iter()
            .all(|f| f.metric != "feed.achieved_per_sec")
    );
}

#[test]
fn failed_publishes_fail_and_are_not_checked_without_a_publisher() {
    let t = Thresholds::default();
    assert!(
        judge(&[run(1.0)], None, &t)
            .findings
            .iter()
            .all(|f| f.metric != "events.publish_failed")
    );
    let mut r = run(1.0);
    r.events.published = 99;
    assert_eq!(
        finding(&judge(&[r.clone()], None, &t), "events.publish_failed").status,
        Status::Pass
    );
    r.events.publish_failed = 1;
    let j = judge(&[r], None, &t);
    assert_eq!(finding(&j, "events.publish_failed").status, Status::Fail);
    assert!(j.check_failed);
}

#[test]
fn a_publisher_behind_its_schedule_warns_and_one_on_time_passes() {
    let t = Thresholds::default();
    let lagging = |p99_ms: Option<f64>| {
        let mut r = run(1.0);
        r.feed = Some(crate::model::FeedRate {
            nominal_per_sec: 100.0,
            achieved_per_sec: Some(100.0),
            deviation_pct: Some(0.0),
            publish_lag_p99_ms: p99_ms,
            publish_lag_max_ms: p99_ms,
        });
        r
    };
    let on_time = judge(&[lagging(Some(0.4))], None, &t);
    assert_eq!(finding(&on_time, "feed.publish_lag_p99_ms").status, Status::Pass);
    // 25 ms late at p99 where one period is 10 ms: the feed arrived bunched.
    let late = judge(&[lagging(Some(0.4)), lagging(Some(25.0))], None, &t);
    let f = finding(&late, "feed.publish_lag_p99_ms");
    assert_eq!(f.status, Status::Warn);
    assert_eq!(f.current, Some(25.0));
    assert_eq!(f.baseline, Some(10.0));
    // Without a publisher of the generator's own there is nothing to judge, and no finding.
    let none = judge(&[lagging(None)], None, &t);
    assert!(
        none.findings
            .iter()
            .all(|f| f.metric != "feed.publish_lag_p99_ms")
    );
}
