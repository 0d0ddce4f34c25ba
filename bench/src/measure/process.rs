//! A local server process seen from `/proc/<pid>`: CPU, RSS, fds, threads and per-thread nanosecond CPU clocks.
//!
//! `/proc/<pid>/stat` counts CPU in clock ticks (10 ms on most kernels): over a short run
//! or a light load that rounds CPU per event to nothing. Every thread's
//! `/proc/<pid>/task/<tid>/schedstat` starts with the nanoseconds it has run on a CPU;
//! their sum is the process's CPU at nanosecond resolution (threads that ended between
//! two readings drop out of it, so [`ProcessReading::cpu_seconds_since`] falls back to the
//! tick count when the sum shrank).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use sse_server::metrics::ProcessStats;

/// RSS and open descriptors of a process at one moment (`None`: not readable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Resident set, bytes.
    pub rss_bytes: Option<u64>,
    /// Open file descriptors.
    pub fds: Option<u64>,
}

/// A local process's [`Footprint`], read for each timeline sample with two system calls:
/// `/proc/<pid>/statm` stays open and is read again from its start (the kernel renders it
/// anew on each read), and [`sse_server::metrics::open_fds`] counts the descriptors.
#[derive(Debug)]
pub struct LocalProbe {
    pid: i32,
    statm: File,
    page_size: u64,
}

impl LocalProbe {
    /// Opens process `pid`'s `statm`; `None` when the process is not readable.
    pub fn open(pid: u32) -> Option<Self> {
        let statm = File::open(format!("/proc/{pid}/statm")).ok()?;
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(Self {
            pid: i32::try_from(pid).ok()?,
            statm,
            page_size: u64::try_from(page_size).ok().filter(|&p| p > 0)?,
        })
    }

    /// The footprint now; a process that has exited reads as unknown.
    pub fn read(&self) -> Footprint {
        let mut buf = [0u8; 128];
        let rss_bytes = self
            .statm
            .read_at(&mut buf, 0)
            .ok()
            .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
            .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|pages| pages * self.page_size);
        Footprint {
            rss_bytes,
            fds: rss_bytes.map(|_| sse_server::metrics::open_fds(self.pid)),
        }
    }
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessReading {
    /// RSS, fds, threads, user and system CPU (ticks) from `/proc/<pid>/stat`.
    pub stats: ProcessStats,
    /// Sum of the CPU nanoseconds of the threads alive now, when readable.
    pub threads_cpu_ns: Option<u64>,
    /// Write-type system calls so far (`syscw` of `/proc/<pid>/io`: `write`, `writev` and
    /// their kin, which is how sockets are written), when readable.
    pub write_calls: Option<u64>,
}

impl ProcessReading {
    /// Reads process `pid`; `None` when it does not exist (or cannot be read).
    pub fn read(pid: u32) -> Option<Self> {
        let stats = ProcessStats::read(Some(i32::try_from(pid).ok()?));
        if stats.rss_bytes == 0 {
            return None;
        }
        Some(Self {
            stats,
            threads_cpu_ns: threads_cpu_ns(pid),
            write_calls: write_calls(pid),
        })
    }

