//! What counts as failure: a scenario's absolute checks, judged on the run's [`Outcome`].
//!
//! A check that cannot be judged on this target (say, no `/metrics`) is left out of the
//! report rather than passed. Timing-based checks carry generous margins: they catch a
//! broken server, not a slow machine (the regression gate compares timings).

use std::time::Duration;

use super::outcome::Outcome;
use crate::model::Check;

/// A scenario check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckKind {
    /// No event ids skipped (within the stream or the replay window).
    NoLostEvents,
    /// No event received twice.
    NoDuplicates,
    /// Every connection attempt got an event stream.
    AllConnected,
    /// The server ended no stream before the run stopped.
    NoEarlyEnds,
    /// Every subscriber received every published event (burst).
    ReceivedEverything,
    /// Exactly one shutdown watcher task (`watcher_count == 1`).
    SingleWatcher,
    /// Mid-run, the server's `registered_events` equals the streams the generator holds.
    RegisteredMatchesOpen,
    /// After the clients left, `registered_events` is back to 0 and no client connection is open.
    StreamsReleased,
    /// After the clients left, the server holds no more fds than at the start.
    FdsReleased,
    /// Every frozen client was evicted within the limit (send_timeout + margin).
    FrozenEvicted {
        /// The limit.
        within: Duration,
    },
    /// The slowest reading client still got this share of the nominal rate.
    FastClientsKeepRate {
        /// Minimum share, 0..1.
        min_fraction: f64,
    },
    /// After SIGTERM every stream ended within the limit, cleanly, and the server exited 0.
    CleanShutdown {
        /// The limit (the server's shutdown grace plus margin).
        within: Duration,
    },
    /// The memory of clients that left is reclaimed: a second wave of the same clients
    /// (after a [`super::plan::Action::Pause`]) grows RSS by at most this share of what the
    /// first wave did (the allocator may keep freed memory instead of returning it to the
    /// OS, but it must reuse it).
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

fn check(name: &str, passed: bool, detail: String) -> Option<Check> {
    Some(Check {
        name: name.to_owned(),
        passed,
        detail,
    })
}

