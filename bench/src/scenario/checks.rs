//! What counts as failure: a scenario's absolute checks, judged on the run's [`Outcome`].
//!
//! A check that cannot be judged on this target (say, no `/metrics`) is left out of the
//! report rather than passed. Timing-based checks carry generous margins: they catch a
//! broken server, not a slow machine (the regression gate compares timings).

use std::time::Duration;

use super::outcome::Outcome;
use crate::model::Check;

/// A scenario check, named as the report names it ([`CheckKind::name`]); each is judged
/// by one function of this module with the same name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckKind {
    /// No event ids skipped (within the stream or the replay window).
    NoLostEvents,
    /// No event received twice.
    NoDuplicateEvents,
    /// Every connection attempt got an event stream.
    AllConnected,
    /// The server ended no stream before the run stopped.
    NoDisconnects,
    /// Every subscriber received every published event (burst).
    ReceivedEveryEvent,
    /// Exactly one shutdown watcher task (`watcher_count == 1`).
    SingleWatcher,
    /// Mid-run, the server's `registered_events` equals the streams the generator holds.
    RegisteredEqualsOpen,
    /// After the clients left, `registered_events` is back to 0 and no client connection is open.
    StreamsReleased,
    /// After the clients left, the server holds no more fds than at the start.
    FdsReleased,
    /// Every frozen client was evicted within the limit (send_timeout + margin).
    FrozenClientsEvicted {
        /// The limit.
        within: Duration,
    },
    /// The slowest reading client still got this share of the nominal rate.
    FastClientsKeepRate {
        /// Minimum share, 0..1.
        min_fraction: f64,
    },
    /// The fast (reading) clients' p99 gap between events is at most `max_ratio` times
    /// the p99 of the same run without the frozen clients ([`super::plan::Plan::control`]),
    /// measured just before it.
    FastClientsLatencyHeld {
        /// Largest ratio of the two p99s.
        max_ratio: f64,
    },
    /// After SIGTERM every stream ended within the limit, cleanly, and the server exited 0.
    CleanShutdown {
        /// The limit (the server's shutdown grace plus margin).
        within: Duration,
    },
    /// The memory of clients that left is reclaimed: a second wave of the same clients
    /// (after a [`super::plan::Action::Pause`]) takes RSS above the level the first wave
    /// reached by at most this share of what the first wave grew (the allocator may keep
    /// freed memory or return it to the OS, but the second wave must reuse it). RSS counts
    /// touched pages, not allocations, so a server that reuses all it freed may still
    /// grow here. The second wave can write pages that the first wave allocated and never
    /// wrote, such as the unused tails of read buffers. The limit leaves room for that.
    MemoryReclaimed {
        /// Largest second-wave growth, as a share of the first wave's growth.
        max_regrowth: f64,
    },
    /// Server RSS never grew by more than this many MiB.
    MemoryBounded {
        /// Limit, MiB.
        max_growth_mb: f64,
    },
}

/// What one check found: whether it held, and what was expected and seen.
type Verdict = (bool, String);

