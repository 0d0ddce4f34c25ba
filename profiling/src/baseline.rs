//! Comparing a run with a committed baseline (`baselines/profiling/<kind>-<profile>.json`): deltas, and the gates that fail a run.
//!
//! ## Gates
//! Only figures that do not depend on the machine's speed are gated, and only on growth:
//!
//! | figure | fails when the run exceeds the baseline by more than |
//! | --- | --- |
//! | `allocations_per_delivered_event` | 0.01 allocations, or 10 % of the baseline if larger |
//! | `leak_per_connection_bytes` | 16 bytes (a baseline below 0 counts as 0) |
//!
//! Both are counts (dhat counts allocations, it does not time them); the slack absorbs
//! the few per-connection buffers whose growth depends on how many frames were queued
//! when a write happened. Every other figure, and every CPU figure (timings vary by 40 %
//! between identical runs on this kind of machine), is printed as information only; a
//! CPU time per delivered event more than 50 % above the baseline is marked `warn`.

use std::fmt::Write as _;

use sse_bench::gate::Status;
use sse_bench::verdict::Delta;

use crate::summary::{CpuSummary, HeapSummary};
use crate::workload::{Profile, Workload};

/// The verdict column of the table: a gated figure is `pass` or `FAIL` ([`Status`]), an
/// ungated one `warn` when it moved a lot and blank otherwise (`None`).
fn label(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Pass) => "pass",
        Some(Status::Warn) => "warn",
        Some(Status::Fail) => "FAIL",
        Some(Status::NotJudged) => "not judged",
        None => "",
    }
}

/// How much a gated figure may grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Allowed growth in the figure's unit.
    pub absolute: f64,
    /// Allowed growth as a fraction of the baseline (the larger of the two applies).
    pub relative: f64,
    /// The baseline is taken as at least this: a leak baseline below zero (the run freed
    /// more than its connections allocated, which varies by hundreds of bytes between
    /// identical runs) counts as no leak, not as a tighter limit.
    pub baseline_at_least: f64,
}

impl Gate {
    /// The gate on allocations per delivered event.
    pub const ALLOCATIONS_PER_DELIVERED_EVENT: Gate = Gate {
        absolute: 0.01,
        relative: 0.10,
        baseline_at_least: f64::NEG_INFINITY,
    };
    /// The gate on leaked bytes per connection.
    pub const LEAK_PER_CONNECTION: Gate = Gate {
        absolute: 16.0,
        relative: 0.0,
        baseline_at_least: 0.0,
    };

    /// Whether `current` grew past the slack over `baseline`.
    pub fn exceeded(&self, baseline: f64, current: f64) -> bool {
        let baseline = baseline.max(self.baseline_at_least);
        current > baseline + self.absolute.max(self.relative * baseline.abs())
    }
}

/// One compared figure: its name, its values before and after, and what that means.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedFigure {
    /// The summary field.
    pub metric: &'static str,
    /// Its value in the baseline and in this run.
    pub delta: Delta,
    /// What it means: `Some` for a gated figure (pass or fail) and for an ungated one
    /// that moved a lot (warn); `None` for an ungated figure shown for information.
    pub status: Option<Status>,
}

impl ComparedFigure {
    fn gated(metric: &'static str, baseline: f64, current: f64, gate: Gate) -> Self {
        let status = if gate.exceeded(baseline, current) {
            Status::Fail
        } else {
            Status::Pass
        };
        Self {
            metric,
            delta: Delta::new(baseline, current),
            status: Some(status),
        }
    }

    fn info(metric: &'static str, baseline: f64, current: f64) -> Self {
        Self {
            metric,
            delta: Delta::new(baseline, current),
            status: None,
        }
    }

    /// Relative change, when it is finite ([`Delta::finite_change`]).
    pub fn change(&self) -> Option<f64> {
        self.delta.finite_change()
    }
}

/// A run compared with its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineComparison {
    /// The baseline's revision and time, for the header.
    pub baseline_from: String,
    /// Every compared figure.
    pub deltas: Vec<ComparedFigure>,
}

/// Why two summaries cannot be compared: they ran different workloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compare with this baseline: {reason}")]
pub struct ProfileMismatch {
    /// What differs and what to do.
    pub reason: String,
}

