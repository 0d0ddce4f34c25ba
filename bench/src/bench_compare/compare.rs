//! The comparison of two baselines: per-bench change, its confidence interval, the verdict and the table.

use std::collections::BTreeMap;
use std::fmt;

use super::{Baseline, CompareError, Estimate};

/// What a change means against the noise threshold (criterion's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeVerdict {
    /// The whole interval of the change lies above `+threshold`: slower.
    Regressed,
    /// The whole interval lies below `-threshold`: faster.
    Improved,
    /// The interval reaches inside `±threshold`: not distinguishable from noise.
    NoChange,
}

/// The relative change of one bench's mean time (`0.10` = 10 % slower).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// `new / old - 1`.
    pub point: f64,
    /// Lower bound of the change's confidence interval.
    pub lower: f64,
    /// Upper bound of the change's confidence interval.
    pub upper: f64,
}

impl Change {
    /// The change from `old` to `new`, with an interval from both estimates' intervals
    /// (see the module docs for the method).
    pub fn between(old: &Estimate, new: &Estimate) -> Self {
        let (o, n) = (old.point_estimate, new.point_estimate);
        let ratio = n / o;
        let rel = |delta: f64, of: f64| if of > 0.0 { (delta / of).max(0.0) } else { 0.0 };
        let down = rel(n - new.lower_bound, n).hypot(rel(old.upper_bound - o, o));
        let up = rel(new.upper_bound - n, n).hypot(rel(o - old.lower_bound, o));
        Self {
            point: ratio - 1.0,
            lower: ratio * (1.0 - down) - 1.0,
            upper: ratio * (1.0 + up) - 1.0,
        }
    }

    /// Criterion's rule: flagged only when the whole interval lies beyond `threshold`.
    pub fn verdict(&self, threshold: f64) -> ChangeVerdict {
        if self.lower > threshold {
            ChangeVerdict::Regressed
        } else if self.upper < -threshold {
            ChangeVerdict::Improved
        } else {
            ChangeVerdict::NoChange
        }
    }
}

/// One bench in a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The bench id.
    pub bench: String,
    /// Mean time in the old baseline, if it has the bench.
    pub old: Option<Estimate>,
    /// Mean time in the new baseline, if it has the bench.
    pub new: Option<Estimate>,
    /// The change, when both have the bench.
    pub change: Option<Change>,
    /// The verdict, when both have the bench.
    pub verdict: Option<ChangeVerdict>,
    /// The threshold this bench was judged with: the global one, or its measured noise
    /// floor when that is larger.
    pub threshold: f64,
}

/// Two baselines compared bench by bench.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingComparison {
    /// Name of the old side.
    pub old: String,
    /// Name of the new side.
    pub new: String,
    /// The threshold used, as a fraction.
    pub threshold: f64,
    /// One row per bench in either baseline, sorted by id.
    pub rows: Vec<Row>,
}

impl TimingComparison {
    /// Benches that regressed beyond the threshold.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Some(ChangeVerdict::Regressed))
    }

    /// Whether any bench regressed.
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// Benches of the old side that the new side lacks: not run, so not judged.
    pub fn missing_in_new(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.old.is_some() && r.new.is_none())
    }
}

/// Compares `new` against `old` with `threshold` (a fraction, `0.05` = 5 %).
///
/// # Errors
/// [`CompareError::BadThreshold`] for a negative or non-finite threshold and
/// [`CompareError::NothingInCommon`] when no bench is in both.
pub fn compare(old: &Baseline, new: &Baseline, threshold: f64) -> Result<TimingComparison, CompareError> {
    compare_with_floor(old, new, threshold, &BTreeMap::new())
}

/// Compares `new` against `old` like [`compare`], judging each bench with the larger of
/// `threshold` and its measured run-to-run noise floor (`floors`, fractions by bench id).
///
/// # Errors
/// As [`compare`].
pub fn compare_with_floor(
    old: &Baseline,
    new: &Baseline,
    threshold: f64,
    floors: &BTreeMap<String, f64>,
) -> Result<TimingComparison, CompareError> {
    if !threshold.is_finite() || threshold < 0.0 {
        return Err(CompareError::BadThreshold(threshold * 100.0));
    }
    let mut ids: Vec<&String> = old.benches.keys().chain(new.benches.keys()).collect();
    ids.sort();
    ids.dedup();
    let rows: Vec<Row> = ids
        .into_iter()
        .map(|id| {
            let (o, n) = (old.benches.get(id).copied(), new.benches.get(id).copied());
            let change = o.zip(n).map(|(o, n)| Change::between(&o, &n));
            let threshold = floors.get(id).copied().unwrap_or(0.0).max(threshold);
            Row {
                bench: id.clone(),
                old: o,
                new: n,
                change,
                verdict: change.map(|c| c.verdict(threshold)),
                threshold,
            }
        })
        .collect();
    if rows.iter().all(|r| r.change.is_none()) {
        return Err(CompareError::NothingInCommon {
            old: old.name.clone(),
            new: new.name.clone(),
        });
    }
    Ok(TimingComparison {
        old: old.name.clone(),
        new: new.name.clone(),
        threshold,
        rows,
    })
}

/// The table `bench-compare` prints: bench, old, new, change, interval, verdict.
impl fmt::Display for TimingComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "bench",
            "old (mean)",
            "new (mean)",
            "change",
            "CI of change",
            "verdict",
        ];
        let cells: Vec<[String; 6]> = self.rows.iter().map(cells).collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, row: &[String; 6]| {
            writeln!(
                f,
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            )
        };
        line(f, &header.map(str::to_owned))?;
        for row in &cells {
            line(f, row)?;
        }
        let regressions = self.regressions().count();
        let floored = self.rows.iter().filter(|r| r.threshold > self.threshold).count();
        let floor_note = if floored > 0 {
            format!(" (or its measured noise floor, larger for {floored} bench(es))")
        } else {
            String::new()
        };
        writeln!(
            f,
            "\n'{}' → '{}': {} bench(es), {} regression(s) with the whole interval above +{:.1}%{floor_note}",
            self.old,
            self.new,
            self.rows.len(),
            regressions,
            self.threshold * 100.0
        )
    }
}

fn cells(row: &Row) -> [String; 6] {
    let time = |e: Option<Estimate>| e.map_or_else(|| "-".to_owned(), |e| format_ns(e.point_estimate));
    let (change, interval) = row.change.map_or_else(
        || ("-".to_owned(), "-".to_owned()),
        |c| {
            (
                format!("{:+.2}%", c.point * 100.0),
                format!("[{:+.2}%, {:+.2}%]", c.lower * 100.0, c.upper * 100.0),
            )
        },
    );
    let verdict = match (row.verdict, row.old, row.new) {
        (Some(ChangeVerdict::Regressed), ..) => "REGRESSED",
        (Some(ChangeVerdict::Improved), ..) => "improved",
        (Some(ChangeVerdict::NoChange), ..) => "no change",
        (None, None, _) => "only in new",
        (None, _, _) => "MISSING (not run)",
    };
    let verdict = if row.verdict.is_some() && row.threshold > 0.05 + f64::EPSILON {
        format!("{verdict} (±{:.0}% noise floor)", row.threshold * 100.0)
    } else {
        verdict.to_owned()
    };
    [
        row.bench.clone(),
        time(row.old),
        time(row.new),
        change,
        interval,
        verdict,
    ]
}

/// `1234.5` → `1.2345 µs`, as criterion prints times.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{value:.4} {unit}")
}