impl CheckKind {
    /// The name the report gives the check (`checks[].name`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoLostEvents => "no_lost_events",
            Self::NoDuplicateEvents => "no_duplicate_events",
            Self::AllConnected => "all_connected",
            Self::NoDisconnects => "no_disconnects",
            Self::ReceivedEveryEvent => "received_every_event",
            Self::SingleWatcher => "single_watcher",
            Self::RegisteredEqualsOpen => "registered_equals_open",
            Self::StreamsReleased => "streams_released",
            Self::FdsReleased => "fds_released",
            Self::FrozenClientsEvicted { .. } => "frozen_clients_evicted",
            Self::FastClientsKeepRate { .. } => "fast_clients_keep_rate",
            Self::FastClientsLatencyHeld { .. } => "fast_clients_latency_held",
            Self::CleanShutdown { .. } => "clean_shutdown",
            Self::MemoryReclaimed { .. } => "memory_reclaimed",
            Self::MemoryBounded { .. } => "memory_bounded",
        }
    }

    /// What the check needs that a run may lack: the reason it is "not judged" when
    /// [`CheckKind::evaluate`] returns `None`.
    pub fn needs(&self) -> &'static str {
        match self {
            Self::SingleWatcher | Self::RegisteredEqualsOpen | Self::StreamsReleased | Self::FdsReleased => {
                "needs the server's /metrics figures, which this target did not give"
            }
            Self::FrozenClientsEvicted { .. } => {
                "needs the server's /metrics (clients_evicted) to observe evictions; this target has none"
            }
            Self::ReceivedEveryEvent => "needs a feed with a known number of events",
            Self::FastClientsKeepRate { .. } => "needs a feed with a nominal rate",
            Self::FastClientsLatencyHeld { .. } => {
                "needs gaps between events both in this run and in the run without frozen clients"
            }
            Self::CleanShutdown { .. } => "needs the embedded server (sse-load sends it SIGTERM)",
            Self::MemoryReclaimed { .. } | Self::MemoryBounded { .. } => {
                "needs the server's RSS (embedded server or /metrics rss)"
            }
            Self::NoLostEvents | Self::NoDuplicateEvents | Self::AllConnected | Self::NoDisconnects => {
                "always judged"
            }
        }
    }

    /// Judges the check; `None` when this run cannot tell (missing server figures).
    pub fn evaluate(&self, o: &Outcome) -> Option<Check> {
        let (passed, detail) = match *self {
            Self::NoLostEvents => no_lost_events(o),
            Self::NoDuplicateEvents => no_duplicate_events(o),
            Self::AllConnected => all_connected(o),
            Self::NoDisconnects => no_disconnects(o),
            Self::ReceivedEveryEvent => received_every_event(o)?,
            Self::SingleWatcher => single_watcher(o)?,
            Self::RegisteredEqualsOpen => registered_equals_open(o)?,
            Self::StreamsReleased => streams_released(o)?,
            Self::FdsReleased => fds_released(o)?,
            Self::FrozenClientsEvicted { within } => frozen_clients_evicted(o, within)?,
            Self::FastClientsKeepRate { min_fraction } => fast_clients_keep_rate(o, min_fraction)?,
            Self::FastClientsLatencyHeld { max_ratio } => fast_clients_latency_held(o, max_ratio)?,
            Self::CleanShutdown { within } => clean_shutdown(o, within)?,
            Self::MemoryReclaimed { max_regrowth } => memory_reclaimed(o, max_regrowth)?,
            Self::MemoryBounded { max_growth_mb } => memory_bounded(o, max_growth_mb)?,
        };
        Some(Check {
            name: self.name().to_owned(),
            passed,
            detail,
        })
    }
}

fn no_lost_events(o: &Outcome) -> Verdict {
    let e = &o.totals.counts.events;
    (
        e.lost == 0,
        format!("{} events lost over {} received (expected 0)", e.lost, e.received),
    )
}

fn no_duplicate_events(o: &Outcome) -> Verdict {
    let duplicated = o.totals.counts.events.duplicated;
    (
        duplicated == 0,
        format!("{duplicated} duplicated events (expected 0)"),
    )
}

fn all_connected(o: &Outcome) -> Verdict {
    let c = &o.totals.counts.connections;
    (
        c.failed == 0 && c.attempted > 0,
        format!("{} of {} connections failed", c.failed, c.attempted),
    )
}

fn no_disconnects(o: &Outcome) -> Verdict {
    (
        o.early_ends == 0,
        format!(
            "{} streams ended by the server before the run stopped (expected 0)",
            o.early_ends
        ),
    )
}

fn received_every_event(o: &Outcome) -> Option<Verdict> {
    let c = &o.totals.counts;
    let expected = o.expected_events?.saturating_mul(c.connections.succeeded);
    Some((
        c.events.received >= expected && expected > 0,
        format!(
            "received {} of {expected} events (every subscriber, every event)",
            c.events.received
        ),
    ))
}

