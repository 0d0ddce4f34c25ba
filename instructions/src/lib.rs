//! The instruction-count gate: hot-path bench bodies, gungraun's summaries, git-tracked baselines, their comparison.
//!
//! `benches/instructions.rs` counts the instructions of the hot paths under callgrind (through
//! gungraun, only with `--features gungraun`); `instruction-gate` reads gungraun's JSON output
//! ([`summary`]), saves it as a git-tracked [`baseline`] with the toolchain and valgrind versions
//! it was taken with, and [`compare`]s a new run with it. `ci/instructions` runs the whole gate.

pub mod baseline;
pub mod compare;
pub mod fixtures;
pub mod summary;