impl BaselineComparison {
    /// Whether a gate failed.
    pub fn failed(&self) -> bool {
        self.deltas.iter().any(|d| d.status == Some(Status::Fail))
    }

    /// A table of the deltas.
    pub fn render(&self) -> String {
        let mut out = format!("compared with baseline {}\n", self.baseline_from);
        let _ = writeln!(
            out,
            "  {:<40} {:>14} {:>14} {:>9}  verdict",
            "figure", "baseline", "this run", "change"
        );
        for d in &self.deltas {
            let change = d
                .change()
                .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0));
            let _ = writeln!(
                out,
                "  {:<40} {:>14} {:>14} {:>9}  {}",
                d.metric,
                number(d.delta.baseline),
                number(d.delta.current),
                change,
                label(d.status)
            );
        }
        out
    }
}

/// A figure with as many decimals as it needs: 34512, 61.76, 0.0230.
fn number(value: f64) -> String {
    match value.abs() {
        v if v >= 1000.0 => format!("{value:.0}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.4}"),
    }
}

fn check_comparable(
    (baseline_profile, baseline_workload): (Profile, &Workload),
    (profile, workload): (Profile, &Workload),
) -> Result<(), ProfileMismatch> {
    if baseline_profile != profile {
        return Err(ProfileMismatch {
            reason: format!(
                "it was measured with --profile {baseline_profile}, this run with --profile {profile}; \
                 pass --profile {baseline_profile}, or the baseline of profile {profile}"
            ),
        });
    }
    if baseline_workload != workload {
        return Err(ProfileMismatch {
            reason: format!(
                "its workload differs ({} subscribers, {} events, {} cycles; this run {}, {}, {}); \
                 drop --subscribers/--events/--cycles, or save a baseline for this workload",
                baseline_workload.subscribers,
                baseline_workload.events,
                baseline_workload.cycles,
                workload.subscribers,
                workload.events,
                workload.cycles
            ),
        });
    }
    Ok(())
}

/// Compares a heap run with its baseline.
///
/// # Errors
/// [`ProfileMismatch`] when they ran different profiles.
pub fn compare_heap(
    baseline: &HeapSummary,
    current: &HeapSummary,
) -> Result<BaselineComparison, ProfileMismatch> {
    check_comparable(
        (baseline.profile, &baseline.workload),
        (current.profile, &current.workload),
    )?;
    let (b, c) = (&baseline.figures, &current.figures);
    let deltas = vec![
        ComparedFigure::gated(
            "allocations_per_delivered_event",
            b.allocations_per_delivered_event,
            c.allocations_per_delivered_event,
            Gate::ALLOCATIONS_PER_DELIVERED_EVENT,
        ),
        ComparedFigure::gated(
            "leak_per_connection_bytes",
            b.leak_per_connection_bytes,
            c.leak_per_connection_bytes,
            Gate::LEAK_PER_CONNECTION,
        ),
        ComparedFigure::info(
            "allocations_per_published_event",
            b.allocations_per_published_event,
            c.allocations_per_published_event,
        ),
        ComparedFigure::info(
            "bytes_per_delivered_event",
            b.bytes_per_delivered_event,
            c.bytes_per_delivered_event,
        ),
        ComparedFigure::info(
            "allocations_per_connection",
            b.allocations_per_connection,
            c.allocations_per_connection,
        ),
        ComparedFigure::info(
            "heap_per_idle_connection_bytes",
            b.heap_per_idle_connection_bytes,
            c.heap_per_idle_connection_bytes,
        ),
        ComparedFigure::info(
            "allocations_per_cycle",
            b.allocations_per_cycle,
            c.allocations_per_cycle,
        ),
        ComparedFigure::info(
            "peak_heap_bytes",
            b.peak_heap_bytes as f64,
            c.peak_heap_bytes as f64,
        ),
    ];
    Ok(BaselineComparison {
        baseline_from: format!(
            "{} ({})",
            baseline.environment.git_revision, baseline.environment.timestamp
        ),
        deltas,
    })
}

