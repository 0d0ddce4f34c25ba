//! `sse-load --target-file` against a server that is not the reference server: a stream path
//! with a query, a bearer token from the environment that the server checks (and no report
//! repeats), the server's own publish request, Prometheus and `--server-pid` figures, a
//! self-publishing stream with its send time in JSON, and scenarios skipped with a reason.
//!
//! Assertions are on counts and on what the reports contain, never on timings.

#[path = "scenarios/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "target_file/server.rs"]
mod server;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use helpers::{heavy, num, report, schema, sse_load, sse_load_env, text};

const TOKEN: &str = "tf-secret-7c1e9a";
const TOKEN_VAR: &str = "SSE_LOAD_TEST_TOKEN";

/// Every file under `dir`, concatenated.
fn all_files(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_files(&path));
        } else if let Ok(text) = std::fs::read(&path) {
            out.push_str(&String::from_utf8_lossy(&text));
        }
    }
    out
}

#[test]
fn a_described_hub_with_a_token_runs_fanout_and_skips_what_it_lacks() {
    let _heavy = heavy();
    let server = server::start(TOKEN);
    let addr = server.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = write_token_hub_file(dir.path(), addr);
    let out_dir = dir.path().join("results");
    let no_baselines = dir.path().join("no-baselines");
    let args = [
        "--target-file",
        file.to_str().unwrap(),
        "--scenario",
        "fanout",
        "--scenario",
        "reconnect",
        "--scenario",
        "throughput-single",
        "--scenario",
        "backpressure",
        "--clients",
        "5",
        "--duration",
        "2s",
        "--output-dir",
        out_dir.to_str().unwrap(),
        "--baselines-dir",
        no_baselines.to_str().unwrap(),
    ];

    // Without the variable: a usage error naming it, not a run.
    let out = sse_load(&args, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(TOKEN_VAR),
        "{}",
        text(&out)
    );

    let out = sse_load_env(&args, &[(TOKEN_VAR, TOKEN)], Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("skipped throughput-single: the target file declares no per-connection stream"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped reconnect: reconnecting with Last-Event-ID"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped backpressure"), "{stdout}");

    assert_fanout_through_the_described_paths(&report(&schema(), &out_dir, "fanout"));

    // The server saw the clients with the token and the publishes; the token is nowhere.
    assert!(server.seen.streams.load(Ordering::Relaxed) >= 5);
    assert!(server.seen.published.load(Ordering::Relaxed) > 0);
    assert_eq!(server.seen.unauthorized.load(Ordering::Relaxed), 0);
    let written = all_files(&out_dir);
    assert!(!written.is_empty());
    assert!(!written.contains(TOKEN), "the token leaked into a report");
    assert!(!text(&out).contains(TOKEN), "the token leaked into the output");
}

/// Writes `hub.toml` into `dir`: the test hub at `addr` with its own paths, the token read
/// from [`TOKEN_VAR`] for the stream and the publish request, Prometheus metrics.
fn write_token_hub_file(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let file = dir.join("hub.toml");
    std::fs::write(
        &file,
        format!(
            r#"name = "token-hub"
[stream]
url = "http://{addr}/api/v1/stream?topic=bench&format=sse"
headers = {{ Authorization = "Bearer ${{{TOKEN_VAR}}}" }}
[events]
source = "publish"
[events.publish]
url = "http://{addr}/api/v1/notify?topic=bench"
headers = {{ Authorization = "Bearer ${{{TOKEN_VAR}}}", "Content-Type" = "text/plain" }}
[health]
url = "http://{addr}/healthz"
[metrics]
url = "http://{addr}/prom"
format = "prometheus"
"#
        ),
    )
    .unwrap();
    file
}

