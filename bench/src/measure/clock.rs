//! Wall-clock (Unix) time of a monotonic instant, from one paired reading instead of a clock read per event.
//!
//! Publish-to-receive latency compares an event's send stamp (Unix nanoseconds, the
//! system clock) with its receive time. Reading `SystemTime` for every event cost the
//! generator a `clock_gettime` per event on top of the `Instant` its read already took.
//! A [`WallClock`] pairs one `Instant` with one `SystemTime` reading and maps every later
//! instant through that pair; it reads the two clocks again once the pair is older than
//! [`REANCHOR_AFTER`], so a clock adjustment (NTP slewing a few µs per second) shows
//! within that time and never accumulates over a long run.

use std::time::{Duration, Instant};

use sse_server::publisher::unix_nanos;

/// Age of a pairing after which the clocks are read again.
pub const REANCHOR_AFTER: Duration = Duration::from_secs(1);

/// Maps monotonic instants to Unix nanoseconds (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    unix_nanos: u64,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::now()
    }
}

impl WallClock {
    /// A pairing of the two clocks read now.
    pub fn now() -> Self {
        let instant = Instant::now();
        Self {
            instant,
            unix_nanos: unix_nanos(),
        }
    }

    /// Unix nanoseconds at `at`. Reads the clocks only when the pairing is older than
    /// [`REANCHOR_AFTER`] at `at`; otherwise two subtractions and an addition.
    pub fn unix_nanos_at(&mut self, at: Instant) -> u64 {
        if at.saturating_duration_since(self.instant) > REANCHOR_AFTER {
            *self = Self::now();
        }
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_nanos.saturating_add(nanos(after)),
            None => self
                .unix_nanos
                .saturating_sub(nanos(self.instant.duration_since(at))),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_instants_around_the_pairing() {
        let mut clock = WallClock::now();
        let base = clock.unix_nanos;
        let at = clock.instant;
        assert_eq!(clock.unix_nanos_at(at), base);
        assert_eq!(
            clock.unix_nanos_at(at + Duration::from_millis(5)),
            base + 5_000_000
        );
        // An instant before the pairing (a chunk received just before it) maps backwards.
        if let Some(before) = at.checked_sub(Duration::from_micros(3)) {
            assert_eq!(clock.unix_nanos_at(before), base - 3_000);
        }
    }

    #[test]
    fn an_old_pairing_is_read_again_and_agrees_with_the_system_clock() {
        let mut clock = WallClock::now();
        let old = clock.instant;
        let later = old + REANCHOR_AFTER + Duration::from_millis(1);
        clock.unix_nanos_at(later);
        assert!(clock.instant > old, "re-paired");
        let now = Instant::now();
        let mapped = clock.unix_nanos_at(now);
        let system = unix_nanos();
        // The mapping and a direct read differ by the time between the two reads only.
        assert!(mapped.abs_diff(system) < 50_000_000, "{mapped} vs {system}");
    }
}
