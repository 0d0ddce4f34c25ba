//! Load-test harness for SSE servers (work in progress).

pub mod report;
pub mod gate;
pub mod baseline;
pub mod client;
