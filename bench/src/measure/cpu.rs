//! CPU time of the generator (this process, from `getrusage`) and of an embedded server (from
//! `/proc/<pid>/task/*/schedstat`, nanoseconds).
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

/// Nanoseconds on CPU of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): for a reader that
/// runs on a thread of its own, as the lean reader of `calibrate` does.
///
/// # Errors
/// The OS refused the clock (Linux does not).
pub fn thread_cpu_ns() -> std::io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// This process's CPU and the wall clock at one instant: where a [`CpuStopwatch`]
/// interval can end ([`CpuStopwatch::until`]).
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    wall: Instant,
    cpu: CpuTime,
}

impl CpuMark {
    /// Now.
    pub fn now() -> Self {
        Self {
            wall: Instant::now(),
            cpu: CpuTime::own(),
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
        self.until(CpuMark::now())
    }

    /// CPU used by this process from [`CpuStopwatch::start`] to `end`.
    pub fn until(&self, end: CpuMark) -> CpuSpent {
        CpuSpent {
            seconds: end.cpu.since(self.cpu).total().as_secs_f64(),
            wall: end.wall.saturating_duration_since(self.wall),
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
        // Spin until the clock moves (bounded), so a loaded machine cannot fail the test.
        let watch = CpuStopwatch::start();
        let thread_before = thread_cpu_ns().expect("the thread clock on Linux");
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
        let thread_after = thread_cpu_ns().expect("the thread clock on Linux");
        assert!(
            thread_after > thread_before,
            "{thread_before} -> {thread_after} ns"
        );
        assert!(CpuTime::of_process(std::process::id()).is_some());
        let ns = process_cpu_ns(std::process::id()).expect("schedstat on Linux");
        assert!(ns as f64 >= spent.seconds * 1e9 * 0.5, "{ns} ns vs {spent:?}");
        assert_eq!(process_cpu_ns(u32::MAX), None);
        assert_eq!(ns_per_event(1.0, 0), None);
        assert_eq!(ns_per_event(1.0, 1000), Some(1e6));
    }

    #[test]
    fn an_interval_ends_at_its_mark_not_later() {
        let watch = CpuStopwatch::start();
        let mark = CpuMark::now();
        // Work after the mark: it counts in `elapsed`, never in `until(mark)`.
        let mut x = 0u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while watch.elapsed().seconds <= watch.until(mark).seconds && Instant::now() < deadline {
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        std::hint::black_box(x);
        let (to_mark, to_now) = (watch.until(mark), watch.elapsed());
        assert!(to_mark.seconds < to_now.seconds, "{to_mark:?} {to_now:?}");
        assert!(to_mark.wall < to_now.wall, "{to_mark:?} {to_now:?}");
        // The same mark gives the same interval however late it is asked.
        assert_eq!(watch.until(mark), to_mark);
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