impl CheckKind {
    /// The check's name in reports (`check.<name>` in the verdict).
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoLostEvents => "no_lost_events",
            Self::NoDuplicates => "no_duplicate_events",
            Self::AllConnected => "all_connected",
            Self::NoEarlyEnds => "no_disconnects",
            Self::ReceivedEverything => "received_every_event",
            Self::SingleWatcher => "single_watcher",
            Self::RegisteredMatchesOpen => "registered_equals_open",
            Self::StreamsReleased => "streams_released",
            Self::FdsReleased => "fds_released",
            Self::FrozenEvicted { .. } => "frozen_clients_evicted",
            Self::FastClientsKeepRate { .. } => "fast_clients_keep_rate",
            Self::CleanShutdown { .. } => "clean_shutdown",
            Self::MemoryReclaimed { .. } => "memory_reclaimed",
            Self::MemoryBounded { .. } => "memory_bounded",
        }
    }

    /// What the check needs that a run may lack: the reason it is "not judged" when
    /// [`CheckKind::evaluate`] returns `None`.
    pub fn needs(&self) -> &'static str {
        match self {
            Self::SingleWatcher | Self::RegisteredMatchesOpen | Self::StreamsReleased | Self::FdsReleased => {
                "needs the server's /metrics figures, which this target did not give"
            }
            Self::FrozenEvicted { .. } => {
                "needs the server's /metrics (clients_evicted) to observe evictions; this target has none"
            }
            Self::ReceivedEverything => "needs a feed with a known number of events",
            Self::FastClientsKeepRate { .. } => "needs a feed with a nominal rate",
            Self::CleanShutdown { .. } => "needs the embedded server (sse-load sends it SIGTERM)",
            Self::MemoryReclaimed { .. } | Self::MemoryBounded { .. } => {
                "needs the server's RSS (embedded server or /metrics rss)"
            }
            Self::NoLostEvents | Self::NoDuplicates | Self::AllConnected | Self::NoEarlyEnds => {
                "always judged"
            }
        }
    }

    /// Judges the check; `None` when this run cannot tell (missing server figures).
    pub fn evaluate(&self, o: &Outcome) -> Option<Check> {
        let c = &o.totals.counts;
        match *self {
            Self::NoLostEvents => check(
                "no_lost_events",
                c.events.lost == 0,
                format!(
                    "{} events lost over {} received (expected 0)",
                    c.events.lost, c.events.received
                ),
            ),
            Self::NoDuplicates => check(
                "no_duplicate_events",
                c.events.duplicated == 0,
                format!("{} duplicated events (expected 0)", c.events.duplicated),
            ),
            Self::AllConnected => check(
                "all_connected",
                c.connections.failed == 0 && c.connections.attempted > 0,
                format!(
                    "{} of {} connections failed",
                    c.connections.failed, c.connections.attempted
                ),
            ),
            Self::NoEarlyEnds => check(
                "no_disconnects",
                o.early_ends == 0,
                format!(
                    "{} streams ended by the server before the run stopped (expected 0)",
                    o.early_ends
                ),
            ),
            Self::ReceivedEverything => {
                let expected = o.expected_events?.saturating_mul(c.connections.succeeded);
                check(
                    "received_every_event",
                    c.events.received >= expected && expected > 0,
                    format!(
                        "received {} of {expected} events (every subscriber, every event)",
                        c.events.received
                    ),
                )
            }
            Self::SingleWatcher => {
                let watchers = o.end("watcher_count")?;
                check(
                    "single_watcher",
                    watchers == 1.0,
                    format!("watcher_count = {watchers} (expected 1)"),
                )
            }
            Self::RegisteredMatchesOpen => {
                let (mid, open) = o.server_mid.as_ref()?;
                let registered = *mid.get("registered_events")?;
                check(
                    "registered_equals_open",
                    registered == *open as f64 && *open > 0,
                    format!("mid-run registered_events = {registered}, streams open = {open}"),
                )
            }
            Self::StreamsReleased => {
                let registered = o.end("registered_events")?;
                let connections = o.end("connections").unwrap_or(0.0);
                check(
                    "streams_released",
                    // The /metrics request that reads the figures is itself one connection.
                    registered == 0.0 && connections <= 1.0,
                    format!(
                        "after the clients left: registered_events = {registered}, connections = {connections} \
                         (expected 0, and 1 for the /metrics request itself)"
                    ),
                )
            }
            Self::FdsReleased => {
                let (start, end) = (o.start("num_fds")?, o.end("num_fds")?);
                check(
                    "fds_released",
                    end <= start,
                    format!("server fds {start} at start, {end} after the clients left"),
                )
            }
            Self::FrozenEvicted { within } => {
                // Evictions are watched through /metrics: without it, "0 evicted" would say
                // nothing about the server.
                o.server_start.as_ref()?;
                let f = &o.frozen;
                let in_time = f.all_evicted_after.is_some_and(|d| d <= within);
                check(
                    "frozen_clients_evicted",
                    f.clients > 0 && f.evicted >= f.clients && in_time,
                    format!(
                        "{} of {} frozen clients evicted, all after {}, limit {:.1}s",
                        f.evicted,
                        f.clients,
                        f.all_evicted_after
                            .map_or("never".into(), |d| format!("{:.2}s", d.as_secs_f64())),
                        within.as_secs_f64()
                    ),
                )
            }
            Self::FastClientsKeepRate { min_fraction } => {
                let nominal = o.nominal_rate?;
                let slowest = c.per_client_rates.iter().copied().fold(f64::INFINITY, f64::min);
                let slowest = if slowest.is_finite() { slowest } else { 0.0 };
                check(
                    "fast_clients_keep_rate",
                    slowest >= nominal * min_fraction,
                    format!(
                        "slowest reading client {slowest:.1} events/s, nominal {nominal:.1}, minimum {:.0}%",
                        min_fraction * 100.0
                    ),
                )
            }
            Self::CleanShutdown { within } => {
                let s = o.shutdown.as_ref()?;
                let in_time = s.all_ended_after.is_some_and(|d| d <= within);
                check(
                    "clean_shutdown",
                    in_time
                        && s.ended_reset == 0
                        && s.ended == s.open_at_signal
                        && s.exit_clean == Some(true),
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
                )
            }
            Self::MemoryReclaimed { max_regrowth } => {
                let m = o.memory.as_ref()?;
                let after_leave = o.rss_after_leave_mb?;
                let first = (m.peak_mb - m.start_mb).max(0.0);
                let returned = (m.peak_mb - after_leave).max(0.0);
                let regrowth = (m.end_mb - after_leave).max(0.0);
                // Below 1 MiB the page granularity of RSS dominates.
                let passed = regrowth <= (first * max_regrowth).max(1.0);
                check(
                    "memory_reclaimed",
                    passed,
                    format!(
                        "RSS {:.1} MiB at start, {:.1} with the first wave, {after_leave:.1} after it left \
                         ({returned:.1} MiB returned to the OS), {:.1} after the second wave: it grew by \
                         {regrowth:.1} MiB (limit {:.0}% of the first wave's {first:.1} MiB: freed memory is reused)",
                        m.start_mb,
                        m.peak_mb,
                        m.end_mb,
                        max_regrowth * 100.0
                    ),
                )
            }
            Self::MemoryBounded { max_growth_mb } => {
                let m = o.memory.as_ref()?;
                let grew = m.peak_mb - m.start_mb;
                check(
                    "memory_bounded",
                    grew <= max_growth_mb,
                    format!("peak RSS growth {grew:.1} MiB (limit {max_growth_mb:.0} MiB)"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::outcome::{Figures, FrozenOutcome};

    fn figures(pairs: &[(&str, f64)]) -> Figures {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
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
        assert!(CheckKind::RegisteredMatchesOpen.evaluate(&o).unwrap().passed);
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
            CheckKind::FrozenEvicted { within }.evaluate(&o).is_none(),
            "no /metrics: evictions not observable, not judged"
        );
        o.server_start = Some(figures(&[("clients_evicted", 0.0)]));
        assert!(CheckKind::FrozenEvicted { within }.evaluate(&o).unwrap().passed);
        o.frozen.all_evicted_after = Some(Duration::from_secs(5));
        assert!(!CheckKind::FrozenEvicted { within }.evaluate(&o).unwrap().passed);
        o.frozen.all_evicted_after = None;
        o.frozen.evicted = 2;
        assert!(!CheckKind::FrozenEvicted { within }.evaluate(&o).unwrap().passed);
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
}
