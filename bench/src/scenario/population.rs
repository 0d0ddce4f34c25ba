//! Who connects: how many clients, how fast they arrive, how they behave, and frozen clients beside them.

use std::time::Duration;

/// Clients that may connect all at once; a larger population (frozen clients included)
/// is spread at [`CONNECT_RATE`].
pub const CONNECT_BURST: usize = 1_000;

/// Connects per second when a population is larger than [`CONNECT_BURST`]. The reference
/// server listens with a backlog of 128 (tokio's `TcpListener::bind`, as the standard
/// library; Linux caps it at `net.core.somaxconn`): 10,000 connects at once overflow it,
/// and a dropped SYN costs the client a 1 s retransmit, which showed up as a 2.3 s p99 time
/// to first event. At 5,000 per second the server has 25 ms to accept a full backlog.
pub const CONNECT_RATE: f64 = 5_000.0;

/// What each reading client does with its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Read until the run stops or the server ends the stream (no reconnect).
    Hold,
    /// Connect, wait for the first event, close; again and again until the run stops.
    Churn,
    /// Drop the stream every `every` and resume it with `Last-Event-ID`.
    Reconnect {
        /// Time a stream is held before it is dropped.
        every: Duration,
    },
    /// Hold, leave all together when the run pauses ([`crate::scenario::plan::Action::Pause`]),
    /// and come back with new streams when it resumes.
    Rejoin,
}

/// The clients of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    /// Reading clients.
    pub clients: usize,
    /// Connects are spread evenly over this time (zero: all at once); a population
    /// larger than [`CONNECT_BURST`] is spread over at least [`Population::connect_ramp`].
    pub ramp: Duration,
    /// What the reading clients do.
    pub behaviour: Behaviour,
    /// Raw-TCP clients with a tiny receive buffer that send a request and never read.
    pub frozen: usize,
}

impl Population {
    /// `clients` clients holding their streams, all connecting at once.
    pub const fn hold(clients: usize) -> Self {
        Self {
            clients,
            ramp: Duration::ZERO,
            behaviour: Behaviour::Hold,
            frozen: 0,
        }
    }

    /// The time the reading clients' connects are spread over: the plan's ramp, or
    /// longer when more than [`CONNECT_BURST`] clients (reading and frozen) would
    /// otherwise connect faster than [`CONNECT_RATE`].
    pub fn connect_ramp(&self) -> Duration {
        let total = self.clients + self.frozen;
        if total <= CONNECT_BURST {
            return self.ramp;
        }
        self.ramp
            .max(Duration::from_secs_f64(self.clients as f64 / CONNECT_RATE))
    }

    /// The delay before client `index` connects.
    pub fn start_offset(&self, index: usize) -> Duration {
        let ramp = self.connect_ramp();
        if self.clients <= 1 || ramp.is_zero() {
            return Duration::ZERO;
        }
        ramp.mul_f64(index as f64 / (self.clients - 1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_spreads_connects() {
        let mut p = Population::hold(5);
        assert_eq!(p.start_offset(4), Duration::ZERO);
        p.ramp = Duration::from_secs(1);
        assert_eq!(p.start_offset(0), Duration::ZERO);
        assert_eq!(p.start_offset(2), Duration::from_millis(500));
        assert_eq!(p.start_offset(4), Duration::from_secs(1));
    }

    #[test]
    fn large_populations_connect_at_the_connect_rate() {
        let small = Population::hold(CONNECT_BURST);
        assert_eq!(
            small.connect_ramp(),
            Duration::ZERO,
            "up to the burst: all at once"
        );
        let large = Population::hold(10_000);
        assert_eq!(large.connect_ramp(), Duration::from_secs(2));
        assert_eq!(large.start_offset(9_999), Duration::from_secs(2));
        // Frozen clients count towards the burst; a longer ramp of the plan wins.
        let mixed = Population {
            frozen: 500,
            ..Population::hold(1_000)
        };
        assert_eq!(mixed.connect_ramp(), Duration::from_millis(200));
        let slow = Population {
            ramp: Duration::from_secs(5),
            ..Population::hold(10_000)
        };
        assert_eq!(slow.connect_ramp(), Duration::from_secs(5));
    }
}
