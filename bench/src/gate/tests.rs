//! Gate tests: every threshold at its pass / warn / fail boundary, repeats, and the skip paths.

use std::io::Write as _;

use super::*;

mod measured;
mod paired;
use crate::model::{Check, Latency, Memory, ScenarioReport, Throughput};

/// A report with a primary (`inter_event`) latency whose p99 is `p99_ms`.
fn run(p99_ms: f64) -> ScenarioReport {
    let mut r = ScenarioReport {
        scenario: "throughput-single".into(),
        profile: "smoke".into(),
        ..ScenarioReport::default()
    };
    r.latency.insert(
        "inter_event".into(),
        Latency {
            count: 100,
            p99_ms,
            ..Latency::default()
        },
    );
    r
}

fn with_throughput(mut r: ScenarioReport, events_per_sec: f64) -> ScenarioReport {
    r.throughput = Some(Throughput {
        events_per_sec,
        ..Throughput::default()
    });
    r
}

fn with_memory(mut r: ScenarioReport, growth_mb: f64, slope_mb_per_sec: f64) -> ScenarioReport {
    r.memory = Some(Memory {
        growth_mb,
        slope_mb_per_sec,
        slope_window_seconds: 60.0,
        ..Memory::default()
    });
    r
}

fn finding<'a>(j: &'a Judgement, metric: &str) -> &'a Finding {
    j.findings
        .iter()
        .find(|f| f.metric == metric)
        .unwrap_or_else(|| panic!("no {metric} in {j:#?}"))
}

fn status_of(runs: &[ScenarioReport], base: &ScenarioReport, t: &Thresholds, metric: &str) -> Status {
    finding(&judge(runs, Some(base), t), metric).status
}

const P99: &str = "latency.inter_event.p99_ms";
const THROUGHPUT: &str = "throughput.events_per_sec";
const GROWTH: &str = "memory.growth_mb";

#[test]
fn latency_p99_boundaries() {
    let t = Thresholds::default();
    let base = run(10.0);
    assert_eq!(status_of(&[run(10.0)], &base, &t, P99), Status::Pass);
    assert_eq!(
        status_of(&[run(12.0)], &base, &t, P99),
        Status::Pass,
        "exactly +20% passes"
    );
    assert_eq!(status_of(&[run(12.001)], &base, &t, P99), Status::Warn);
    assert_eq!(
        status_of(&[run(15.0)], &base, &t, P99),
        Status::Warn,
        "exactly +50% warns"
    );
    assert_eq!(status_of(&[run(15.001)], &base, &t, P99), Status::Fail);
    assert_eq!(
        status_of(&[run(5.0)], &base, &t, P99),
        Status::Pass,
        "faster passes"
    );
    let j = judge(&[run(15.001)], Some(&base), &t);
    let f = finding(&j, P99);
    assert_eq!((f.baseline, f.current), (Some(10.0), Some(15.001)));
    assert!((f.change_pct.unwrap() - 50.01).abs() < 1e-9);
}

#[test]
fn latency_floor_ignores_small_absolute_changes() {
    let t = Thresholds::default();
    let base = run(0.25);
    assert_eq!(
        status_of(&[run(0.75)], &base, &t, P99),
        Status::Pass,
        "+200% but only +0.5 ms"
    );
    assert_eq!(status_of(&[run(0.76)], &base, &t, P99), Status::Fail);
    let strict = Thresholds {
        latency_floor_ms: 0.0,
        ..Thresholds::default()
    };
    assert_eq!(
        status_of(&[run(0.31)], &base, &strict, P99),
        Status::Warn,
        "+24% with no floor"
    );
}

#[test]
fn configured_latency_thresholds_apply() {
    let t = Thresholds {
        latency_p99_warn_pct: 5.0,
        latency_p99_fail_pct: 10.0,
        ..Thresholds::default()
    };
    let base = run(10.0);
    assert_eq!(status_of(&[run(10.5)], &base, &t, P99), Status::Pass);
    assert_eq!(status_of(&[run(10.6)], &base, &t, P99), Status::Warn);
    assert_eq!(status_of(&[run(11.1)], &base, &t, P99), Status::Fail);
}

