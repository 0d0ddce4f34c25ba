//! Running the selected scenarios: repeats, progress, reports, baselines, gates and the final verdict.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::config::RunConfig;
use crate::baseline::{self, BaselineError};
use crate::environment::Environment;
use crate::gate::{self, Judgement};
use crate::model::ScenarioReport;
use crate::report::terminal::{self, SummaryRow};
use crate::report::{self, ReportError};
use crate::runner::build_report::{Labels, build};
use crate::runner::run::RunError;
use crate::runner::{RunResult, run_plan};

/// Errors that end a run with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A scenario could not run (server start, target unreachable).
    #[error("scenario {scenario}: {source}")]
    Run {
        /// The scenario.
        scenario: &'static str,
        /// What failed.
        source: RunError,
    },
    /// A baseline could not be read or written.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// A report could not be written or read.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The output directory could not be created.
    #[error("cannot create the output directory {}: {source}", path.display())]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What a finished run says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Some gate failed.
    pub regression: bool,
    /// Scenarios that ran.
    pub ran: usize,
}

/// One scenario's results.
struct Judged {
    runs: Vec<ScenarioReport>,
    judgement: Judgement,
}

/// Raises the open-file limit when a scenario holds many streams; warns when it stays too low.
fn raise_fd_limit(config: &RunConfig) {
    let most_clients = config
        .scenarios
        .iter()
        .map(|d| config.profile.scale(d.smoke, config.overrides).clients)
        .max()
        .unwrap_or(0);
    if most_clients > 500 {
        // One fd per stream on the generator side (the server is another process).
        match sse_server::limits::raise_fd_limit() {
            Ok(limit) if (limit as usize) < most_clients + 256 => eprintln!(
                "warning: the open-file limit is {limit}, too low for {most_clients} streams; raise it (ulimit -n)"
            ),
            Ok(_) => {}
            Err(err) => eprintln!("warning: could not raise the open-file limit: {err}"),
        }
    }
}

/// Runs every scenario of `config`, writes reports (and baselines), prints the summary.
///
/// # Errors
/// [`AppError`] when a scenario cannot run or a file cannot be read or written.
pub async fn run(config: &RunConfig) -> Result<Verdict, AppError> {
    raise_fd_limit(config);
    std::fs::create_dir_all(&config.output_dir).map_err(|source| AppError::OutputDir {
        path: config.output_dir.clone(),
        source,
    })?;
    let environment = Environment::capture();
    let profile = config.profile.label(config.overrides);
    let progress = progress_bar(config.scenarios.len() as u64 * u64::from(config.repeat));
    let mut judged = Vec::new();
    let mut skipped = Vec::new();
    let mut written = Vec::new();
    for definition in &config.scenarios {
        let baseline = load_baseline(&config.baselines_dir, definition.name, config.update_baseline)?;
        let plan = definition.plan(config.profile.scale(definition.smoke, config.overrides));
        let mut runs = Vec::new();
        for repeat in 1..=config.repeat {
            progress.set_message(format!("{} ({repeat}/{})", definition.name, config.repeat));
            let result = run_plan(&plan, &config.target)
                .await
                .map_err(|source| AppError::Run {
                    scenario: definition.name,
                    source,
                })?;
            progress.inc(1);
            match result {
                RunResult::Skipped(reason) => {
                    skipped.push((definition.name, reason));
                    progress.inc(u64::from(config.repeat - repeat));
                    break;
                }
                RunResult::Done(measured) => {
                    let labels = Labels {
                        profile,
                        repeat,
                        environment: &environment,
                    };
                    runs.push(build(definition, &plan, *measured, &labels));
                }
            }
        }
        if runs.is_empty() {
            continue;
        }
        let judgement = gate::judge(&runs, baseline.as_ref(), &config.thresholds);
        let shown = gate::representative(&runs).unwrap_or(&runs[0]);
        if shown.cpu.generator_bound {
            progress.suspend(|| {
                eprintln!(
                    "warning: {}: the generator was CPU-bound ({:.2} CPU s vs server {}); figures are limited by sse-load",
                    definition.name,
                    shown.cpu.generator_seconds,
                    shown.cpu.server_seconds.map_or("n/a".into(), |s| format!("{s:.2} s"))
                );
            });
        }
        let files = report::write_reports(&config.output_dir, shown, Some(&judgement), baseline.as_ref())?;
        written.extend(files.paths());
        if config.update_baseline {
            let saved = baseline::save(&config.baselines_dir, shown, true)?;
            progress.suspend(|| eprintln!("{saved}"));
        }
        judged.push(Judged { runs, judgement });
    }
    progress.finish_and_clear();
    print_summary(&judged, &skipped, &written);
    Ok(Verdict {
        regression: judged.iter().any(|j| j.judgement.failed()),
        ran: judged.len(),
    })
}

/// The baseline of `scenario`; a broken file is an error unless it is about to be rewritten.
fn load_baseline(dir: &Path, scenario: &str, updating: bool) -> Result<Option<ScenarioReport>, AppError> {
    match baseline::load(dir, scenario) {
        Ok(found) => Ok(found),
        Err(err) if updating => {
            eprintln!("warning: {err}; it will be replaced (--update-baseline)");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(judged: &[Judged], skipped: &[(&str, String)], written: &[PathBuf]) {
    let rows: Vec<SummaryRow<'_>> = judged
        .iter()
        .map(|j| SummaryRow {
            report: gate::representative(&j.runs).unwrap_or(&j.runs[0]),
            judgement: Some(&j.judgement),
        })
        .collect();
    if !rows.is_empty() {
        print!("{}", terminal::summary(&rows));
    }
    for (name, reason) in skipped {
        println!("skipped {name}: {reason}");
    }
    let judgements: Vec<&Judgement> = judged.iter().map(|j| &j.judgement).collect();
    let problems = terminal::problems(&judgements);
    if !problems.is_empty() {
        print!("\n{problems}");
    }
    if !written.is_empty() {
        print!("\n{}", terminal::written(written));
    }
}
