//! The scenarios: each one a name, a one-line description, a smoke scale and a plan built from parts.

use std::time::Duration;

use super::checks::CheckKind::{self, *};
use super::feed::Feed;
use super::plan::{Action, Plan, Stop};
use super::population::{Behaviour, Population};
use crate::measure::stats::Metric;
use crate::profile::Scale;

/// One scenario of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// Name for `--scenario` and the report files.
    pub name: &'static str,
    /// One line for `sse-load list` and the report.
    pub description: &'static str,
    /// Its scale in the `smoke` profile (profiles multiply it).
    pub smoke: Scale,
    build: fn(Scale) -> Plan,
}

impl Definition {
    /// A definition that only names runs whose plans are built elsewhere
    /// (`sse-load calibrate`, sweeps); its own plan is a plain fan-out.
    pub const fn named(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            smoke: Scale::new(100, 4),
            build: |s| {
                Plan::new(
                    Population::hold(s.clients),
                    Feed::Hub {
                        rate: 100.0,
                        payload: 64,
                    },
                    s.duration,
                )
            },
        }
    }

    /// The plan at `scale`.
    pub fn plan(&self, scale: Scale) -> Plan {
        (self.build)(scale)
    }
}

/// Send timeout of the embedded server in the backpressure scenario.
pub const BACKPRESSURE_SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Shortest churn run with a thousand clients or more: its RSS slope is fitted over the
/// second half, after the allocator's warm-up.
pub const CHURN_JUDGED_RUN: Duration = Duration::from_secs(60);
/// Shutdown grace of the embedded server in the graceful-shutdown scenario.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Most event deliveries per second a scenario asks of the generator and the server
/// together: 2 cores deliver and parse about this many small events per second with room
/// to spare, so `large` (10,000 streams) lowers the per-stream rate instead of measuring
/// an overloaded machine. The rate used is in every report's parameters.
pub const MAX_DELIVERIES_PER_SEC: f64 = 100_000.0;

/// `rate` events per second per subscriber, lowered so `clients` subscribers stay within
/// [`MAX_DELIVERIES_PER_SEC`].
pub fn capped_rate(rate: f64, clients: usize) -> f64 {
    rate.min(MAX_DELIVERIES_PER_SEC / clients.max(1) as f64)
}

/// A per-stream `delay`, raised so `clients` streams stay within [`MAX_DELIVERIES_PER_SEC`].
pub fn paced(delay: Duration, clients: usize) -> Duration {
    delay.max(Duration::from_secs_f64(clients as f64 / MAX_DELIVERIES_PER_SEC))
}

/// The latencies of scenarios about connecting.
const CONNECT_LATENCIES: &[Metric] = &[Metric::TimeToHeaders, Metric::TimeToFirstEvent];

const STREAM_BASICS: [CheckKind; 3] = [NoLostEvents, NoDuplicateEvents, AllConnected];

