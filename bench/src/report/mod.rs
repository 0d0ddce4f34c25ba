//! The output stage: a [`ScenarioReport`] written as JSON and HTML, printed, and compared.
//!
//! The pipeline is measure (runner) → [`ScenarioReport`] ([`crate::model`]) → judge
//! ([`crate::gate`]) → write ([`json`], [`html`]) and print ([`terminal`]).
//! [`compare::render`] shows the KPIs of two reports with the gate's verdict. Files are written atomically
//! ([`crate::fs`]); every error names its file ([`ReportError`]).

mod charts;
pub mod compare;
pub mod error;
pub mod format;
pub mod html;
pub mod json;
pub mod terminal;

use std::path::{Path, PathBuf};

pub use error::ReportError;

use crate::model::ScenarioReport;

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
