//! `instruction-gate`: compares gungraun's instruction counts with the git-tracked baseline, or saves them as one.
//!
//! Exit codes (the workspace's): 0 no regression (or a saved baseline), 1 error (an unreadable
//! file, a benchmark missing from the run, a baseline taken with another toolchain), 2 invalid
//! command line, 3 regression. `ci/instructions` runs the bench and then this.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sse_bench::cli::exit;
use sse_instructions::baseline::{self, Baseline, Toolchain};
use sse_instructions::compare::{Limits, compare};
use sse_instructions::summary::read_run;

/// Gate instruction counts (gungraun under callgrind) against a git-tracked baseline.
///
/// Exit codes: 0 no regression, 1 error, 2 invalid command line, 3 regression.
#[derive(Debug, Parser)]
#[command(name = "instruction-gate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge a run against the baseline: exit 3 when a benchmark grew past a limit.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Growth of instructions, in percent, that fails the gate.
        #[arg(long, default_value_t = Limits::default().instructions_percent)]
        instructions_limit: f64,
        /// Growth of estimated cycles, in percent, that fails the gate.
        #[arg(long, default_value_t = Limits::default().estimated_cycles_percent)]
        cycles_limit: f64,
        /// What to do when the baseline was taken with another rustc, valgrind, gungraun or
        /// target: `fail` (exit 1) or `warn` (print the comparison, do not judge, exit 0).
        #[arg(long, value_enum, default_value_t = Mismatch::Fail)]
        toolchain_mismatch: Mismatch,
    },
    /// Save a run as the baseline (overwrites it; commit the file).
    Save {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// gungraun's JSON output of the run (`cargo bench ... -- --output-format=json > FILE`).
    #[arg(long)]
    run: PathBuf,
    /// The baseline file [default: baselines/instructions/ARCH-OS.json, e.g. x86_64-linux.json].
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// The gungraun version the bench was built with (recorded with the toolchain).
    #[arg(long)]
    gungraun_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mismatch {
    Fail,
    Warn,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("instruction-gate: error: {err:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Save { common } => {
            let run = read_run(&common.run)?;
            let path = common.baseline.unwrap_or_else(baseline::default_path);
            let toolchain = Toolchain::current(&common.gungraun_version);
            let saved = Baseline::new(toolchain, run);
            saved.write(&path)?;
            println!(
                "saved {} benchmarks to {} ({}, {}, gungraun {})",
                saved.benches.len(),
                path.display(),
                saved.toolchain.rustc,
                saved.toolchain.valgrind,
                saved.toolchain.gungraun
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare {
            common,
            instructions_limit,
            cycles_limit,
            toolchain_mismatch,
        } => {
            let run = read_run(&common.run)?;
            let path = common.baseline.unwrap_or_else(baseline::default_path);
            let old = Baseline::read(&path)?;
            let here = Toolchain::current(&common.gungraun_version);
            let limits = Limits {
                instructions_percent: instructions_limit,
                estimated_cycles_percent: cycles_limit,
            };
            let comparison = compare(&old.benches, &run, limits);
            print!("{}", comparison.render());
            println!(
                "baseline: {} (taken at {} on {}, revision {})",
                path.display(),
                old.environment.timestamp,
                old.environment.host,
                old.environment.git_revision
            );
            let differences = here.differences(&old.toolchain);
            if !differences.is_empty() {
                let what = format!(
                    "the baseline was taken with another toolchain ({}), so counts differ for reasons \
                     other than the code; re-take it on the base revision with `ci/instructions --update`",
                    differences.join("; ")
                );
                match toolchain_mismatch {
                    Mismatch::Fail => bail!("{what}"),
                    Mismatch::Warn => {
                        println!("NOT JUDGED: {what}");
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
            let missing: Vec<&str> = comparison.missing().map(|r| r.name.as_str()).collect();
            if !missing.is_empty() {
                bail!(
                    "{} benchmark(s) of the baseline are missing from the run ({}): run the whole \
                     bench, or update the baseline if they were removed on purpose",
                    missing.len(),
                    missing.join(", ")
                );
            }
            let regressed = comparison.regressed().count();
            if regressed > 0 {
                println!(
                    "REGRESSION: {regressed} benchmark(s) grew past the limits (exit {})",
                    exit::REGRESSION
                );
                return Ok(ExitCode::from(exit::REGRESSION));
            }
            println!("ok: no benchmark grew past the limits");
            Ok(ExitCode::SUCCESS)
        }
    }
}
