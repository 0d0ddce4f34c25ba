//! `bench-compare` on criterion result trees: written in criterion's layout, and one from a real criterion run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use sse_bench::bench_compare::{ChangeVerdict, CompareError, Summary, compare, load_baseline};

/// Writes `<root>/<dir>/<baseline>/{estimates,benchmark}.json` as criterion 0.8 does
/// (`estimates.json`: mean, median, median_abs_dev, slope, std_dev; `benchmark.json`: the id).
fn write_bench(root: &Path, id: &str, baseline: &str, mean: f64, lower: f64, upper: f64) {
    let dir = root.join(id).join(baseline);
    std::fs::create_dir_all(&dir).unwrap();
    let estimate = |point: f64, lb: f64, ub: f64| {
        json!({
            "confidence_interval": {"confidence_level": 0.95, "lower_bound": lb, "upper_bound": ub},
            "point_estimate": point,
            "standard_error": (ub - lb) / 3.92,
        })
    };
    let estimates = json!({
        "mean": estimate(mean, lower, upper),
        "median": estimate(mean, lower, upper),
        "median_abs_dev": estimate(mean * 0.01, 0.0, mean * 0.02),
        "slope": estimate(mean, lower, upper),
        "std_dev": estimate(mean * 0.02, 0.0, mean * 0.04),
    });
    std::fs::write(dir.join("estimates.json"), estimates.to_string()).unwrap();
    let (group, rest) = id.split_once('/').unwrap();
    let benchmark = json!({
        "group_id": group,
        "function_id": rest,
        "value_str": null,
        "throughput": {"Bytes": 64},
        "full_id": id,
        "directory_name": id,
        "title": id,
    });
    std::fs::write(dir.join("benchmark.json"), benchmark.to_string()).unwrap();
}