fn single_watcher(o: &Outcome) -> Option<Verdict> {
    let watchers = o.end()?.watcher_count?;
    Some((
        watchers == 1.0,
        format!("watcher_count = {watchers} (expected 1)"),
    ))
}

fn registered_equals_open(o: &Outcome) -> Option<Verdict> {
    let (mid, open) = o.server_mid.as_ref()?;
    let registered = mid.registered_events?;
    Some((
        registered == *open as f64 && *open > 0,
        format!("mid-run registered_events = {registered}, streams open = {open}"),
    ))
}

fn streams_released(o: &Outcome) -> Option<Verdict> {
    let end = o.end()?;
    let registered = end.registered_events?;
    let connections = end.connections.unwrap_or(0.0);
    Some((
        // The /metrics request that reads the figures is itself one connection.
        registered == 0.0 && connections <= 1.0,
        format!(
            "after the clients left: registered_events = {registered}, connections = {connections} \
             (expected 0, and 1 for the /metrics request itself)"
        ),
    ))
}

fn fds_released(o: &Outcome) -> Option<Verdict> {
    let (start, end) = (o.start()?.num_fds?, o.end()?.num_fds?);
    Some((
        end <= start,
        format!("server fds {start} at start, {end} after the clients left"),
    ))
}

fn frozen_clients_evicted(o: &Outcome, within: Duration) -> Option<Verdict> {
    // Evictions are watched through /metrics: without it, "0 evicted" would say
    // nothing about the server.
    o.server_start.as_ref()?;
    let f = &o.frozen;
    let in_time = f.all_evicted_after.is_some_and(|d| d <= within);
    Some((
        f.clients > 0 && f.evicted >= f.clients && in_time,
        format!(
            "{} of {} frozen clients evicted, all after {}, limit {:.1}s",
            f.evicted,
            f.clients,
            f.all_evicted_after
                .map_or("never".into(), |d| format!("{:.2}s", d.as_secs_f64())),
            within.as_secs_f64()
        ),
    ))
}

fn fast_clients_keep_rate(o: &Outcome, min_fraction: f64) -> Option<Verdict> {
    let nominal = o.nominal_rate?;
    let rates = &o.totals.counts.per_client_rates;
    let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = if slowest.is_finite() { slowest } else { 0.0 };
    Some((
        slowest >= nominal * min_fraction,
        format!(
            "slowest reading client {slowest:.1} events/s, nominal {nominal:.1}, minimum {:.0}%",
            min_fraction * 100.0
        ),
    ))
}

fn fast_clients_latency_held(o: &Outcome, max_ratio: f64) -> Option<Verdict> {
    let control = o.control_gap_p99?;
    let p99 = o.gap_p99()?;
    let ratio = p99.as_secs_f64() / control.as_secs_f64().max(1e-6);
    Some((
        ratio <= max_ratio,
        format!(
            "fast clients' p99 gap between events {:.1} ms, {:.1} ms in a run without frozen clients: \
             {ratio:.2}×, limit {max_ratio:.1}×",
            p99.as_secs_f64() * 1e3,
            control.as_secs_f64() * 1e3,
        ),
    ))
}

