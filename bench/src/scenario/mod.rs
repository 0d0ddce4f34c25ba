//! Scenarios, composed from parts rather than written as one loop each.
//!
//! A scenario ([`catalog::Definition`]) builds a [`plan::Plan`] from:
//! * who connects — [`population`]: how many clients, ramp, hold / churn / reconnect, frozen clients;
//! * how events arrive — [`feed`]: a generated `/sse` stream per connection, the hub `/events`
//!   at a fixed rate, or a burst of `POST /publish`;
//! * when to stop — [`plan::Stop`]: a duration, or a number of events per client;
//! * what happens mid-run — [`plan::Action`]: SIGTERM to the embedded server;
//! * what counts as failure — [`checks`], judged on the run's [`outcome`].
//!
//! [`run::run_plan`] executes any plan with the same parts: one reading-client loop
//! ([`client`], recording through [`recorder`]), frozen raw-TCP clients ([`frozen`]), a
//! generator publisher ([`publish`]), mid-run actions ([`phases`]), the sampler, and the
//! target [`probe`]s. [`report::build`] turns the result into a
//! [`crate::report::model::ScenarioReport`].

pub mod catalog;
pub mod checks;
pub mod client;
pub mod context;
pub mod feed;
pub mod frozen;
pub mod outcome;
pub mod phases;
pub mod plan;
pub mod population;
pub mod probe;
pub mod publish;
pub mod recorder;
pub mod report;
pub mod run;

pub use catalog::{ALL, Definition, find};
pub use plan::Plan;
pub use run::{RunResult, TargetSpec, run_plan};
