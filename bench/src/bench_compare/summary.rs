//! The git-tracked summary of a baseline (`baselines/criterion/<host-class>.json`), so it survives `cargo clean`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::read_json;
use super::{Baseline, CompareError, Estimate};
use crate::environment::Environment;
use crate::fs::write_atomic;

/// The `format` tag of summaries this version writes and reads.
pub const FORMAT: &str = "sse-bench/criterion-summary/1";

/// A baseline's mean estimates with the environment they were measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always `FORMAT`.
    pub format: String,
    /// The criterion baseline it was exported from (`main`, …).
    pub baseline: String,
    /// `<arch>-<cpus>cpu`: results only compare within one class.
    pub host_class: String,
    /// The statistic recorded per bench (`mean`, as criterion's regression rule uses).
    pub statistic: String,
    /// Unit of every estimate (`ns` per iteration).
    pub unit: String,
    /// Host, CPU model and count, kernel, rustc, git revision and time of the export.
    pub environment: Environment,
    /// Bench id → run-to-run noise measured on this host class (`bench-compare noise`): the
    /// largest relative difference of the mean between identical runs, a fraction. `check`
    /// judges each bench with the larger of `--threshold` and this floor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub noise_floor: BTreeMap<String, f64>,
    /// Bench id → mean time per iteration with its confidence interval.
    pub benches: BTreeMap<String, SummaryBench>,
}

/// One bench in a summary.
pub type SummaryBench = Estimate;

/// This machine's host class: `<arch>-<logical cpus>cpu`, e.g. `x86_64-2cpu`
/// ([`Environment::host_class`], the one definition).
pub fn host_class() -> String {
    Environment::capture().host_class()
}

impl Summary {
    /// A summary of `baseline`, stamped with the current environment.
    pub fn of(baseline: &Baseline, host_class: String) -> Self {
        Self {
            format: FORMAT.to_owned(),
            baseline: baseline.name.clone(),
            host_class,
            statistic: "mean".to_owned(),
            unit: "ns".to_owned(),
            environment: Environment::capture(),
            noise_floor: BTreeMap::new(),
            benches: baseline.benches.clone(),
        }
    }

    /// Reads a summary file.
    ///
    /// # Errors
    /// Read and parse errors naming the file; [`CompareError::UnknownFormat`] for another format.
    pub fn read(path: &Path) -> Result<Self, CompareError> {
        let summary: Self = read_json(path, "criterion summary")?;
        if summary.format != FORMAT {
            return Err(CompareError::UnknownFormat {
                path: path.to_owned(),
                found: summary.format,
                expected: FORMAT,
            });
        }
        Ok(summary)
    }

    /// The summary as a baseline named after its file, for [`super::compare`].
    pub fn to_baseline(&self, path: &Path) -> Baseline {
        Baseline {
            name: format!("{} ({})", path.display(), self.baseline),
            benches: self.benches.clone(),
        }
    }

    /// Writes the summary atomically (temp file + rename in the same directory).
    ///
    /// An existing file that is not a readable summary is left alone unless `force`.
    ///
    /// # Errors
    /// [`CompareError::RefuseOverwrite`] and write errors naming the file.
    pub fn write(&self, path: &Path, force: bool) -> Result<(), CompareError> {
        if path.exists() && !force {
            if let Err(err) = Self::read(path) {
                return Err(CompareError::RefuseOverwrite {
                    path: path.to_owned(),
                    reason: err.to_string(),
                });
            }
        }
        let mut json = serde_json::to_vec_pretty(self).map_err(|err| CompareError::Write {
            path: path.to_owned(),
            source: err.into(),
        })?;
        json.push(b'\n');
        write_atomic(path, &json).map_err(|err| CompareError::Write {
            path: err.path,
            source: err.source,
        })
    }
}
