//! One scenario's runs against one server: each repeat measured and labelled, and the errors that end a run.

use std::path::PathBuf;

use super::config::RunConfig;
use super::progress::Progress;
use crate::baseline::BaselineError;
use crate::environment::Environment;
use crate::gate::Judgement;
use crate::model::ScenarioReport;
use crate::report::ReportError;
use crate::runner::build_report::{Labels, build};
use crate::runner::run::RunError;
use crate::runner::{RunResult, TargetSpec, run_plan};
use crate::scenario::{Definition, Plan};

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

/// One scenario's runs, judged: what the summary, the reports and the verdict are made of.
pub(super) struct Compared {
    /// The runs judged (one per repeat).
    pub runs: Vec<ScenarioReport>,
    /// What they were compared with, for the reports' comparison.
    pub base: Option<ScenarioReport>,
    /// The gate's decision.
    pub judgement: Judgement,
}

/// A scenario measured, or the reason it could not run on this target (skipped).
pub(super) type Outcome<T> = Result<Result<T, String>, AppError>;

/// Runs one scenario `config.repeat` times against `config.target`: the reports, or why it
/// was skipped.
pub(super) async fn run_scenario(
    definition: &'static Definition,
    config: &RunConfig,
    environment: &Environment,
    progress: &Progress,
) -> Outcome<Vec<ScenarioReport>> {
    let mut plan = definition.plan(config.profile.scale(definition.smoke, config.overrides));
    plan.reader_threads = config.reader_threads;
    let mut runs = Vec::new();
    for repeat in 1..=config.repeat {
        progress.set_message(format!("{} ({repeat}/{})", definition.name, config.repeat));
        let step = Step {
            definition,
            plan: &plan,
            repeat,
        };
        match step.run(&config.target, config, environment).await? {
            Ok(run) => runs.push(run),
            Err(reason) => {
                progress.inc(u64::from(config.repeat - repeat + 1));
                return Ok(Err(reason));
            }
        }
        progress.inc(1);
    }
    Ok(Ok(runs))
}

/// One repeat of one scenario.
pub(super) struct Step<'a> {
    /// The scenario.
    pub definition: &'static Definition,
    /// Its plan at the configured scale.
    pub plan: &'a Plan,
    /// Which repeat, from 1.
    pub repeat: u32,
}

impl Step<'_> {
    /// Runs the step against `target`: its report, or why the scenario cannot run there.
    pub async fn run(
        &self,
        target: &TargetSpec,
        config: &RunConfig,
        environment: &Environment,
    ) -> Outcome<ScenarioReport> {
        let result = run_plan(self.plan, target)
            .await
            .map_err(|source| AppError::Run {
                scenario: self.definition.name,
                source,
            })?;
        Ok(match result {
            RunResult::Skipped(reason) => Err(reason),
            RunResult::Done(measured) => {
                let labels = Labels {
                    profile: config.profile.label(config.overrides),
                    repeat: self.repeat,
                    environment,
                };
                Ok(build(self.definition, self.plan, *measured, &labels))
            }
        })
    }
}
