//! How events arrive: a generated stream per connection, the hub at a fixed rate, or a burst of publishes.

use std::time::Duration;

use crate::target::ServerFlags;

/// The source of the events a scenario's clients read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feed {
    /// `GET /sse?delay=&size=`: each connection gets its own numbered stream (ids from 1).
    Stream {
        /// Pause between events (zero: as fast as the client reads).
        delay: Duration,
        /// Bytes of data per event.
        size: usize,
    },
    /// `GET /events` at a fixed publish rate: the embedded server's built-in publisher, or
    /// the generator POSTing to `/publish` on another target. Data carries the publish time.
    Hub {
        /// Events per second.
        rate: f64,
        /// Bytes of data per event.
        payload: usize,
    },
    /// `GET /events`, then, once every subscriber is in, a spike of `events` POSTs to
    /// `/publish` from `concurrency` publishers at once.
    Burst {
        /// Events in the spike.
        events: u64,
        /// Bytes of data per event.
        payload: usize,
        /// Concurrent publishers.
        concurrency: usize,
    },
}

/// Who publishes hub events during a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PublishSchedule {
    /// Nobody from the generator (per-connection streams, or the built-in publisher).
    None,
    /// The generator POSTs stamped events at `rate` per second.
    Rate {
        /// Events per second.
        rate: f64,
        /// Bytes per event.
        payload: usize,
    },
    /// The generator POSTs `events` stamped events at once when all clients are connected.
    Burst {
        /// Events in the spike.
        events: u64,
        /// Bytes per event.
        payload: usize,
        /// Concurrent publishers.
        concurrency: usize,
    },
}

impl Feed {
    /// The path and query clients request.
    pub fn path(&self) -> String {
        match *self {
            Self::Stream { delay, size } => format!("/sse?delay={}&size={size}", delay.as_secs_f64()),
            Self::Hub { .. } | Self::Burst { .. } => "/events".to_owned(),
        }
    }

    /// Whether the feed needs the hub endpoints (`/events`, `/publish`).
    pub fn needs_hub(&self) -> bool {
        !matches!(self, Self::Stream { .. })
    }

    /// Whether the feed needs `POST /publish` from the generator on this target.
    pub fn needs_publish(&self, embedded: bool) -> bool {
        !matches!(self.publish_schedule(embedded), PublishSchedule::None)
    }

    /// The intended time between two events of one stream, when the schedule is known
    /// (used for coordinated-omission correction).
    pub fn expected_interval(&self) -> Option<Duration> {
        match *self {
            Self::Stream { delay, .. } if !delay.is_zero() => Some(delay),
            Self::Hub { rate, .. } if rate > 0.0 => Duration::try_from_secs_f64(1.0 / rate).ok(),
            _ => None,
        }
    }

    /// The first id a fresh connection expects (a generated stream starts at 1; a hub
    /// subscriber joins wherever the hub is).
    pub fn expected_first_id(&self) -> Option<u64> {
        matches!(self, Self::Stream { .. }).then_some(1)
    }

    /// The nominal events per second of one client, when fixed by the feed.
    pub fn nominal_rate(&self) -> Option<f64> {
        match *self {
            Self::Stream { delay, .. } if !delay.is_zero() => Some(1.0 / delay.as_secs_f64()),
            Self::Hub { rate, .. } if rate > 0.0 => Some(rate),
            _ => None,
        }
    }

    /// Server flags the embedded server needs for this feed.
    pub fn apply(&self, flags: &mut ServerFlags) {
        match *self {
            Self::Hub { rate, payload } => {
                flags.publish_rate = Some(rate);
                flags.payload_size = Some(payload);
            }
            Self::Burst { events, .. } => {
                // Every subscriber must be able to hold the whole spike: no lagging.
                let needed = u32::try_from(events.saturating_add(64)).unwrap_or(u32::MAX);
                flags.replay_capacity = Some(flags.replay_capacity.unwrap_or(1024).max(needed));
            }
            Self::Stream { .. } => {}
        }
    }

    /// Who publishes: the embedded server publishes at a rate itself; elsewhere the
    /// generator does.
    pub fn publish_schedule(&self, embedded: bool) -> PublishSchedule {
        match *self {
            Self::Stream { .. } => PublishSchedule::None,
            Self::Hub { .. } if embedded => PublishSchedule::None,
            Self::Hub { rate, payload } => PublishSchedule::Rate { rate, payload },
            Self::Burst {
                events,
                payload,
                concurrency,
            } => PublishSchedule::Burst {
                events,
                payload,
                concurrency,
            },
        }
    }

    /// Scenario parameters describing the feed, for the report.
    pub fn parameters(&self) -> Vec<(&'static str, serde_json::Value)> {
        match *self {
            Self::Stream { delay, size } => vec![
                ("endpoint", "/sse".into()),
                ("event_delay_seconds", delay.as_secs_f64().into()),
                ("payload_size", size.into()),
            ],
            Self::Hub { rate, payload } => vec![
                ("endpoint", "/events".into()),
                ("publish_rate", rate.into()),
                ("payload_size", payload.into()),
            ],
            Self::Burst {
                events,
                payload,
                concurrency,
            } => vec![
                ("endpoint", "/events".into()),
                ("burst_events", events.into()),
                ("payload_size", payload.into()),
                ("burst_concurrency", concurrency.into()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_describe_themselves() {
        let stream = Feed::Stream {
            delay: Duration::from_millis(10),
            size: 64,
        };
        assert_eq!(stream.path(), "/sse?delay=0.01&size=64");
        assert_eq!(stream.expected_interval(), Some(Duration::from_millis(10)));
        assert_eq!(stream.expected_first_id(), Some(1));
        assert!(!stream.needs_hub());
        let hub = Feed::Hub {
            rate: 100.0,
            payload: 64,
        };
        assert_eq!(hub.path(), "/events");
        assert_eq!(hub.publish_schedule(true), PublishSchedule::None);
        assert_eq!(
            hub.publish_schedule(false),
            PublishSchedule::Rate {
                rate: 100.0,
                payload: 64
            }
        );
        let mut flags = ServerFlags::default();
        hub.apply(&mut flags);
        assert_eq!(flags.publish_rate, Some(100.0));
        let burst = Feed::Burst {
            events: 5000,
            payload: 64,
            concurrency: 8,
        };
        burst.apply(&mut flags);
        assert_eq!(flags.replay_capacity, Some(5064));
        assert!(burst.needs_publish(true));
        assert_eq!(
            Feed::Stream {
                delay: Duration::ZERO,
                size: 0
            }
            .expected_interval(),
            None
        );
    }
}
