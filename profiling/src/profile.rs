//! Scale profiles (`smoke`, `small`, `medium`, `large`, the names `sse-load` uses) and the fixed workload each one runs.
//!
//! ## The workload
//! Every run drives the same four measured phases against the in-process server:
//!
//! | phase | what the load generator does | what it shows |
//! | --- | --- | --- |
//! | `idle` | opens `subscribers` streams on `/events`, then sends nothing | heap and allocations per connection |
//! | `fanout` | reads while the parent publishes `events` events in-process, in closed-loop batches of `batch` | allocations (heap) or CPU per published and per delivered event |
//! | `cycles` | `cycles` times, one after another: connect to `/sse?count=1&delay=0`, read the first event, close | cost of a short-lived connection, and whether it leaks |
//! | `disconnect` | closes the `subscribers` streams | heap left after everyone is gone: leak per connection |
//!
//! Before the measured phases, an unmeasured `warmup` fills the replay ring, runs
//! `warmup_cycles` connect/close cycles on both endpoints (initialising what is built
//! once per process or per worker thread), then one small round of everything at full
//! concurrency: `subscribers` streams, four batches of fan-out, all closed. Containers that
//! size themselves by the peak number of connections or queued writes (and keep their
//! capacity) have then grown, so what stays allocated after the measured phases is what
//! the workload itself left behind, not a high-water mark.
//!
//! Heap runs are slower (dhat records a backtrace per allocation) and count rather than
//! time, so they use fewer events than CPU runs, which need enough work for the sampler.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A named scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// 100 subscribers; each run well under a minute on 2 cores.
    Smoke,
    /// 500 subscribers.
    Small,
    /// 2,000 subscribers.
    Medium,
    /// 10,000 subscribers (raise `ulimit -n`; both processes raise their soft limit to the hard one).
    Large,
}

/// Which kind of run a workload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// dhat heap profile.
    Heap,
    /// pprof CPU profile.
    Cpu,
}

/// The numbers of one run (see the module docs for what each phase does with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// Streams opened on `/events` and held through `idle`, `fanout` and `cycles`.
    pub subscribers: u64,
    /// Events published during `fanout`; every subscriber must receive each one.
    pub events: u64,
    /// Connect → first event → close cycles during `cycles`.
    pub cycles: u64,
    /// Events published per batch; the publisher waits until every subscriber has
    /// received all but the last batch, so at most two batches are ever in flight
    /// (far below the replay capacity: no subscriber can lag).
    pub batch: u64,
    /// Encoded size of every published event in bytes (constant, whatever the id).
    pub frame_bytes: u64,
    /// Unmeasured connect/close cycles before the first measurement.
    pub warmup_cycles: u64,
}

/// Encoded size of every published frame (`id: N\ndata: t=<nanos> ....\n\n`).
pub const FRAME_BYTES: u64 = 96;
/// Events per publish batch.
pub const BATCH: u64 = 64;
/// Warm-up cycles (enough to touch both worker threads of a 2-core machine many times).
pub const WARMUP_CYCLES: u64 = 16;

impl Profile {
    /// Every profile, smallest first.
    pub const ALL: [Profile; 4] = [Self::Smoke, Self::Small, Self::Medium, Self::Large];

    /// The name accepted by `--profile`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }

    /// The workload of this profile for a run of `kind`.
    pub fn workload(self, kind: RunKind) -> Workload {
        let (subscribers, events, cycles) = match (kind, self) {
            (RunKind::Heap, Self::Smoke) => (100, 1_000, 200),
            (RunKind::Heap, Self::Small) => (500, 2_000, 1_000),
            (RunKind::Heap, Self::Medium) => (2_000, 2_000, 4_000),
            (RunKind::Heap, Self::Large) => (10_000, 1_000, 10_000),
            (RunKind::Cpu, Self::Smoke) => (100, 20_000, 1_000),
            (RunKind::Cpu, Self::Small) => (500, 10_000, 2_000),
            (RunKind::Cpu, Self::Medium) => (2_000, 5_000, 5_000),
            (RunKind::Cpu, Self::Large) => (10_000, 2_000, 10_000),
        };
        Workload {
            subscribers,
            events,
            cycles,
            batch: BATCH,
            frame_bytes: FRAME_BYTES,
            warmup_cycles: WARMUP_CYCLES,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Workload {
    /// Events every subscriber receives in total during `fanout`.
    pub fn deliveries(&self) -> u64 {
        self.events * self.subscribers
    }

    /// Connections opened by the measured phases (`subscribers` + `cycles`).
    pub fn connections(&self) -> u64 {
        self.subscribers + self.cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_grow_and_keep_batches_far_below_the_replay_ring() {
        for kind in [RunKind::Heap, RunKind::Cpu] {
            let sizes: Vec<u64> = Profile::ALL
                .iter()
                .map(|p| p.workload(kind).subscribers)
                .collect();
            assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{kind:?}: {sizes:?}");
            for profile in Profile::ALL {
                let w = profile.workload(kind);
                assert!(2 * w.batch < sse_server::Config::default().replay_capacity as u64);
                assert!(w.events >= w.batch && w.cycles > 0);
            }
        }
        assert_eq!(Profile::Smoke.workload(RunKind::Heap).subscribers, 100);
        assert_eq!(Profile::Smoke.workload(RunKind::Heap).events, 1_000);
        assert_eq!(Profile::Smoke.workload(RunKind::Heap).cycles, 200);
    }

    #[test]
    fn names_match_the_cli() {
        use clap::ValueEnum;
        for profile in Profile::ALL {
            let parsed = Profile::from_str(profile.name(), false).unwrap();
            assert_eq!(parsed, profile);
            assert_eq!(profile.to_string(), profile.name());
        }
    }
}
