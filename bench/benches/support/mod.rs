//! Shared by every bench: the criterion configuration, the pprof flamegraph profiler and the in-process server.

pub mod profiler;
// Only the e2e bench starts a server; the others include this module for the profiler.
#[allow(dead_code)]
pub mod server;

use std::time::Duration;

use criterion::Criterion;

/// Sampling frequency of `--profile-time` runs. The kernel caps profiling signals near
/// 250 Hz on this class of machine; above that, attribution skews, so stay well below.
const PROFILE_HZ: i32 = 149;

/// The configuration every bench starts from: modest sample sizes and times so that the
/// whole `cargo bench` fits in about ten minutes on two cores, and the flamegraph profiler
/// for `--profile-time`. Command-line flags (`--quick`, `--save-baseline`, …) still apply.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .with_profiler(profiler::Flamegraph::new(PROFILE_HZ))
}
