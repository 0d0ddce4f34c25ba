//! CPU time of the generator (this process, from `getrusage`) and of an embedded server (from `/proc/<pid>`).
//!
//! Wall time alone says little on a 2-core machine where generator and server compete:
//! CPU seconds per event on each side show where the work goes, and a generator that
//! burns more CPU than the server (or nearly a whole core) is the bottleneck, not the
//! server under test.

use std::time::{Duration, Instant};

use sse_server::metrics::ProcessStats;

/// CPU seconds (user, system) used so far by this process, all threads.
pub fn own_cpu() -> (f64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` points to writable memory of the right size; getrusage fills it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    // SAFETY: getrusage returned 0, so the struct is initialised.
    let usage = unsafe { usage.assume_init() };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// CPU seconds (user, system) of process `pid` from `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> Option<(f64, f64)> {
    let stats = ProcessStats::read(Some(i32::try_from(pid).ok()?));
    (stats.rss_bytes > 0).then_some((stats.cpu_user, stats.cpu_system))
}

/// A start point for measuring this process's CPU over an interval.
#[derive(Debug, Clone, Copy)]
pub struct CpuStopwatch {
    wall: Instant,
    user: f64,
    system: f64,
}

/// CPU used over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSpent {
    /// User plus system CPU seconds.
    pub seconds: f64,
    /// Wall time of the interval.
    pub wall: Duration,
}

impl CpuSpent {
    /// Share of one core used (1.0 = one core fully busy).
    pub fn cores(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 { self.seconds / wall } else { 0.0 }
    }
}

impl CpuStopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        let (user, system) = own_cpu();
        Self {
            wall: Instant::now(),
            user,
            system,
        }
    }

    /// CPU used by this process since [`CpuStopwatch::start`].
    pub fn elapsed(&self) -> CpuSpent {
        let (user, system) = own_cpu();
        CpuSpent {
            seconds: (user - self.user) + (system - self.system),
            wall: self.wall.elapsed(),
        }
    }
}

/// Whether the generator, not the server, limited the run: it used more CPU than the
/// server, or more than 90 % of a core.
pub fn generator_bound(generator: CpuSpent, server_seconds: Option<f64>) -> bool {
    generator.cores() > 0.9
        || server_seconds.is_some_and(|server| generator.seconds > server && generator.seconds > 0.05)
}

/// Nanoseconds of CPU per event, `None` without events.
pub fn ns_per_event(cpu_seconds: f64, events: u64) -> Option<f64> {
    (events > 0).then(|| cpu_seconds * 1e9 / events as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_grows_with_work() {
        let watch = CpuStopwatch::start();
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let spent = watch.elapsed();
        assert!(spent.seconds > 0.0, "{spent:?}");
        assert!(process_cpu(std::process::id()).is_some());
        assert_eq!(ns_per_event(1.0, 0), None);
        assert_eq!(ns_per_event(1.0, 1000), Some(1e6));
    }

    #[test]
    fn bound_rules() {
        let busy = CpuSpent {
            seconds: 0.95,
            wall: Duration::from_secs(1),
        };
        let light = CpuSpent {
            seconds: 0.2,
            wall: Duration::from_secs(1),
        };
        assert!(generator_bound(busy, None));
        assert!(generator_bound(light, Some(0.1)));
        assert!(!generator_bound(light, Some(0.5)));
        assert!(!generator_bound(light, None));
    }
}