/// Compares a CPU run with its baseline (information only, see the module docs).
///
/// # Errors
/// [`ProfileMismatch`] when they ran different profiles.
pub fn compare_cpu(
    baseline: &CpuSummary,
    current: &CpuSummary,
) -> Result<BaselineComparison, ProfileMismatch> {
    check_comparable(
        (baseline.profile, &baseline.workload),
        (current.profile, &current.workload),
    )?;
    let (b, c) = (&baseline.figures, &current.figures);
    let mut cpu = ComparedFigure::info(
        "cpu_ns_per_delivered_event",
        b.cpu_ns_per_delivered_event,
        c.cpu_ns_per_delivered_event,
    );
    if cpu.change().is_some_and(|change| change > 0.5) {
        cpu.status = Some(Status::Warn);
    }
    let deltas = vec![
        cpu,
        ComparedFigure::info("user_share", b.user_share, c.user_share),
        ComparedFigure::info(
            "write_calls_per_delivered_event",
            b.write_calls_per_delivered_event,
            c.write_calls_per_delivered_event,
        ),
        ComparedFigure::info("cpu_us_per_cycle", b.cpu_us_per_cycle, c.cpu_us_per_cycle),
        ComparedFigure::info(
            "cpu_us_per_connection",
            b.cpu_us_per_connection,
            c.cpu_us_per_connection,
        ),
        ComparedFigure::info(
            "max_poll_us",
            baseline.blocking.task_polls.figures.max_us,
            current.blocking.task_polls.figures.max_us,
        ),
        ComparedFigure::info(
            "max_scheduling_delay_us",
            baseline.blocking.scheduling_delay.figures.max_us,
            current.blocking.scheduling_delay.figures.max_us,
        ),
    ];
    Ok(BaselineComparison {
        baseline_from: format!(
            "{} ({})",
            baseline.environment.git_revision, baseline.environment.timestamp
        ),
        deltas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_allow_slack_and_fail_on_growth() {
        let g = Gate::ALLOCATIONS_PER_DELIVERED_EVENT;
        assert!(!g.exceeded(0.02, 0.02));
        assert!(!g.exceeded(0.02, 0.029));
        assert!(g.exceeded(0.02, 0.031));
        assert!(!g.exceeded(1.0, 1.09));
        assert!(g.exceeded(1.0, 1.11));
        assert!(!g.exceeded(1.0, 0.0), "shrinking never fails");
        let leak = Gate::LEAK_PER_CONNECTION;
        assert!(!leak.exceeded(0.0, 16.0));
        assert!(leak.exceeded(0.0, 16.5));
        // A negative leak baseline (the run freed more than it allocated) is no leak:
        // identical runs measured -23.5 and -3.7 bytes per connection.
        assert!(!leak.exceeded(-23.5, -3.7));
        assert!(!leak.exceeded(-4.0, 16.0));
        assert!(leak.exceeded(-4.0, 16.5));
    }

    #[test]
    fn rendering_marks_failures() {
        let comparison = BaselineComparison {
            baseline_from: "abc123 (2026-01-01T00:00:00Z)".to_owned(),
            deltas: vec![
                ComparedFigure::gated("leak_per_connection_bytes", 0.0, 40.0, Gate::LEAK_PER_CONNECTION),
                ComparedFigure::info("peak_heap_bytes", 100.0, 150.0),
            ],
        };
        assert!(comparison.failed());
        let text = comparison.render();
        assert!(text.contains("abc123"), "{text}");
        assert!(text.contains("FAIL"), "{text}");
        assert!(text.contains("+50.0%"), "{text}");
    }

    #[test]
    fn mismatched_workloads_say_what_to_do() {
        use crate::workload::RunKind;
        let smoke = Workload::of(Profile::Smoke, RunKind::Heap);
        let large = Workload::of(Profile::Large, RunKind::Heap);
        let err = check_comparable((Profile::Smoke, &smoke), (Profile::Large, &large)).unwrap_err();
        assert!(err.to_string().contains("--profile smoke"), "{err}");
        let custom = Workload { events: 7, ..smoke };
        let err = check_comparable((Profile::Smoke, &smoke), (Profile::Smoke, &custom)).unwrap_err();
        assert!(err.to_string().contains("--events"), "{err}");
        assert!(check_comparable((Profile::Smoke, &smoke), (Profile::Smoke, &smoke)).is_ok());
    }
}
