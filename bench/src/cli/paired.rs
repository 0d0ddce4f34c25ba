//! `--paired`: each scenario's baseline measured in this run, interleaved with the current runs
//! (A1 B1 A2 B2 …), and B judged against A ([`crate::gate::paired`]).
//!
//! A is the embedded server of `--baseline-exe` (with `--baseline-server-arg`), B the usual
//! embedded server (with `--embedded-server-arg`). B's reports are written as usual; A's go to
//! `<output-dir>/baseline/`, without a verdict of their own. A failed absolute check of A is
//! printed as a warning and does not decide B's verdict.

use std::path::PathBuf;

use super::config::{Paired, RunConfig};
use super::progress::Progress;
use super::runs::{AppError, Compared, Outcome, Step};
use crate::environment::Environment;
use crate::gate::noise::NoiseModel;
use crate::gate::paired::{baseline_check_failures, judge_paired};
use crate::gate::summarize;
use crate::model::ScenarioReport;
use crate::report;
use crate::runner::TargetSpec;
use crate::scenario::Definition;

/// The folder of A's reports under the output directory.
pub const BASELINE_REPORTS: &str = "baseline";

/// Runs `definition` `config.repeat` times on each side, A then B each repeat, writes A's
/// reports (their paths added to `written`) and judges B against A; or why it was skipped.
pub(super) async fn compare(
    definition: &'static Definition,
    paired: &Paired,
    config: &RunConfig,
    noise: Option<&NoiseModel>,
    environment: &Environment,
    progress: &Progress,
    written: &mut Vec<PathBuf>,
) -> Outcome<Compared> {
    let mut plan = definition.plan(config.profile.scale(definition.smoke, config.overrides));
    plan.reader_threads = config.reader_threads;
    let baseline_target = TargetSpec::Embedded(paired.baseline.clone());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let total = 2 * u64::from(config.repeat);
    for repeat in 1..=config.repeat {
        let step = Step {
            definition,
            plan: &plan,
            repeat,
        };
        for (side, target, runs) in [("A", &baseline_target, &mut a), ("B", &config.target, &mut b)] {
            progress.set_message(format!(
                "{} ({side} {repeat}/{}, paired)",
                definition.name, config.repeat
            ));
            match step.run(target, config, environment).await? {
                Ok(run) => runs.push(run),
                Err(reason) => {
                    let done = u64::from(repeat - 1) * 2 + u64::from(side == "B");
                    progress.inc(total - done);
                    return Ok(Err(reason));
                }
            }
            progress.inc(1);
        }
    }
    written.extend(write_baseline_side(&a, config)?);
    warn_baseline_checks(&a, config, progress);
    let described = format!(
        "measured in this run, interleaved A/B: {} run(s) of the embedded server of {}",
        a.len(),
        paired.baseline.exe.display()
    );
    let (judgement, base) = judge_paired(&b, &a, noise, &described, &config.thresholds);
    Ok(Ok(Compared {
        runs: b,
        base,
        judgement,
    }))
}

/// Writes the report that stands for A's runs to `<output-dir>/baseline/`, so nothing is lost.
fn write_baseline_side(a: &[ScenarioReport], config: &RunConfig) -> Result<Vec<PathBuf>, AppError> {
    let Some(shown) = summarize(a) else {
        return Ok(Vec::new());
    };
    let dir = config.output_dir.join(BASELINE_REPORTS);
    let files = report::write_reports(&dir, &shown, None, None)?;
    Ok(files.paths().to_vec())
}

/// One warning line per absolute check A failed: B's verdict does not depend on them.
fn warn_baseline_checks(a: &[ScenarioReport], config: &RunConfig, progress: &Progress) {
    for finding in baseline_check_failures(a, &config.thresholds) {
        let scenario = a.first().map_or("", |r| r.scenario.as_str());
        progress.suspend(|| {
            eprintln!(
                "warning: {scenario}: the baseline server (A) failed {}: {} ({}); \
                 not counted in the verdict, which judges the current server (B)",
                finding.metric,
                finding.current.map_or("n/a".into(), |v| v.to_string()),
                finding.rule
            );
        });
    }
}
