//! Errors of writing and reading report files; every variant names the file.

use std::path::PathBuf;

use crate::fs::WriteError;
use crate::model::SCHEMA_VERSION;

/// Why a report could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The scenario name cannot be a file name.
    #[error("scenario name {0:?} cannot name a report file: use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    /// The report could not be serialized.
    #[error("cannot serialize the report for {}: {source}", path.display())]
    Serialize {
        /// The report file.
        path: PathBuf,
        /// The serializer error.
        source: serde_json::Error,
    },
    /// The report file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The report file does not exist.
    #[error("report {} does not exist; pass the path of a <scenario>.json written by sse-load", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The report file could not be read.
    #[error("cannot read report {}: {source}", path.display())]
    Read {
        /// The report file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid report.
    #[error("{} is not a valid sse-load report: {source}", path.display())]
    Parse {
        /// The report file.
        path: PathBuf,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The file was written by another report format version.
    #[error(
        "report {} has schema_version {}, this sse-load reads {SCHEMA_VERSION}; re-run the scenario \
         to get a comparable report",
        path.display(),
        found.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
    )]
    Version {
        /// The report file.
        path: PathBuf,
        /// The version in the file, `None` when missing.
        found: Option<u64>,
    },
}
