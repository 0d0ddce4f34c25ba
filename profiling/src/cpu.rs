//! The CPU run: the server in-process under pprof, CPU time per phase from the process clocks, the hottest frames, event-loop blocking.
//!
//! ## CPU time
//! Per phase, the server process's CPU time comes from `CLOCK_PROCESS_CPUTIME_ID`
//! (nanosecond resolution) and its user/system split from `getrusage(RUSAGE_SELF)`; never
//! from sample counts, which the blocklist thins out (see below). The process holds the
//! server, the in-process publisher and the run's control code (which only exchanges a
//! line per phase or batch); the load generator is another process, whose CPU is read
//! from `/proc/<pid>/stat` and reported apart.
//!
//! ## Sampling
//! pprof samples at 99–199 Hz (higher rates are capped on this kind of machine) with
//! libc, libgcc, pthread and vdso blocklisted, as the pprof docs suggest, so the
//! unwinder never runs inside them. A sample that lands there is dropped, so the
//! flamegraph under-represents time in libc's syscall wrappers and the kernel behind
//! them: compare `sampler.samples` with `sampler.expected_samples`, and take CPU per
//! event from the figures, not from the flamegraph.

use sse_bench::measure::cpu::CpuTime;
use std::time::{Duration, Instant};

use pprof::protos::Message as _;
use sse_server::Snapshot;
use tokio_util::sync::CancellationToken;

use crate::blocking::BlockingMonitor;
use crate::phases::{Phase, Session, SessionError};
use crate::summary::{
    CpuFigures, CpuPhase, CpuSummary, Files, SamplerInfo, ServerCounters, ServerSetup, per,
};
use crate::workload::{Profile, RunKind, Workload};

/// Shared libraries whose samples are dropped (pprof's suggestion for a safe unwinder).
pub const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];
/// The flamegraph of a run too short to be sampled.
const NO_SAMPLES_SVG: &str = concat!(
    r#"<?xml version="1.0" standalone="no"?>"#,
    "\n",
    r#"<svg version="1.1" width="600" height="40" xmlns="http://www.w3.org/2000/svg">"#,
    r#"<text x="10" y="25" font-family="monospace" font-size="14">"#,
    "no samples: the run used too little CPU for the sampler (use a bigger --profile)",
    "</text></svg>\n"
);
/// How many of the hottest functions the summary lists.
pub const TOP_FRAMES: usize = 12;

/// Why a CPU run failed.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// A phase failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// pprof failed.
    #[error("CPU profiler: {0}")]
    Profiler(#[from] pprof::Error),
    /// Encoding the pprof protobuf failed.
    #[error("encoding profile.pb: {0}")]
    Encode(String),
    /// The measuring task panicked.
    #[error("the measuring task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct CpuRun {
    /// The profile (for the summary).
    pub profile: Profile,
    /// The workload (normally `profile.workload(RunKind::Cpu)`).
    pub workload: Workload,
    /// Every wait's limit.
    pub timeout: Duration,
    /// Sampling frequency, Hz.
    pub frequency: i32,
    /// Flag event-loop blocking longer than this.
    pub block_threshold: Duration,
    /// Worker threads of the runtime the server runs on.
    pub runtime_workers: usize,
}

/// A CPU run's results: the summary (without files) and the profile files' contents.
#[derive(Debug)]
pub struct CpuOutcome {
    /// The summary.
    pub summary: CpuSummary,
    /// `flamegraph.svg`.
    pub flamegraph: Vec<u8>,
    /// `profile.pb` (gzip-less pprof protobuf).
    pub profile_pb: Vec<u8>,
}

/// CPU clocks of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// `CLOCK_PROCESS_CPUTIME_ID`, nanoseconds.
    pub process_ns: u64,
    /// `ru_utime`, nanoseconds.
    pub user_ns: u64,
    /// `ru_stime`, nanoseconds.
    pub system_ns: u64,
}

