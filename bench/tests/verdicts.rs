//! Verdicts you can gate on, checked with the real `sse-load` binary against the real embedded
//! server (or a foreign loopback server): each exit code, the one-line verdict, the `verdict`
//! object of the JSON report, "not judged" for what a target cannot show, and baselines kept per
//! target and profile.
//!
//! Assertions are on exit codes, counts and statuses, never on timings.

#[path = "scenarios/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::Path;
use std::time::Duration;

use helpers::{foreign_sse_server, heavy, report, schema, sse_load, text};

/// The last line of stdout: the verdict.
fn verdict_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// The finding on `metric` in a report's verdict.
fn finding<'a>(r: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    r["verdict"]["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["metric"] == metric))
        .unwrap_or_else(|| panic!("no {metric} in {}", r["verdict"]))
}

/// Runs `sse-load` with `extra`, reports in `<dir>/results`, baselines under `<dir>/baselines`.
fn run_in(dir: &Path, extra: &[&str]) -> std::process::Output {
    let (results, baselines) = (dir.join("results"), dir.join("baselines"));
    let mut all = vec![
        "--output-dir",
        results.to_str().unwrap(),
        "--baselines-dir",
        baselines.to_str().unwrap(),
    ];
    all.extend_from_slice(extra);
    sse_load(&all, Duration::from_secs(60))
}

/// `burst` with two clients: it publishes only once both are subscribed, so a dropped
/// event is exactly two losses whatever the timing.
const BURST_OF_TWO: &[&str] = &["--scenario", "burst", "--duration", "2s", "--clients", "2"];

#[test]
fn exit_0_when_everything_judged_passed_and_the_verdict_is_in_the_report() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["--scenario", "throughput-single", "--duration", "1s"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let line = verdict_line(&out);
    assert!(line.starts_with("verdict: PASS — 1 passed"), "{line}");
    let r = report(&schema(), &dir.path().join("results"), "throughput-single");
    assert_eq!(r["verdict"]["status"], "pass", "{}", r["verdict"]);
    assert_eq!(r["verdict"]["check_failed"], false);
    let relative = finding(&r, "relative_checks");
    assert_eq!(relative["status"], "not_judged");
    assert!(
        relative["rule"].as_str().unwrap().contains("no baseline"),
        "{relative}"
    );
    assert_eq!(finding(&r, "events.lost")["status"], "pass");
}

#[test]
fn one_dropped_event_fails_without_any_flag() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    // burst publishes its events only once every client is subscribed, so each of the two
    // clients is there when event 3 is (not) delivered: exactly two losses, whatever the timing.
    let out = run_in(
        dir.path(),
        &[BURST_OF_TWO, &["--embedded-server-arg=--test-drop-event=3"]].concat(),
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let line = verdict_line(&out);
    assert!(
        line.starts_with("verdict: FAIL — 1 with a failed check (burst)"),
        "{line}"
    );
    let r = report(&schema(), &dir.path().join("results"), "burst");
    assert_eq!(
        r["events"]["lost"], 2,
        "event 3 missing for each of the 2 clients"
    );
    assert_eq!(r["verdict"]["check_failed"], true);
    assert_eq!(finding(&r, "events.lost")["status"], "fail");
    assert_eq!(finding(&r, "events.lost")["kind"], "absolute");
}

#[test]
fn a_regression_exits_3_only_with_the_flag_and_baselines_stay_per_target() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let common = ["--scenario", "throughput-single", "--duration", "1s"];
    let record: Vec<&str> = common.iter().copied().chain(["--update-baseline"]).collect();
    let out = run_in(dir.path(), &record);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let own = dir
        .path()
        .join("baselines/embedded/custom/throughput-single.json");
    let recorded = std::fs::read(&own).unwrap_or_else(|e| panic!("{}: {e}", own.display()));

    // 20 ms per frame against thousands of events per second: far past every threshold.
    let slowed: Vec<&str> = common
        .iter()
        .copied()
        .chain(["--embedded-server-arg=--test-frame-delay=20ms"])
        .collect();
    let out = run_in(dir.path(), &slowed);
    assert_eq!(out.status.code(), Some(0), "a regression alone: {}", text(&out));
    assert!(
        verdict_line(&out).contains("not failing: no --fail-on-regression"),
        "{}",
        text(&out)
    );
    let r = report(&schema(), &dir.path().join("results"), "throughput-single");
    assert_eq!(r["verdict"]["regression"], true, "{}", r["verdict"]);
    let p99 = finding(&r, "latency.inter_event.p99_ms");
    assert_eq!(
        (p99["status"].as_str(), p99["kind"].as_str()),
        (Some("fail"), Some("relative"))
    );
    assert_eq!(
        p99["decided_by"], "threshold",
        "single runs, no noise model: {p99}"
    );

    let gated: Vec<&str> = slowed.iter().copied().chain(["--fail-on-regression"]).collect();
    let out = run_in(dir.path(), &gated);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        verdict_line(&out).starts_with("verdict: FAIL — 1 regressed (throughput-single)"),
        "{}",
        text(&out)
    );

    assert_a_foreign_target_keeps_its_own_baseline(dir.path(), &common, &own, &recorded);
}

