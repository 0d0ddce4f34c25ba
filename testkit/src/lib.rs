//! Test scaffolding shared by the tests of `sse-server`, `sse-bench` and `sse-profiling`
//! (a dev-dependency of each; never published).
//!
//! * [`alloc`]: a global allocator that counts allocations on the threads that ask, for
//!   tests that prove a hot path allocation-free (or allocating exactly once).
//! * [`wait`]: bounded waits — [`wait::within`] a future, [`wait::eventually`] a condition.
//! * [`process`]: run a binary to its end, killed and failed after a deadline.

pub mod alloc;
pub mod process;
pub mod wait;
