//! How a scenario runs: the parts that execute any [`crate::scenario::Plan`].
//!
//! [`run_plan`] executes a plan with the same parts every time: one reading-client loop
//! ([`reader`], recording through [`recorder`], sharing a [`context`], on the reader
//! threads of a [`pool`], started one group per thread), frozen raw-TCP clients
//! ([`frozen`]), a generator publisher ([`publish`]), mid-run actions, the sampler, and the
//! target [`probe`]s; [`collect`] stops them and assembles what was measured. The embedded
//! server or a URL is reached through [`reference`](mod@reference); a server a target file describes, through
//! [`described`]. [`build_report::build`] turns the result into a [`crate::model::ScenarioReport`].

pub mod build_report;
pub mod collect;
pub mod context;
mod crowd;
pub mod described;
pub mod frozen;
pub mod pool;
pub mod probe;
pub mod publish;
pub mod reader;
pub mod recorder;
pub mod reference;
pub mod run;

pub use reference::TargetSpec;
pub use run::RunResult;

use crate::scenario::Plan;

/// Runs `plan` against `spec`: the reference server's paths, or what a target file describes.
///
/// # Errors
/// The embedded server did not start, the target is unreachable, or its process is gone.
///
/// A plan with a [`Plan::control`] runs it first (the same clients without the frozen
/// ones; the embedded server is started afresh for it, a `--target` is reached as it is)
/// and hands its p99 gap between events to the checks.
pub async fn run_plan(plan: &Plan, spec: &TargetSpec) -> Result<RunResult, run::RunError> {
    let control_gap_p99 = match plan.control() {
        Some(control) => match run_once(&control, spec).await? {
            RunResult::Done(measured) => measured.outcome.gap_p99(),
            RunResult::Skipped(reason) => return Ok(RunResult::Skipped(reason)),
        },
        None => None,
    };
    let mut result = run_once(plan, spec).await?;
    if let RunResult::Done(measured) = &mut result {
        measured.outcome.control_gap_p99 = control_gap_p99;
    }
    Ok(result)
}

async fn run_once(plan: &Plan, spec: &TargetSpec) -> Result<RunResult, run::RunError> {
    match spec {
        TargetSpec::Described { description, pid } => described::run(plan, description, *pid).await,
        _ => reference::run_reference(plan, spec).await,
    }
}
