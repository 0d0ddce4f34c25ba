//! Git-tracked baselines: `baselines/load/<target>/<profile>/<scenario>.json`, one
//! [`ScenarioReport`] per scenario, and the noise model of each host class beside them
//! (`noise/<host-class>.json`).
//!
//! A baseline is the report of the run that represents the scenario (the median run with
//! `--repeat`, see [`crate::gate::representative`]), written by `--update-baseline`.
//!
//! ## Per target and profile
//! Figures of one server say nothing about another, nor figures of one scale about another:
//! every target (the embedded reference server is `embedded`; an external one is named by
//! `--target-name`, or its host and port) and every profile has its own folder
//! ([`dir_for`]). A run reads and writes only its own folder, so accepting a change with
//! `--update-baseline` can never overwrite another target's or profile's baseline.
//!
//! ## Safety
//! Loading never guesses: a missing file is "no baseline" (`Ok(None)`), anything else that is not
//! a valid report of this format (unreadable, bad JSON, another `schema_version`, another scenario)
//! is a [`BaselineError`] naming the file and what to do. Saving is atomic, and a file that exists
//! but is not a readable baseline is never replaced unless the caller forces it; [`Saved`] always
//! says what was replaced.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fs::{WriteError, write_atomic};
use crate::gate::noise::NoiseModel;
use crate::model::{SCHEMA_VERSION, ScenarioReport};
use crate::report::json::{ParseFailure, is_valid_file_stem, parse};

/// Default folder of load baselines, relative to the workspace root.
pub const DEFAULT_DIR: &str = "baselines/load";

/// The target name of the embedded reference server, reserved for it.
pub const EMBEDDED_TARGET: &str = "embedded";

/// The folder of the baselines of `target` run with `profile` under `root`.
///
/// # Errors
/// [`BaselineError::InvalidName`] when a name cannot be a folder name.
pub fn dir_for(root: &Path, target: &str, profile: &str) -> Result<PathBuf, BaselineError> {
    for name in [target, profile] {
        if !is_valid_file_stem(name) {
            return Err(BaselineError::InvalidName(name.to_owned()));
        }
    }
    Ok(root.join(target).join(profile))
}

/// A name for an external target from its URL's host and port (`127.0.0.1_8000`), usable as a
/// folder name.
pub fn target_name_of(url: &http::Uri) -> String {
    let host = url.host().unwrap_or("target");
    let port = url.port_u16().map_or_else(String::new, |p| format!("_{p}"));
    file_stem_of(&format!("{host}{port}"))
}

/// `name` with every character a file name should not hold replaced by `_`.
pub fn file_stem_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// The noise model file of `host_class` in a baselines folder ([`dir_for`]).
pub fn noise_path(dir: &Path, host_class: &str) -> PathBuf {
    dir.join("noise").join(format!("{host_class}.json"))
}

/// Loads the noise model of `host_class` from `dir`: `Ok(None)` when there is none.
///
/// # Errors
/// [`BaselineError::Read`] or [`BaselineError::Parse`] naming the file.
pub fn load_noise(dir: &Path, host_class: &str) -> Result<Option<NoiseModel>, BaselineError> {
    let path = noise_path(dir, host_class);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BaselineError::Read { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| BaselineError::Parse { path, source })
}

/// Saves a noise model into `dir`, atomically, and returns the path.
///
/// # Errors
/// [`BaselineError`] naming the file.
pub fn save_noise(dir: &Path, model: &NoiseModel) -> Result<PathBuf, BaselineError> {
    let path = noise_path(dir, &model.host_class);
    let mut json = serde_json::to_string_pretty(model).map_err(|source| BaselineError::Serialize {
        path: path.clone(),
        source,
    })?;
    json.push('\n');
    write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// What to do about a broken baseline, appended to load errors.
const FIX_HINT: &str = "fix or delete it, or re-record it with --update-baseline";

/// Why a baseline could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The scenario name cannot be a file name.
    #[error("scenario name {0:?} cannot name a baseline file: use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    /// The file exists but could not be read.
    #[error("cannot read baseline {}: {source}; {FIX_HINT}", path.display())]
    Read {
        /// The baseline file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid report.
    #[error("baseline {} is not a valid load report: {source}; {FIX_HINT}", path.display())]
    Parse {
        /// The baseline file.
        path: PathBuf,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The file was written by another report format version.
    #[error(
        "baseline {} has schema_version {found}, this sse-load writes {SCHEMA_VERSION}; \
         re-record it with --update-baseline",
        path.display()
    )]
    Version {
        /// The baseline file.
        path: PathBuf,
        /// The version in the file (`None` when the field is missing or not a number).
        found: Found,
    },
    /// The file holds another scenario.
    #[error("baseline {} holds scenario `{found}`, expected `{expected}`; {FIX_HINT}", path.display())]
    Scenario {
        /// The baseline file.
        path: PathBuf,
        /// The scenario named in the file.
        found: String,
        /// The scenario asked for.
        expected: String,
    },
    /// Saving would replace a file that is not a readable baseline.
    #[error(
        "refusing to overwrite {}: it is not a readable baseline ({reason}); inspect it, then delete \
         it or force the update",
        path.display()
    )]
    WouldReplaceUnreadable {
        /// The file that was left alone.
        path: PathBuf,
        /// Why it is not a readable baseline.
        reason: String,
    },
    /// The report could not be serialized.
    #[error("cannot serialize the baseline for {path}: {source}", path = path.display())]
    Serialize {
        /// The baseline file.
        path: PathBuf,
        /// The serializer error.
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The `schema_version` found in a baseline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found(pub Option<u64>);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("(missing)"),
        }
    }
}

