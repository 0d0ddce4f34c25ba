//! The JSON summaries of heap and CPU runs, written atomically and read back as baselines.
//!
//! Field names are snake_case with their unit in the name (`_bytes`, `_ns`, `_us`,
//! `_ms`), as in the `sse-load` reports. Every summary carries the workload it ran, the
//! server's configuration and the environment it was measured on.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sse_bench::environment::Environment;

use crate::blocking::BlockingReport;
use crate::phases::Phase;
use crate::workload::{Profile, RunKind, Workload};

/// Why a summary could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The baseline does not exist.
    #[error("baseline {path} does not exist; create it with --save-baseline {path}")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a summary of the expected kind.
    #[error(
        "{path} is not a valid {kind} summary: {source} (it was left untouched; delete it or pass another path)"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// `heap` or `cpu`.
        kind: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// How the in-process server was configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSetup {
    /// Events kept for replay (also the broadcast channel capacity).
    pub replay_capacity: usize,
    /// Connection limit.
    pub max_connections: usize,
    /// Send timeout, milliseconds.
    pub send_timeout_ms: u64,
    /// Whether keep-alive pings were on (they are off in profiling runs).
    pub pings: bool,
    /// Worker threads of the server's tokio runtime.
    pub runtime_workers: usize,
}

/// The server's own counters over the measured phases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerCounters {
    /// Events published on the hub.
    pub events_published: u64,
    /// Events handed to client streams (fan-out plus one per cycle).
    pub events_delivered: u64,
    /// Socket write calls.
    pub write_calls: u64,
    /// Bytes written to sockets.
    pub bytes_written: u64,
    /// Hub subscribers ended for lagging (must be 0).
    pub clients_lagged: u64,
    /// Clients evicted by the send timeout (must be 0).
    pub clients_evicted: u64,
    /// Open connections after `disconnect` (must be 0).
    pub connections_at_end: u64,
}

impl ServerCounters {
    /// The counters between two snapshots of the server's metrics.
    pub fn between(start: &sse_server::Snapshot, end: &sse_server::Snapshot) -> Self {
        Self {
            events_published: end.events_published - start.events_published,
            events_delivered: end.events_delivered - start.events_delivered,
            write_calls: end.write_calls - start.write_calls,
            bytes_written: end.bytes_written - start.bytes_written,
            clients_lagged: end.clients_lagged - start.clients_lagged,
            clients_evicted: end.clients_evicted - start.clients_evicted,
            connections_at_end: end.connections,
        }
    }
}

/// One phase of a heap run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapPhase {
    /// The phase.
    pub phase: Phase,
    /// Allocations made during the phase (dhat `total_blocks` delta).
    pub allocations: u64,
    /// Bytes allocated during the phase (dhat `total_bytes` delta).
    pub allocated_bytes: u64,
    /// Change of the live heap over the phase, bytes.
    pub heap_delta_bytes: i64,
    /// Change of the number of live blocks over the phase.
    pub heap_delta_blocks: i64,
    /// Live heap at the end of the phase, bytes.
    pub heap_end_bytes: u64,
    /// What the phase counts: streams, events delivered or cycles.
    pub count: u64,
    /// What one `count` is: `connection`, `delivered event` or `cycle` (borrowed when
    /// made: the run allocates nothing of its own between measurement windows).
    pub unit: Cow<'static, str>,
    /// Allocations per unit.
    pub allocations_per_unit: f64,
    /// Bytes allocated per unit.
    pub bytes_per_unit: f64,
    /// Live heap change per unit, bytes.
    pub heap_delta_per_unit_bytes: f64,
    /// Wall time of the phase, milliseconds (under dhat: slow, for orientation only).
    pub wall_ms: f64,
}

impl HeapPhase {
    /// What one counted item of `phase` is.
    pub fn unit_of(phase: Phase) -> &'static str {
        match phase {
            Phase::Fanout => "delivered event",
            Phase::Cycles => "cycle",
            Phase::Warmup | Phase::Idle | Phase::Disconnect => "connection",
        }
    }
}