/// The fanout report of the described hub: every event delivered, publish-to-receive
/// measured through the file's publish request, server CPU from its Prometheus figure,
/// the file's name and (unexpanded) headers recorded.
fn assert_fanout_through_the_described_paths(fanout: &serde_json::Value) {
    assert!(num(fanout, "/events/received") > 0.0, "{fanout}");
    assert_eq!(num(fanout, "/events/lost"), 0.0);
    assert_eq!(num(fanout, "/events/duplicated"), 0.0);
    assert_eq!(num(fanout, "/connections/failed"), 0.0);
    // Publish-to-receive through the server's own publish request.
    assert!(num(fanout, "/latency/publish_to_receive/count") > 0.0, "{fanout}");
    // Server CPU from its Prometheus process_cpu_seconds_total.
    assert!(
        fanout
            .pointer("/cpu/server_seconds")
            .is_some_and(serde_json::Value::is_number),
        "{fanout}"
    );
    let note = fanout["cpu"]["note"].as_str().unwrap();
    assert!(note.contains("process_cpu_seconds_total"), "{note}");
    assert_eq!(fanout["parameters"]["target_name"], "token-hub");
    assert_eq!(
        fanout["parameters"]["stream_headers"][0],
        format!("authorization: Bearer ${{{TOKEN_VAR}}}")
    );
    assert!(
        fanout["target"]["url"]
            .as_str()
            .unwrap()
            .contains("/api/v1/stream?topic=bench")
    );
}

#[test]
fn without_the_token_the_server_refuses_and_the_run_says_so() {
    let _heavy = heavy();
    let server = server::start(TOKEN);
    let addr = server.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        format!(
            "[stream]\nurl = \"http://{addr}/api/v1/stream?topic=bench\"\nheaders = {{ Authorization = \"Bearer ${{{TOKEN_VAR}}}\" }}\n[events]\nsource = \"self\"\n"
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("results");
    let out = sse_load_env(
        &[
            "--target-file",
            file.to_str().unwrap(),
            "--scenario",
            "fanout",
            "--clients",
            "3",
            "--duration",
            "1s",
            "--output-dir",
            out_dir.to_str().unwrap(),
            "--baselines-dir",
            dir.path().join("none").to_str().unwrap(),
        ],
        &[(TOKEN_VAR, "not-the-token")],
        Duration::from_secs(60),
    );
    // Every connection refused is a failed absolute check: exit 4, with the report written.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(server.seen.unauthorized.load(Ordering::Relaxed) >= 3);
    let fanout = report(&schema(), &out_dir, "fanout");
    assert_eq!(num(&fanout, "/connections/succeeded"), 0.0);
    assert!(
        fanout["connections"]["errors"]["http_401"].as_u64().unwrap_or(0) >= 3,
        "{fanout}"
    );
    assert!(!all_files(&out_dir).contains("not-the-token"));
}

#[test]
fn a_self_publishing_stream_with_json_send_times_and_server_pid() {
    let _heavy = heavy();
    let server = server::start(TOKEN);
    let addr = server.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ticks.toml");
    std::fs::write(
        &file,
        format!(
            "[stream]\nurl = \"http://{addr}/api/v1/ticks\"\n[events]\nsource = \"self\"\nsend_time = {{ json_pointer = \"/meta/sent_ms\", unit = \"ms\" }}\n"
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("results");
    let pid = std::process::id().to_string();
    let out = sse_load(
        &[
            "--target-file",
            file.to_str().unwrap(),
            "--server-pid",
            &pid,
            "--scenario",
            "fanout",
            "--scenario",
            "burst",
            "--clients",
            "4",
            "--duration",
            "2s",
            "--output-dir",
            out_dir.to_str().unwrap(),
            "--baselines-dir",
            dir.path().join("none").to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("skipped burst: the target publishes by itself"),
        "{stdout}"
    );
    let fanout = report(&schema(), &out_dir, "fanout");
    assert!(num(&fanout, "/events/received") > 0.0);
    assert_eq!(num(&fanout, "/events/lost"), 0.0);
    assert!(
        num(&fanout, "/latency/publish_to_receive/count") > 0.0,
        "{fanout}"
    );
    // Server figures from /proc/<pid> of this test process (which runs the server).
    assert!(
        fanout
            .pointer("/cpu/server_seconds")
            .is_some_and(serde_json::Value::is_number),
        "{fanout}"
    );
    assert!(fanout["cpu"]["note"].as_str().unwrap().contains("schedstat"));
    assert!(num(&fanout, "/server/end/threads_cpu_seconds") > 0.0, "{fanout}");
    assert_eq!(fanout["parameters"]["send_time"], "json /meta/sent_ms (ms)");
}

#[test]
fn bad_target_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[stream]\nurl = \"http://127.0.0.1:9/e\"\nspeed = 3\n").unwrap();
    let out = sse_load(
        &["--target-file", file.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("speed"),
        "{stderr}"
    );
    let out = sse_load(&["--server-pid", "1"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
