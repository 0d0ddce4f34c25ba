//! Command-line flags shared by `sse-heap` and `sse-cpu`, their hidden `drive` mode, and the end of a run (baseline compare and save, exit code).
//!
//! ## Exit codes
//! The workspace's one set ([`sse_bench::cli::exit`]): 0 the run completed (and no gate
//! failed); 1 the run failed (the message says why); 2 invalid flags (clap's message names
//! the flag); 3 a gated figure grew past the `--baseline` (see [`crate::baseline`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use sse_bench::cli::exit;

use crate::baseline::{BaselineComparison, ProfileMismatch};
use crate::summary::{self, SummaryError};
use crate::workload::{PROFILES, Profile, RunKind, Workload};

/// The `--help` footer of both binaries.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 the run completed, 1 the run failed, 2 invalid flags, \
3 a gated figure (allocations per delivered event, leak per connection) grew past --baseline.";

/// Flags both binaries take.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Workload scale (the `sse-load` profile names; see the crate README for the numbers).
    #[arg(long, default_value = "smoke", value_parser = profile_parser())]
    pub profile: Profile,

    /// Directory for the summary and the profiler output (a subdirectory per run kind and profile).
    #[arg(long, default_value = "results/profiling")]
    pub output_dir: PathBuf,

    /// Compare with this summary and print the deltas, e.g. baselines/profiling/heap-smoke.json.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Save this run's summary as a baseline at FILE (atomically; a file there that is not a
    /// valid summary is left alone and the run fails).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Limit on every wait for the load generator and the server (e.g. 120s, 5m).
    #[arg(long, default_value = "120s", value_parser = parse_timeout)]
    pub phase_timeout: Duration,

    /// Replace the profile's number of subscribers (idle streams held through the run).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub subscribers: Option<u64>,

    /// Replace the profile's number of fan-out events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub events: Option<u64>,

    /// Replace the profile's number of connect/close cycles.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub cycles: Option<u64>,
}

impl Common {
    /// The profile's workload for `kind`, with the overrides applied.
    pub fn workload(&self, kind: RunKind) -> Workload {
        let base = Workload::of(self.profile, kind);
        Workload {
            subscribers: self.subscribers.unwrap_or(base.subscribers),
            events: self.events.unwrap_or(base.events),
            cycles: self.cycles.unwrap_or(base.cycles),
            ..base
        }
    }
}

/// `--profile`: the names of [`PROFILES`] (`soak` has no fixed workload).
fn profile_parser() -> impl clap::builder::TypedValueParser<Value = Profile> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(PROFILES.map(Profile::name))
        .try_map(|name| name.parse::<Profile>())
}

fn parse_timeout(raw: &str) -> Result<Duration, String> {
    match sse_server::config::parse_duration(raw)? {
        d if d.is_zero() => Err("the timeout must be longer than 0; use e.g. 120s".to_owned()),
        d => Ok(d),
    }
}

/// The hidden mode in which a binary is the load generator of another run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Mode {
    /// Internal: act as the load generator of a profiling run (commands on stdin).
    #[command(hide = true)]
    Drive {
        /// Base URL of the server, e.g. http://127.0.0.1:40000.
        #[arg(long)]
        url: http::Uri,
    },
}

/// The `main` both binaries share: the hidden `drive` mode (the load generator, which is
/// never profiled), logging, then `run` and its exit code (an error prints
/// `<binary>: error: …` and exits 1).
pub fn main<E: std::fmt::Display>(
    binary: &str,
    mode: Option<&Mode>,
    run: impl FnOnce() -> Result<u8, E>,
) -> std::process::ExitCode {
    if let Some(Mode::Drive { url }) = mode {
        return drive(url);
    }
    crate::init_tracing();
    match run() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(err) => {
            eprintln!("{binary}: error: {err:#}");
            std::process::ExitCode::from(exit::ERROR)
        }
    }
}

/// The `drive` mode: this process is the load generator of another run
/// ([`sse_bench::drive::generator`]). Exit codes: 0 after `quit`, 1 when the server cannot
/// be reached or stdin/stdout fail.
pub fn drive(base: &http::Uri) -> std::process::ExitCode {
    match sse_bench::drive::generator::run_process(base) {
        Ok(()) => std::process::ExitCode::from(exit::OK),
        Err(err) => {
            eprintln!("load generator: error: {err}");
            std::process::ExitCode::from(exit::ERROR)
        }
    }
}

/// The command that re-executes this binary as the load generator for `base_url`.
pub fn generator_command(base_url: &str) -> tokio::process::Command {
    let exe = std::env::current_exe()
        .ok()
        .or_else(|| std::env::args_os().next().map(PathBuf::from))
        .unwrap_or_default();
    let mut command = tokio::process::Command::new(exe);
    command.arg("drive").arg("--url").arg(base_url);
    command
}

