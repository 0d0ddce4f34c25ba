//! Load-test reports: the data model, environment capture, JSON/HTML/terminal output and comparison.
//!
//! The pipeline is measure (harness) → [`ScenarioReport`] → judge ([`crate::gate`]) → write
//! ([`json`], [`html`]) and print ([`terminal`]). [`compare`](compare::compare) diffs two reports.
//! Files are written atomically ([`atomic`]); every error names its file ([`ReportError`]).

pub mod atomic;
mod charts;
pub mod compare;
pub mod environment;
pub mod error;
pub mod format;
pub mod html;
pub mod json;
pub mod model;
pub mod terminal;

use std::path::{Path, PathBuf};

pub use compare::{Delta, compare};
pub use environment::Environment;
pub use error::ReportError;
pub use model::*;

use crate::gate::Judgement;

/// The files [`write_reports`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `<dir>/<scenario>.json`.
    pub json: PathBuf,
    /// `<dir>/<scenario>.html`.
    pub html: PathBuf,
}

impl Written {
    /// Both paths, JSON first.
    pub fn paths(&self) -> [PathBuf; 2] {
        [self.json.clone(), self.html.clone()]
    }
}

/// Writes `<dir>/<scenario>.json` and `<dir>/<scenario>.html` for `report`, atomically.
/// `judgement` and `baseline` feed the HTML findings table and charts.
///
/// # Errors
/// [`ReportError`] naming the file that failed.
pub fn write_reports(
    dir: &Path,
    report: &ScenarioReport,
    judgement: Option<&Judgement>,
    baseline: Option<&ScenarioReport>,
) -> Result<Written, ReportError> {
    let json = json::write(dir, report)?;
    let html = html::write(dir, report, judgement, baseline)?;
    Ok(Written { json, html })
}