impl CpuTimes {
    /// Reads the clocks now (zeros if the OS refuses, which Linux does not).
    pub fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let process_ns = if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0 {
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        } else {
            0
        };
        let own = CpuTime::own();
        Self {
            process_ns,
            user_ns: own.user.as_nanos() as u64,
            system_ns: own.system.as_nanos() as u64,
        }
    }
}

/// A phase boundary in a CPU run: clocks, server counters, generator CPU.
///
/// Reading the counters reads `/proc` (a directory listing of every open fd): it runs
/// on the blocking pool (not blocking a server worker), and the process clocks are read
/// just before it (ending the previous phase) and just after it (starting the next), so
/// that work is counted in neither.
struct Mark {
    at: Instant,
    ended: CpuTimes,
    counters: Snapshot,
    starts: CpuTimes,
    generator_ns: u64,
}

impl Mark {
    async fn take(session: &Session) -> Self {
        let at = Instant::now();
        let ended = CpuTimes::now();
        let counters = crate::server::metrics_off_runtime(session.server()).await;
        let generator_ns = session
            .generator_pid()
            .and_then(CpuTime::of_process)
            .map_or(0, |cpu| cpu.total().as_nanos() as u64);
        Self {
            at,
            ended,
            counters,
            starts: CpuTimes::now(),
            generator_ns,
        }
    }

    fn phase(&self, end: &Mark, phase: Phase) -> CpuPhase {
        CpuPhase {
            phase,
            wall_ms: (end.at - self.at).as_secs_f64() * 1e3,
            cpu_ns: end.ended.process_ns.saturating_sub(self.starts.process_ns),
            user_ns: end.ended.user_ns.saturating_sub(self.starts.user_ns),
            system_ns: end.ended.system_ns.saturating_sub(self.starts.system_ns),
            generator_cpu_ns: end.generator_ns.saturating_sub(self.generator_ns),
            events_delivered: end.counters.events_delivered - self.counters.events_delivered,
            write_calls: end.counters.write_calls - self.counters.write_calls,
        }
    }
}

/// Runs the workload against an in-process server under pprof. Must run inside a
/// multi-thread tokio runtime (the server's).
///
/// # Errors
/// The server, the generator, a phase or the profiler failed.
pub async fn run(
    spec: &CpuRun,
    generator: impl FnOnce(&str) -> tokio::process::Command,
) -> Result<CpuOutcome, CpuError> {
    let mut monitor = BlockingMonitor::new(&tokio::runtime::Handle::current(), spec.block_threshold);
    let mut session = Session::launch(
        spec.workload,
        spec.timeout,
        |serve| monitor.instrument(serve),
        generator,
    )
    .await?;
    let config = session.config().clone();
    let stop_probe = CancellationToken::new();
    let probe = monitor.spawn_probe(stop_probe.clone());
    session.run(Phase::Warmup).await?;

    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(spec.frequency)
        .blocklist(&BLOCKLIST)
        .build()?;
    monitor.start_window();
    // The phases run in their own task, instrumented as "the publisher": fan-out
    // publishing happens in it.
    let (session, phases, first, last) = tokio::spawn(monitor.instrument(measure(session))).await??;
    let blocking = monitor.report();
    let report = guard.report().build()?;
    drop(guard);
    stop_probe.cancel();
    let _ = probe.await;
    session.finish().await?;

    let mut flamegraph = Vec::new();
    report.flamegraph(&mut flamegraph)?;
    if flamegraph.is_empty() {
        // pprof writes nothing without samples; leave a valid SVG that says so.
        flamegraph = NO_SAMPLES_SVG.as_bytes().to_vec();
    }
    let mut profile_pb = Vec::new();
    report
        .pprof()?
        .encode(&mut profile_pb)
        .map_err(|e| CpuError::Encode(e.to_string()))?;
    let (top_frames, samples) = crate::frames::top_frames(&report, TOP_FRAMES);
    let profiled_cpu_ns: u64 = phases.iter().map(|p| p.cpu_ns).sum();
    let workload = spec.workload;
    let summary = CpuSummary {
        kind: RunKind::Cpu,
        profile: spec.profile,
        workload,
        server: ServerSetup {
            replay_capacity: config.replay_capacity,
            max_connections: config.max_connections,
            send_timeout_ms: config.send_timeout.as_millis() as u64,
            pings: config.ping_interval.is_some(),
            runtime_workers: spec.runtime_workers,
        },
        figures: figures(&workload, &phases),
        phases,
        top_frames,
        sampler: SamplerInfo {
            frequency_hz: spec.frequency,
            samples,
            expected_samples: (profiled_cpu_ns as f64 / 1e9 * f64::from(spec.frequency)) as u64,
            blocklist: BLOCKLIST.iter().map(|s| (*s).to_owned()).collect(),
        },
        blocking,
        counters: ServerCounters::between(&first, &last),
        environment: sse_bench::environment::Environment::capture(),
        files: Files::default(),
    };
    Ok(CpuOutcome {
        summary,
        flamegraph,
        profile_pb,
    })
}