/// What [`save`] replaced.
#[derive(Debug, Clone, PartialEq)]
pub enum Replaced {
    /// There was no file.
    Nothing,
    /// A valid baseline, described by when, where and on which revision it was recorded.
    Baseline {
        /// `started_at` of the old baseline.
        started_at: String,
        /// Profile of the old baseline.
        profile: String,
        /// Git revision of the old baseline.
        git_revision: String,
    },
    /// A file that was not a readable baseline (only with `force`).
    Unreadable {
        /// Why it could not be read.
        reason: String,
    },
}

/// The outcome of [`save`].
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The file written.
    pub path: PathBuf,
    /// What was there before.
    pub replaced: Replaced,
}

impl fmt::Display for Saved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "baseline {}: ", self.path.display())?;
        match &self.replaced {
            Replaced::Nothing => f.write_str("created"),
            Replaced::Baseline {
                started_at,
                profile,
                git_revision,
            } => write!(
                f,
                "replaced the baseline recorded {started_at} (profile {profile}, revision {git_revision})"
            ),
            Replaced::Unreadable { reason } => write!(f, "replaced an unreadable file ({reason})"),
        }
    }
}

/// The baseline file of `scenario` in `dir`.
///
/// # Errors
/// [`BaselineError::InvalidName`] when the name is not a valid file stem
/// ([`is_valid_file_stem`]).
pub fn path_for(dir: &Path, scenario: &str) -> Result<PathBuf, BaselineError> {
    if !is_valid_file_stem(scenario) {
        return Err(BaselineError::InvalidName(scenario.to_owned()));
    }
    Ok(dir.join(format!("{scenario}.json")))
}

/// Loads the baseline of `scenario` from `dir`: `Ok(None)` when there is none.
///
/// # Errors
/// [`BaselineError`] naming the file when it exists but is not a valid baseline of `scenario`.
pub fn load(dir: &Path, scenario: &str) -> Result<Option<ScenarioReport>, BaselineError> {
    let path = path_for(dir, scenario)?;
    let Some(report) = load_file(&path)? else {
        return Ok(None);
    };
    if report.scenario != scenario {
        return Err(BaselineError::Scenario {
            path,
            found: report.scenario,
            expected: scenario.to_owned(),
        });
    }
    Ok(Some(report))
}

/// Loads any report file (a baseline, or a report for `compare`): `Ok(None)` when it does not exist.
///
/// # Errors
/// [`BaselineError::Read`], [`BaselineError::Parse`] or [`BaselineError::Version`], naming `path`.
pub fn load_file(path: &Path) -> Result<Option<ScenarioReport>, BaselineError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(BaselineError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text).map(Some).map_err(|failure| match failure {
        ParseFailure::Json(source) => BaselineError::Parse {
            path: path.to_owned(),
            source,
        },
        ParseFailure::Version(found) => BaselineError::Version {
            path: path.to_owned(),
            found: Found(found),
        },
    })
}

/// Saves `report` as the baseline of its scenario in `dir`, atomically.
///
/// A valid existing baseline is replaced (that is what `--update-baseline` asks for). A file that
/// exists but is not a readable baseline is replaced only when `force` is set; otherwise the file is
/// left alone and [`BaselineError::WouldReplaceUnreadable`] says why. The returned [`Saved`] tells
/// what was replaced, for the caller to print.
///
/// # Errors
/// [`BaselineError`] naming the file.
pub fn save(dir: &Path, report: &ScenarioReport, force: bool) -> Result<Saved, BaselineError> {
    let path = path_for(dir, &report.scenario)?;
    let replaced = match load(dir, &report.scenario) {
        Ok(None) => Replaced::Nothing,
        Ok(Some(old)) => Replaced::Baseline {
            started_at: old.started_at,
            profile: old.profile,
            git_revision: old.environment.git_revision,
        },
        Err(e) if force => Replaced::Unreadable {
            reason: e.to_string(),
        },
        Err(e) => {
            return Err(BaselineError::WouldReplaceUnreadable {
                path,
                reason: e.to_string(),
            });
        }
    };
    // A baseline is figures to compare with, not a verdict.
    let report = ScenarioReport {
        verdict: None,
        ..report.clone()
    };
    let mut json = serde_json::to_string_pretty(&report).map_err(|source| BaselineError::Serialize {
        path: path.clone(),
        source,
    })?;
    json.push('\n');
    write_atomic(&path, json.as_bytes())?;
    Ok(Saved { path, replaced })
}

#[cfg(test)]
mod tests;
