//! CPU time of the generator (this process, from `getrusage`) and of an embedded server (from
//! `/proc/<pid>/task/*/schedstat`, nanoseconds).
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

/// Nanoseconds on CPU of every live thread of process `pid`, the sum of the first field of
/// `/proc/<pid>/task/*/schedstat` (`None` when the kernel does not expose it). Threads that
/// exited are not counted: the reference server's threads live as long as it does.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse::<u64>().ok()) {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
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

/// Share of one core below which the generator is never called the bottleneck, whatever
/// the ratio: a generator idling at a few percent of a core limits nothing.
const MIN_BOUND_CORES: f64 = 0.5;

/// Saturation at which the generator counts as the bottleneck: 90% of the cores it could use.
pub const BOUND_SATURATION: f64 = 0.9;

/// How much of the CPU it could use the generator used: its cores divided by the host's
/// cores minus what the server used (the server is another process on the same host when
/// its CPU is known). 1.0: every cycle the server left was the generator's.
pub fn generator_saturation(generator: CpuSpent, server_seconds: Option<f64>, host_cores: u32) -> f64 {
    let wall = generator.wall.as_secs_f64();
    let server_cores = match server_seconds {
        Some(s) if wall > 0.0 => s / wall,
        _ => 0.0,
    };
    let available = (f64::from(host_cores.max(1)) - server_cores).max(MIN_BOUND_CORES);
    generator.cores() / available
}

/// Whether the generator, not the server, limited the run: it used at least
/// [`BOUND_SATURATION`] of the cores it could use ([`generator_saturation`]) and at least
/// half a core. A generator that merely used more CPU than the server is not bound: it may
/// just parse more cheaply than the server writes.
pub fn generator_bound(generator: CpuSpent, server_seconds: Option<f64>, host_cores: u32) -> bool {
    generator.cores() >= MIN_BOUND_CORES
        && generator_saturation(generator, server_seconds, host_cores) >= BOUND_SATURATION
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
        let ns = process_cpu_ns(std::process::id()).expect("schedstat on Linux");
        assert!(ns as f64 >= spent.seconds * 1e9 * 0.5, "{ns} ns vs {spent:?}");
        assert_eq!(process_cpu_ns(u32::MAX), None);
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
        // One core of one: saturated.
        assert!(generator_bound(busy, None, 1));
        // 0.95 of the 2 − 0.9 = 1.1 cores the server left: 86%, not bound.
        assert!(!generator_bound(busy, Some(0.9), 2));
        // 0.95 of the 2 − 1.0 = 1.0 core left: 95%, bound.
        assert!(generator_bound(busy, Some(1.0), 2));
        // More CPU than the server, but a fifth of a core: limits nothing.
        assert!(!generator_bound(light, Some(0.1), 1));
        assert!(!generator_bound(light, None, 2));
        assert!((generator_saturation(busy, None, 2) - 0.475).abs() < 1e-9);
    }
}
