//! What a run measures: latency histograms, event sequences, CPU, server figures and a bounded timeline.
//!
//! * [`histogram`]: fixed-size HDR histograms in microseconds, coordinated-omission correction.
//! * [`stats`]: per-worker shards of histograms and counts, merged at the end.
//! * [`sequence`]: gaps, duplicates and out-of-order ids per client, allocation-free.
//! * [`cpu`]: generator CPU (`getrusage`) and embedded-server CPU (`/proc/<pid>`).
//! * [`timeline`], [`slope`], [`sampler`]: samples over time in bounded memory, RSS growth in MB/s.
//! * [`server`]: server figures from `/metrics` (JSON or [`prometheus`] text) or `/proc/<pid>` ([`process`]).
//! * [`send_time`]: where an event carries its send time (publish-to-receive latency).
//! * [`clock`]: Unix time of a receive instant without a clock read per event.

pub mod clock;
pub mod cpu;
pub mod histogram;
pub mod process;
pub mod prometheus;
pub mod sampler;
pub mod send_time;
pub mod sequence;
pub mod server;
pub mod slope;
pub mod stats;
pub mod timeline;
