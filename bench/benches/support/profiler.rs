//! A criterion 0.8 [`Profiler`] that samples with pprof and writes `flamegraph.svg` and `profile.pb`.
//!
//! pprof's own `criterion` feature implements an older criterion's trait, so this is the
//! bridge for criterion 0.8. Criterion calls it only under `--profile-time N`, passing
//! `target/criterion/<bench>/profile/` as the directory.

use std::fs;
use std::io::Write;
use std::path::Path;

use criterion::profiler::Profiler;
use pprof::ProfilerGuard;
use pprof::protos::Message;

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
        match pprof::ProfilerGuardBuilder::default()
            .frequency(self.frequency)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
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
    let report = guard.report().build()?;
    let mut svg = Vec::new();
    report.flamegraph(&mut svg)?;
    write_atomically(dir, "flamegraph.svg", &svg)?;
    let mut pb = Vec::new();
    report.pprof()?.encode(&mut pb)?;
    write_atomically(dir, "profile.pb", &pb)?;
    Ok(())
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(dir.join(name)).map_err(|err| err.error)?;
    Ok(())
}
