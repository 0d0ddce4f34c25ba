//! CPU time of the generator (this process, from `getrusage`) and of an embedded server (from `/proc/<pid>`).
//!
//! Wall time alone says little on a 2-core machine where generator and server compete:
//! CPU seconds per event on each side show where the work goes, and a generator that
//! burns more CPU than the server (or nearly a whole core) is the bottleneck, not the
//! server under test.

use std::time::{Duration, Instant};

use sse_server::metrics::ProcessStats;

/// CPU time of a process, user and system apart: the one CPU clock reader of the
/// workspace (this process from `getrusage`, another from `/proc/<pid>/stat` or a
/// target's `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel on the process's behalf.
    pub system: Duration,
}

impl CpuTime {
    /// CPU used so far by this process, all threads (`getrusage(RUSAGE_SELF)`; zero if the
    /// OS refuses, which Linux does not).
    pub fn own() -> Self {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` points to writable memory of the right size; getrusage fills it.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return Self::default();
        }
        // SAFETY: getrusage returned 0, so the struct is initialised.
        let usage = unsafe { usage.assume_init() };
        let time = |tv: libc::timeval| {
            Duration::new(
                tv.tv_sec.max(0) as u64,
                (tv.tv_usec.max(0) as u32).saturating_mul(1_000),
            )
        };
        Self {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
    }

    /// CPU used so far by process `pid` (`/proc/<pid>/stat`), `None` when it is gone.
    pub fn of_process(pid: u32) -> Option<Self> {
        let stats = ProcessStats::read(Some(i32::try_from(pid).ok()?));
        (stats.rss_bytes > 0).then(|| Self::from_seconds(stats.cpu_user, stats.cpu_system))
    }

    /// From user and system seconds (negative or non-finite values count as 0).
    pub fn from_seconds(user: f64, system: f64) -> Self {
        let time = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default();
        Self {
            user: time(user),
            system: time(system),
        }
    }

    /// User plus system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// What was used between `earlier` and `self` (never negative).
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// A start point for measuring this process's CPU over an interval.
#[derive(Debug, Clone, Copy)]
pub struct CpuStopwatch {
    wall: Instant,
    cpu: CpuTime,
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
        Self {
            wall: Instant::now(),
            cpu: CpuTime::own(),
        }
    }

    /// CPU used by this process since [`CpuStopwatch::start`].
    pub fn elapsed(&self) -> CpuSpent {
        CpuSpent {
            seconds: CpuTime::own().since(self.cpu).total().as_secs_f64(),
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
        // Spin until the clock moves (bounded), so a loaded machine cannot fail the test.
        let watch = CpuStopwatch::start();
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_secs(30);
        while watch.elapsed().seconds <= 0.0 && Instant::now() < until {
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        std::hint::black_box(x);
        let spent = watch.elapsed();
        assert!(spent.seconds > 0.0, "{spent:?}");
        assert!(CpuTime::of_process(std::process::id()).is_some());
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