/// Where a run of `kind` (`heap` or `cpu`) writes: `<output-dir>/<kind>-<profile>`.
pub fn run_dir(common: &Common, kind: &str) -> PathBuf {
    common.output_dir.join(format!("{kind}-{}", common.profile))
}

/// Why comparing or saving a baseline failed.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Reading or writing a summary failed.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The baseline ran another profile.
    #[error(transparent)]
    Mismatch(#[from] ProfileMismatch),
}

/// Reads `--baseline` (if given) and checks that `--save-baseline` (if given) does not
/// point at a file that is not a summary of this kind: before the run, so a mistake
/// costs no run.
///
/// # Errors
/// The baseline is missing or invalid, or the save target holds something else.
pub fn load_baseline<T: DeserializeOwned>(
    common: &Common,
    kind: &'static str,
) -> Result<Option<T>, BaselineError> {
    if let Some(path) = &common.save_baseline {
        match summary::read_json::<T>(path, kind) {
            Ok(_) | Err(SummaryError::Missing { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    match &common.baseline {
        Some(path) => Ok(Some(summary::read_json(path, kind)?)),
        None => Ok(None),
    }
}

/// Compares `summary` with the baseline read by [`load_baseline`] (printing the
/// deltas) and saves it to `--save-baseline`; returns the exit code.
///
/// # Errors
/// The baseline ran another workload, or saving failed.
pub fn conclude<T: Serialize + DeserializeOwned>(
    summary: &T,
    baseline: Option<&T>,
    common: &Common,
    kind: &'static str,
    compare: impl Fn(&T, &T) -> Result<BaselineComparison, ProfileMismatch>,
) -> Result<u8, BaselineError> {
    let mut code = exit::OK;
    if let (Some(baseline), Some(path)) = (baseline, &common.baseline) {
        let comparison = compare(baseline, summary)?;
        print!("\n{}", comparison.render());
        if comparison.failed() {
            eprintln!(
                "{kind} run regressed against {}: a gated figure grew past its slack (see FAIL above)",
                path.display()
            );
            code = exit::REGRESSION;
        }
    }
    if let Some(path) = &common.save_baseline {
        summary::save_baseline(path, summary, kind)?;
        println!("saved baseline {}", path.display());
    }
    Ok(code)
}

/// Prints the written files, one per line.
pub fn print_written(paths: &[&Path]) {
    println!();
    for path in paths {
        println!("wrote {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        mode: Option<Mode>,
        #[command(flatten)]
        common: Common,
    }

    #[test]
    fn defaults_and_bad_flags() {
        let cli = Cli::try_parse_from(["sse-heap"]).unwrap();
        assert_eq!(cli.common.profile, Profile::Smoke);
        assert_eq!(
            run_dir(&cli.common, "heap"),
            Path::new("results/profiling/heap-smoke")
        );
        assert!(cli.mode.is_none());

        let err = Cli::try_parse_from(["sse-heap", "--profile", "huge"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(exit::USAGE));
        assert!(err.to_string().contains("--profile"), "{err}");
        for profile in PROFILES {
            let cli = Cli::try_parse_from(["sse-heap", "--profile", profile.name()]).unwrap();
            assert_eq!(cli.common.profile, profile);
        }
        let err = Cli::try_parse_from(["sse-heap", "--profile", "soak"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(exit::USAGE));
        let err = Cli::try_parse_from(["sse-heap", "--phase-timeout", "0"]).unwrap_err();
        assert!(err.to_string().contains("longer than 0"), "{err}");

        let cli = Cli::try_parse_from(["sse-heap", "--events", "10", "--cycles", "3"]).unwrap();
        let workload = cli.common.workload(RunKind::Heap);
        assert_eq!(
            (workload.subscribers, workload.events, workload.cycles),
            (100, 10, 3)
        );
        let err = Cli::try_parse_from(["sse-heap", "--subscribers", "0"]).unwrap_err();
        assert!(err.to_string().contains("--subscribers"), "{err}");

        let cli = Cli::try_parse_from(["sse-heap", "drive", "--url", "http://127.0.0.1:1"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::Drive { .. })));
    }

    #[test]
    fn the_generator_command_re_executes_this_binary() {
        let command = generator_command("http://127.0.0.1:9");
        let std = command.as_std();
        assert_eq!(std.get_program(), std::env::current_exe().unwrap().as_os_str());
        let args: Vec<_> = std.get_args().collect();
        assert_eq!(args, ["drive", "--url", "http://127.0.0.1:9"]);
    }
}