/// A foreign target is judged against its own (missing) baseline, never the embedded one,
/// and `--update-baseline` writes only its own folder: `own` still holds `recorded`.
fn assert_a_foreign_target_keeps_its_own_baseline(
    dir: &std::path::Path,
    common: &[&str],
    own: &std::path::Path,
    recorded: &[u8],
) {
    let url = foreign_sse_server();
    let foreign: Vec<&str> = common
        .iter()
        .copied()
        .chain([
            "--target",
            &url,
            "--target-name",
            "foreign",
            "--update-baseline",
            "--fail-on-regression",
        ])
        .collect();
    let out = run_in(dir, &foreign);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&schema(), &dir.join("results"), "throughput-single");
    assert!(
        finding(&r, "relative_checks")["rule"]
            .as_str()
            .unwrap()
            .contains("no baseline"),
        "{}",
        r["verdict"]
    );
    assert!(
        dir.join("baselines/foreign/custom/throughput-single.json")
            .exists()
    );
    assert_eq!(
        std::fs::read(own).unwrap(),
        recorded,
        "the embedded baseline is untouched"
    );
}

#[test]
fn a_target_without_metrics_gets_not_judged_never_a_false_fail() {
    let _heavy = heavy();
    let url = foreign_sse_server();
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "--target",
            &url,
            "--scenario",
            "throughput-multi",
            "--scenario",
            "backpressure",
            "--duration",
            "1s",
            "--clients",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "nothing failed: {}", text(&out));
    let line = verdict_line(&out);
    assert!(
        line.starts_with("verdict: PASS — 1 passed, 1 not judged (backpressure: ")
            && line.contains("/metrics"),
        "{}",
        text(&out)
    );
    let r = report(&schema(), &dir.path().join("results"), "throughput-multi");
    assert_eq!(r["verdict"]["status"], "pass", "{}", r["verdict"]);
    assert!(
        r["parameters"].get("server_send_timeout_seconds").is_none(),
        "no server flag sse-load did not set: {}",
        r["parameters"]
    );
}

#[test]
fn checks_a_target_cannot_show_are_not_judged_and_a_feed_at_another_rate_fails() {
    let _heavy = heavy();
    // The foreign server streams every 10 ms whatever `?delay=` asks: watcher-scale asks for
    // one event per second.
    let url = foreign_sse_server();
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "--target",
            &url,
            "--scenario",
            "watcher-scale",
            "--duration",
            "1s",
            "--clients",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("watcher-scale: NOT JUDGED check.single_watcher"),
        "{}",
        text(&out)
    );
    let r = report(&schema(), &dir.path().join("results"), "watcher-scale");
    let watcher = finding(&r, "check.single_watcher");
    assert_eq!(watcher["status"], "not_judged", "{watcher}");
    assert!(
        watcher["rule"].as_str().unwrap().contains("/metrics"),
        "{watcher}"
    );
    let feed = finding(&r, "feed.achieved_per_sec");
    assert_eq!(
        (feed["status"].as_str(), feed["kind"].as_str()),
        (Some("fail"), Some("absolute"))
    );
    assert!(
        feed["rule"].as_str().unwrap().contains("did not ask for"),
        "{feed}"
    );
    assert_eq!(r["feed"]["nominal_per_sec"], 1.0);
}

