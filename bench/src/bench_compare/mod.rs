//! Compares criterion baselines and keeps git-tracked summaries of them (`bench-compare`).
//!
//! Criterion reports a regression in its output but never fails a run. This module reads
//! the baselines criterion saved (`--save-baseline NAME` writes
//! `target/criterion/<bench>/NAME/{estimates,benchmark}.json`), compares two of them bench
//! by bench and flags a regression with criterion's own rule: only when the **whole**
//! confidence interval of the change lies beyond the noise threshold.
//!
//! ## How the change and its interval are computed
//! For every bench, the statistic is the mean time per iteration (the one criterion's
//! regression verdict uses). With old mean `o` (interval `[o-, o+]`) and new mean `n`
//! (`[n-, n+]`), the change is `n / o - 1`, and its interval combines the two relative
//! half-widths in quadrature (the delta method for a ratio of independent estimates):
//!
//! ```text
//! lower = n/o * (1 - sqrt(((n - n-)/n)² + ((o+ - o)/o)²)) - 1
//! upper = n/o * (1 + sqrt(((n+ - n)/n)² + ((o - o-)/o)²)) - 1
//! ```
//!
//! Why this and not criterion's own `change/estimates.json`: criterion writes that file
//! only for the run it just made against the baseline it was given, overwrites it on
//! every run, and does not record which two baselines it compared, so it cannot compare
//! two saved baselines after the fact; and a git-tracked summary keeps estimates, not
//! raw samples. Using each baseline's own interval works for both. It is narrower than
//! plain interval arithmetic (`n-/o+ - 1 … n+/o- - 1`, which assumes both extremes at
//! once) and close to criterion's bootstrap of the change when the means are roughly
//! normal, which bootstrapped means are.
//!
//! ## Noise between runs
//! An interval describes the noise *within* one run. On a shared machine the noise
//! *between* runs can be far larger: on this project's 2-core host, with other builds
//! running, two identical `cargo bench` runs differed by up to 2× (the e2e fan-out
//! benches, which need both cores) and by 15–55 % for in-process benches, while each
//! run's interval was a few percent wide, so a 5 % threshold flags noise there. Compare runs made back to back on a quiet machine, or
//! raise `--threshold` to the host's measured run-to-run spread.
//!
//! The summary can carry a measured **noise floor** per bench (`bench-compare noise`:
//! identical runs, the largest relative difference of each mean between them); `check` then
//! judges each bench with the larger of `--threshold` and its floor, so a bench that moves
//! 2× between identical runs is not flagged at +10 %.
//!
//! ## Exit codes of `bench-compare`
//! 0: no regression; 1: error (missing baseline, unreadable file, …); 2: invalid command
//! line; 3: at least one regression beyond the threshold; 4 (`check`): a bench of the summary
//! is missing from the run, so it was not judged (the codes of [`crate::cli::exit`]).

mod compare;
mod layout;
mod summary;

use std::io;
use std::path::PathBuf;

pub use compare::{Change, ChangeVerdict, Row, TimingComparison, compare, compare_with_floor};
pub use layout::{Baseline, Estimate, default_criterion_dir, load_baseline};
pub use summary::{Summary, SummaryBench, host_class};

/// The run-to-run noise floor of each bench from identical runs: the largest relative
/// difference of its mean between any two of them (`max / min − 1`), a fraction. Benches in
/// fewer than two of the runs get none.
pub fn noise_floor(runs: &[Baseline]) -> std::collections::BTreeMap<String, f64> {
    let mut means: std::collections::BTreeMap<&String, Vec<f64>> = std::collections::BTreeMap::new();
    for run in runs {
        for (id, estimate) in &run.benches {
            means.entry(id).or_default().push(estimate.point_estimate);
        }
    }
    means
        .into_iter()
        .filter(|(_, m)| m.len() >= 2)
        .filter_map(|(id, m)| {
            let min = m.iter().copied().fold(f64::INFINITY, f64::min);
            let max = m.iter().copied().fold(0.0, f64::max);
            (min > 0.0).then(|| (id.clone(), max / min - 1.0))
        })
        .collect()
}

/// Default noise threshold: changes whose interval reaches inside ±5 % are not flagged.
pub const DEFAULT_THRESHOLD: f64 = 0.05;

/// What went wrong reading or writing baselines.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// No bench under the criterion directory has a saved baseline of this name.
    #[error(
        "Baseline '{name}' not found under {dir}; run `cargo bench -- --save-baseline {name}` first{known}",
        dir = dir.display(),
        known = known_hint(known)
    )]
    BaselineNotFound {
        /// The baseline asked for.
        name: String,
        /// The criterion directory searched.
        dir: PathBuf,
        /// Baselines that do exist there.
        known: Vec<String>,
    },
    /// The criterion output directory does not exist at all.
    #[error(
        "no criterion results under {dir}: run `cargo bench -- --save-baseline {name}` first \
         (or pass --criterion-dir if CARGO_TARGET_DIR/CRITERION_HOME point elsewhere)",
        dir = dir.display()
    )]
    NoCriterionDir {
        /// The directory that is missing.
        dir: PathBuf,
        /// The baseline asked for.
        name: String,
    },
    /// A name criterion uses for its own directories.
    #[error("'{0}' is a directory criterion uses for itself, not a baseline name; pick another name")]
    ReservedName(String),
    /// Reading a file or directory failed.
    #[error("reading {path}: {source}", path = path.display())]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// A JSON file did not have the expected shape.
    #[error("{path} is not a valid {what}: {source}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it should have been.
        what: &'static str,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// Writing the summary failed.
    #[error("writing {path}: {source}", path = path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// An existing file at the export path is not a summary; it is left alone.
    #[error(
        "{path} exists but is not a readable criterion summary ({reason}); refusing to overwrite it \
         (move it away or pass --force)",
        path = path.display()
    )]
    RefuseOverwrite {
        /// The existing file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// The two sides share no bench, so nothing can be compared.
    #[error("baselines '{old}' and '{new}' have no benchmark in common; did both runs use the same benches?")]
    NothingInCommon {
        /// The old side's name.
        old: String,
        /// The new side's name.
        new: String,
    },
    /// A summary file written by something else, or by an incompatible version.
    #[error("{path} has format {found:?}, expected {expected:?}; re-export it with `bench-compare export`", path = path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its `format` field.
        found: String,
        /// The format this version reads.
        expected: &'static str,
    },
    /// A threshold that is not a non-negative finite fraction.
    #[error("threshold {0} is not a percentage ≥ 0 (e.g. 5 for 5 %)")]
    BadThreshold(f64),
}

fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (baselines found there: {})", known.join(", "))
    }
}
