//! The `sse-load` command line, in two layers (as ripgrep does it):
//! [`flags`] (raw clap flags, syntax only) → [`config`] (validated, typed [`config::RunConfig`]),
//! then [`app`] runs it (`--paired`: [`paired`], the baseline measured in the same run). [`serve`] is the hidden subcommand that makes `sse-load` the embedded server.
//!
//! ## Exit codes
//! The one set shared by every binary of the workspace is in [`exit`].

pub mod app;
pub mod config;
pub mod exit;
pub mod flags;
pub mod ladder;
pub mod noise;
pub mod paired;
mod progress;
pub mod requests;
mod runs;
pub mod serve;

use std::fmt::Write as _;
use std::path::Path;

use crate::gate::{self, RunVerdict, Thresholds};
use crate::report::{ReportError, compare};
use crate::scenario;

/// `sse-load list`: one line per scenario.
pub fn list() -> String {
    let width = scenario::ALL.iter().map(|d| d.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for d in scenario::ALL {
        let _ = writeln!(out, "{:<width$}  {}", d.name, d.description);
    }
    out
}

/// `sse-load compare BASELINE CURRENT`: the KPI table and whether CURRENT regressed.
///
/// # Errors
/// A file is missing or not a report.
pub fn compare_files(
    baseline: &Path,
    current: &Path,
    thresholds: &Thresholds,
) -> Result<(String, bool), ReportError> {
    let base = crate::report::json::read(baseline)?;
    let current = crate::report::json::read(current)?;
    let judgement = gate::judge(std::slice::from_ref(&current), Some(&base), thresholds);
    Ok((compare::render(&base, &current, &judgement), judgement.regression))
}

/// The exit code of a finished run: a failed absolute check always fails
/// ([`exit::CHECK_FAILED`]), a regression only with `--fail-on-regression`
/// ([`exit::REGRESSION`]); an interrupted run did not finish ([`exit::ERROR`]).
pub fn exit_code(verdict: &RunVerdict, fail_on_regression: bool) -> u8 {
    if !verdict.check_failed.is_empty() {
        exit::CHECK_FAILED
    } else if fail_on_regression && !verdict.regressed.is_empty() {
        exit::REGRESSION
    } else if verdict.interrupted {
        exit::ERROR
    } else {
        exit::OK
    }
}
