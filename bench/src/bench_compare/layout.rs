//! Reading criterion's on-disk layout: `<criterion dir>/<bench path>/<baseline>/{estimates,benchmark}.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CompareError;

/// Directory names criterion uses for itself next to (or instead of) baselines.
const RESERVED: &[&str] = &["change", "report", "profile"];

/// A point estimate with its confidence interval, in nanoseconds per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate.
    pub point_estimate: f64,
    /// Lower bound of the confidence interval.
    pub lower_bound: f64,
    /// Upper bound of the confidence interval.
    pub upper_bound: f64,
    /// Confidence level of the interval (criterion's default is 0.95).
    pub confidence_level: f64,
}

/// One named baseline: every bench's mean time per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The baseline's name (`main`, `new`, …) or the summary file it came from.
    pub name: String,
    /// Bench id (`group/function/value`, as criterion prints it) → mean estimate.
    pub benches: BTreeMap<String, Estimate>,
}

/// The parts of criterion's `estimates.json` used here (criterion also writes median, MAD, …).
#[derive(Deserialize)]
struct RawEstimates {
    mean: RawEstimate,
}

#[derive(Deserialize)]
struct RawEstimate {
    confidence_interval: RawInterval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct RawInterval {
    confidence_level: f64,
    lower_bound: f64,
    upper_bound: f64,
}

/// The part of criterion's `benchmark.json` used here: the id criterion prints.
#[derive(Deserialize)]
struct RawBenchmark {
    full_id: String,
}

/// Loads baseline `name` from every bench under `criterion_dir` that has it.
///
/// # Errors
/// [`CompareError::BaselineNotFound`] (listing the baselines that exist) when no bench has
/// it, [`CompareError::NoCriterionDir`] when the directory is missing, and read or parse
/// errors naming the file.
pub fn load_baseline(criterion_dir: &Path, name: &str) -> Result<Baseline, CompareError> {
    if RESERVED.contains(&name) || name.is_empty() || name.contains('/') {
        return Err(CompareError::ReservedName(name.to_owned()));
    }
    if !criterion_dir.is_dir() {
        return Err(CompareError::NoCriterionDir {
            dir: criterion_dir.to_owned(),
            name: name.to_owned(),
        });
    }
    let mut found = Vec::new();
    let mut known = BTreeSet::new();
    walk(criterion_dir, name, &mut found, &mut known)?;
    if found.is_empty() {
        return Err(CompareError::BaselineNotFound {
            name: name.to_owned(),
            dir: criterion_dir.to_owned(),
            known: known.into_iter().collect(),
        });
    }
    let mut benches = BTreeMap::new();
    for dir in found {
        let id = bench_id(criterion_dir, &dir)?;
        benches.insert(id, read_estimate(&dir.join("estimates.json"))?);
    }
    Ok(Baseline {
        name: name.to_owned(),
        benches,
    })
}

/// Collects the `name` directories holding an `estimates.json`, and the names of all others that do.
fn walk(
    dir: &Path,
    name: &str,
    found: &mut Vec<PathBuf>,
    known: &mut BTreeSet<String>,
) -> Result<(), CompareError> {
    let read_err = |source| CompareError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if !entry.file_type().map_err(read_err)?.is_dir() {
            continue;
        }
        let path = entry.path();
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if RESERVED.contains(&file_name.as_ref()) {
            continue;
        }
        if path.join("estimates.json").is_file() {
            if file_name == name {
                found.push(path);
            } else {
                known.insert(file_name.into_owned());
            }
        } else {
            walk(&path, name, found, known)?;
        }
    }
    Ok(())
}

/// The id from `benchmark.json`, or the directory path when criterion did not write one.
fn bench_id(criterion_dir: &Path, baseline_dir: &Path) -> Result<String, CompareError> {
    let file = baseline_dir.join("benchmark.json");
    if file.is_file() {
        let raw: RawBenchmark = read_json(&file, "criterion benchmark.json")?;
        return Ok(raw.full_id);
    }
    let bench_dir = baseline_dir.parent().unwrap_or(baseline_dir);
    let relative = bench_dir.strip_prefix(criterion_dir).unwrap_or(bench_dir);
    Ok(relative.to_string_lossy().into_owned())
}

fn read_estimate(file: &Path) -> Result<Estimate, CompareError> {
    let raw: RawEstimates = read_json(file, "criterion estimates.json")?;
    let mean = raw.mean;
    Ok(Estimate {
        point_estimate: mean.point_estimate,
        lower_bound: mean.confidence_interval.lower_bound,
        upper_bound: mean.confidence_interval.upper_bound,
        confidence_level: mean.confidence_interval.confidence_level,
    })
}

/// Reads and parses a JSON file, naming it in every error.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    file: &Path,
    what: &'static str,
) -> Result<T, CompareError> {
    let text = fs::read_to_string(file).map_err(|source| CompareError::Read {
        path: file.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CompareError::Parse {
        path: file.to_owned(),
        what,
        source,
    })
}

/// Where criterion writes, resolved as criterion resolves it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the target directory `cargo metadata` reports,
/// else `./target/criterion`.
pub fn default_criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice::<Metadata>(&out.stdout).ok())
        .map_or_else(
            || PathBuf::from("target/criterion"),
            |m| m.target_directory.join("criterion"),
        )
}