fn clean_shutdown(o: &Outcome, within: Duration) -> Option<Verdict> {
    let s = o.shutdown.as_ref()?;
    let in_time = s.all_ended_after.is_some_and(|d| d <= within);
    Some((
        in_time && s.ended_reset == 0 && s.ended == s.open_at_signal && s.exit_clean == Some(true),
        format!(
            "{} of {} streams ended ({} clean, {} reset), last after {}, limit {:.1}s, server exit {}",
            s.ended,
            s.open_at_signal,
            s.ended_clean,
            s.ended_reset,
            s.all_ended_after
                .map_or("never".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
            within.as_secs_f64(),
            match s.exit_clean {
                Some(true) => "0",
                Some(false) => "non-zero",
                None => "none (killed)",
            }
        ),
    ))
}

fn memory_reclaimed(o: &Outcome, max_regrowth: f64) -> Option<Verdict> {
    let m = o.memory.as_ref()?;
    let after_leave = o.rss_after_leave_mb?;
    // The level the first wave reached (the run's peak when it was not read).
    let wave = o.rss_first_wave_mb.unwrap_or(m.peak_mb);
    let first = (wave - m.start_mb).max(0.0);
    let returned = (wave - after_leave).max(0.0);
    // Measured from the first wave's level, not from the pause: memory the allocator
    // returned to the OS between the waves and the second wave took back is reused, not
    // grown; what a second wave adds above the first one's level is what was not reused.
    let regrowth = (m.end_mb - wave.max(after_leave)).max(0.0);
    // Below 1 MiB the page granularity of RSS dominates.
    Some((
        regrowth <= (first * max_regrowth).max(1.0),
        format!(
            "RSS {:.1} MiB at start, {wave:.1} with the first wave, {after_leave:.1} after it left \
             ({returned:.1} MiB returned to the OS), {:.1} after the second wave left: {regrowth:.1} MiB \
             above the first wave's level (limit {:.0}% of the first wave's {first:.1} MiB: freed \
             memory is reused)",
            m.start_mb,
            m.end_mb,
            max_regrowth * 100.0
        ),
    ))
}

fn memory_bounded(o: &Outcome, max_growth_mb: f64) -> Option<Verdict> {
    let m = o.memory.as_ref()?;
    let grew = m.peak_mb - m.start_mb;
    Some((
        grew <= max_growth_mb,
        format!("peak RSS growth {grew:.1} MiB (limit {max_growth_mb:.0} MiB)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::outcome::{Figures, FrozenOutcome};

    fn figures(pairs: &[(&str, f64)]) -> Figures {
        Figures::from_map(pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
    }

    #[test]
    fn checks_pass_and_fail_on_the_outcome() {
        let mut o = Outcome::default();
        o.totals.counts.events.received = 10;
        assert!(CheckKind::NoLostEvents.evaluate(&o).unwrap().passed);
        o.totals.counts.events.lost = 1;
        assert!(!CheckKind::NoLostEvents.evaluate(&o).unwrap().passed);
        assert!(
            CheckKind::SingleWatcher.evaluate(&o).is_none(),
            "no metrics: not judged"
        );
        o.server_end = Some(figures(&[
            ("watcher_count", 2.0),
            ("registered_events", 0.0),
            ("num_fds", 12.0),
        ]));
        o.server_start = Some(figures(&[("num_fds", 11.0)]));
        assert!(!CheckKind::SingleWatcher.evaluate(&o).unwrap().passed);
        assert!(CheckKind::StreamsReleased.evaluate(&o).unwrap().passed);
        assert!(!CheckKind::FdsReleased.evaluate(&o).unwrap().passed);
        o.server_mid = Some((figures(&[("registered_events", 5.0)]), 5));
        assert!(CheckKind::RegisteredEqualsOpen.evaluate(&o).unwrap().passed);
    }

    #[test]
    fn memory_reclaimed_counts_what_the_second_wave_adds_above_the_first() {
        let memory = |end_mb: f64| crate::model::Memory {
            start_mb: 10.0,
            peak_mb: end_mb.max(210.0),
            end_mb,
            growth_mb: end_mb - 10.0,
            slope_mb_per_sec: 0.0,
            slope_window_seconds: 0.0,
            slope_steady: true,
        };
        let outcome = |end_mb, after_leave| Outcome {
            memory: Some(memory(end_mb)),
            rss_first_wave_mb: Some(210.0),
            rss_after_leave_mb: Some(after_leave),
            ..Outcome::default()
        };
        // 70 MiB went back to the OS and the second wave took it back: reused.
        let (ok, why) = memory_reclaimed(&outcome(210.0, 140.0), 0.25).unwrap();
        assert!(ok, "{why}");
        assert!(
            why.contains("70.0 MiB returned to the OS") && why.contains("0.0 MiB above"),
            "{why}"
        );
        // Nothing returned, and the second wave adds 60 MiB on top: not reused.
        let (ok, why) = memory_reclaimed(&outcome(270.0, 210.0), 0.25).unwrap();
        assert!(!ok, "{why}");
        assert!(
            why.contains("60.0 MiB above the first wave's level (limit 25% of the first wave's 200.0"),
            "{why}"
        );
        // The same 60 MiB on top after memory went back to the OS: still not reused.
        let (ok, _) = memory_reclaimed(&outcome(270.0, 140.0), 0.25).unwrap();
        assert!(!ok);
        // No pause reading: not judged.
        let no_pause = Outcome {
            memory: Some(memory(210.0)),
            ..Outcome::default()
        };
        assert!(memory_reclaimed(&no_pause, 0.25).is_none());
    }

    #[test]
    fn frozen_eviction_needs_all_in_time() {
        let within = Duration::from_secs(4);
        let mut o = Outcome {
            frozen: FrozenOutcome {
                clients: 3,
                evicted: 3,
                all_evicted_after: Some(Duration::from_secs(3)),
                closed_by_server: 3,
            },
            ..Outcome::default()
        };
        assert!(
            CheckKind::FrozenClientsEvicted { within }.evaluate(&o).is_none(),
            "no /metrics: evictions not observable, not judged"
        );
        o.server_start = Some(figures(&[("clients_evicted", 0.0)]));
        assert!(
            CheckKind::FrozenClientsEvicted { within }
                .evaluate(&o)
                .unwrap()
                .passed
        );
        o.frozen.all_evicted_after = Some(Duration::from_secs(5));
        assert!(
            !CheckKind::FrozenClientsEvicted { within }
                .evaluate(&o)
                .unwrap()
                .passed
        );
        o.frozen.all_evicted_after = None;
        o.frozen.evicted = 2;
        assert!(
            !CheckKind::FrozenClientsEvicted { within }
                .evaluate(&o)
                .unwrap()
                .passed
        );
    }

    #[test]
    fn slowest_client_is_judged_against_the_nominal_rate() {
        let mut o = Outcome::default();
        let check = CheckKind::FastClientsKeepRate { min_fraction: 0.8 };
        assert!(check.evaluate(&o).is_none());
        o.nominal_rate = Some(100.0);
        o.totals.counts.per_client_rates = vec![99.0, 95.0];
        assert!(check.evaluate(&o).unwrap().passed);
        o.totals.counts.per_client_rates.push(50.0);
        assert!(!check.evaluate(&o).unwrap().passed);
    }

    #[test]
    fn fast_clients_latency_is_judged_against_the_run_without_frozen_clients() {
        use crate::measure::stats::{Metric, Shard, Totals};

        let with_gaps = |gap_us: u64| {
            let mut shard = Shard::default();
            for _ in 0..1_000 {
                shard.record(Metric::InterEvent, gap_us);
            }
            Totals::merge([shard])
        };
        let check = CheckKind::FastClientsLatencyHeld { max_ratio: 1.5 };
        let mut o = Outcome {
            totals: with_gaps(14_000),
            ..Outcome::default()
        };
        assert!(
            check.evaluate(&o).is_none(),
            "no run without frozen clients: not judged"
        );
        o.control_gap_p99 = Some(Duration::from_millis(10));
        let held = check.evaluate(&o).unwrap();
        assert!(held.passed, "{}", held.detail);
        o.totals = with_gaps(16_000);
        let broken = check.evaluate(&o).unwrap();
        assert!(!broken.passed, "{}", broken.detail);
        assert!(
            broken.detail.contains("without frozen clients"),
            "{}",
            broken.detail
        );
        o.totals = Totals::default();
        assert!(check.evaluate(&o).is_none(), "no gaps in this run: not judged");
    }
}
