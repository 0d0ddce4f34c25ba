//! `bench-compare`: compares criterion baselines and keeps git-tracked summaries of them.
//!
//! Exit codes: 0 no regression (or a successful export), 1 error (a missing baseline, an
//! unreadable file, …), 2 invalid command line, 3 a regression whose whole confidence
//! interval lies beyond the threshold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sse_bench::bench_compare::{
    self, Baseline, Comparison, DEFAULT_THRESHOLD, Summary, default_criterion_dir, load_baseline,
};
use sse_bench::cli::exit;

/// Compare criterion baselines; fail only when a whole confidence interval lies past the threshold.
///
/// Exit codes: 0 no regression, 1 error, 2 invalid command line, 3 regression.
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
    /// Compare a baseline of the working tree against a git-tracked summary.
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
        } => {
            let summary = Summary::read(&against)?;
            let here = bench_compare::host_class();
            if summary.host_class != here {
                eprintln!(
                    "bench-compare: note: {} was recorded on a {} host, this is {here}; differences may be the machine's",
                    against.display(),
                    summary.host_class
                );
            }
            let dir = common.criterion_dir.unwrap_or_else(default_criterion_dir);
            let new = load_baseline(&dir, &baseline)?;
            judge(&summary.to_baseline(&against), &new, common.threshold)
        }
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

/// Prints the comparison table; exit 3 on a regression.
fn judge(old: &Baseline, new: &Baseline, threshold_percent: f64) -> anyhow::Result<ExitCode> {
    let comparison: Comparison =
        bench_compare::compare(old, new, threshold_percent / 100.0).context("comparing the baselines")?;
    print!("{comparison}");
    if comparison.has_regression() {
        let names: Vec<&str> = comparison.regressions().map(|r| r.bench.as_str()).collect();
        eprintln!("bench-compare: REGRESSION in {}", names.join(", "));
        Ok(ExitCode::from(exit::REGRESSION))
    } else {
        Ok(ExitCode::from(exit::OK))
    }
}
