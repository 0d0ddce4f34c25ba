//! Running the selected scenarios: repeats, progress, reports, baselines, gates and the final verdict.

use std::path::{Path, PathBuf};

use super::config::RunConfig;
use super::progress::Progress;
use crate::baseline::{self, BaselineError};
use crate::environment::Environment;
use crate::gate::noise::NoiseModel;
use crate::gate::{self, Judgement, RunVerdict, noise};
use crate::model::ScenarioReport;
use crate::report::terminal::{self, SummaryRow};
use crate::report::{self, ReportError};
use crate::runner::build_report::{Labels, build};
use crate::runner::run::RunError;
use crate::runner::{RunResult, run_plan};
use crate::scenario::Definition;

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

/// One scenario's results.
struct Judged {
    shown: ScenarioReport,
    judgement: Judgement,
}

/// What ran so far: kept outside the run so Ctrl-C can still print it.
#[derive(Default)]
struct Ran {
    judged: Vec<Judged>,
    skipped: Vec<(&'static str, String)>,
    written: Vec<PathBuf>,
}

/// Runs every scenario of `config`, writes reports (and baselines), prints the summary and the
/// one-line verdict. Ctrl-C stops the run and prints what ran.
///
/// # Errors
/// [`AppError`] when a scenario cannot run or a file cannot be read or written.
pub async fn run(config: &RunConfig) -> Result<RunVerdict, AppError> {
    prepare(config)?;
    let environment = Environment::capture();
    let dir = baseline::dir_for(
        &config.baselines_root,
        &config.target_name,
        config.profile.label(config.overrides),
    )?;
    let noise = baseline::load_noise(&dir, &environment.host_class())?;
    let progress = Progress::new(config.scenarios.len() as u64 * u64::from(config.repeat));
    let mut ran = Ran::default();
    let interrupted = tokio::select! {
        result = run_all(config, &dir, noise.as_ref(), &environment, &progress, &mut ran) => {
            result?;
            false
        }
        _ = tokio::signal::ctrl_c() => true,
    };
    progress.finish();
    if interrupted {
        eprintln!("sse-load: interrupted (Ctrl-C); the summary of what ran:");
    }
    let mut verdict = print_summary(&ran);
    verdict.interrupted = interrupted;
    println!("\n{}", verdict.line(config.fail_on_regression));
    Ok(verdict)
}

/// The output folder, and the fd limit for many streams.
fn prepare(config: &RunConfig) -> Result<(), AppError> {
    raise_fd_limit(config);
    std::fs::create_dir_all(&config.output_dir).map_err(|source| AppError::OutputDir {
        path: config.output_dir.clone(),
        source,
    })
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

async fn run_all(
    config: &RunConfig,
    dir: &Path,
    noise: Option<&NoiseModel>,
    environment: &Environment,
    progress: &Progress,
    ran: &mut Ran,
) -> Result<(), AppError> {
    for definition in &config.scenarios {
        let base = load_baseline(dir, definition.name, config.update_baseline)?;
        let runs = match run_scenario(definition, config, environment, progress).await? {
            Ok(runs) => runs,
            Err(reason) => {
                ran.skipped.push((definition.name, reason));
                continue;
            }
        };
        let mut judgement = gate::judge_with(&runs, base.as_ref(), noise, &config.thresholds);
        if base.is_some() {
            judgement.baseline = baseline::path_for(dir, definition.name)
                .ok()
                .map(|p| p.display().to_string());
        }
        let mut shown = gate::representative(&runs).unwrap_or(&runs[0]).clone();
        if runs.len() > 1 {
            shown.kpi_runs = kpi_runs(&runs);
        }
        warn_generator_bound(&shown, progress);
        shown.verdict = Some(judgement.clone());
        let files = report::write_reports(&config.output_dir, &shown, Some(&judgement), base.as_ref())?;
        ran.written.extend(files.paths());
        if config.update_baseline {
            let saved = baseline::save(dir, &shown, true)?;
            progress.suspend(|| eprintln!("{saved}"));
        }
        ran.judged.push(Judged { shown, judgement });
    }
    Ok(())
}

/// Runs one scenario `config.repeat` times: the reports, or why it was skipped.
pub(super) async fn run_scenario(
    definition: &'static Definition,
    config: &RunConfig,
    environment: &Environment,
    progress: &Progress,
) -> Result<Result<Vec<ScenarioReport>, String>, AppError> {
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
                progress.inc(u64::from(config.repeat - repeat));
                return Ok(Err(reason));
            }
            RunResult::Done(measured) => {
                let labels = Labels {
                    profile: config.profile.label(config.overrides),
                    repeat,
                    environment,
                };
                runs.push(build(definition, &plan, *measured, &labels));
            }
        }
    }
    Ok(Ok(runs))
}

/// Each KPI over the runs, for the baseline to keep the distribution.
fn kpi_runs(runs: &[ScenarioReport]) -> std::collections::BTreeMap<String, Vec<f64>> {
    let mut out: std::collections::BTreeMap<String, Vec<f64>> = std::collections::BTreeMap::new();
    for run in runs {
        for (metric, value, _) in noise::kpis(run) {
            out.entry(metric).or_default().push(value);
        }
    }
    out
}

fn warn_generator_bound(shown: &ScenarioReport, progress: &Progress) {
    if shown.cpu.generator_bound {
        progress.suspend(|| {
            eprintln!(
                "warning: {}: the generator was CPU-bound (it used {:.0}% of the CPU the server left: {:.2} CPU s vs \
                 server {}); figures are limited by sse-load",
                shown.scenario,
                shown.cpu.generator_saturation.unwrap_or(0.0) * 100.0,
                shown.cpu.generator_seconds,
                shown.cpu.server_seconds.map_or("n/a".into(), |s| format!("{s:.2} s"))
            );
        });
    }
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

/// Prints the table, skips, problems, not-judged findings and files; returns the run verdict.
fn print_summary(ran: &Ran) -> RunVerdict {
    let rows: Vec<SummaryRow<'_>> = ran
        .judged
        .iter()
        .map(|j| SummaryRow {
            report: &j.shown,
            judgement: Some(&j.judgement),
        })
        .collect();
    if !rows.is_empty() {
        print!("{}", terminal::summary(&rows));
    }
    let mut verdict = RunVerdict::default();
    for j in &ran.judged {
        verdict.add(&j.judgement);
    }
    for (name, reason) in &ran.skipped {
        println!("skipped {name}: {reason}");
        verdict.skip(name, reason);
    }
    let judgements: Vec<&Judgement> = ran.judged.iter().map(|j| &j.judgement).collect();
    let problems = terminal::problems(&judgements);
    if !problems.is_empty() {
        print!("\n{problems}");
    }
    let not_judged = terminal::not_judged(&judgements);
    if !not_judged.is_empty() {
        print!("\n{not_judged}");
    }
    if !ran.written.is_empty() {
        print!("\n{}", terminal::written(&ran.written));
    }
    verdict
}
