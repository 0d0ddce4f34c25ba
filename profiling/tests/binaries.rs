//! End to end: `sse-heap` and `sse-cpu` at a tiny scale (real server in-process, real generator process, real loopback HTTP).
//!
//! Checks what the runs write, machine-independent counts in their summaries, the
//! baseline gate (exit code 3 when a gated figure grew) and flag errors (exit code 2).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sse_profiling::summary::{CpuSummary, HeapSummary, read_json, write_json};

/// A tiny workload: 10 subscribers, 200 events, 20 cycles.
const TINY: [&str; 6] = ["--subscribers", "10", "--events", "200", "--cycles", "20"];
/// Limit for one binary run (debug build, dhat on).
const RUN_LIMIT: Duration = Duration::from_secs(240);

fn run(binary: &str, args: &[&str]) -> Output {
    testkit::process::run_with_deadline(Command::new(binary).args(args), RUN_LIMIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tiny<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--output-dir", dir.to_str().expect("utf-8 temp dir")];
    args.extend(TINY);
    args.extend(extra);
    args
}

#[test]
fn heap_run_writes_its_files_and_gates_on_its_baseline() {
    let heap = env!("CARGO_BIN_EXE_sse-heap");
    let dir = tempfile::tempdir().unwrap();
    let out = run(heap, &tiny(dir.path(), &[]));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("allocations per delivered event"), "{stdout}");
    assert!(stdout.contains("dh_view.html"), "{stdout}");

    let run_dir = dir.path().join("heap-smoke");
    let summary_path = run_dir.join("summary.json");
    let summary = assert_heap_files_count_right(&run_dir);

    // Against itself: passes, prints the deltas, saves a baseline elsewhere.
    let saved = dir.path().join("baselines/heap-tiny.json");
    let saved_arg = saved.to_str().unwrap();
    let out = run(
        heap,
        &tiny(
            dir.path(),
            &[
                "--baseline",
                summary_path.to_str().unwrap(),
                "--save-baseline",
                saved_arg,
            ],
        ),
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("compared with baseline"));
    assert!(read_json::<HeapSummary>(&saved, "heap").is_ok());

    // Against a baseline that allocated nothing per delivered event: the gate fires.
    let mut strict = summary.clone();
    strict.figures.allocations_per_delivered_event = 0.0;
    let strict_path = dir.path().join("strict.json");
    write_json(&strict_path, &strict).unwrap();
    let out = run(
        heap,
        &tiny(dir.path(), &["--baseline", strict_path.to_str().unwrap()]),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("FAIL"));
}

/// Reads the heap run's summary from `run_dir` and checks its counts (every subscriber got
/// every event, nothing lagged or left open, allocations per delivery well under one) and
/// that dhat's profile is there.
fn assert_heap_files_count_right(run_dir: &Path) -> HeapSummary {
    let summary: HeapSummary = read_json(&run_dir.join("summary.json"), "heap").unwrap();
    let fanout = summary
        .phases
        .iter()
        .find(|p| p.phase.name() == "fanout")
        .unwrap();
    assert_eq!(fanout.count, 2_000, "every subscriber got every event");
    assert_eq!(summary.counters.clients_lagged, 0);
    assert_eq!(summary.counters.connections_at_end, 0);
    // Counts, not timings: 2 allocations per published event spread over 10 subscribers,
    // plus a few per subscriber; nothing per delivery.
    assert!(
        summary.figures.allocations_per_delivered_event < 0.5,
        "{:?}",
        summary.figures
    );
    assert!(
        summary.figures.leak_per_connection_bytes.abs() < 256.0,
        "{:?}",
        summary.figures
    );
    assert!(summary.figures.heap_per_idle_connection_bytes > 0.0);
    let dhat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("dhat-heap.json")).unwrap()).unwrap();
    assert!(dhat["pps"].as_array().is_some_and(|pps| !pps.is_empty()));
    summary
}

#[test]
fn cpu_run_writes_a_flamegraph_a_profile_and_a_summary() {
    let cpu = env!("CARGO_BIN_EXE_sse-cpu");
    let dir = tempfile::tempdir().unwrap();
    let out = run(cpu, &tiny(dir.path(), &["--frequency", "99"]));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("CPU per delivered event"), "{stdout}");

    let run_dir = dir.path().join("cpu-smoke");
    let svg = std::fs::read_to_string(run_dir.join("flamegraph.svg")).unwrap();
    assert!(svg.contains("<svg"), "flamegraph.svg is an SVG");
    assert!(std::fs::metadata(run_dir.join("profile.pb")).unwrap().len() > 0);
    let summary: CpuSummary = read_json(&run_dir.join("summary.json"), "cpu").unwrap();
    let fanout = summary
        .phases
        .iter()
        .find(|p| p.phase.name() == "fanout")
        .unwrap();
    assert_eq!(fanout.events_delivered, 2_000);
    assert!(fanout.cpu_ns > 0 && summary.figures.cpu_ns_per_delivered_event > 0.0);
    assert!(summary.figures.write_calls_per_delivered_event > 0.0);
    assert!(
        summary.figures.write_calls_per_delivered_event <= 1.0,
        "{:?}",
        summary.figures
    );
    assert_eq!(summary.sampler.frequency_hz, 99);
    assert!(summary.blocking.task_polls.polls > 0);
    assert!(summary.blocking.scheduling_delay.figures.samples > 0);
}

#[test]
fn bad_flags_and_missing_baselines_are_explained() {
    let heap = env!("CARGO_BIN_EXE_sse-heap");
    let cpu = env!("CARGO_BIN_EXE_sse-cpu");
    let out = run(heap, &["--profile", "huge"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--profile"), "{}", text(&out.stderr));
    let out = run(cpu, &["--frequency", "1000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--frequency"), "{}", text(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let out = run(
        heap,
        &tiny(dir.path(), &["--baseline", missing.to_str().unwrap()]),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--save-baseline"),
        "{}",
        text(&out.stderr)
    );
}