#[test]
fn compare_shows_kpis_with_the_sign_and_exits_3_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = sse_bench::model::ScenarioReport {
        scenario: "fanout".into(),
        profile: "smoke".into(),
        ..Default::default()
    };
    base.latency.insert(
        "publish_to_receive".into(),
        sse_bench::model::Latency {
            count: 100,
            p99_ms: 3.3,
            ..Default::default()
        },
    );
    let mut current = base.clone();
    current.latency.get_mut("publish_to_receive").unwrap().p99_ms = 6.1;
    let (b, c) = (dir.path().join("base.json"), dir.path().join("current.json"));
    sse_bench::report::json::write_to(&b, &base).unwrap();
    sse_bench::report::json::write_to(&c, &current).unwrap();

    let out = sse_load(
        &["compare", b.to_str().unwrap(), c.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("+84.8%") && stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.lines().count() < 8, "KPIs only:\n{stdout}");

    let out = sse_load(
        &["compare", c.to_str().unwrap(), b.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "faster is no regression: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("-45.9%"),
        "{}",
        text(&out)
    );
}

#[test]
fn paired_runs_judge_b_against_a_measured_in_the_same_invocation() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "--scenario",
            "throughput-single",
            "--duration",
            "1s",
            "--paired",
            "--repeat",
            "2",
            "--baseline-exe",
            env!("CARGO_BIN_EXE_sse-load"),
        ],
    );
    // Identical servers: no check fails; a relative change on two runs a side may still be
    // past a threshold on a busy host, which without --fail-on-regression exits 0 too.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&schema(), &dir.path().join("results"), "throughput-single");
    let verdict = &r["verdict"];
    assert_eq!(
        (verdict["runs"].as_u64(), &verdict["check_failed"]),
        (Some(2), &false.into())
    );
    assert!(
        verdict["baseline"]
            .as_str()
            .is_some_and(|b| b.starts_with("measured in this run, interleaved A/B: 2 run(s)")),
        "{verdict}"
    );
    let cpu = finding(&r, "cpu.server_ns_per_event");
    assert_eq!(cpu["kind"], "relative", "{cpu}");
    assert!(cpu["baseline"].as_f64().is_some_and(|v| v > 0.0), "{cpu}");
    assert!(
        cpu["rule"]
            .as_str()
            .unwrap()
            .starts_with("baseline measured in this run, interleaved A/B"),
        "{cpu}"
    );
    assert_eq!(
        r["kpi_runs"]["cpu.server_ns_per_event"].as_array().map(Vec::len),
        Some(2)
    );
    let a = report(
        &schema(),
        &dir.path().join("results/baseline"),
        "throughput-single",
    );
    assert_eq!(
        a["kpi_runs"]["cpu.server_ns_per_event"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(
        a["verdict"].is_null(),
        "A's report carries no verdict: {}",
        a["verdict"]
    );
    assert!(
        !dir.path().join("baselines").exists(),
        "paired runs read and write no baseline file"
    );
}

#[test]
fn a_baseline_server_flag_reaches_only_a_and_a_failed_check_of_a_only_warns() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    // As in one_dropped_event_fails_without_any_flag: exactly two losses per run of A.
    let out = run_in(
        dir.path(),
        &[
            BURST_OF_TWO,
            &[
                "--paired",
                "--repeat",
                "2",
                "--baseline-server-arg=--test-drop-event=3",
            ],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "B lost nothing: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: burst: the baseline server (A) failed events.lost"),
        "{}",
        text(&out)
    );
    let b = report(&schema(), &dir.path().join("results"), "burst");
    assert_eq!(b["events"]["lost"], 0);
    assert_eq!(finding(&b, "events.lost")["status"], "pass");
    let a = report(&schema(), &dir.path().join("results/baseline"), "burst");
    assert_eq!(a["events"]["lost"], 2, "A's report keeps what A did");
}

#[test]
fn paired_flags_that_make_no_sense_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-sse-load");
    let cases: [(&[&str], &str); 4] = [
        (&["--paired", "--target", "http://127.0.0.1:9"], "--paired"),
        (&["--paired", "--update-baseline"], "--paired"),
        (
            &["--paired", "--baseline-exe", missing.to_str().unwrap()],
            "--baseline-exe",
        ),
        (&["--paired", "--repeat", "1"], "--repeat 2 or more"),
    ];
    for (args, named) in cases {
        let out = run_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?} should name {named}: {stderr}");
    }
    assert!(!dir.path().join("results").exists(), "nothing ran");
}
