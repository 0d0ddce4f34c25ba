//! Running the selected scenarios: repeats, progress, reports, baselines, gates and the final verdict.

use std::path::{Path, PathBuf};

use super::config::RunConfig;
use super::paired;
use super::progress::Progress;
use super::runs::{Compared, Outcome, run_scenario};
use crate::baseline;
use crate::environment::Environment;
use crate::gate::noise::NoiseModel;
use crate::gate::{self, Judgement, RunVerdict};
use crate::model::ScenarioReport;
use crate::report;
use crate::report::terminal::{self, SummaryRow};
use crate::scenario::Definition;

pub use super::runs::AppError;

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
    // Paired runs read no recorded baseline; the recorded noise, when there is one, is pooled
    // with the paired runs' own (see `gate::paired`).
    let noise = baseline::load_noise(&dir, &environment.host_class())?;
    let sides = if config.paired.is_some() { 2 } else { 1 };
    let progress = Progress::new(config.scenarios.len() as u64 * u64::from(config.repeat) * sides);
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
        let compared = match &config.paired {
            Some(p) => {
                paired::compare(
                    definition,
                    p,
                    config,
                    noise,
                    environment,
                    progress,
                    &mut ran.written,
                )
                .await?
            }
            None => sequential(definition, config, dir, noise, environment, progress).await?,
        };
        let Compared {
            runs,
            base,
            judgement,
        } = match compared {
            Ok(compared) => compared,
            Err(reason) => {
                ran.skipped.push((definition.name, reason));
                continue;
            }
        };
        let Some(mut shown) = gate::summarize(&runs) else {
            continue;
        };
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

/// Runs one scenario against the baseline recorded in `dir` (and its noise model).
async fn sequential(
    definition: &'static Definition,
    config: &RunConfig,
    dir: &Path,
    noise: Option<&NoiseModel>,
    environment: &Environment,
    progress: &Progress,
) -> Outcome<Compared> {
    let base = load_baseline(dir, definition.name, config.update_baseline)?;
    let runs = match run_scenario(definition, config, environment, progress).await? {
        Ok(runs) => runs,
        Err(reason) => return Ok(Err(reason)),
    };
    let mut judgement = gate::judge_with(&runs, base.as_ref(), noise, &config.thresholds);
    if base.is_some() {
        judgement.baseline = baseline::path_for(dir, definition.name)
            .ok()
            .map(|p| p.display().to_string());
    }
    Ok(Ok(Compared {
        runs,
        base,
        judgement,
    }))
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
