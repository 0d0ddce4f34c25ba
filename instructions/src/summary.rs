//! Reading gungraun's JSON output (`--output-format=json`, one object per benchmark and line).
//!
//! Only what the gate needs is read, into typed structs: the benchmark's group, function and id,
//! and, of its callgrind profile, the total instructions (`Ir`) and estimated cycles of this run
//! (`values.new`). gungraun's own comparison with its previous run (`values.old`) is ignored: the
//! gate compares with the git-tracked baseline instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The summary schema version this reader was written against (gungraun 0.20).
pub const SCHEMA_VERSION: &str = "7";

/// Why a run's output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The file could not be read.
    #[error("cannot read gungraun output {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line was not a gungraun benchmark summary.
    #[error("{}:{line}: not a gungraun JSON summary ({source}); run the bench with `-- --output-format=json`", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        source: serde_json::Error,
    },
    /// A summary of another schema version.
    #[error("{}:{line}: gungraun summary schema version {found}, this gate reads {SCHEMA_VERSION}; update `instructions/src/summary.rs` with gungraun", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The version found.
        found: String,
    },
    /// A benchmark without a callgrind profile or without one of the gated metrics.
    #[error("{}: benchmark {bench} has no callgrind `{metric}` count", path.display())]
    MissingMetric {
        /// The file.
        path: PathBuf,
        /// The benchmark.
        bench: String,
        /// The metric (`Ir` or `EstimatedCycles`).
        metric: &'static str,
    },
    /// The same benchmark twice.
    #[error("{}: benchmark {bench} appears twice", path.display())]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The benchmark.
        bench: String,
    },
    /// No benchmark at all.
    #[error("{}: no benchmark summaries (did the bench run? was a filter too narrow?)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The counts of one benchmark in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Instructions executed (callgrind's `Ir`).
    pub instructions: u64,
    /// gungraun's estimate of cycles from the cache simulation:
    /// `L1 hits + 5 × LL hits + 35 × RAM hits`.
    pub estimated_cycles: u64,
}

/// Benchmark name (`group/function/id`) → its counts, in name order.
pub type Run = BTreeMap<String, Counts>;

/// Reads a file of gungraun JSON summaries, one per line.
///
/// # Errors
/// [`SummaryError`] naming the file (and line) that is not what the gate expects.
pub fn read_run(path: &Path) -> Result<Run, SummaryError> {
    let text = std::fs::read_to_string(path).map_err(|source| SummaryError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_run(&text, path)
}

/// Parses gungraun JSON summaries, one per line; `path` is used in errors only.
///
/// # Errors
/// See [`read_run`].
pub fn parse_run(text: &str, path: &Path) -> Result<Run, SummaryError> {
    let mut run = Run::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let summary: BenchSummary = serde_json::from_str(line).map_err(|source| SummaryError::Json {
            path: path.to_owned(),
            line: index + 1,
            source,
        })?;
        if summary.version != SCHEMA_VERSION {
            return Err(SummaryError::Version {
                path: path.to_owned(),
                line: index + 1,
                found: summary.version,
            });
        }
        let name = format!(
            "{}/{}/{}",
            summary.group,
            summary.function_name,
            summary.id.as_deref().unwrap_or("-")
        );
        let metrics = summary
            .profiles
            .iter()
            .find(|p| p.tool == "Callgrind")
            .map(|p| &p.data.total.metrics);
        let count = |metric: &'static str| {
            metrics
                .and_then(|m| m.get(metric))
                .and_then(|m| m.values.new)
                .ok_or_else(|| SummaryError::MissingMetric {
                    path: path.to_owned(),
                    bench: name.clone(),
                    metric,
                })
        };
        let counts = Counts {
            instructions: count("Ir")?,
            estimated_cycles: count("EstimatedCycles")?,
        };
        if run.insert(name.clone(), counts).is_some() {
            return Err(SummaryError::Duplicate {
                path: path.to_owned(),
                bench: name,
            });
        }
    }
    if run.is_empty() {
        return Err(SummaryError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(run)
}

/// The parts of gungraun's per-benchmark summary the gate reads.
#[derive(Debug, Deserialize)]
struct BenchSummary {
    version: String,
    group: String,
    function_name: String,
    id: Option<String>,
    profiles: Vec<Profile>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    tool: String,
    data: ProfileData,
}

#[derive(Debug, Deserialize)]
struct ProfileData {
    total: Total,
}

#[derive(Debug, Deserialize)]
struct Total {
    metrics: BTreeMap<String, Metric>,
}

#[derive(Debug, Deserialize)]
struct Metric {
    values: Values,
}

#[derive(Debug, Deserialize)]
struct Values {
    /// Counts are integers; rates (which the gate does not read) are floats.
    #[serde(default, deserialize_with = "integer_or_none")]
    new: Option<u64>,
}

/// An integer count, or `None` for a float rate or a missing value.
fn integer_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line as gungraun 0.20 prints it (trimmed to the fields the gate reads and a rate).
    fn line(function: &str, id: &str, ir: u64, cycles: u64) -> String {
        serde_json::json!({
            "version": "7",
            "group": "frame",
            "function_name": function,
            "id": id,
            "module_path": format!("instructions::frame::{function}"),
            "profiles": [{
                "tool": "Callgrind",
                "data": { "total": { "metrics": {
                    "Ir": { "values": { "new": ir, "old": ir } },
                    "EstimatedCycles": { "values": { "new": cycles } },
                    "L1HitRate": { "values": { "new": 97.5 } }
                } } }
            }]
        })
        .to_string()
    }

    #[test]
    fn reads_instructions_and_cycles_per_benchmark() {
        let text = format!(
            "{}\n{}\n",
            line("encode", "bytes_16", 935, 2454),
            line("encode", "bytes_256", 5750, 7897)
        );
        let run = parse_run(&text, Path::new("run.jsonl")).unwrap();
        assert_eq!(
            run["frame/encode/bytes_16"],
            Counts {
                instructions: 935,
                estimated_cycles: 2454
            }
        );
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn rejects_duplicates_other_versions_missing_metrics_and_empty_files() {
        let path = Path::new("run.jsonl");
        let one = line("encode", "bytes_16", 1, 1);
        let err = parse_run(&format!("{one}\n{one}"), path).unwrap_err();
        assert!(matches!(err, SummaryError::Duplicate { .. }), "{err}");
        let err = parse_run(&one.replace("\"version\":\"7\"", "\"version\":\"6\""), path).unwrap_err();
        assert!(matches!(err, SummaryError::Version { .. }), "{err}");
        let err = parse_run(&one.replace("EstimatedCycles", "Other"), path).unwrap_err();
        assert!(
            matches!(
                err,
                SummaryError::MissingMetric {
                    metric: "EstimatedCycles",
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_run("\n", path).unwrap_err();
        assert!(matches!(err, SummaryError::Empty { .. }), "{err}");
        let err = parse_run("Gungraun result: Ok", path).unwrap_err();
        assert!(err.to_string().contains("run.jsonl:1"), "{err}");
    }
}
