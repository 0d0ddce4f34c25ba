//! Raw command-line flags, as clap parses them (first layer: syntax and ranges only).
//!
//! [`super::config`] turns them into a validated [`super::config::RunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::profile::Profile;

/// The exit codes, shown at the end of `--help`.
pub const EXIT_CODES: &str = "\
Exit codes (the last line of every run says which and why):
  0  everything judged passed (warnings and \"not judged\" allowed), or list/compare/noise succeeded
  1  error: target unreachable, server failed to start, I/O or baseline file problem, interrupted
  2  usage error: invalid flag, value or scenario name
  3  regression against this target's and profile's baseline, with --fail-on-regression
     (compare: the second report regressed)
  4  an absolute check failed, always (no flag needed): lost events, frozen clients not
     evicted, connection errors, a feed that fell short, streams not released

Environment:
  SSE_LOAD_PROFILE, SSE_LOAD_DURATION, SSE_LOAD_CLIENTS  defaults for --profile, --duration, --clients
  RUST_LOG                                               log filter (e.g. info, sse_bench=debug)";

/// `--protocol`: the HTTP version of the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolFlag {
    /// HTTP/1.1.
    H1,
    /// HTTP/2.
    H2,
}

impl ProtocolFlag {
    /// `h1` or `h2`.
    pub fn name(self) -> &'static str {
        match self {
            Self::H1 => "h1",
            Self::H2 => "h2",
        }
    }
}

/// Load tests for Server-Sent Events servers: latency from HDR histograms, CPU per event on both
/// sides, lost and duplicate events, frozen-client isolation, baselines and regression gates.
///
/// With no arguments, runs the smoke profile (the whole suite in about a minute) against the
/// reference server, which sse-load starts itself as a child process on a free loopback port.
#[derive(Debug, Parser)]
#[command(name = "sse-load", version, after_help = EXIT_CODES)]
pub struct Flags {
    /// What to do instead of running scenarios.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Scale profile: clients and durations of every scenario.
    #[arg(long, value_enum, default_value_t = Profile::Smoke, env = "SSE_LOAD_PROFILE", global = true)]
    pub profile: Profile,

    /// Run only this scenario (repeatable); `sse-load list` shows the names.
    #[arg(long = "scenario", value_name = "NAME", global = true)]
    pub scenarios: Vec<String>,

    /// Test this server instead of the embedded one (base URL, e.g. http://127.0.0.1:8000 or
    /// https://localhost:8443; see --ca-file, --insecure).
    /// Scenarios needing what it lacks (/events, /publish, SIGTERM) are skipped with the reason.
    #[arg(long, value_name = "URL", global = true)]
    pub target: Option<String>,

    /// Name of the --target (or --target-file) for its baselines (`baselines/load/<name>/<profile>/`) [default:
    /// its host_port]; `embedded` is the reference server's.
    #[arg(long, value_name = "NAME", global = true)]
    pub target_name: Option<String>,

    /// Let the capability probe publish one event into the target to learn whether
    /// `POST /publish` works (without it, the probe only asks with a request that changes nothing).
    #[arg(long, requires = "target", global = true)]
    pub probe_publish: bool,

    /// Test the server this TOML file describes: stream URLs (any path and query), headers
    /// (`${ENV}` for secrets, never printed), how events arrive, where its metrics and
    /// process are. See the README's "Any server" section for the format.
    #[arg(long, value_name = "FILE", conflicts_with = "target", global = true)]
    pub target_file: Option<PathBuf>,

    /// The server's local process id: CPU (per-thread ns clocks), RSS, fds and threads
    /// from /proc/PID. Needs --target or --target-file.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub server_pid: Option<u32>,

    /// For https:// targets: trust only the certificates in this PEM file (replaces the
    /// system roots and the target file's tls.ca_file).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// For https:// targets: accept any certificate (self-signed test servers only).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,

