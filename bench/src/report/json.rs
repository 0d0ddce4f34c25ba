//! JSON report files: `<output-dir>/<scenario>.json`, pretty-printed and written atomically.

use std::path::{Path, PathBuf};

use super::error::ReportError;
use crate::fs::write_atomic;
use crate::model::{SCHEMA_VERSION, ScenarioReport};

/// Why a report text could not be parsed, before a path is attached.
#[derive(Debug)]
pub(crate) enum ParseFailure {
    /// Not JSON, or not the report's shape.
    Json(serde_json::Error),
    /// Another or no `schema_version`.
    Version(Option<u64>),
}

/// Parses a report, checking `schema_version` before the shape so an old file gets a version
/// message rather than a confusing "missing field".
pub(crate) fn parse(text: &str) -> Result<ScenarioReport, ParseFailure> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(ParseFailure::Json)?;
    let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(ParseFailure::Version(version));
    }
    serde_json::from_value(value).map_err(ParseFailure::Json)
}

/// Whether `scenario` can be used as a file stem: non-empty, no leading '.', only ASCII letters,
/// digits, `-`, `_` and `.` (so it cannot name a path outside the output folder).
pub fn is_valid_file_stem(scenario: &str) -> bool {
    !scenario.is_empty()
        && !scenario.starts_with('.')
        && scenario
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `<dir>/<scenario>.<extension>`.
///
/// # Errors
/// [`ReportError::InvalidName`] when the scenario name is not a valid file stem.
pub fn path_for(dir: &Path, scenario: &str, extension: &str) -> Result<PathBuf, ReportError> {
    if !is_valid_file_stem(scenario) {
        return Err(ReportError::InvalidName(scenario.to_owned()));
    }
    Ok(dir.join(format!("{scenario}.{extension}")))
}

/// Writes `report` to `<dir>/<scenario>.json` (pretty, trailing newline, atomic) and returns the path.
///
/// # Errors
/// [`ReportError`] naming the file.
pub fn write(dir: &Path, report: &ScenarioReport) -> Result<PathBuf, ReportError> {
    let path = path_for(dir, &report.scenario, "json")?;
    write_to(&path, report)?;
    Ok(path)
}

/// Writes `report` as pretty JSON to `path`, atomically.
///
/// # Errors
/// [`ReportError`] naming the file.
pub fn write_to(path: &Path, report: &ScenarioReport) -> Result<(), ReportError> {
    let mut json = serde_json::to_string_pretty(report).map_err(|source| ReportError::Serialize {
        path: path.to_owned(),
        source,
    })?;
    json.push('\n');
    write_atomic(path, json.as_bytes())?;
    Ok(())
}

/// Reads a report file (for `sse-load compare`).
///
/// # Errors
/// [`ReportError::NotFound`], [`ReportError::Read`], [`ReportError::Parse`] or
/// [`ReportError::Version`], naming `path`.
pub fn read(path: &Path) -> Result<ScenarioReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReportError::NotFound {
                path: path.to_owned(),
            }
        } else {
            ReportError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    parse(&text).map_err(|failure| match failure {
        ParseFailure::Json(source) => ReportError::Parse {
            path: path.to_owned(),
            source,
        },
        ParseFailure::Version(found) => ReportError::Version {
            path: path.to_owned(),
            found,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let report = ScenarioReport {
            scenario: "burst".into(),
            ..ScenarioReport::default()
        };
        let path = write(dir.path(), &report).unwrap();
        assert_eq!(path, dir.path().join("burst.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n  \"schema_version\": 1,") && text.ends_with("}\n"),
            "{text}"
        );
        assert_eq!(read(&path).unwrap(), report);
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        assert!(matches!(read(&missing), Err(ReportError::NotFound { .. })));
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"schema_version": 2}"#).unwrap();
        let err = read(&bad).unwrap_err();
        assert!(
            matches!(err, ReportError::Version { found: Some(2), .. }),
            "{err:?}"
        );
        std::fs::write(&bad, r#"{"schema_version": 1}"#).unwrap();
        let err = read(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("missing field"), "{err}");
    }

    #[test]
    fn bad_scenario_names_are_refused() {
        let report = ScenarioReport {
            scenario: "../etc/x".into(),
            ..ScenarioReport::default()
        };
        assert!(matches!(
            write(Path::new("."), &report),
            Err(ReportError::InvalidName(_))
        ));
    }
}
