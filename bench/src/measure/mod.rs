//! What a run measures: latency histograms, event sequences, CPU, server figures and a bounded timeline.
//!
//! * [`histogram`]: fixed-size HDR histograms in microseconds, coordinated-omission correction.
//! * [`stats`]: per-worker shards of histograms and counts, merged at the end.
//! * [`sequence`]: gaps, duplicates and out-of-order ids per client, allocation-free.
//! * [`cpu`]: generator CPU (`getrusage`) and embedded-server CPU (`/proc/<pid>`).
//! * [`timeline`], [`slope`], [`sampler`]: samples over time in bounded memory, RSS growth in MB/s.
//! * [`server`]: server figures from `/metrics` or `/proc/<pid>`.

pub mod cpu;
pub mod histogram;
pub mod process;
pub mod sampler;
pub mod send_time;
pub mod sequence;
pub mod server;
pub mod slope;
pub mod stats;
pub mod timeline;