    /// HTTP version of the streams: h1 (a connection per stream) or h2 (HTTP/2: over
    /// https:// agreed with ALPN, over http:// with prior knowledge) [default: h1, or the
    /// target file's stream.protocol].
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub protocol: Option<ProtocolFlag>,

    /// HTTP/2 streams opened on one connection before the next connection is opened: N
    /// clients use N / this many connections [default: 100]. Implies --protocol h2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub streams_per_connection: Option<u32>,

    /// Main-phase duration of every scenario (e.g. 10s, 500ms, 2m), replacing the profile's.
    #[arg(long, value_parser = sse_server::config::parse_duration, env = "SSE_LOAD_DURATION", global = true)]
    pub duration: Option<Duration>,

    /// Reader threads of the generator, each with its own runtime and a share of the
    /// clients [default: one per 25,000 expected events/s or 5,000 clients, at most one
    /// per core; one per core when the feed has no fixed rate]. The reports record it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub reader_threads: Option<u32>,

    /// Client count of every multi-client scenario, replacing the profile's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000), env = "SSE_LOAD_CLIENTS", global = true)]
    pub clients: Option<u32>,

    /// Run each scenario K times; gates judge the median and spread [default: 1, or 3 with
    /// --paired].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: Option<u32>,

    /// Paired gate: measure the baseline in this run, interleaved with the current runs (A1 B1
    /// A2 B2 …, A the --baseline-exe server, B this one), and judge B against A, so the host's
    /// drift cancels. Reads and writes no baseline file; A's reports go to `<output-dir>/baseline/`.
    /// Embedded server only; needs --repeat 2 or more.
    #[arg(long, conflicts_with_all = ["target", "target_file", "update_baseline"])]
    pub paired: bool,

    /// With --paired: the sse-load executable (built from the base revision) whose embedded
    /// server is the baseline A [default: this executable].
    #[arg(long, value_name = "PATH", requires = "paired")]
    pub baseline_exe: Option<PathBuf>,