fn bench_compare(args: &[&str], criterion_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench-compare"))
        .args(args)
        .arg("--criterion-dir")
        .arg(criterion_dir)
        .env_remove("CRITERION_HOME")
        .output()
        .expect("run bench-compare")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tree with baseline `main` and baseline `next` of two benches.
fn tree(next_mean: f64, next_lower: f64, next_upper: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_bench(dir.path(), "frame/encode/16B", "main", 100.0, 99.0, 101.0);
    write_bench(
        dir.path(),
        "frame/encode/16B",
        "next",
        next_mean,
        next_lower,
        next_upper,
    );
    write_bench(dir.path(), "hub/fan_out/100", "main", 5_000.0, 4_950.0, 5_050.0);
    write_bench(dir.path(), "hub/fan_out/100", "next", 5_010.0, 4_960.0, 5_060.0);
    dir
}

#[test]
fn no_change_passes() {
    let dir = tree(100.5, 99.5, 101.5);
    let old = load_baseline(dir.path(), "main").unwrap();
    let new = load_baseline(dir.path(), "next").unwrap();
    assert_eq!(old.benches.len(), 2);
    let cmp = compare(&old, &new, 0.05).unwrap();
    assert!(!cmp.has_regression());
    assert!(
        cmp.rows
            .iter()
            .all(|r| r.verdict == Some(ChangeVerdict::NoChange))
    );

    let out = bench_compare(&["compare", "main", "next"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("frame/encode/16B"), "{}", stdout(&out));
    assert!(stdout(&out).contains("+0.50%"), "{}", stdout(&out));
}

#[test]
fn regression_with_the_whole_interval_beyond_the_threshold_fails() {
    let dir = tree(120.0, 119.0, 121.0);
    let cmp = compare(
        &load_baseline(dir.path(), "main").unwrap(),
        &load_baseline(dir.path(), "next").unwrap(),
        0.05,
    )
    .unwrap();
    let regressed: Vec<&str> = cmp.regressions().map(|r| r.bench.as_str()).collect();
    assert_eq!(regressed, ["frame/encode/16B"]);
    let change = cmp.rows[0].change.unwrap();
    assert!((change.point - 0.20).abs() < 1e-9);
    assert!(change.lower > 0.05 && change.lower < change.point && change.upper > change.point);

    let out = bench_compare(&["compare", "main", "next"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("REGRESSED"));
    assert!(stderr(&out).contains("REGRESSION in frame/encode/16B"));

    // The threshold is configurable: 30 % tolerates a 20 % slowdown.
    let out = bench_compare(&["compare", "main", "next", "--threshold", "30"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_change_whose_interval_straddles_the_threshold_passes() {
    // +6 % at the point, but the interval reaches down to about +0 %: not beyond 5 % as a whole.
    let dir = tree(106.0, 100.0, 112.0);
    let cmp = compare(
        &load_baseline(dir.path(), "main").unwrap(),
        &load_baseline(dir.path(), "next").unwrap(),
        0.05,
    )
    .unwrap();
    let change = cmp.rows[0].change.unwrap();
    assert!(change.point > 0.05 && change.lower < 0.05, "{change:?}");
    assert_eq!(cmp.rows[0].verdict, Some(ChangeVerdict::NoChange));
    let out = bench_compare(&["compare", "main", "next"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn an_improvement_is_not_a_failure() {
    let dir = tree(50.0, 49.0, 51.0);
    let out = bench_compare(&["compare", "main", "next"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("improved"), "{}", stdout(&out));
}

#[test]
fn a_missing_baseline_is_explained() {
    let dir = tree(100.0, 99.0, 101.0);
    let err = load_baseline(dir.path(), "x").unwrap_err();
    assert!(matches!(err, CompareError::BaselineNotFound { .. }));
    let message = err.to_string();
    assert!(message.starts_with("Baseline 'x' not found under "), "{message}");
    assert!(
        message.contains("run `cargo bench -- --save-baseline x` first"),
        "{message}"
    );
    assert!(message.contains("main, next"), "lists what exists: {message}");

    let out = bench_compare(&["compare", "main", "x"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Baseline 'x' not found under"),
        "{}",
        stderr(&out)
    );

    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("criterion");
    let out = bench_compare(&["compare", "main", "new"], &missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cargo bench -- --save-baseline main"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_then_check_against_the_summary() {
    let dir = tree(120.0, 119.0, 121.0);
    let out_file = dir.path().join("summaries").join("x86_64-2cpu.json");
    let out_arg = out_file.to_str().unwrap();
    let out = bench_compare(&["export", "--baseline", "main", "--out", out_arg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = Summary::read(&out_file).unwrap();
    assert_eq!(summary.baseline, "main");
    assert_eq!(summary.benches["frame/encode/16B"].point_estimate, 100.0);
    assert!(summary.environment.cpu_count > 0);

    // `cargo clean` would remove the tree; the summary still judges a new run.
    let out = bench_compare(&["check", "--against", out_arg, "--baseline", "next"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    let out = bench_compare(&["check", "--against", out_arg, "--baseline", "main"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn check_fails_when_a_bench_of_the_summary_did_not_run() {
    let dir = tree(100.0, 99.0, 101.0);
    let out_file = dir.path().join("summary.json");
    let out_arg = out_file.to_str().unwrap();
    let out = bench_compare(&["export", "--baseline", "main", "--out", out_arg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A run of only one of the two benches (a filtered `cargo bench`).
    write_bench(dir.path(), "frame/encode/16B", "partial", 100.0, 99.0, 101.0);
    let out = bench_compare(
        &["check", "--against", out_arg, "--baseline", "partial"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(4), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("1 of 2 benches") && stderr(&out).contains("hub/fan_out/100"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("MISSING (not run)"), "{}", stdout(&out));
}

#[test]
fn a_measured_noise_floor_keeps_noise_from_failing_check() {
    // `next` is +20% on frame/encode: a regression at the default 5% threshold…
    let dir = tree(120.0, 119.0, 121.0);
    let out_file = dir.path().join("summary.json");
    let out_arg = out_file.to_str().unwrap();
    let out = bench_compare(&["export", "--baseline", "main", "--out", out_arg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = bench_compare(&["check", "--against", out_arg, "--baseline", "next"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    // …but identical runs of it differed by 30%: within its noise floor.
    write_bench(dir.path(), "frame/encode/16B", "same1", 100.0, 99.0, 101.0);
    write_bench(dir.path(), "frame/encode/16B", "same2", 130.0, 129.0, 131.0);
    let out = bench_compare(
        &[
            "noise",
            "--baseline",
            "same1",
            "--baseline",
            "same2",
            "--into",
            out_arg,
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let summary = Summary::read(&out_file).unwrap();
    assert!(
        (summary.noise_floor["frame/encode/16B"] - 0.30).abs() < 1e-9,
        "{:?}",
        summary.noise_floor
    );
    let out = bench_compare(&["check", "--against", out_arg, "--baseline", "next"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("noise floor"), "{}", stdout(&out));
}

#[test]
fn an_unreadable_summary_is_never_overwritten() {
    let dir = tree(100.0, 99.0, 101.0);
    let out_file = dir.path().join("precious.json");
    std::fs::write(&out_file, "not json").unwrap();
    let out = bench_compare(
        &[
            "export",
            "--baseline",
            "main",
            "--out",
            out_file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refusing to overwrite"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "not json");
}

/// Runs criterion for real (tiny sample) into `dir`, saving baseline `name`.
fn real_criterion_run(dir: &Path, name: &str) -> PathBuf {
    let mut c = criterion::Criterion::default()
        .output_directory(dir)
        .save_baseline(name.to_owned())
        .sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(200))
        .without_plots();
    let mut group = c.benchmark_group("real");
    group.bench_function("sum_100", |b| {
        b.iter(|| (0..std::hint::black_box(100u64)).sum::<u64>())
    });
    group.finish();
    dir.join("real").join("sum_100").join(name)
}

#[test]
fn reads_a_real_criterion_run() {
    let dir = tempfile::tempdir().unwrap();
    let saved = real_criterion_run(dir.path(), "real");
    assert!(saved.join("estimates.json").is_file() && saved.join("benchmark.json").is_file());
    let baseline = load_baseline(dir.path(), "real").unwrap();
    let estimate = baseline.benches["real/sum_100"];
    assert!(
        estimate.lower_bound <= estimate.point_estimate && estimate.point_estimate <= estimate.upper_bound
    );
    assert!(estimate.point_estimate > 0.0 && estimate.confidence_level == 0.95);
    // Criterion keeps its latest run as `new` too; the same run compared with itself is no change.
    let latest = load_baseline(dir.path(), "new").unwrap();
    let cmp = compare(&baseline, &latest, 0.05).unwrap();
    assert_eq!(cmp.rows[0].change.unwrap().point, 0.0);
    assert!(!cmp.has_regression());
    assert!(matches!(
        load_baseline(dir.path(), "change"),
        Err(CompareError::ReservedName(_))
    ));
}
