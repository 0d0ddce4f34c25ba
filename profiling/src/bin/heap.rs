//! `sse-heap`: the reference server in-process under dhat while a separate load generator drives the profiling workload.
//!
//! Writes `<output-dir>/heap-<profile>/dhat-heap.json` (DHAT's viewer: open
//! `dh_view.html`, shipped with valgrind, e.g. `/usr/libexec/valgrind/dh_view.html`,
//! and load the file) and `summary.json`, prints a table, and compares with
//! `--baseline`. Exit codes: see `--help`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use sse_profiling::baseline::compare_heap;
use sse_profiling::cli::{self, Common, EXIT_CODES_HELP, Mode};
use sse_profiling::heap::{self, HeapRun};
use sse_profiling::summary::{self, HeapSummary};
use sse_profiling::workload::RunKind;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Heap profile of the reference SSE server under a fixed workload (dhat).
#[derive(Debug, Parser)]
#[command(name = "sse-heap", version, after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    // On invalid flags clap prints a message naming the flag and exits with code 2.
    let cli = Cli::parse();
    // In the drive mode `run` is not called, so the generator gets no dhat::Profiler.
    cli::main("sse-heap", cli.mode.as_ref(), || run(&cli.common))
}

fn run(common: &Common) -> anyhow::Result<u8> {
    let baseline = cli::load_baseline::<HeapSummary>(common, "heap")?;
    let dir = cli::run_dir(common, "heap");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dhat_path = dir.join("dhat-heap.json");
    let summary_path = dir.join("summary.json");
    let profiler = dhat::Profiler::builder().file_name(&dhat_path).build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let spec = HeapRun {
        profile: common.profile,
        workload: common.workload(RunKind::Heap),
        timeout: common.phase_timeout,
        runtime_workers: runtime.metrics().num_workers(),
    };
    let result = runtime.block_on(heap::run(&spec, cli::generator_command));
    drop(runtime);
    // Dropping the profiler writes dhat-heap.json (and prints dhat's totals).
    drop(profiler);
    let mut summary = result.context("heap run")?;
    summary.files.summary = summary_path.display().to_string();
    summary.files.profiles = vec![dhat_path.display().to_string()];
    summary::write_json(&summary_path, &summary)?;
    print!("\n{}", heap::render(&summary));
    cli::print_written(&[&summary_path, &dhat_path]);
    println!(
        "view the heap profile offline: open /usr/libexec/valgrind/dh_view.html and load {}",
        dhat_path.display()
    );
    Ok(cli::conclude(
        &summary,
        baseline.as_ref(),
        common,
        "heap",
        compare_heap,
    )?)
}