/// The headline figures of a heap run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapFigures {
    /// Fan-out allocations / events published.
    pub allocations_per_published_event: f64,
    /// Fan-out bytes allocated / events published.
    pub bytes_per_published_event: f64,
    /// Fan-out allocations / events delivered (published × subscribers). Gated.
    pub allocations_per_delivered_event: f64,
    /// Fan-out bytes allocated / events delivered.
    pub bytes_per_delivered_event: f64,
    /// Allocations to open one idle `/events` stream (idle phase / subscribers).
    pub allocations_per_connection: f64,
    /// Bytes allocated to open one idle stream.
    pub bytes_per_connection: f64,
    /// Live heap held by one idle stream (idle heap delta / subscribers).
    pub heap_per_idle_connection_bytes: f64,
    /// Allocations of one connect → first event → close cycle.
    pub allocations_per_cycle: f64,
    /// Bytes allocated by one cycle.
    pub bytes_per_cycle: f64,
    /// Live heap before the first measured connection, bytes.
    pub heap_before_connect_bytes: u64,
    /// Live heap after every connection closed, bytes.
    pub heap_after_disconnect_bytes: u64,
    /// Heap left behind: after-disconnect minus before-connect, bytes.
    pub leaked_bytes: i64,
    /// `leaked_bytes` / every connection opened (subscribers + cycles). Gated.
    pub leak_per_connection_bytes: f64,
    /// Largest live heap of the run (dhat's t-gmax), bytes.
    pub peak_heap_bytes: u64,
}

/// The paths a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Files {
    /// The summary itself.
    pub summary: String,
    /// Profiler output: `dhat-heap.json`, or `flamegraph.svg` and `profile.pb`.
    pub profiles: Vec<String>,
}

/// The summary of a heap run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapSummary {
    /// Always [`RunKind::Heap`].
    pub kind: RunKind,
    /// The profile.
    pub profile: Profile,
    /// What the load generator did.
    pub workload: Workload,
    /// The server's configuration.
    pub server: ServerSetup,
    /// Per measured phase.
    pub phases: Vec<HeapPhase>,
    /// The headline figures.
    pub figures: HeapFigures,
    /// The server's counters over the measured phases.
    pub counters: ServerCounters,
    /// Where and with what it was measured.
    pub environment: Environment,
    /// What the run wrote.
    pub files: Files,
}

/// One phase of a CPU run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuPhase {
    /// The phase.
    pub phase: Phase,
    /// Wall time, milliseconds.
    pub wall_ms: f64,
    /// Server process CPU (`CLOCK_PROCESS_CPUTIME_ID`), nanoseconds.
    pub cpu_ns: u64,
    /// User CPU (`getrusage`), nanoseconds.
    pub user_ns: u64,
    /// System CPU (`getrusage`), nanoseconds.
    pub system_ns: u64,
    /// Load-generator CPU (`/proc/<pid>/stat`, 10 ms ticks), nanoseconds.
    pub generator_cpu_ns: u64,
    /// Events delivered by the server (its counter).
    pub events_delivered: u64,
    /// Socket write calls (the server's counter).
    pub write_calls: u64,
}

/// The headline figures of a CPU run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuFigures {
    /// Fan-out server CPU / events delivered, nanoseconds.
    pub cpu_ns_per_delivered_event: f64,
    /// Fan-out user CPU / events delivered, nanoseconds.
    pub user_ns_per_delivered_event: f64,
    /// Fan-out system CPU / events delivered, nanoseconds.
    pub system_ns_per_delivered_event: f64,
    /// User share of fan-out CPU (user / (user + system)).
    pub user_share: f64,
    /// Fan-out server CPU / events published, nanoseconds.
    pub cpu_ns_per_published_event: f64,
    /// Fan-out write calls / events delivered (below 1 when writes coalesce frames).
    pub write_calls_per_delivered_event: f64,
    /// Server CPU of one idle-stream connect, microseconds.
    pub cpu_us_per_connection: f64,
    /// Server CPU of one connect → first event → close cycle, microseconds.
    pub cpu_us_per_cycle: f64,
    /// Load-generator CPU / events delivered during fan-out, nanoseconds.
    pub generator_cpu_ns_per_delivered_event: f64,
    /// Server CPU / wall time during fan-out (1.0 = one core busy).
    pub fanout_cores: f64,
}

/// One of the hottest functions by self time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopFrame {
    /// The function (demangled).
    pub function: String,
    /// Samples whose innermost frame is this function.
    pub samples: u64,
    /// Share of all samples.
    pub share: f64,
}

