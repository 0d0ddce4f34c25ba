//! The `sse-load` command line, in two layers (as ripgrep does it):
//! [`flags`] (raw clap flags, syntax only) → [`config`] (validated, typed [`config::RunConfig`]),
//! then [`app`] runs it. [`serve`] is the hidden subcommand that makes `sse-load` the embedded server.
//!
//! ## Exit codes
//! The one set shared by every binary of the workspace is in [`exit`].

pub mod app;
pub mod config;
pub mod exit;
pub mod flags;
pub mod requests;
pub mod serve;

use std::fmt::Write as _;
use std::path::Path;

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

/// `sse-load compare A B`: the deltas of two reports as a table.
///
/// # Errors
/// A file is missing or not a report.
pub fn compare_files(a: &Path, b: &Path) -> Result<String, ReportError> {
    let a = crate::report::json::read(a)?;
    let b = crate::report::json::read(b)?;
    let deltas = compare::compare(&a, &b);
    Ok(compare::render(&a, &b, &deltas))
}

/// The exit code of a finished run.
pub fn exit_code(verdict: app::Verdict, fail_on_regression: bool) -> u8 {
    if verdict.regression && fail_on_regression {
        exit::REGRESSION
    } else {
        exit::OK
    }
}
