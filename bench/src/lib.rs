//! Load-test harness for SSE servers (work in progress).

pub mod report;
pub mod criterion_compare;
pub mod gate;
pub mod baseline;
pub mod client;
pub mod measure;
pub mod cli;
pub mod profile;
pub mod scenario;
pub mod target;
