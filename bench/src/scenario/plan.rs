//! A scenario's plan: who connects, how events arrive, when to stop, what happens mid-run, what is checked.

use std::time::Duration;

use super::checks::CheckKind;
use super::feed::Feed;
use super::population::Population;
use crate::measure::stats::Metric;
use crate::target::ServerFlags;

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// At the latest after this long.
    pub duration: Duration,
    /// Earlier, once every client has received this many events.
    pub events_per_client: Option<u64>,
}

impl Stop {
    /// Stop after `duration`.
    pub const fn after(duration: Duration) -> Self {
        Self {
            duration,
            events_per_client: None,
        }
    }
}

/// Something done to the server during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Halfway through, every client leaves; once the server released their streams,
    /// its RSS is read, and the clients come back for the second half
    /// ([`super::population::Behaviour::Rejoin`]).
    Pause,
    /// Send the embedded server SIGTERM this long after every client connected, then wait
    /// for every stream to end (needs the embedded server).
    Shutdown {
        /// Delay after all clients are connected.
        after: Duration,
    },
}

/// Everything a scenario run needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Who connects.
    pub population: Population,
    /// How events arrive.
    pub feed: Feed,
    /// When to stop.
    pub stop: Stop,
    /// What happens to the server mid-run.
    pub action: Action,
    /// Flags for the embedded server beyond what the feed implies.
    pub server: ServerFlags,
    /// After the clients close, wait until the server released every stream (and fd)
    /// before reading its final figures.
    pub settle: bool,
    /// Whether the report carries a memory trend (growth and slope). Off where a slope
    /// means nothing (a burst; two waves of clients); RSS stays in the timeline and the
    /// memory checks still see it.
    pub track_memory: bool,
    /// What to measure: the latencies reported (`None`: every one recorded). A scenario
    /// about connecting reports connect latencies only, so gates judge what it is about.
    pub latencies: Option<&'static [Metric]>,
    /// The scenario's absolute checks.
    pub checks: Vec<CheckKind>,
    /// Reader threads of the generator (`--reader-threads`); `None`: from the expected
    /// load (`ReaderPool::threads_for` in the runner).
    pub reader_threads: Option<usize>,
}

impl Plan {
    /// A plan of `population` reading `feed` for `duration`, nothing else.
    pub fn new(population: Population, feed: Feed, duration: Duration) -> Self {
        Self {
            population,
            feed,
            stop: Stop::after(duration),
            action: Action::None,
            server: ServerFlags::default(),
            settle: true,
            latencies: None,
            track_memory: true,
            checks: Vec::new(),
            reader_threads: None,
        }
    }

    /// Adds checks.
    pub fn check(mut self, checks: impl IntoIterator<Item = CheckKind>) -> Self {
        self.checks.extend(checks);
        self
    }

    /// The same plan without its frozen clients and without the checks about them, when a
    /// check compares the fast clients with such a run ([`CheckKind::FastClientsLatencyHeld`]);
    /// `None` otherwise. The runner measures it first (on an embedded server of its own).
    pub fn control(&self) -> Option<Plan> {
        let compares = self
            .checks
            .iter()
            .any(|c| matches!(c, CheckKind::FastClientsLatencyHeld { .. }));
        (compares && self.population.frozen > 0).then(|| {
            let mut control = self.clone();
            control.population.frozen = 0;
            control.checks.retain(|c| {
                !matches!(
                    c,
                    CheckKind::FastClientsLatencyHeld { .. } | CheckKind::FrozenClientsEvicted { .. }
                )
            });
            control
        })
    }

    /// The flags the embedded server is started with.
    pub fn server_flags(&self) -> ServerFlags {
        let mut flags = self.server.clone();
        self.feed.apply(&mut flags);
        flags
    }

    /// Why this plan cannot run against a target with `caps`, if it cannot.
    pub fn unmet(&self, caps: &Capabilities) -> Option<String> {
        if self.feed.needs_hub() && !caps.hub {
            return Some("the target has no hub endpoint (GET /events answering text/event-stream)".into());
        }
        if self.feed.needs_publish(caps.embedded) && !caps.publish {
            return Some("the target has no POST /publish endpoint to publish events with".into());
        }
        if matches!(self.action, Action::Shutdown { .. }) && !caps.embedded {
            return Some("graceful shutdown needs to send SIGTERM to the server, possible only for the embedded server".into());
        }
        if self.population.frozen > 0 && !caps.metrics {
            return Some(
                "judging frozen-client eviction needs the server's /metrics (clients_evicted)".into(),
            );
        }
        None
    }
}

/// What the target offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The embedded server (a child process: `/proc/<pid>`, SIGTERM).
    pub embedded: bool,
    /// `GET /metrics` answers JSON.
    pub metrics: bool,
    /// `GET /events` answers an event stream.
    pub hub: bool,
    /// `POST /publish` accepts events.
    pub publish: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::population::Population;

    #[test]
    fn unmet_requirements_are_named() {
        let hub = Plan::new(
            Population::hold(2),
            Feed::Hub {
                rate: 10.0,
                payload: 0,
            },
            Duration::from_secs(1),
        );
        let bare = Capabilities::default();
        assert!(hub.unmet(&bare).unwrap().contains("/events"));
        let external_hub = Capabilities { hub: true, ..bare };
        assert!(hub.unmet(&external_hub).unwrap().contains("/publish"));
        let embedded = Capabilities {
            embedded: true,
            metrics: true,
            hub: true,
            publish: true,
        };
        assert_eq!(hub.unmet(&embedded), None);
        let mut shutdown = Plan::new(
            Population::hold(2),
            Feed::Stream {
                delay: Duration::ZERO,
                size: 0,
            },
            Duration::from_secs(1),
        );
        shutdown.action = Action::Shutdown {
            after: Duration::from_secs(1),
        };
        assert!(
            shutdown
                .unmet(&Capabilities {
                    metrics: true,
                    ..bare
                })
                .unwrap()
                .contains("SIGTERM")
        );
    }
}
