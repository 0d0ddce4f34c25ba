//! The fixed workload each scale profile (`smoke`, `small`, `medium`, `large`: [`Profile`], the one `sse-load` uses) runs.
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

use serde::{Deserialize, Serialize};
pub use sse_bench::profile::Profile;

/// The profiles the profiling binaries offer (`soak` is a duration, which a fixed
/// workload does not have), smallest first.
pub const PROFILES: [Profile; 4] = [Profile::Smoke, Profile::Small, Profile::Medium, Profile::Large];

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

impl Workload {
    /// The workload of `profile` for a run of `kind`. `soak`, which the binaries refuse,
    /// runs smoke's workload.
    pub fn of(profile: Profile, kind: RunKind) -> Self {
        let (subscribers, events, cycles) = match (kind, profile) {
            (RunKind::Heap, Profile::Smoke | Profile::Soak) => (100, 1_000, 200),
            (RunKind::Heap, Profile::Small) => (500, 2_000, 1_000),
            (RunKind::Heap, Profile::Medium) => (2_000, 2_000, 4_000),
            (RunKind::Heap, Profile::Large) => (10_000, 1_000, 10_000),
            (RunKind::Cpu, Profile::Smoke | Profile::Soak) => (100, 20_000, 1_000),
            (RunKind::Cpu, Profile::Small) => (500, 10_000, 2_000),
            (RunKind::Cpu, Profile::Medium) => (2_000, 5_000, 5_000),
            (RunKind::Cpu, Profile::Large) => (10_000, 2_000, 10_000),
        };
        Self {
            subscribers,
            events,
            cycles,
            batch: BATCH,
            frame_bytes: FRAME_BYTES,
            warmup_cycles: WARMUP_CYCLES,
        }
    }

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
            let sizes: Vec<u64> = PROFILES
                .iter()
                .map(|&p| Workload::of(p, kind).subscribers)
                .collect();
            assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{kind:?}: {sizes:?}");
            for profile in PROFILES {
                let w = Workload::of(profile, kind);
                assert!(2 * w.batch < sse_server::Config::default().replay_capacity as u64);
                assert!(w.events >= w.batch && w.cycles > 0);
            }
        }
        assert_eq!(Workload::of(Profile::Smoke, RunKind::Heap).subscribers, 100);
        assert_eq!(Workload::of(Profile::Smoke, RunKind::Heap).events, 1_000);
        assert_eq!(Workload::of(Profile::Smoke, RunKind::Heap).cycles, 200);
    }
}
