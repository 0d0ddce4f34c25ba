//! The heap run: the server in-process under dhat, dhat's statistics taken at every phase boundary.
//!
//! The caller (the `sse-heap` binary) installs `dhat::Alloc` as the global allocator and
//! keeps a `dhat::Profiler` alive around [`run`]; dropping the profiler afterwards writes
//! `dhat-heap.json`.
//!
//! ## Phase boundaries
//! A phase ends when the generator has answered `done`, the hub has the expected number
//! of subscribers and the live heap has not changed for [`STABLE_FOR`] (the server has
//! finished tearing down closed connections). Only then are the statistics taken. The
//! server's `/proc`-reading metrics snapshot, which allocates, is read between windows,
//! never inside one. The parent's own work inside a window (exchanging protocol lines,
//! publishing) reuses buffers made beforehand, so a window counts the server's
//! allocations plus, during `fanout`, the publisher's (which are the hub's: one encoded
//! frame per event).
//!
//! ## Leak per connection
//! `(live heap after disconnect − live heap before the first measured connection) /
//! (subscribers + cycles)`. The warm-up has already run the one-time initialisations and
//! filled the replay ring with frames of the same size as later ones, so a server that
//! frees everything a connection allocated scores 0, and one byte per connection shows.

use std::time::{Duration, Instant};

use crate::phases::{Phase, Session, SessionError};
use crate::summary::{Files, HeapFigures, HeapPhase, HeapSummary, ServerCounters, ServerSetup, per};
use crate::workload::{Profile, RunKind, Workload};

/// How long the live heap must stay unchanged for a phase to count as over.
pub const STABLE_FOR: Duration = Duration::from_millis(60);
/// How often the live heap is checked while settling.
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// Why a heap run failed.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// A phase failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The heap kept changing.
    #[error("the server's heap did not settle within {0:?} after phase {1}")]
    Unsettled(Duration, &'static str),
    /// The server did not close what the generator closed.
    #[error("after phase {phase} the server still had {actual} connections open, expected {expected}")]
    Connections {
        /// The phase.
        phase: &'static str,
        /// Expected open connections.
        expected: u64,
        /// Open connections reported by the server.
        actual: u64,
    },
}

/// What [`run`] needs besides the profile.
#[derive(Debug)]
pub struct HeapRun {
    /// The profile (for the summary).
    pub profile: Profile,
    /// The workload to run (normally `profile.workload(RunKind::Heap)`).
    pub workload: Workload,
    /// Every wait's limit.
    pub timeout: Duration,
    /// Worker threads of the runtime the server runs on.
    pub runtime_workers: usize,
}

/// Runs the workload against an in-process server and returns the summary (without
/// files). Must run inside a tokio runtime, with a dhat heap profiler running.
///
/// `generator` builds the load-generator command for the server's base URL.
///
/// # Errors
/// The server, the generator or a phase failed.
pub async fn run(
    spec: &HeapRun,
    generator: impl FnOnce(&str) -> tokio::process::Command,
) -> Result<HeapSummary, HeapError> {
    let mut session = Session::launch(spec.workload, spec.timeout, |serve| serve, generator).await?;
    let config = session.config().clone();
    session.run(Phase::Warmup).await?;
    // Reading /proc once initialises what it lazily allocates, outside every window.
    let start_counters = session.server().metrics();
    // Allocated before the first measurement, so it is not counted as the server's.
    let mut phases = Vec::with_capacity(Phase::MEASURED.len());
    settle(spec.timeout, Phase::Warmup).await?;
    let before = dhat::HeapStats::get();

    for phase in Phase::MEASURED {
        let started = Instant::now();
        let from = dhat::HeapStats::get();
        let count = session.run(phase).await?;
        let to = end_of_phase(&session, phase, spec.timeout).await?;
        let allocations = to.total_blocks - from.total_blocks;
        let allocated_bytes = to.total_bytes - from.total_bytes;
        let heap_delta_bytes = to.curr_bytes as i64 - from.curr_bytes as i64;
        phases.push(HeapPhase {
            phase,
            allocations,
            allocated_bytes,
            heap_delta_bytes,
            heap_delta_blocks: to.curr_blocks as i64 - from.curr_blocks as i64,
            heap_end_bytes: to.curr_bytes as u64,
            count,
            unit: HeapPhase::unit_of(phase).into(),
            allocations_per_unit: per(allocations as f64, count),
            bytes_per_unit: per(allocated_bytes as f64, count),
            heap_delta_per_unit_bytes: per(heap_delta_bytes as f64, count),
            wall_ms: started.elapsed().as_secs_f64() * 1e3,
        });
    }
    let after = dhat::HeapStats::get();
    let end_counters = session.server().metrics();
    session.finish().await?;

    let workload = spec.workload;
    Ok(HeapSummary {
        kind: RunKind::Heap,
        profile: spec.profile,
        workload,
        server: ServerSetup {
            replay_capacity: config.replay_capacity,
            max_connections: config.max_connections,
            send_timeout_ms: config.send_timeout.as_millis() as u64,
            pings: config.ping_interval.is_some(),
            runtime_workers: spec.runtime_workers,
        },
        figures: figures(&workload, &phases, &before, &after),
        phases,
        counters: ServerCounters::between(&start_counters, &end_counters),
        environment: sse_bench::environment::Environment::capture(),
        files: Files::default(),
    })
}

