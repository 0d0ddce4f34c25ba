//! The machine, toolchain and revision a report was measured on, captured once per run.
//!
//! Every figure `sse-load` prints is only meaningful with its setting: host, CPU model and count,
//! kernel, compiler, git revision, open-file limit and time. [`Environment::capture`] never fails:
//! what cannot be read is recorded as `"unknown"` (or 0 for numbers).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Placeholder for facts that could not be read.
pub const UNKNOWN: &str = "unknown";

/// Where and with what a report was measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// Host name (`/proc/sys/kernel/hostname`).
    pub host: String,
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cpu_count: u32,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// `rustc -V` of the compiler that built `sse-load`.
    pub rustc: String,
    /// Short git revision of the source tree, with `-dirty` when it has uncommitted changes.
    pub git_revision: String,
    /// Soft open-file limit (`RLIMIT_NOFILE`) of the generator at capture time.
    pub fd_limit: u64,
    /// When the environment was captured, RFC 3339 UTC.
    pub timestamp: String,
    /// Version of the `sse-bench` crate.
    pub sse_bench_version: String,
}

impl Environment {
    /// Reads the current environment. Runs `git` once (in the crate's source tree); everything else
    /// comes from `/proc` and build-time constants.
    pub fn capture() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (cpu_model, cpu_count) = parse_cpuinfo(&cpuinfo);
        let cpu_count = if cpu_count > 0 {
            cpu_count
        } else {
            std::thread::available_parallelism().map_or(0, |n| n.get() as u32)
        };
        Self {
            host: read_trimmed("/proc/sys/kernel/hostname"),
            cpu_model,
            cpu_count,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            rustc: option_env!("SSE_BENCH_RUSTC_VERSION")
                .unwrap_or(UNKNOWN)
                .to_owned(),
            git_revision: git_revision(Path::new(env!("CARGO_MANIFEST_DIR"))),
            fd_limit: sse_server::limits::fd_limit(),
            timestamp: rfc3339(SystemTime::now()),
            sse_bench_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The host class figures are comparable within: `<arch>-<logical cpus>cpu`, e.g.
    /// `x86_64-2cpu` (noise models and criterion baselines are kept per host class).
    pub fn host_class(&self) -> String {
        format!("{}-{}cpu", std::env::consts::ARCH, self.cpu_count)
    }
}

/// The 1-minute load average of the host (`/proc/loadavg`): how busy it was with other work.
pub fn host_load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The trimmed content of a small text file, or [`UNKNOWN`].
fn read_trimmed(path: &str) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => UNKNOWN.to_owned(),
    }
}

/// CPU model and number of `processor` entries from `/proc/cpuinfo` text.
fn parse_cpuinfo(text: &str) -> (String, u32) {
    let mut model = None;
    let mut count = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => count += 1,
            // x86 says "model name"; some ARM kernels only say "Hardware" or "Processor".
            "model name" | "Hardware" | "Processor" if model.is_none() && !value.trim().is_empty() => {
                model = Some(value.trim().to_owned());
            }
            _ => {}
        }
    }
    (model.unwrap_or_else(|| UNKNOWN.to_owned()), count)
}

/// `git rev-parse --short HEAD` in `dir`, plus `-dirty` when tracked files changed; [`UNKNOWN`]
/// outside a checkout or without git.
fn git_revision(dir: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(revision) = git(&["rev-parse", "--short", "HEAD"]).filter(|r| !r.is_empty()) else {
        return UNKNOWN.to_owned();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(status) if !status.is_empty() => format!("{revision}-dirty"),
        _ => revision,
    }
}

/// Formats `time` as RFC 3339 UTC with second precision, e.g. `2026-11-23T07:47:51Z`
/// (times before 1970 are clamped to the epoch).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z"); // leap day of a /400 year
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z"); // 2100 is not a leap year
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn cpuinfo_model_and_count() {
        let text = "processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\n\nprocessor\t: 1\nmodel name\t: Example CPU @ 2.0GHz\n";
        assert_eq!(parse_cpuinfo(text), ("Example CPU @ 2.0GHz".to_owned(), 2));
        assert_eq!(parse_cpuinfo(""), (UNKNOWN.to_owned(), 0));
    }

    #[test]
    fn capture_reads_this_machine() {
        let env = Environment::capture();
        assert!(env.cpu_count >= 1);
        assert!(env.fd_limit > 0);
        assert_ne!(env.kernel, UNKNOWN, "kernel release is readable on Linux");
        assert!(
            env.timestamp.ends_with('Z') && env.timestamp.len() == 20,
            "{}",
            env.timestamp
        );
        assert!(
            env.rustc.starts_with("rustc "),
            "build script bakes in rustc -V: {}",
            env.rustc
        );
        assert_eq!(env.sse_bench_version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn git_revision_outside_a_checkout_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_revision(dir.path()), UNKNOWN);
    }
}
