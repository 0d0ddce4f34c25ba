//! `sse-cpu`: the reference server in-process under pprof while a separate load generator drives the profiling workload.
//!
//! Writes `<output-dir>/cpu-<profile>/flamegraph.svg`, `profile.pb` (`go tool pprof`,
//! `pprof -http`) and `summary.json`, prints a table, and compares with `--baseline`.
//! Exit codes: see `--help`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use sse_profiling::baseline::compare_cpu;
use sse_profiling::cli::{self, Common, EXIT_CODES_HELP, Mode};
use sse_profiling::cpu::{self, CpuRun};
use sse_profiling::summary::{self, CpuSummary};
use sse_profiling::workload::RunKind;

/// CPU profile of the reference SSE server under a fixed workload (pprof), with event-loop blocking.
#[derive(Debug, Parser)]
#[command(name = "sse-cpu", version, after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    common: Common,

    /// Sampling frequency in Hz (99-199: higher rates are capped on small machines).
    #[arg(long, default_value_t = 199, value_parser = clap::value_parser!(i32).range(99..=199))]
    frequency: i32,

    /// Flag the run when a task poll or a scheduling delay of the server runtime exceeds this.
    #[arg(long, default_value = "10ms", value_parser = sse_server::config::parse_duration)]
    block_threshold: Duration,
}

fn main() -> ExitCode {
    // On invalid flags clap prints a message naming the flag and exits with code 2.
    let cli = Cli::parse();
    cli::main("sse-cpu", cli.mode.as_ref(), || run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    let common = &cli.common;
    let baseline = cli::load_baseline::<CpuSummary>(common, "cpu")?;
    let dir = cli::run_dir(common, "cpu");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let spec = CpuRun {
        profile: common.profile,
        workload: common.workload(RunKind::Cpu),
        timeout: common.phase_timeout,
        frequency: cli.frequency,
        block_threshold: cli.block_threshold,
        runtime_workers: runtime.metrics().num_workers(),
    };
    let outcome = runtime
        .block_on(async { tokio::spawn(async move { cpu::run(&spec, cli::generator_command).await }).await })
        .context("the CPU run's task")?
        .context("CPU run")?;
    drop(runtime);
    let flamegraph = dir.join("flamegraph.svg");
    let profile_pb = dir.join("profile.pb");
    let summary_path = dir.join("summary.json");
    summary::write_atomic(&flamegraph, &outcome.flamegraph)?;
    summary::write_atomic(&profile_pb, &outcome.profile_pb)?;
    let mut summary = outcome.summary;
    summary.files.summary = summary_path.display().to_string();
    summary.files.profiles = vec![flamegraph.display().to_string(), profile_pb.display().to_string()];
    summary::write_json(&summary_path, &summary)?;
    print!("\n{}", cpu::render(&summary));
    cli::print_written(&[&summary_path, &flamegraph, &profile_pb]);
    Ok(cli::conclude(
        &summary,
        baseline.as_ref(),
        common,
        "cpu",
        compare_cpu,
    )?)
}
