//! Helpers for the scenario tests: run the real `sse-load` binary with a deadline, read and validate reports, fake targets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Serializes the tests that run whole suites, so they do not compete for the 2 cores.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds [`HEAVY`] (a failed test poisoning it must not fail the others).
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `sse-load` with `args`; kills it and panics after `limit`.
pub fn sse_load(args: &[&str], limit: Duration) -> Output {
    sse_load_env(args, &[], limit)
}

/// Runs `sse-load` with `args` and extra environment variables; kills it and panics after `limit`.
pub fn sse_load_env(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sse-load"));
    command
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("SSE_LOAD_PROFILE")
        .env_remove("SSE_LOAD_DURATION")
        .env_remove("SSE_LOAD_CLIENTS");
    testkit::process::run_with_deadline(&mut command, limit)
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    testkit::process::describe(out)
}

/// The JSON Schema of reports.
pub fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Reads `<dir>/<scenario>.json`, validating it against the schema.
pub fn report(validator: &jsonschema::Validator, dir: &Path, scenario: &str) -> serde_json::Value {
    let path: PathBuf = dir.join(format!("{scenario}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{scenario}.json does not match the schema:\n{}",
        errors.join("\n")
    );
    value
}

/// The check called `name` in a report: `Some(passed)`, or `None` when absent.
pub fn check(report: &serde_json::Value, name: &str) -> Option<bool> {
    report["checks"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["passed"].as_bool())
}

/// A number at a JSON pointer, panicking with the pointer when absent.
pub fn num(report: &serde_json::Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {} report", report["scenario"]))
}

/// A minimal SSE server that is not the reference server: `GET /sse` streams numbered events
/// every 10 ms (HTTP/1.0, body ended by close), everything else is 404 (no `/metrics`, no hub).
/// Serves from background threads until the test process exits; returns its base URL.
pub fn foreign_sse_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                if !request_line.starts_with("GET /sse") {
                    let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
                for id in 1u64.. {
                    let event = format!("id: {id}\r\ndata: event-{id}\r\n\r\n");
                    if stream.write_all(event.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    url
}

/// A hub that refuses publishes: `GET /events` answers a `text/event-stream` that only ever
/// sends keep-alive comments; the first `POST /publish` (sse-load's capability probe) is
/// accepted, every later one is refused with 429; everything else is 404. Serves from
/// background threads until the test process exits; returns its base URL.
pub fn publish_refusing_hub() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    static PUBLISHES: AtomicU64 = AtomicU64::new(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let (mut line, mut length) = (String::new(), 0usize);
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let mut stream = stream;
                if request_line.starts_with("POST /publish") {
                    let answer: &[u8] = if PUBLISHES.fetch_add(1, Ordering::SeqCst) == 0 {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"id\":1}"
                    } else {
                        b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    };
                    let _ = stream.write_all(answer);
                } else if request_line.starts_with("GET /events") {
                    let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
                    while stream.write_all(b": keep-alive\n\n").is_ok() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                } else {
                    let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    url
}

/// The reference server in its own process (`sse-load __serve`, the embedded server's
/// binary) on a free loopback port; killed when dropped.
pub struct ReferenceServer {
    child: std::process::Child,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl ReferenceServer {
    /// Starts it with extra server `flags`; panics if it has not printed its address
    /// within 30 s.
    pub fn start(flags: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_sse-load"))
            .args([sse_bench::target::SERVE_SUBCOMMAND, "--bind", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sse-load __serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so the server never writes into a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = Self {
            child,
            url: String::new(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its address within 30 s");
        let addr = line
            .trim()
            .strip_prefix(sse_bench::target::LISTENING_PREFIX)
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        server.url = format!("http://{addr}");
        server
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