#[test]
fn throughput_boundaries() {
    let base = with_throughput(run(10.0), 1000.0);
    let t = Thresholds::default();
    let at = |eps, t: &Thresholds| status_of(&[with_throughput(run(10.0), eps)], &base, t, THROUGHPUT);
    assert_eq!(at(1000.0, &t), Status::Pass);
    assert_eq!(at(800.0, &t), Status::Pass, "exactly -20% passes");
    assert_eq!(at(799.0, &t), Status::Warn);
    assert_eq!(at(1.0, &t), Status::Warn, "no fail level by default");
    let with_fail = Thresholds {
        throughput_fail_pct: Some(50.0),
        ..Thresholds::default()
    };
    assert_eq!(at(500.0, &with_fail), Status::Warn, "exactly -50% warns");
    assert_eq!(at(499.0, &with_fail), Status::Fail);
    assert_eq!(at(5000.0, &with_fail), Status::Pass, "faster passes");
}

#[test]
fn memory_growth_boundaries() {
    let t = Thresholds::default();
    let base = with_memory(run(10.0), 4.0, 0.0);
    let at = |growth, t: &Thresholds, base: &ScenarioReport| {
        status_of(&[with_memory(run(10.0), growth, 0.0)], base, t, GROWTH)
    };
    assert_eq!(at(6.0, &t, &base), Status::Pass, "exactly +50% passes");
    assert_eq!(at(6.01, &t, &base), Status::Warn);
    assert_eq!(at(100.0, &t, &base), Status::Warn, "no fail level by default");
    let with_fail = Thresholds {
        memory_growth_fail_pct: Some(100.0),
        ..Thresholds::default()
    };
    assert_eq!(at(8.0, &with_fail, &base), Status::Warn, "exactly +100% warns");
    assert_eq!(at(8.01, &with_fail, &base), Status::Fail);
    // The floor: +200% but only +1.0 MiB.
    let small = with_memory(run(10.0), 0.5, 0.0);
    assert_eq!(at(1.5, &t, &small), Status::Pass);
    assert_eq!(at(1.6, &t, &small), Status::Warn);
    // A baseline without growth: any growth past the floor warns, with no percentage.
    let flat = with_memory(run(10.0), 0.0, 0.0);
    assert_eq!(at(1.0, &t, &flat), Status::Pass);
    let j = judge(&[with_memory(run(10.0), 1.5, 0.0)], Some(&flat), &t);
    assert_eq!(finding(&j, GROWTH).status, Status::Warn);
    assert_eq!(finding(&j, GROWTH).change_pct, None);
}

#[test]
fn memory_slope_boundaries_apply_without_baseline() {
    let t = Thresholds::default();
    let at = |slope| {
        finding(
            &judge(&[with_memory(run(1.0), 0.0, slope)], None, &t),
            "memory.slope_mb_per_sec",
        )
        .status
    };
    assert_eq!(at(0.0), Status::Pass);
    assert_eq!(at(0.1), Status::Pass, "exactly 0.1 MiB/s passes");
    assert_eq!(at(0.1001), Status::Fail);
    assert_eq!(at(-3.0), Status::Pass, "shrinking passes");
}

#[test]
fn memory_slope_while_clients_still_arrive_is_not_judged() {
    let t = Thresholds::default();
    let mut arriving = with_memory(run(1.0), 30.0, 1.2);
    arriving.memory.as_mut().unwrap().slope_steady = false;
    let j = judge(&[arriving.clone()], None, &t);
    let f = finding(&j, "memory.slope_mb_per_sec");
    assert!(f.status == Status::NotJudged, "{f:?}");
    assert!(f.rule.contains("still connecting"), "{}", f.rule);
    assert_eq!(j.status, Status::Pass);
    arriving.memory.as_mut().unwrap().slope_steady = true;
    assert_eq!(judge(&[arriving], None, &t).status, Status::Fail);
}

#[test]
fn memory_slope_over_a_short_window_is_a_note_not_a_verdict() {
    let t = Thresholds::default();
    let mut short = with_memory(run(1.0), 0.0, 5.0);
    short.memory.as_mut().unwrap().slope_window_seconds = 9.9;
    let j = judge(&[short.clone()], None, &t);
    let f = finding(&j, "memory.slope_mb_per_sec");
    assert!(f.status == Status::NotJudged, "{f:?}");
    assert!(f.rule.contains("9.9 s"), "{}", f.rule);
    assert_eq!(j.status, Status::Pass);
    short.memory.as_mut().unwrap().slope_window_seconds = 10.0;
    let f_status = judge(&[short], None, &t).status;
    assert_eq!(
        f_status,
        Status::Fail,
        "at the minimum window the slope is judged"
    );
}

#[test]
fn error_rate_boundaries() {
    let t = Thresholds::default();
    let at = |rate| {
        let mut r = run(1.0);
        r.connections.error_rate = rate;
        finding(&judge(&[r], None, &t), "connections.error_rate").status
    };
    assert_eq!(at(0.0), Status::Pass);
    assert_eq!(at(0.05), Status::Pass, "exactly 5% passes");
    assert_eq!(at(0.0501), Status::Fail);
}

