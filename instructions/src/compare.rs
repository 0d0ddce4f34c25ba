//! Judging a run against a baseline: a benchmark regresses when its instructions grow by more than 1 % or its estimated cycles by more than 5 %.
//!
//! Instruction counts under callgrind are exact and identical run to run for the same build, so
//! any growth past the limit is a real change of the code's work, not noise. Estimated cycles
//! come from callgrind's cache simulation (`L1 hits + 5 × LL hits + 35 × RAM hits`) and move with
//! memory layout as well as with the code, so their limit is wider.

use std::fmt::Write as _;

use sse_bench::verdict::Delta;

use crate::summary::{Counts, Run};

/// The limits, in percent of the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Growth of instructions that fails the gate.
    pub instructions_percent: f64,
    /// Growth of estimated cycles that fails the gate.
    pub estimated_cycles_percent: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            instructions_percent: 1.0,
            estimated_cycles_percent: 5.0,
        }
    }
}

/// What happened to one benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountsVerdict {
    /// Instructions and estimated cycles identical to the baseline.
    Unchanged,
    /// Changed, but no growth past a limit and no drop past one either.
    WithinLimits,
    /// A metric dropped by more than its limit: update the baseline to keep the gain.
    Improved,
    /// A metric grew by more than its limit.
    Regressed,
    /// In the run but not in the baseline: not judged until the baseline is updated.
    New,
    /// In the baseline but not in the run.
    Missing,
}

impl CountsVerdict {
    fn label(self) -> &'static str {
        match self {
            CountsVerdict::Unchanged => "unchanged",
            CountsVerdict::WithinLimits => "within limits",
            CountsVerdict::Improved => "improved",
            CountsVerdict::Regressed => "REGRESSED",
            CountsVerdict::New => "new (no baseline)",
            CountsVerdict::Missing => "MISSING from the run",
        }
    }
}

/// One benchmark's comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `group/function/id`.
    pub name: String,
    /// Baseline counts.
    pub old: Option<Counts>,
    /// This run's counts.
    pub new: Option<Counts>,
    /// The verdict.
    pub status: CountsVerdict,
}

/// Every benchmark of a baseline and a run, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct CountsComparison {
    /// One row per benchmark, in name order.
    pub rows: Vec<Row>,
    /// The limits applied.
    pub limits: Limits,
}

/// Relative change from `old` to `new` in percent (0 when both are 0, +∞ from 0 to more),
/// by the workspace's one rule ([`Delta::change`]).
pub fn change_percent(old: u64, new: u64) -> f64 {
    Delta::new(old as f64, new as f64).change() * 100.0
}

/// Judges `run` against `baseline`.
pub fn compare(baseline: &Run, run: &Run, limits: Limits) -> CountsComparison {
    let mut names: Vec<&String> = baseline.keys().chain(run.keys()).collect();
    names.sort();
    names.dedup();
    let rows = names
        .into_iter()
        .map(|name| {
            let old = baseline.get(name).copied();
            let new = run.get(name).copied();
            let status = match (old, new) {
                (Some(old), Some(new)) => judge(old, new, limits),
                (None, _) => CountsVerdict::New,
                (_, None) => CountsVerdict::Missing,
            };
            Row {
                name: name.clone(),
                old,
                new,
                status,
            }
        })
        .collect();
    CountsComparison { rows, limits }
}

fn judge(old: Counts, new: Counts, limits: Limits) -> CountsVerdict {
    if old == new {
        return CountsVerdict::Unchanged;
    }
    let ir = change_percent(old.instructions, new.instructions);
    let cycles = change_percent(old.estimated_cycles, new.estimated_cycles);
    if ir > limits.instructions_percent || cycles > limits.estimated_cycles_percent {
        CountsVerdict::Regressed
    } else if ir < -limits.instructions_percent || cycles < -limits.estimated_cycles_percent {
        CountsVerdict::Improved
    } else {
        CountsVerdict::WithinLimits
    }
}