/// Every scenario, in suite order.
pub const ALL: &[Definition] = &[
    Definition {
        name: "throughput-single",
        description: "one client reads a /sse stream sent as fast as possible: events/s and CPU per event",
        smoke: Scale::new(1, 3),
        build: |s| {
            Plan::new(
                Population::hold(1),
                Feed::Stream {
                    delay: Duration::ZERO,
                    size: 64,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects])
        },
    },
    Definition {
        name: "throughput-multi",
        description: "N clients read /sse streams sent as fast as possible: aggregate and per-client events/s",
        smoke: Scale::new(20, 3),
        build: |s| {
            Plan::new(
                Population::hold(s.clients),
                Feed::Stream {
                    delay: Duration::ZERO,
                    size: 64,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects])
        },
    },
    Definition {
        name: "time-to-first-event",
        description: "N clients connect at once: time to headers and to the first event",
        smoke: Scale::new(100, 3),
        build: |s| {
            // The duration only caps the run: it ends when every client has its events.
            let cap = s.duration.max(Duration::from_secs(10));
            let mut plan = Plan::new(
                Population::hold(s.clients),
                Feed::Stream {
                    delay: ms(100),
                    size: 64,
                },
                cap,
            );
            plan.stop = Stop {
                duration: cap,
                events_per_client: Some(3),
            };
            plan.latencies = Some(CONNECT_LATENCIES);
            // It ends after a few events: too short for a memory trend.
            plan.track_memory = false;
            plan.check(STREAM_BASICS)
        },
    },
    Definition {
        name: "inter-event-latency",
        description: "N clients on 10 ms /sse streams: gaps between events, raw and corrected for coordinated omission",
        smoke: Scale::new(100, 4),
        build: |s| {
            Plan::new(
                Population::hold(s.clients),
                Feed::Stream {
                    delay: paced(ms(10), s.clients),
                    size: 64,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects, FastClientsKeepRate { min_fraction: 0.5 }])
        },
    },
    Definition {
        name: "fanout",
        description: "N subscribers of /events at a fixed publish rate: publish-to-receive latency",
        smoke: Scale::new(100, 4),
        build: |s| {
            Plan::new(
                Population::hold(s.clients),
                Feed::Hub {
                    rate: capped_rate(100.0, s.clients),
                    payload: 64,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects, StreamsReleased])
        },
    },
    Definition {
        name: "memory-stability",
        description: "N subscribers held under a steady publish rate: server RSS sampled, growth and slope",
        smoke: Scale::new(200, 6),
        build: |s| {
            let mut population = Population::hold(s.clients);
            population.ramp = ms(500);
            Plan::new(
                population,
                Feed::Hub {
                    rate: capped_rate(100.0, s.clients),
                    payload: 256,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects, StreamsReleased])
        },
    },
    Definition {
        name: "memory-reclamation",
        description: "N clients connect, leave, and come back: the server releases their streams and reuses their memory",
        smoke: Scale::new(500, 4),
        build: |s| {
            let population = Population {
                ramp: ms(500),
                behaviour: Behaviour::Rejoin,
                ..Population::hold(s.clients)
            };
            let mut plan = Plan::new(
                population,
                Feed::Stream {
                    delay: ms(500),
                    size: 1024,
                },
                s.duration,
            )
            .check([
                AllConnected,
                NoLostEvents,
                StreamsReleased,
                // Half the first wave: a server that reuses nothing adds about all of it
                // again. A server that reuses everything can still add some, because RSS
                // counts touched pages. The first wave leaves parts of its buffers unwritten,
                // and the second wave's allocations land on some of them. Measured on the
                // reference server: the live heap peaks at 11.4 MiB in both waves and falls
                // to 0.3 MiB between them (heaptrack). Yet RSS adds 23-34% of the first
                // wave at 500 clients and 23-29% at 10,000, and 4% at 500 with every
                // allocated byte written (MALLOC_PERTURB_).
                MemoryReclaimed { max_regrowth: 0.5 },
            ]);
            plan.action = Action::Pause;
            // Two waves make a slope meaningless; the figures are in the memory_reclaimed check.
            plan.track_memory = false;
            plan
        },
    },
    Definition {
        name: "watcher-scale",
        description: "N open streams: one shutdown watcher, registered streams equal open streams, then back to 0",
        smoke: Scale::new(200, 3),
        build: |s| {
            Plan::new(
                Population::hold(s.clients),
                Feed::Stream {
                    delay: ms(1000),
                    size: 0,
                },
                s.duration,
            )
            .check([AllConnected, SingleWatcher, RegisteredEqualsOpen, StreamsReleased])
        },
    },
    Definition {
        name: "churn",
        description: "N clients connect, wait for the first event and close, over and over: fds and streams come back",
        smoke: Scale::new(10, 3),
        build: |s| {
            let population = Population {
                behaviour: Behaviour::Churn,
                ..Population::hold(s.clients)
            };
            // A thousand churning clients warm the allocator for about 25 s (measured: RSS
            // 17.5 MiB at 20 s, 18.25 MiB at 90 s after 740,000 connections, 1.5 bytes each),
            // so at that scale the run is long enough for the slope after its first half to
            // tell warm-up from a leak.
            let duration = if s.clients >= 1_000 {
                s.duration.max(CHURN_JUDGED_RUN)
            } else {
                s.duration
            };
            let mut plan = Plan::new(
                population,
                Feed::Stream {
                    delay: ms(10),
                    size: 64,
                },
                duration,
            )
            .check([AllConnected, NoLostEvents, StreamsReleased, FdsReleased]);
            plan.latencies = Some(CONNECT_LATENCIES);
            plan
        },
    },
    Definition {
        name: "backpressure",
        description: "frozen clients that never read beside fast ones: frozen evicted within send_timeout, fast keep their rate",
        smoke: Scale::new(10, 5),
        build: |s| {
            let population = Population {
                frozen: (s.clients / 2).clamp(1, 500),
                ..Population::hold(s.clients)
            };
            // Eviction cannot be judged in less than the send timeout plus a margin.
            let duration = s.duration.max(BACKPRESSURE_SEND_TIMEOUT + Duration::from_secs(2));
            let mut plan = Plan::new(
                population,
                Feed::Stream {
                    delay: ms(10),
                    size: 256,
                },
                duration,
            )
            .check([AllConnected, NoLostEvents, NoDisconnects, StreamsReleased])
            .check([
                FrozenClientsEvicted {
                    within: BACKPRESSURE_SEND_TIMEOUT + Duration::from_secs(2),
                },
                FastClientsKeepRate { min_fraction: 0.8 },
                FastClientsLatencyHeld { max_ratio: 1.5 },
                MemoryBounded { max_growth_mb: 256.0 },
            ]);
            plan.server.send_timeout = Some(BACKPRESSURE_SEND_TIMEOUT);
            plan
        },
    },
    Definition {
        name: "graceful-shutdown",
        description: "SIGTERM the embedded server with N open streams: time until every client sees its end, clean vs reset",
        smoke: Scale::new(100, 8),
        build: |s| {
            // The duration only caps the run: it ends when every stream has ended.
            let cap = s.duration.max(SHUTDOWN_GRACE + Duration::from_secs(5));
            let mut plan = Plan::new(
                Population::hold(s.clients),
                Feed::Stream {
                    delay: ms(100),
                    size: 64,
                },
                cap,
            )
            .check([
                AllConnected,
                NoLostEvents,
                CleanShutdown {
                    within: SHUTDOWN_GRACE + Duration::from_secs(1),
                },
            ]);
            plan.action = Action::Shutdown { after: ms(500) };
            // The server exits mid-run: there is no trend to fit.
            plan.track_memory = false;
            plan.server.shutdown_grace = Some(SHUTDOWN_GRACE);
            plan.settle = false;
            plan
        },
    },
    Definition {
        name: "reconnect",
        description: "subscribers drop their stream every 700 ms and resume with Last-Event-ID: no event lost",
        smoke: Scale::new(20, 4),
        build: |s| {
            let population = Population {
                behaviour: Behaviour::Reconnect { every: ms(700) },
                ..Population::hold(s.clients)
            };
            let mut plan = Plan::new(
                population,
                Feed::Hub {
                    rate: capped_rate(100.0, s.clients),
                    payload: 64,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([StreamsReleased]);
            // Under constant reconnection RSS climbs for ~10 s while allocator arenas warm up
            // (measured: a plateau at +1.25 MiB with 20 clients), so a smoke-length slope is
            // warm-up, not a leak. Memory trends are judged by memory-stability and soak.
            plan.track_memory = false;
            plan
        },
    },
    Definition {
        name: "burst",
        description: "a sudden spike of concurrent publishes to N subscribers: no drops, no disconnects",
        smoke: Scale::new(50, 5),
        build: |s| {
            // The duration only caps the run: it ends when every subscriber has the burst.
            let mut plan = Plan::new(
                Population::hold(s.clients),
                Feed::Burst {
                    events: 2000,
                    payload: 64,
                    concurrency: 8,
                },
                s.duration.max(Duration::from_secs(15)),
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects, ReceivedEveryEvent, StreamsReleased]);
            plan.stop.events_per_client = Some(2000);
            plan.track_memory = false;
            plan
        },
    },
    Definition {
        name: "soak",
        description: "N subscribers over a long run: trends of memory, latency and errors",
        smoke: Scale::new(50, 6),
        build: |s| {
            let mut population = Population::hold(s.clients);
            population.ramp = ms(500);
            Plan::new(
                population,
                Feed::Hub {
                    rate: capped_rate(50.0, s.clients),
                    payload: 128,
                },
                s.duration,
            )
            .check(STREAM_BASICS)
            .check([NoDisconnects, StreamsReleased])
        },
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Definition> {
    ALL.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Overrides, Profile};

    #[test]
    fn names_are_unique_and_plans_build_at_every_profile() {
        for (i, d) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..].iter().all(|o| o.name != d.name),
                "duplicate {}",
                d.name
            );
            for profile in Profile::ALL {
                let plan = d.plan(profile.scale(d.smoke, Overrides::default()));
                assert!(plan.population.clients >= 1);
                assert!(!plan.checks.is_empty(), "{} has no checks", d.name);
            }
        }
        assert_eq!(ALL.len(), 14);
        assert!(find("burst").is_some());
        assert!(find("nope").is_none());
    }

    #[test]
    fn large_rates_stay_within_the_delivery_budget() {
        assert_eq!(capped_rate(100.0, 100), 100.0);
        assert_eq!(capped_rate(100.0, 10_000), 10.0);
        assert_eq!(paced(ms(10), 100), ms(10));
        assert_eq!(paced(ms(10), 10_000), ms(100));
        let large = find("fanout")
            .unwrap()
            .plan(Profile::Large.scale(Scale::new(100, 4), Overrides::default()));
        assert_eq!(
            large.feed,
            Feed::Hub {
                rate: 10.0,
                payload: 64
            }
        );
    }

    #[test]
    fn backpressure_is_compared_with_the_same_run_without_frozen_clients() {
        let plan = find("backpressure")
            .unwrap()
            .plan(Profile::Large.scale(Scale::new(10, 5), Overrides::default()));
        assert_eq!(plan.population.frozen, 500);
        let control = plan.control().expect("backpressure has a control run");
        assert_eq!(control.population.frozen, 0);
        assert_eq!(control.population.clients, plan.population.clients);
        assert_eq!((control.feed, control.stop), (plan.feed, plan.stop));
        assert!(
            control
                .checks
                .iter()
                .all(|c| !matches!(c, FastClientsLatencyHeld { .. } | FrozenClientsEvicted { .. }))
        );
        assert!(
            control.control().is_none(),
            "a control run has no control run of its own"
        );
        assert!(
            find("fanout")
                .unwrap()
                .plan(Scale::new(10, 5))
                .control()
                .is_none()
        );
    }

    #[test]
    fn churn_at_scale_runs_long_enough_for_a_judged_slope() {
        let churn = find("churn").unwrap();
        let large = churn.plan(Profile::Large.scale(churn.smoke, Overrides::default()));
        assert_eq!(large.population.clients, 1_000);
        assert_eq!(large.stop.duration, CHURN_JUDGED_RUN);
        let smoke = churn.plan(churn.smoke);
        assert_eq!(smoke.stop.duration, churn.smoke.duration);
    }

    #[test]
    fn smoke_suite_fits_in_about_a_minute() {
        // Scenarios that end on an event count or on the shutdown only use their duration as a cap.
        let capped = ["graceful-shutdown", "time-to-first-event", "burst"];
        let total: Duration = ALL
            .iter()
            .filter(|d| !capped.contains(&d.name))
            .map(|d| d.smoke.duration)
            .sum();
        assert!(total <= Duration::from_secs(60), "{total:?}");
    }
}