    /// The reading as figures under this project's `/metrics` names (plus
    /// `threads_cpu_seconds`, the per-thread clocks' sum).
    pub fn figures(&self) -> std::collections::BTreeMap<String, f64> {
        const MIB: f64 = 1024.0 * 1024.0;
        let s = &self.stats;
        let mut figures: std::collections::BTreeMap<String, f64> = [
            ("memory_rss_mb", s.rss_bytes as f64 / MIB),
            ("memory_vms_mb", s.vms_bytes as f64 / MIB),
            ("num_fds", s.fds as f64),
            ("num_threads", s.threads as f64),
            ("cpu_user_seconds", s.cpu_user),
            ("cpu_system_seconds", s.cpu_system),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(ns) = self.threads_cpu_ns {
            figures.insert("threads_cpu_seconds".into(), ns as f64 / 1e9);
        }
        figures
    }

    /// CPU seconds from `earlier` to this reading: the per-thread nanosecond clocks when
    /// they did not go backwards, else user plus system ticks.
    pub fn cpu_seconds_since(&self, earlier: &Self) -> f64 {
        match (self.threads_cpu_ns, earlier.threads_cpu_ns) {
            (Some(now), Some(then)) if now >= then => (now - then) as f64 / 1e9,
            _ => {
                (self.stats.cpu_user + self.stats.cpu_system)
                    - (earlier.stats.cpu_user + earlier.stats.cpu_system)
            }
        }
    }
}

/// The `syscw` line of `/proc/<pid>/io` (write-type system calls), when readable.
fn write_calls(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The sum of `/proc/<pid>/task/*/schedstat`'s first field (ns on a CPU).
fn threads_cpu_ns(pid: u32) -> Option<u64> {
    let dir = PathBuf::from(format!("/proc/{pid}/task"));
    let mut total = 0u64;
    let mut any = false;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()) {
            total = total.saturating_add(ns);
            any = true;
        }
    }
    any.then_some(total)
}

/// Reads a pid file: one decimal pid, surrounding whitespace allowed.
///
/// # Errors
/// A message naming the file and what is wrong with it.
pub fn read_pid_file(path: &std::path::Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the pid file {}: {err}", path.display()))?;
    text.trim().parse::<u32>().ok().filter(|&p| p > 0).ok_or_else(|| {
        format!(
            "the pid file {} does not hold a process id (it holds {:?})",
            path.display(),
            text.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_is_read_with_thread_clocks() {
        // A child that only burns CPU: its one thread lives throughout, so its clock can
        // only grow (this test process's own threads come and go with the other tests).
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let pause = || std::thread::sleep(std::time::Duration::from_millis(20));
        // Right after the spawn the child may still be exec'ing: wait for a full reading.
        let first = loop {
            match ProcessReading::read(child.id()) {
                Some(r) if r.threads_cpu_ns.is_some() && r.stats.rss_bytes > 0 => break Some(r),
                _ if std::time::Instant::now() > deadline => break None,
                _ => pause(),
            }
        };
        let grew = first.is_some_and(|first| {
            let before = first.threads_cpu_ns.unwrap_or(u64::MAX);
            loop {
                pause();
                let now = ProcessReading::read(child.id());
                if now.is_some_and(|n| {
                    n.threads_cpu_ns.unwrap_or(0) > before && n.cpu_seconds_since(&first) > 0.0
                }) {
                    break true;
                }
                if std::time::Instant::now() > deadline {
                    break false;
                }
            }
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            grew,
            "a spinning process's thread clocks never advanced within 10 s"
        );
        assert!(ProcessReading::read(u32::MAX - 1).is_none());
    }

    #[test]
    fn write_calls_count_every_write() {
        use std::io::Write;

        let pid = std::process::id();
        let before = ProcessReading::read(pid).and_then(|r| r.write_calls);
        let Some(before) = before else {
            // Some sandboxes hide /proc/<pid>/io: nothing to count there.
            assert!(std::fs::read_to_string(format!("/proc/{pid}/io")).is_err());
            return;
        };
        let mut sink = std::fs::File::create("/dev/null").unwrap();
        for _ in 0..25 {
            sink.write_all(b"x").unwrap();
        }
        let after = ProcessReading::read(pid).and_then(|r| r.write_calls).unwrap();
        // Other tests of this process may write too: at least our 25.
        assert!(after >= before + 25, "{before} -> {after}");
    }

    #[test]
    fn pid_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.pid");
        std::fs::write(&good, "1234\n").unwrap();
        assert_eq!(read_pid_file(&good), Ok(1234));
        let bad = dir.path().join("bad.pid");
        std::fs::write(&bad, "abc").unwrap();
        assert!(
            read_pid_file(&bad)
                .unwrap_err()
                .contains("does not hold a process id")
        );
        assert!(
            read_pid_file(&dir.path().join("none"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
