//! Load-test harness for SSE servers (work in progress).

pub mod baseline;
pub mod cli;
pub mod client;
pub mod criterion_compare;
pub mod gate;
pub mod measure;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod target;