/// How the CPU profile was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerInfo {
    /// Sampling frequency, Hz.
    pub frequency_hz: i32,
    /// Samples in the profile.
    pub samples: u64,
    /// Samples expected from the process CPU time at this frequency.
    pub expected_samples: u64,
    /// Libraries whose samples are dropped (so libc's syscall wrappers, and the kernel
    /// time behind them, are missing from the flamegraph; CPU per event comes from the
    /// process clocks instead).
    pub blocklist: Vec<String>,
}

/// The summary of a CPU run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuSummary {
    /// Always [`RunKind::Cpu`].
    pub kind: RunKind,
    /// The profile.
    pub profile: Profile,
    /// What the load generator did.
    pub workload: Workload,
    /// The server's configuration.
    pub server: ServerSetup,
    /// Per measured phase.
    pub phases: Vec<CpuPhase>,
    /// The headline figures.
    pub figures: CpuFigures,
    /// The hottest functions by self time.
    pub top_frames: Vec<TopFrame>,
    /// How the profile was sampled.
    pub sampler: SamplerInfo,
    /// Event-loop blocking during the measured phases.
    pub blocking: BlockingReport,
    /// The server's counters over the measured phases.
    pub counters: ServerCounters,
    /// Where and with what it was measured.
    pub environment: Environment,
    /// What the run wrote.
    pub files: Files,
}

/// Divides, giving 0 for an empty denominator.
pub fn per(numerator: f64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator / denominator as f64
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a
/// rename), creating the directory.
///
/// # Errors
/// [`SummaryError::Write`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SummaryError> {
    sse_bench::fs::write_atomic(path, bytes).map_err(|err| SummaryError::Write {
        path: err.path,
        source: err.source,
    })
}

/// Writes `summary` as pretty JSON to `path`, atomically.
///
/// # Errors
/// See [`write_atomic`].
pub fn write_json<T: Serialize>(path: &Path, summary: &T) -> Result<(), SummaryError> {
    let mut json = serde_json::to_vec_pretty(summary).map_err(|e| SummaryError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    write_atomic(path, &json)
}

/// Reads a summary of kind `kind` from `path`.
///
/// # Errors
/// Missing, unreadable or not a summary of that kind.
pub fn read_json<T: DeserializeOwned>(path: &Path, kind: &'static str) -> Result<T, SummaryError> {
    let text = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SummaryError::Missing {
            path: path.to_owned(),
        },
        _ => SummaryError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    serde_json::from_slice(&text).map_err(|source| SummaryError::Parse {
        path: path.to_owned(),
        kind,
        source,
    })
}

/// Saves `summary` as the baseline at `path`. An existing file that is not a valid
/// summary of this kind is never overwritten: it may be someone's data.
///
/// # Errors
/// The existing file is unreadable or invalid, or writing failed.
pub fn save_baseline<T: Serialize + DeserializeOwned>(
    path: &Path,
    summary: &T,
    kind: &'static str,
) -> Result<(), SummaryError> {
    match read_json::<T>(path, kind) {
        Ok(_) | Err(SummaryError::Missing { .. }) => write_json(path, summary),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_round_trips_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/summary.json");
        let figures = HeapFigures {
            allocations_per_delivered_event: 0.25,
            leaked_bytes: -3,
            ..HeapFigures::default()
        };
        write_json(&path, &figures).unwrap();
        let back: HeapFigures = read_json(&path, "heap").unwrap();
        assert_eq!(back, figures);
        let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn baseline_errors_name_the_file_and_invalid_baselines_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let err = read_json::<HeapFigures>(&missing, "heap").unwrap_err();
        assert!(err.to_string().contains("--save-baseline"), "{err}");

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, b"{ not json").unwrap();
        let err = save_baseline(&broken, &HeapFigures::default(), "heap").unwrap_err();
        assert!(matches!(err, SummaryError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("broken.json"), "{err}");
        assert_eq!(std::fs::read(&broken).unwrap(), b"{ not json");

        save_baseline(&missing, &HeapFigures::default(), "heap").unwrap();
        save_baseline(&missing, &HeapFigures::default(), "heap").unwrap();
        assert!(read_json::<HeapFigures>(&missing, "heap").is_ok());
    }

    #[test]
    fn per_handles_zero() {
        assert_eq!(per(10.0, 0), 0.0);
        assert_eq!(per(10.0, 4), 2.5);
    }
}
