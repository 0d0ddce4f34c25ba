//! Who connects: how many clients, how fast they arrive, how they behave, and frozen clients beside them.

use std::time::Duration;

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
    /// Connects are spread evenly over this time (zero: all at once).
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

    /// The delay before client `index` connects.
    pub fn start_offset(&self, index: usize) -> Duration {
        if self.clients <= 1 || self.ramp.is_zero() {
            return Duration::ZERO;
        }
        self.ramp.mul_f64(index as f64 / (self.clients - 1) as f64)
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
}
