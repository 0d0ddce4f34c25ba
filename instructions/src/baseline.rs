//! The git-tracked instruction baseline (`baselines/instructions/<arch>-<os>.json`) and the toolchain it was taken with.
//!
//! Instruction counts are exact for one build of the code under one valgrind, but a different
//! compiler, standard library, valgrind or gungraun changes them (often by more than the 1 %
//! limit). A baseline therefore records the [`Toolchain`] it was taken with, and the gate only
//! trusts a comparison made under the same one.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sse_bench::environment::Environment;
use sse_bench::fs::{WriteError, write_atomic};

use crate::summary::Run;

/// The `format` tag of baselines this version writes and reads.
pub const FORMAT: &str = "sse-bench/instruction-baseline/1";

/// The directory of the git-tracked baselines, relative to the workspace root.
pub const DIR: &str = "baselines/instructions";

/// Why a baseline could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file does not exist.
    #[error("no instruction baseline at {}; take one with `ci/instructions --update` (and commit it)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read instruction baseline {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a baseline of this format.
    #[error("{} is not an instruction baseline ({reason}); re-take it with `ci/instructions --update`", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The file could not be written (the error names it).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What the counts depend on besides the code: compiler, valgrind, gungraun and target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// `rustc -V` of the compiler that built the gate (the same cargo invocation builds the bench).
    pub rustc: String,
    /// `valgrind --version`.
    pub valgrind: String,
    /// The gungraun library (and runner) version.
    pub gungraun: String,
    /// `<arch>-<os>`, e.g. `x86_64-linux`.
    pub target: String,
}

impl Toolchain {
    /// The toolchain of this run; `gungraun` is the version the bench was built with.
    pub fn current(gungraun: &str) -> Self {
        let valgrind = Command::new("valgrind")
            .arg("--version")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|| sse_bench::environment::UNKNOWN.to_owned());
        Self {
            rustc: Environment::capture().rustc,
            valgrind,
            gungraun: gungraun.to_owned(),
            target: target(),
        }
    }

    /// The fields that differ from `other`, as `name: this vs other` lines.
    pub fn differences(&self, other: &Toolchain) -> Vec<String> {
        let mut out = Vec::new();
        for (name, a, b) in [
            ("rustc", &self.rustc, &other.rustc),
            ("valgrind", &self.valgrind, &other.valgrind),
            ("gungraun", &self.gungraun, &other.gungraun),
            ("target", &self.target, &other.target),
        ] {
            if a != b {
                out.push(format!("{name}: {a} vs {b}"));
            }
        }
        out
    }
}

/// `<arch>-<os>` of this build, e.g. `x86_64-linux`.
pub fn target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// The default baseline file of this target, relative to the workspace root.
pub fn default_path() -> PathBuf {
    Path::new(DIR).join(format!("{}.json", target()))
}

/// Instruction counts with the toolchain and machine they were taken on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`FORMAT`].
    pub format: String,
    /// What the counts depend on besides the code.
    pub toolchain: Toolchain,
    /// Host, CPU, kernel, git revision and time the counts were taken (for the reader; the
    /// counts do not depend on the CPU's speed, only on the features the code detects).
    pub environment: Environment,
    /// Benchmark (`group/function/id`) → counts.
    pub benches: Run,
}

impl Baseline {
    /// A baseline of `run` taken under `toolchain`, stamped with the current environment.
    pub fn new(toolchain: Toolchain, run: Run) -> Self {
        Self {
            format: FORMAT.to_owned(),
            toolchain,
            environment: Environment::capture(),
            benches: run,
        }
    }

    /// Reads a baseline file.
    ///
    /// # Errors
    /// [`BaselineError`] naming the file: missing, unreadable or not a baseline.
    pub fn read(path: &Path) -> Result<Self, BaselineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(BaselineError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(BaselineError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let baseline: Self = serde_json::from_str(&text).map_err(|err| BaselineError::Invalid {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        if baseline.format != FORMAT {
            return Err(BaselineError::Invalid {
                path: path.to_owned(),
                reason: format!("format {:?}, expected {FORMAT:?}", baseline.format),
            });
        }
        Ok(baseline)
    }

    /// Writes the baseline atomically (pretty JSON, one bench per line block, for review).
    ///
    /// # Errors
    /// [`BaselineError::Write`] naming the file.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let mut json = serde_json::to_vec_pretty(self).expect("a baseline serializes");
        json.push(b'\n');
        Ok(write_atomic(path, &json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Counts;

    fn toolchain() -> Toolchain {
        Toolchain {
            rustc: "rustc 1.95.0".into(),
            valgrind: "valgrind-3.19.0".into(),
            gungraun: "0.20.0".into(),
            target: "x86_64-linux".into(),
        }
    }

    #[test]
    fn round_trips_and_rejects_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x86_64-linux.json");
        let mut run = Run::new();
        run.insert(
            "frame/encode/bytes_16".into(),
            Counts {
                instructions: 935,
                estimated_cycles: 2454,
            },
        );
        let baseline = Baseline::new(toolchain(), run);
        baseline.write(&path).unwrap();
        assert_eq!(Baseline::read(&path).unwrap(), baseline);

        let err = Baseline::read(&dir.path().join("none.json")).unwrap_err();
        assert!(err.to_string().contains("ci/instructions --update"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(
            Baseline::read(&path),
            Err(BaselineError::Invalid { .. })
        ));
    }

    #[test]
    fn differences_name_each_changed_part() {
        let mut other = toolchain();
        assert!(toolchain().differences(&other).is_empty());
        other.valgrind = "valgrind-3.22.0".into();
        assert_eq!(
            toolchain().differences(&other),
            vec!["valgrind: valgrind-3.19.0 vs valgrind-3.22.0".to_owned()]
        );
    }
}