#[test]
fn lost_events_boundaries() {
    let at = |lost, t: &Thresholds| {
        let mut r = run(1.0);
        r.events.lost = lost;
        finding(&judge(&[r], None, t), "events.lost").status
    };
    let t = Thresholds::default();
    assert_eq!(at(0, &t), Status::Pass);
    assert_eq!(at(1, &t), Status::Fail, "any lost event fails");
    let lenient = Thresholds {
        lost_events_fail: 5,
        ..Thresholds::default()
    };
    assert_eq!(at(5, &lenient), Status::Pass);
    assert_eq!(at(6, &lenient), Status::Fail);
}

#[test]
fn failed_scenario_check_fails_in_any_run() {
    let check = |passed| Check {
        name: "frozen_evicted".into(),
        passed,
        detail: format!("passed={passed}"),
    };
    let mut good = run(1.0);
    good.checks.push(check(true));
    let mut bad = run(1.0);
    bad.checks.push(check(false));
    let t = Thresholds::default();
    let j = judge(&[good.clone(), good.clone()], None, &t);
    assert_eq!(finding(&j, "check.frozen_evicted").status, Status::Pass);
    assert_eq!(j.status, Status::Pass);
    let j = judge(&[good.clone(), bad, good], None, &t);
    let f = finding(&j, "check.frozen_evicted");
    assert_eq!((f.status, f.current), (Status::Fail, Some(1.0)));
    assert!(
        f.rule.contains("1 of 3 runs") && f.rule.contains("passed=false"),
        "{}",
        f.rule
    );
    assert!(j.failed());
}

#[test]
fn repeats_are_judged_on_the_median_with_spread() {
    let t = Thresholds::default();
    let base = run(10.0);
    // One noisy run (30 ms) out of three: the median is 11 ms, +10%, a pass.
    let j = judge(&[run(10.0), run(30.0), run(11.0)], Some(&base), &t);
    let f = finding(&j, P99);
    assert_eq!(
        (f.status, f.current, f.spread),
        (Status::Pass, Some(11.0), Some(20.0))
    );
    assert_eq!(
        f.decided_by,
        Rule::NoiseInterval,
        "three runs estimate the noise: {}",
        f.rule
    );
    // Three consistently slow runs: the median fails, the interval is narrow.
    let j = judge(&[run(16.0), run(15.9), run(16.1)], Some(&base), &t);
    assert_eq!(finding(&j, P99).status, Status::Fail, "{:?}", finding(&j, P99));
    // Two of three slow, one fast: too noisy to call +60% a regression.
    let j = judge(&[run(16.0), run(9.0), run(16.0)], Some(&base), &t);
    assert_eq!(finding(&j, P99).status, Status::Pass, "{:?}", finding(&j, P99));
    // Even count: mean of the middle two, (10 + 14) / 2 = 12 = exactly +20%.
    let j = judge(&[run(14.0), run(10.0)], Some(&base), &t);
    assert_eq!(
        (finding(&j, P99).current, finding(&j, P99).status),
        (Some(12.0), Status::Pass)
    );
    // A single run has no spread.
    assert_eq!(finding(&judge(&[run(10.0)], Some(&base), &t), P99).spread, None);
}

#[test]
fn correctness_metrics_use_the_worst_run() {
    let t = Thresholds::default();
    let mut lossy = run(1.0);
    lossy.events.lost = 2;
    lossy.connections.error_rate = 0.06;
    let j = judge(&[run(1.0), lossy, run(1.0)], None, &t);
    assert_eq!(finding(&j, "events.lost").current, Some(2.0));
    assert_eq!(finding(&j, "events.lost").status, Status::Fail);
    assert_eq!(finding(&j, "connections.error_rate").status, Status::Fail);
}

#[test]
fn no_baseline_skips_relative_checks_with_a_note() {
    let t = Thresholds::default();
    let j = judge(
        &[with_memory(with_throughput(run(500.0), 1.0), 50.0, 0.0)],
        None,
        &t,
    );
    let note = finding(&j, "relative_checks");
    assert!(
        note.status == Status::NotJudged
            && note.rule.contains("no baseline")
            && note.rule.contains("--update-baseline")
    );
    assert!(
        j.findings
            .iter()
            .all(|f| f.metric != P99 && f.metric != THROUGHPUT && f.metric != GROWTH)
    );
    assert_eq!(j.status, Status::Pass);
    assert_eq!((j.scenario.as_str(), j.runs), ("throughput-single", 1));
}