    /// With --paired: an extra flag for the baseline server A only (repeatable), as
    /// --embedded-server-arg is for the current server B.
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true, requires = "paired")]
    pub baseline_server_arg: Vec<String>,

    /// Directory for the JSON and HTML reports.
    #[arg(long, value_name = "DIR", default_value = "results", global = true)]
    pub output_dir: PathBuf,

    /// Root of the baselines: `<DIR>/<target>/<profile>/<scenario>.json` and the noise models
    /// in `<DIR>/<target>/<profile>/noise/<host-class>.json`.
    #[arg(long, value_name = "DIR", default_value = crate::baseline::DEFAULT_DIR, global = true)]
    pub baselines_dir: PathBuf,

    /// Rewrite this target's and profile's baselines with this run (atomically; says what it
    /// replaced; never another target's or profile's).
    #[arg(long)]
    pub update_baseline: bool,

    /// Exit with code 3 when a KPI regressed against the baseline (failed absolute checks exit 4
    /// without this flag).
    #[arg(long)]
    pub fail_on_regression: bool,

    /// Gate thresholds from a JSON file (keys as in the report docs); flags below override it.
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,

    /// Primary-latency p99 increase over the baseline that warns, percent [default: 20].
    #[arg(long, value_name = "PCT")]
    pub p99_warn_pct: Option<f64>,

    /// Primary-latency p99 increase over the baseline that fails, percent [default: 50].
    #[arg(long, value_name = "PCT")]
    pub p99_fail_pct: Option<f64>,

    /// p99 increases of at most this many ms never warn or fail [default: 0.5].
    #[arg(long, value_name = "MS")]
    pub latency_floor_ms: Option<f64>,

    /// Throughput drop below the baseline that warns, percent [default: 20].
    #[arg(long, value_name = "PCT")]
    pub throughput_warn_pct: Option<f64>,

    /// Throughput drop below the baseline that fails, percent [default: none, only warns].
    #[arg(long, value_name = "PCT")]
    pub throughput_fail_pct: Option<f64>,

    /// Memory growth increase over the baseline that warns, percent [default: 50].
    #[arg(long, value_name = "PCT")]
    pub memory_growth_warn_pct: Option<f64>,

    /// Server RSS slope that fails, MiB per second [default: 0.1].
    #[arg(long, value_name = "MB_PER_SEC")]
    pub memory_slope_fail: Option<f64>,

    /// Judge the RSS slope only when fitted over at least this many seconds [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub memory_slope_min_window: Option<f64>,

    /// Connection error rate that fails, 0..1 [default: 0.05].
    #[arg(long, value_name = "RATE")]
    pub error_rate_fail: Option<f64>,

    /// More lost events than this fails [default: 0].
    #[arg(long, value_name = "N")]
    pub lost_events_fail: Option<u64>,

    /// Test only: an extra flag for the embedded server, e.g. `--embedded-server-arg=--test-frame-delay=5ms`.
    #[arg(
        long,
        value_name = "FLAG",
        hide = true,
        allow_hyphen_values = true,
        conflicts_with_all = ["target", "target_file"],
        global = true
    )]
    pub embedded_server_arg: Vec<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the scenarios, one line each.
    List,
    /// Compare two reports of one scenario: the KPIs of CURRENT against BASELINE, with the sign
    /// and the verdict of the gate; exits 3 when CURRENT regressed.
    Compare {
        /// The report (or baseline file) compared against.
        baseline: PathBuf,
        /// The report judged.
        current: PathBuf,
    },
    /// Measure the noise: run each selected scenario RUNS times unchanged and record how much
    /// each KPI moves, in `<baselines-dir>/<target>/<profile>/noise/<host-class>.json`.
    /// Gates then fail only a change the noise cannot explain.
    Noise {
        /// Identical runs per scenario (at least 3; 10 recommended).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(3..=100))]
        runs: u32,
    },
    /// The comparator ladder: each workload against the raw-TCP floor, the reference server
    /// and the naive axum design, side by side in one run, and the reference server read by
    /// a bare epoll reader (the lowest generator-to-server CPU ratio a reader reaches here).
    /// With `--scenario NAME`: that scenario read by the generator and by the bare reader at
    /// the same shape, each against a fresh reference server.
    Calibrate(super::ladder::CalibrateArgs),
    /// Step the subscribers (capacity: the knee) or the publish rate (rate: the elbow).
    Sweep(super::ladder::SweepArgs),
    /// Request-driven streams (LLM-style, e.g. POST /v1/chat/completions with "stream": true):
    /// open model at a rate (Poisson, --burstiness) or closed model at a concurrency; TTFT,
    /// ITL, TPOT, E2EL, requests/s, events/s and goodput against an SLO.
    Requests(Box<super::requests::RequestsFlags>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Flags::command().debug_assert();
    }

    #[test]
    fn no_arguments_mean_smoke() {
        let flags = Flags::try_parse_from(["sse-load"]).unwrap();
        assert_eq!(flags.profile, Profile::Smoke);
        assert!(flags.command.is_none());
        assert_eq!(flags.repeat, None);
        assert!(!flags.paired);
    }

    #[test]
    fn hidden_server_flag_takes_hyphen_values() {
        let flags =
            Flags::try_parse_from(["sse-load", "--embedded-server-arg", "--test-frame-delay=5ms"]).unwrap();
        assert_eq!(flags.embedded_server_arg, ["--test-frame-delay=5ms"]);
        let err = Flags::try_parse_from(["sse-load", "--target", "http://x", "--embedded-server-arg=-x"])
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = Flags::try_parse_from(["sse-load", "--profile", "huge"]).unwrap_err();
        assert!(err.to_string().contains("--profile"), "{err}");
        let err = Flags::try_parse_from(["sse-load", "--duration", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--duration"), "{err}");
        let err = Flags::try_parse_from(["sse-load", "--repeat", "0"]).unwrap_err();
        assert!(err.to_string().contains("--repeat"), "{err}");
    }
}
