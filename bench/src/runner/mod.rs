//! How a scenario runs: the parts that execute any [`Plan`](crate::scenario::Plan).
//!
//! [`run::run_plan`] executes a plan with the same parts every time: one reading-client loop
//! ([`reader`], recording through [`recorder`], sharing a [`context`]), frozen raw-TCP clients
//! ([`frozen`]), a generator publisher ([`publish`]), mid-run actions, the sampler, and the
//! target [`probe`]s; [`collect`] stops them and assembles what was measured. [`build_report::build`] turns the result into a
//! [`crate::model::ScenarioReport`].

pub mod build_report;
pub mod collect;
pub mod context;
pub mod frozen;
pub mod probe;
pub mod publish;
pub mod reader;
pub mod recorder;
pub mod run;

pub use run::{RunResult, TargetSpec, run_plan};