/// Runs the measured phases, marking each; returns the session, the phases and the
/// server counters at the start and the end.
async fn measure(mut session: Session) -> Result<(Session, Vec<CpuPhase>, Snapshot, Snapshot), SessionError> {
    let mut phases = Vec::with_capacity(Phase::MEASURED.len());
    let mut mark = Mark::take(&session).await;
    let first = mark.counters.clone();
    for phase in Phase::MEASURED {
        session.run(phase).await?;
        let end = Mark::take(&session).await;
        phases.push(mark.phase(&end, phase));
        mark = end;
    }
    Ok((session, phases, first, mark.counters))
}

/// The headline figures from the phases.
pub fn figures(workload: &Workload, phases: &[CpuPhase]) -> CpuFigures {
    let of = |phase: Phase| phases.iter().find(|p| p.phase == phase);
    let (Some(fanout), Some(idle), Some(cycles)) = (of(Phase::Fanout), of(Phase::Idle), of(Phase::Cycles))
    else {
        return CpuFigures::default();
    };
    let delivered = fanout.events_delivered;
    let split = fanout.user_ns + fanout.system_ns;
    CpuFigures {
        cpu_ns_per_delivered_event: per(fanout.cpu_ns as f64, delivered),
        user_ns_per_delivered_event: per(fanout.user_ns as f64, delivered),
        system_ns_per_delivered_event: per(fanout.system_ns as f64, delivered),
        user_share: per(fanout.user_ns as f64, split),
        cpu_ns_per_published_event: per(fanout.cpu_ns as f64, workload.events),
        write_calls_per_delivered_event: per(fanout.write_calls as f64, delivered),
        cpu_us_per_connection: per(idle.cpu_ns as f64 / 1e3, workload.subscribers),
        cpu_us_per_cycle: per(cycles.cpu_ns as f64 / 1e3, workload.cycles),
        generator_cpu_ns_per_delivered_event: per(fanout.generator_cpu_ns as f64, delivered),
        fanout_cores: if fanout.wall_ms > 0.0 {
            fanout.cpu_ns as f64 / (fanout.wall_ms * 1e6)
        } else {
            0.0
        },
    }
}

