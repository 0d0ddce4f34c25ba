//! A criterion 0.8 [`Profiler`] that samples with pprof and writes `flamegraph.svg` and `profile.pb`.
//!
//! pprof's own `criterion` feature implements an older criterion's trait, so this is the
//! bridge for criterion 0.8. Criterion calls it only under `--profile-time N`, passing
//! `target/criterion/<bench>/profile/` as the directory.

use std::fs;
use std::path::Path;

use criterion::profiler::Profiler;
use pprof::protos::Message;
use pprof::{Frames, ProfilerGuard};
use sse_bench::source_path::short_path;

/// Samples the whole process while criterion profiles one benchmark.
pub struct Flamegraph {
    frequency: i32,
    active: Option<ProfilerGuard<'static>>,
}

impl Flamegraph {
    /// A profiler sampling at `frequency` Hz (keep it within 99–199 Hz).
    pub fn new(frequency: i32) -> Self {
        Self {
            frequency,
            active: None,
        }
    }
}

impl Profiler for Flamegraph {
    fn start_profiling(&mut self, benchmark_id: &str, _benchmark_dir: &Path) {
        // No blocklist: samples taken inside libc (the send/recv/epoll syscalls that
        // dominate the e2e benches) must stay in the profile rather than be dropped.
        match pprof::ProfilerGuardBuilder::default()
            .frequency(self.frequency)
            .build()
        {
            Ok(guard) => self.active = Some(guard),
            Err(err) => eprintln!("{benchmark_id}: cannot start the pprof profiler: {err}"),
        }
    }

    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path) {
        let Some(guard) = self.active.take() else { return };
        // Criterion's trait has no error channel: report and carry on with the next bench.
        if let Err(err) = write_reports(&guard, benchmark_dir) {
            eprintln!(
                "{benchmark_id}: writing the profile to {} failed: {err}",
                benchmark_dir.display()
            );
        } else {
            eprintln!(
                "{benchmark_id}: flamegraph at {}",
                benchmark_dir.join("flamegraph.svg").display()
            );
        }
    }
}

/// Writes `flamegraph.svg` and `profile.pb` (pprof's protobuf, for `pprof -http` and other viewers).
fn write_reports(guard: &ProfilerGuard<'_>, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let mut svg = Vec::new();
    guard
        .report()
        .frames_post_processor(name_source_files)
        .build()?
        .flamegraph(&mut svg)?;
    write_atomically(dir, "flamegraph.svg", &svg)?;
    // The protobuf keeps file names in fields of their own: no renaming there.
    let mut pb = Vec::new();
    guard.report().build()?.pprof()?.encode(&mut pb)?;
    write_atomically(dir, "profile.pb", &pb)?;
    Ok(())
}

/// Appends each frame's source file to its name: with `debug = "line-tables-only"` the
/// names of inlined frames carry no module path (`poll<…>`), and the file says whose
/// `poll` it is (`poll<…> [tokio-1.48.0/src/sync/broadcast.rs]`, shortened as the
/// profiling runs' top frames are).
fn name_source_files(frames: &mut Frames) {
    for symbol in frames.frames.iter_mut().flatten() {
        let Some(file) = &symbol.filename else { continue };
        let file = file.to_string_lossy();
        let name = format!("{} [{}]", symbol.name(), short_path(&file));
        symbol.name = Some(name.into_bytes());
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    sse_bench::fs::write_atomic(&dir.join(name), bytes).map_err(|err| err.source)
}