/// Waits for the phase to be over on the server side and takes the statistics; checks
/// (outside the window) that the server's open connections match.
async fn end_of_phase(
    session: &Session,
    phase: Phase,
    timeout: Duration,
) -> Result<dhat::HeapStats, HeapError> {
    let expected = match phase {
        Phase::Disconnect | Phase::Warmup => 0,
        Phase::Idle | Phase::Fanout | Phase::Cycles => session.workload().subscribers,
    };
    let deadline = Instant::now() + timeout;
    loop {
        settle(timeout, phase).await?;
        let stats = dhat::HeapStats::get();
        let actual = session.server().metrics().connections;
        if actual == expected {
            return Ok(stats);
        }
        if Instant::now() >= deadline {
            return Err(HeapError::Connections {
                phase: phase.name(),
                expected,
                actual,
            });
        }
    }
}

/// Waits until the live heap has not changed for [`STABLE_FOR`]. Allocates nothing.
async fn settle(timeout: Duration, phase: Phase) -> Result<(), HeapError> {
    let deadline = Instant::now() + timeout;
    let mut last = live();
    let mut stable_since = Instant::now();
    loop {
        tokio::time::sleep(SETTLE_POLL).await;
        let now = live();
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= STABLE_FOR {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HeapError::Unsettled(timeout, phase.name()));
        }
    }
}

fn live() -> (usize, usize) {
    let stats = dhat::HeapStats::get();
    (stats.curr_blocks, stats.curr_bytes)
}

/// The headline figures from the phases.
pub fn figures(
    workload: &Workload,
    phases: &[HeapPhase],
    before: &dhat::HeapStats,
    after: &dhat::HeapStats,
) -> HeapFigures {
    let of = |phase: Phase| phases.iter().find(|p| p.phase == phase);
    let (Some(idle), Some(fanout), Some(cycles)) = (of(Phase::Idle), of(Phase::Fanout), of(Phase::Cycles))
    else {
        return HeapFigures::default();
    };
    let leaked = after.curr_bytes as i64 - before.curr_bytes as i64;
    HeapFigures {
        allocations_per_published_event: per(fanout.allocations as f64, workload.events),
        bytes_per_published_event: per(fanout.allocated_bytes as f64, workload.events),
        allocations_per_delivered_event: per(fanout.allocations as f64, fanout.count),
        bytes_per_delivered_event: per(fanout.allocated_bytes as f64, fanout.count),
        allocations_per_connection: per(idle.allocations as f64, idle.count),
        bytes_per_connection: per(idle.allocated_bytes as f64, idle.count),
        heap_per_idle_connection_bytes: per(idle.heap_delta_bytes as f64, idle.count),
        allocations_per_cycle: per(cycles.allocations as f64, cycles.count),
        bytes_per_cycle: per(cycles.allocated_bytes as f64, cycles.count),
        heap_before_connect_bytes: before.curr_bytes as u64,
        heap_after_disconnect_bytes: after.curr_bytes as u64,
        leaked_bytes: leaked,
        leak_per_connection_bytes: per(leaked as f64, workload.connections()),
        peak_heap_bytes: after.max_bytes as u64,
    }
}

/// The terminal table of a heap run.
pub fn render(summary: &HeapSummary) -> String {
    let w = &summary.workload;
    let f = &summary.figures;
    let mut out = format!(
        "sse-heap · profile {} · {} subscribers, {} events of {} bytes, {} cycles\n\n",
        summary.profile, w.subscribers, w.events, w.frame_bytes, w.cycles
    );
    out.push_str(&format!(
        "  {:<11} {:>11} {:>12} {:>12} {:>8}   {:<16} {:>9} {:>10} {:>11}\n",
        "phase", "allocations", "bytes", "live heap Δ", "count", "per", "allocs", "bytes", "live Δ"
    ));
    for p in &summary.phases {
        out.push_str(&format!(
            "  {:<11} {:>11} {:>12} {:>12} {:>8}   {:<16} {:>9.3} {:>10.1} {:>11.1}\n",
            p.phase.name(),
            p.allocations,
            p.allocated_bytes,
            p.heap_delta_bytes,
            p.count,
            p.unit,
            p.allocations_per_unit,
            p.bytes_per_unit,
            p.heap_delta_per_unit_bytes
        ));
    }
    let rows = [
        (
            "allocations per published event",
            format!(
                "{:.3} ({:.1} bytes)",
                f.allocations_per_published_event, f.bytes_per_published_event
            ),
        ),
        (
            "allocations per delivered event",
            format!(
                "{:.4} ({:.2} bytes)",
                f.allocations_per_delivered_event, f.bytes_per_delivered_event
            ),
        ),
        (
            "allocations per connection",
            format!(
                "{:.1} ({:.0} bytes)",
                f.allocations_per_connection, f.bytes_per_connection
            ),
        ),
        (
            "heap per idle connection",
            format!("{:.0} bytes", f.heap_per_idle_connection_bytes),
        ),
        (
            "allocations per cycle",
            format!("{:.1} ({:.0} bytes)", f.allocations_per_cycle, f.bytes_per_cycle),
        ),
        (
            "leak per connection",
            format!(
                "{:.2} bytes ({} bytes over {} connections)",
                f.leak_per_connection_bytes,
                f.leaked_bytes,
                w.connections()
            ),
        ),
        ("peak heap", format!("{} bytes", f.peak_heap_bytes)),
    ];
    out.push('\n');
    for (name, value) in rows {
        out.push_str(&format!("  {name:<33} {value}\n"));
    }
    out
}