impl CountsComparison {
    /// Benchmarks that regressed.
    pub fn regressed(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status == CountsVerdict::Regressed)
    }

    /// Benchmarks of the baseline that the run lacks.
    pub fn missing(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status == CountsVerdict::Missing)
    }

    /// The table: benchmark, instructions old → new and change, estimated cycles likewise, verdict.
    pub fn render(&self) -> String {
        let name_width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<name_width$}  {:>12} {:>12} {:>9}  {:>12} {:>12} {:>9}  verdict",
            "benchmark", "instr. old", "instr. new", "change", "cycles old", "cycles new", "change"
        );
        for row in &self.rows {
            let count = |c: Option<Counts>, f: fn(Counts) -> u64| {
                c.map_or_else(|| "-".to_owned(), |c| f(c).to_string())
            };
            let change = |f: fn(Counts) -> u64| match (row.old, row.new) {
                (Some(old), Some(new)) => format!("{:+.3}%", change_percent(f(old), f(new))),
                _ => "-".to_owned(),
            };
            let ir = |c: Counts| c.instructions;
            let cycles = |c: Counts| c.estimated_cycles;
            let _ = writeln!(
                out,
                "{:<name_width$}  {:>12} {:>12} {:>9}  {:>12} {:>12} {:>9}  {}",
                row.name,
                count(row.old, ir),
                count(row.new, ir),
                change(ir),
                count(row.old, cycles),
                count(row.new, cycles),
                change(cycles),
                row.status.label()
            );
        }
        let _ = writeln!(
            out,
            "limits: instructions +{}%, estimated cycles +{}%",
            self.limits.instructions_percent, self.limits.estimated_cycles_percent
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(instructions: u64, estimated_cycles: u64) -> Counts {
        Counts {
            instructions,
            estimated_cycles,
        }
    }

    fn run(entries: &[(&str, Counts)]) -> Run {
        entries.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn judges_each_benchmark_against_the_limits() {
        let baseline = run(&[
            ("a", counts(10_000, 20_000)),
            ("b", counts(10_000, 20_000)),
            ("c", counts(10_000, 20_000)),
            ("d", counts(10_000, 20_000)),
            ("e", counts(10_000, 20_000)),
            ("gone", counts(1, 1)),
        ]);
        let new = run(&[
            ("a", counts(10_000, 20_000)), // identical
            ("b", counts(10_100, 20_000)), // +1.0 %: at the limit, not past it
            ("c", counts(10_101, 20_000)), // +1.01 %
            ("d", counts(10_000, 21_001)), // cycles +5.005 %
            ("e", counts(9_800, 20_000)),  // −2 %
            ("fresh", counts(5, 5)),
        ]);
        let comparison = compare(&baseline, &new, Limits::default());
        let status: Vec<(&str, CountsVerdict)> = comparison
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.status))
            .collect();
        assert_eq!(
            status,
            vec![
                ("a", CountsVerdict::Unchanged),
                ("b", CountsVerdict::WithinLimits),
                ("c", CountsVerdict::Regressed),
                ("d", CountsVerdict::Regressed),
                ("e", CountsVerdict::Improved),
                ("fresh", CountsVerdict::New),
                ("gone", CountsVerdict::Missing),
            ]
        );
        assert_eq!(comparison.regressed().count(), 2);
        assert_eq!(comparison.missing().count(), 1);
        let table = comparison.render();
        assert!(table.contains("+1.010%"), "{table}");
        assert!(table.contains("REGRESSED"), "{table}");
    }

    #[test]
    fn a_two_percent_regression_fails_and_identical_counts_pass() {
        let baseline = run(&[("frame/encode/bytes_4096", counts(82_915, 95_162))]);
        let slower = run(&[("frame/encode/bytes_4096", counts(84_573, 96_820))]);
        assert_eq!(
            compare(&baseline, &slower, Limits::default()).regressed().count(),
            1
        );
        assert_eq!(
            compare(&baseline, &baseline, Limits::default())
                .regressed()
                .count(),
            0
        );
    }

    #[test]
    fn change_of_zero_counts() {
        assert_eq!(change_percent(0, 0), 0.0);
        assert!(change_percent(0, 1).is_infinite());
        assert_eq!(change_percent(200, 201), 0.5);
    }
}
