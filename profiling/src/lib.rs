//! Heap (dhat) and CPU (pprof) profiling runs of the reference SSE server.
//!
//! Two binaries run the reference server in-process while a separate load-generator
//! process (the same binary re-executed in a hidden `drive` mode: `sse_bench::drive`)
//! drives a fixed workload in phases ([`workload`], [`phases`]). This crate is the
//! server-side measurement only:
//!
//! * `sse-heap` runs under dhat's global allocator and reports allocations and bytes per
//!   published event, per delivered event and per connection, heap per idle connection
//!   and the heap left once everyone disconnected ([`heap`]).
//! * `sse-cpu` runs under pprof and reports server CPU time per delivered event from
//!   process CPU clocks (user and system apart), write calls per event, the hottest
//!   frames, and how long the server's event loop was blocked ([`cpu`], [`blocking`]).
//!
//! Memory and CPU are never profiled in the same run: each binary does one.
//! Summaries are JSON ([`summary`]) and compare against `baselines/profiling/`.

pub mod baseline;
pub mod blocking;
pub mod cli;
pub mod cpu;
pub mod frames;
pub mod heap;
pub mod phases;
pub mod server;
pub mod summary;
pub mod workload;

/// Logs warnings and errors to stderr (`RUST_LOG` overrides), for the binaries.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