/// The terminal table of a CPU run.
pub fn render(summary: &CpuSummary) -> String {
    let w = &summary.workload;
    let mut out = format!(
        "sse-cpu · profile {} · {} subscribers, {} events of {} bytes, {} cycles · pprof at {} Hz\n\n",
        summary.profile, w.subscribers, w.events, w.frame_bytes, w.cycles, summary.sampler.frequency_hz
    );
    out.push_str(&format!(
        "  {:<11} {:>9} {:>12} {:>12} {:>12} {:>11} {:>10}\n",
        "phase", "wall ms", "cpu ms", "user ms", "system ms", "delivered", "writes"
    ));
    for p in &summary.phases {
        out.push_str(&format!(
            "  {:<11} {:>9.1} {:>12.1} {:>12.1} {:>12.1} {:>11} {:>10}\n",
            p.phase.name(),
            p.wall_ms,
            p.cpu_ns as f64 / 1e6,
            p.user_ns as f64 / 1e6,
            p.system_ns as f64 / 1e6,
            p.events_delivered,
            p.write_calls
        ));
    }
    let rows = figure_rows(summary);
    out.push('\n');
    for (name, value) in rows {
        out.push_str(&format!("  {name:<34} {value}\n"));
    }
    out.push_str("\n  top frames by self time:\n");
    for frame in summary.top_frames.iter().take(8) {
        out.push_str(&format!(
            "    {:>5.1}%  {}\n",
            frame.share * 100.0,
            frame.function
        ));
    }
    out
}

/// The figures of a CPU run, one (name, value) row each.
fn figure_rows(summary: &CpuSummary) -> [(&'static str, String); 8] {
    let f = &summary.figures;
    let b = &summary.blocking;
    [
        (
            "CPU per delivered event",
            format!(
                "{:.0} ns (user {:.0} ns, system {:.0} ns; user share {:.0}%)",
                f.cpu_ns_per_delivered_event,
                f.user_ns_per_delivered_event,
                f.system_ns_per_delivered_event,
                f.user_share * 100.0
            ),
        ),
        (
            "write calls per delivered event",
            format!("{:.3}", f.write_calls_per_delivered_event),
        ),
        (
            "CPU per connection / per cycle",
            format!("{:.0} µs / {:.0} µs", f.cpu_us_per_connection, f.cpu_us_per_cycle),
        ),
        (
            "generator CPU per delivered event",
            if f.generator_cpu_ns_per_delivered_event > f.cpu_ns_per_delivered_event {
                format!(
                    "{:.0} ns (more than the server's: the generator sets the pace)",
                    f.generator_cpu_ns_per_delivered_event
                )
            } else {
                format!("{:.0} ns", f.generator_cpu_ns_per_delivered_event)
            },
        ),
        (
            "longest / p99 task poll",
            format!(
                "{:.0} µs / {:.0} µs ({} polls)",
                b.task_polls.figures.max_us, b.task_polls.figures.p99_us, b.task_polls.polls
            ),
        ),
        (
            "longest / p99 scheduling delay",
            format!(
                "{:.0} µs / {:.0} µs ({} wake-ups)",
                b.scheduling_delay.figures.max_us,
                b.scheduling_delay.figures.p99_us,
                b.scheduling_delay.figures.samples
            ),
        ),
        (
            "event loop blocked",
            if b.flagged {
                format!(
                    "YES, over {} ms: {}",
                    b.threshold_ms,
                    b.flagged_because.join("; ")
                )
            } else {
                format!("no (nothing over {} ms)", b.threshold_ms)
            },
        ),
        (
            "samples",
            format!(
                "{} of ~{} expected",
                summary.sampler.samples, summary.sampler.expected_samples
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_flamegraph_is_an_svg() {
        assert!(NO_SAMPLES_SVG.contains("<svg") && NO_SAMPLES_SVG.ends_with("</svg>\n"));
    }

    #[test]
    fn process_clocks_advance_with_work() {
        // Spin until the process clock shows 10 ms of CPU (bounded by a wall-clock limit),
        // so a loaded machine that schedules this thread rarely cannot fail the test.
        let before = CpuTimes::now();
        let mut x = 0u64;
        let started = Instant::now();
        let mut after = CpuTimes::now();
        while after.process_ns - before.process_ns < 10_000_000 && started.elapsed() < Duration::from_secs(30)
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            after = CpuTimes::now();
        }
        std::hint::black_box(x);
        assert!(
            after.process_ns - before.process_ns >= 10_000_000,
            "{before:?} {after:?}"
        );
        assert!(after.user_ns + after.system_ns > before.user_ns + before.system_ns);
    }
}