#[test]
fn baseline_from_another_profile_skips_relative_checks() {
    let t = Thresholds::default();
    let mut base = run(1.0);
    base.profile = "medium".into();
    let j = judge(&[run(100.0)], Some(&base), &t);
    assert_eq!(j.status, Status::Pass, "100x slower, but not comparable");
    let note = finding(&j, "relative_checks");
    assert!(
        note.rule.contains("`medium`") && note.rule.contains("`smoke`"),
        "{}",
        note.rule
    );
}

#[test]
fn primary_latency_key_is_used_and_missing_baseline_key_is_noted() {
    let t = Thresholds::default();
    let mut current = run(10.0);
    current.latency.insert(
        "publish_to_receive".into(),
        Latency {
            count: 5,
            p99_ms: 40.0,
            ..Latency::default()
        },
    );
    let base = run(10.0); // no publish_to_receive in the baseline
    let j = judge(&[current.clone()], Some(&base), &t);
    let note = finding(&j, "latency.publish_to_receive.p99_ms");
    assert!(note.status == Status::NotJudged && note.rule.contains("no `latency.publish_to_receive.p99_ms`"));
    let j = judge(&[current.clone()], Some(&current), &t);
    assert_eq!(
        finding(&j, "latency.publish_to_receive.p99_ms").status,
        Status::Pass
    );
}

#[test]
fn warnings_do_not_fail_and_the_worst_status_wins() {
    let t = Thresholds::default();
    let base = run(10.0);
    let j = judge(&[run(13.0)], Some(&base), &t);
    assert_eq!(j.status, Status::Warn);
    assert!(!j.failed());
    assert_eq!(j.problems().count(), 1);
    let mut lossy = run(13.0);
    lossy.events.lost = 1;
    let j = judge(&[lossy], Some(&base), &t);
    assert_eq!(j.status, Status::Fail);
    assert_eq!(j.problems().count(), 2);
}

#[test]
fn no_runs_fail() {
    let j = judge(&[], None, &Thresholds::default());
    assert_eq!((j.status, j.runs), (Status::Fail, 0));
}

#[test]
fn representative_is_the_median_run() {
    let runs = [run(30.0), run(10.0), run(20.0)];
    assert_eq!(representative(&runs).unwrap().latency["inter_event"].p99_ms, 20.0);
    let runs = [run(30.0), run(10.0)];
    assert_eq!(
        representative(&runs).unwrap().latency["inter_event"].p99_ms,
        10.0,
        "lower median"
    );
    assert!(representative(&[]).is_none());
}

#[test]
fn default_thresholds_match_the_issue() {
    let t = Thresholds::default();
    assert_eq!((t.latency_p99_warn_pct, t.latency_p99_fail_pct), (20.0, 50.0));
    assert_eq!((t.throughput_warn_pct, t.memory_growth_warn_pct), (20.0, 50.0));
    assert_eq!(
        (
            t.memory_slope_fail_mb_per_sec,
            t.error_rate_fail,
            t.lost_events_fail
        ),
        (0.1, 0.05, 0)
    );
    assert_eq!(
        (t.server_cpu_warn_pct, t.server_cpu_fail_pct, t.noise_z),
        (5.0, Some(10.0), 3.0)
    );
    assert_eq!(t.feed_rate_tolerance_pct, 5.0);
    t.validate().unwrap();
}

#[test]
fn thresholds_load_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thresholds.json");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(br#"{"latency_p99_warn_pct": 10.0}"#)
        .unwrap();
    let t = Thresholds::load(&path).unwrap();
    assert_eq!(
        t,
        Thresholds {
            latency_p99_warn_pct: 10.0,
            ..Thresholds::default()
        }
    );

    std::fs::write(&path, r#"{"latency_p99_warn": 10.0}"#).unwrap();
    let err = Thresholds::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("unknown field") && err.contains("thresholds.json"),
        "{err}"
    );

    std::fs::write(&path, r#"{"latency_p99_warn_pct": 60.0}"#).unwrap();
    let err = Thresholds::load(&path).unwrap_err().to_string();
    assert!(err.contains("latency_p99_warn_pct = 60"), "{err}");

    std::fs::write(&path, r#"{"error_rate_fail": 5}"#).unwrap();
    assert!(
        Thresholds::load(&path)
            .unwrap_err()
            .to_string()
            .contains("fraction")
    );

    let missing = dir.path().join("missing.json");
    assert!(
        Thresholds::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.json")
    );
}
