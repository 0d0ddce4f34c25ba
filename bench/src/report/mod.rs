//! Load-test reports: the data model, environment capture, JSON/HTML/terminal output and comparison.
//!
//! The pipeline is measure (harness) → [`model::ScenarioReport`] → judge ([`crate::gate`]) →
//! write ([`json`], [`html`]) and print ([`terminal`]). [`compare`] diffs two reports.

pub mod atomic;
pub mod environment;
pub mod model;

pub use environment::Environment;
pub use model::*;
