//! `bench-compare`: compares criterion baselines and keeps git-tracked summaries of them.
//!
//! Exit codes: 0 no regression (or a successful export), 1 error (a missing baseline, an
//! unreadable file, …), 2 invalid command line, 3 a regression whose whole confidence
//! interval lies beyond the threshold (or the bench's noise floor), 4 (`check`) a bench of the
//! summary missing from the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sse_bench::bench_compare::{
    self, Baseline, DEFAULT_THRESHOLD, Summary, TimingComparison, default_criterion_dir, load_baseline,
};
use sse_bench::cli::exit;

/// Compare criterion baselines; fail only when a whole confidence interval lies past the threshold.
///
/// Exit codes: 0 no regression, 1 error, 2 invalid command line, 3 regression, 4 (`check`) a
/// bench of the summary was not run.
#[derive(Debug, Parser)]
#[command(name = "bench-compare", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare two saved baselines, e.g. `bench-compare compare main new`.
    Compare {
        /// The reference baseline (saved with `cargo bench -- --save-baseline OLD`).
        old: String,
        /// The baseline to judge (`new` is criterion's latest run).
        new: String,
        #[command(flatten)]
        common: Common,
    },
    /// Write a git-tracked summary of a baseline, with the environment it ran on.
    Export {
        /// The baseline to export.
        #[arg(long, default_value = "main")]
        baseline: String,
        /// The summary file [default: baselines/criterion/HOST-CLASS.json, e.g. x86_64-2cpu.json].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file even when it is not a readable summary.
        #[arg(long)]
        force: bool,
        /// Where criterion writes its results.
        #[arg(long, env = "CRITERION_HOME")]
        criterion_dir: Option<PathBuf>,
    },
    /// Measure each bench's run-to-run noise from identical runs (saved as baselines, e.g.
    /// `cargo bench -- --save-baseline n1`, then n2, n3) and record it as the noise floor of
    /// a summary file; `check` then judges each bench with the larger of --threshold and it.
    Noise {
        /// The identical runs (at least two).
        #[arg(long = "baseline", required = true, num_args = 1)]
        baselines: Vec<String>,
        /// The summary to record the floor in.
        #[arg(long)]
        into: PathBuf,
        /// Where criterion writes its results.
        #[arg(long, env = "CRITERION_HOME")]
        criterion_dir: Option<PathBuf>,
    },
    /// Compare a baseline of the working tree against a git-tracked summary; every bench of
    /// the summary must have run (exit 4 names the missing ones).
    Check {
        /// The summary file (e.g. baselines/criterion/x86_64-2cpu.json).
        #[arg(long)]
        against: PathBuf,
        /// The baseline to judge (`new` is criterion's latest run).
        #[arg(long, default_value = "new")]
        baseline: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Noise threshold in percent: a change is a regression only when its whole interval lies above it.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD * 100.0)]
    threshold: f64,
    /// Where criterion writes its results [default: as criterion resolves it, usually target/criterion].
    #[arg(long, env = "CRITERION_HOME")]
    criterion_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("bench-compare: error: {err:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Compare { old, new, common } => {
            let dir = common.criterion_dir.unwrap_or_else(default_criterion_dir);
            let old = load_baseline(&dir, &old)?;
            let new = load_baseline(&dir, &new)?;
            judge(&old, &new, common.threshold)
        }
        Command::Check {
            against,
            baseline,
            common,
        } => check(&against, &baseline, &common),
        Command::Noise {
            baselines,
            into,
            criterion_dir,
        } => noise(&baselines, &into, criterion_dir),
        Command::Export {
            baseline,
            out,
            force,
            criterion_dir,
        } => {
            let dir = criterion_dir.unwrap_or_else(default_criterion_dir);
            let baseline = load_baseline(&dir, &baseline)?;
            let host_class = bench_compare::host_class();
            let out = out.unwrap_or_else(|| PathBuf::from(format!("baselines/criterion/{host_class}.json")));
            let summary = Summary::of(&baseline, host_class);
            summary.write(&out, force)?;
            println!(
                "exported baseline '{}' ({} benches, {} at {}) to {}",
                summary.baseline,
                summary.benches.len(),
                summary.environment.git_revision,
                summary.environment.timestamp,
                out.display()
            );
            Ok(ExitCode::from(exit::OK))
        }
    }
}

/// `check`: a run against a git-tracked summary (with its noise floor); exit 4 when a bench of
/// the summary did not run.
fn check(against: &Path, baseline: &str, common: &Common) -> anyhow::Result<ExitCode> {
    let summary = Summary::read(against)?;
    let here = bench_compare::host_class();
    if summary.host_class != here {
        eprintln!(
            "bench-compare: note: {} was recorded on a {} host, this is {here}; differences may be the machine's",
            against.display(),
            summary.host_class
        );
    }
    let dir = common.criterion_dir.clone().unwrap_or_else(default_criterion_dir);
    let new = load_baseline(&dir, baseline)?;
    let comparison = bench_compare::compare_with_floor(
        &summary.to_baseline(against),
        &new,
        common.threshold / 100.0,
        &summary.noise_floor,
    )
    .context("comparing the baselines")?;
    let missing: Vec<&str> = comparison.missing_in_new().map(|r| r.bench.as_str()).collect();
    let code = report(&comparison);
    if missing.is_empty() {
        return Ok(code);
    }
    eprintln!(
        "bench-compare: {} of {} benches of {} did not run, so they were not judged: {}; \
         run them all (`cargo bench -- --save-baseline {baseline}` without a filter)",
        missing.len(),
        summary.benches.len(),
        against.display(),
        missing.join(", ")
    );
    Ok(ExitCode::from(exit::CHECK_FAILED))
}

/// `noise`: each bench's noise floor from identical runs, recorded in a summary.
fn noise(baselines: &[String], into: &Path, criterion_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if baselines.len() < 2 {
        eprintln!(
            "bench-compare: error: noise needs at least two identical runs (--baseline A --baseline B)"
        );
        return Ok(ExitCode::from(exit::USAGE));
    }
    let dir = criterion_dir.unwrap_or_else(default_criterion_dir);
    let runs = baselines
        .iter()
        .map(|name| load_baseline(&dir, name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = Summary::read(into)?;
    summary.noise_floor = bench_compare::noise_floor(&runs);
    summary.write(into, false)?;
    for (id, floor) in &summary.noise_floor {
        println!("{id:<50} noise floor {:.1}%", floor * 100.0);
    }
    println!(
        "recorded the noise floor of {} benches from {} runs in {}",
        summary.noise_floor.len(),
        runs.len(),
        into.display()
    );
    Ok(ExitCode::from(exit::OK))
}

/// Prints the comparison table; exit 3 on a regression.
fn judge(old: &Baseline, new: &Baseline, threshold_percent: f64) -> anyhow::Result<ExitCode> {
    let comparison: TimingComparison =
        bench_compare::compare(old, new, threshold_percent / 100.0).context("comparing the baselines")?;
    Ok(report(&comparison))
}

/// Prints the table and the regressions; exit 3 on a regression.
fn report(comparison: &TimingComparison) -> ExitCode {
    print!("{comparison}");
    if comparison.has_regression() {
        let names: Vec<&str> = comparison.regressions().map(|r| r.bench.as_str()).collect();
        eprintln!("bench-compare: REGRESSION in {}", names.join(", "));
        ExitCode::from(exit::REGRESSION)
    } else {
        ExitCode::from(exit::OK)
    }
}
