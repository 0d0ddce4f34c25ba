//! Load-test harness for SSE servers, folded as a pipeline.
//!
//! Each folder is one stage and imports only the stages below it (a test in
//! `tests/layering.rs` keeps it so):
//!
//! * [`fs`], [`environment`], [`profile`], [`source_path`]: leaves (atomic writes, the machine,
//!   the scale, profiler frames' source paths).
//! * [`child`]: one child process (handshake line, kill-on-drop, parent-death signal).
//! * [`client`]: the HTTP/SSE client. [`measure`]: histograms, sequences, CPU, timeline.
//! * [`model`]: the report's data model, what [`gate`], [`report`] and [`baseline`] read;
//!   [`verdict`]: what a gate decided, carried by the report.
//! * [`scenario`]: *what* runs (catalog, plan, population, feed, checks, outcome).
//! * [`target`]: the embedded server or an external URL; [`description`]: a target file (any server).
//! * [`runner`]: *how* it runs (clients, frozen clients, publisher, probes, the report built).
//! * [`requests`]: request-driven streams (LLM-style), open or closed model, with their own report.
//! * [`gate`], [`baseline`], [`report`] (output only), [`bench_compare`], [`cli`].

pub mod baseline;
pub mod bench_compare;
pub mod child;
pub mod cli;
pub mod client;
pub mod description;
pub mod drive;
pub mod environment;
pub mod fs;
pub mod gate;
pub mod ladder;
pub mod measure;
pub mod model;
pub mod profile;
pub mod report;
pub mod requests;
pub mod runner;
pub mod scenario;
pub mod source_path;
pub mod target;
pub mod verdict;
