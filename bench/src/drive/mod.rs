//! The phase-driven load generator of the profiling runs, and the parent's handle on it.
//!
//! A profiling run (`sse-heap`, `sse-cpu`) keeps the server in its own process and drives
//! it from a child process, so the generator's allocations and CPU time never mix with the
//! server's (the opposite topology of `sse-load`, whose server is the child). The two
//! talk in lock-step over the child's stdin and stdout:
//!
//! * [`protocol`]: the commands, the replies and the [`Phase`](protocol::Phase)s, one line each.
//! * [`driver`]: the parent's side, a [`Driver`](driver::Driver) over a [`crate::child::Child`].
//! * [`generator`]: the child's side, reading streams with the scenario client's reader
//!   ([`crate::runner::reader::read_events`]) and checking ids with the
//!   [`SequenceTracker`](crate::measure::sequence::SequenceTracker).
//!
//! The lock-step protocol stays out of the scenario plan: a profiling run measures the
//! server phase by phase, not a scenario.

pub mod driver;
pub mod generator;
pub mod protocol;
