//! Duration histograms: fixed-size HDR histograms with an explicit unit, one set per worker.
//!
//! [`histogram_of`] is the one constructor: durations up to a bound, in a [`Unit`], at 3
//! significant digits. The latency histograms of a run ([`new_histogram`]) cover 1 µs to
//! 1 hour (about 180 KB, allocated once when a worker starts); recording is an index
//! computation and an increment, so it is fine on the per-event path. Values beyond the
//! range saturate at the top.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest recordable value: one hour, in microseconds.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// Significant digits kept (0.1 % value resolution).
const SIGFIG: u8 = 3;

/// The unit a histogram counts durations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds: client-side latencies.
    Micros,
    /// Nanoseconds: poll times and scheduling delays inside a runtime.
    Nanos,
}

impl Unit {
    /// `d` in this unit, at least 1 (a histogram's lowest value) and at most `u64::MAX`.
    pub fn count(self, d: Duration) -> u64 {
        let count = match self {
            Self::Micros => d.as_micros(),
            Self::Nanos => d.as_nanos(),
        };
        u64::try_from(count).unwrap_or(u64::MAX).max(1)
    }
}

/// A new empty histogram of durations from 1 to `max` counted in `unit`, at 3 significant
/// digits. Its size is fixed at creation: recording never allocates. A `max` shorter than
/// 2 units is raised to 2 (the smallest range hdrhistogram accepts).
pub fn histogram_of(unit: Unit, max: Duration) -> Histogram<u64> {
    let high = unit.count(max).max(2);
    // Low bound 1, high at least 2 × low, and a constant sigfig within 0..=5: the
    // bounds hdrhistogram rejects cannot occur.
    Histogram::new_with_bounds(1, high, SIGFIG).expect("1 ..= max >= 2 at 3 significant digits is valid")
}

/// A new empty latency histogram: microseconds, 1 µs to one hour ([`MAX_MICROS`]).
pub fn new_histogram() -> Histogram<u64> {
    histogram_of(Unit::Micros, Duration::from_micros(MAX_MICROS))
}

/// Microseconds of `d`, clamped to the histogram range.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// Records `d` (saturating at the range).
pub fn record(hist: &mut Histogram<u64>, d: Duration) {
    hist.saturating_record(micros(d));
}

/// Records `d` into `hist`, and into `corrected` with coordinated-omission correction
/// for an intended interval of `expected` between samples: a gap of k intervals also
/// records the k-1 samples the schedule would have produced meanwhile.
pub fn record_with_schedule(
    hist: &mut Histogram<u64>,
    corrected: &mut Histogram<u64>,
    d: Duration,
    expected: Duration,
) {
    record_n_with_schedule(hist, corrected, micros(d), micros(expected), 1);
}

/// As [`record_with_schedule`] for `count` equal gaps of `value_us`, on a schedule of
/// `interval_us` (both µs, as [`micros`] gives them): one histogram update per call
/// when no gap exceeds the interval.
pub fn record_n_with_schedule(
    hist: &mut Histogram<u64>,
    corrected: &mut Histogram<u64>,
    value_us: u64,
    interval_us: u64,
    count: u64,
) {
    let value = value_us.clamp(1, MAX_MICROS);
    hist.saturating_record_n(value, count);
    // The value is clamped into range, so only an interval of 0 could be rejected.
    if corrected.record_n_correct(value, count, interval_us).is_err() {
        corrected.saturating_record_n(value, count);
    }
}

/// Adds `from` into `into` (both from [`new_histogram`], so the ranges always agree).
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Same bounds on both sides: addition cannot go out of range.
    let _ = into.add(from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_explicit_and_tiny_bounds_are_raised() {
        let nanos = histogram_of(Unit::Nanos, Duration::from_secs(60));
        assert_eq!(nanos.high(), 60_000_000_000);
        assert_eq!(new_histogram().high(), MAX_MICROS);
        assert_eq!(histogram_of(Unit::Micros, Duration::ZERO).high(), 2);
        assert_eq!(Unit::Nanos.count(Duration::ZERO), 1);
        assert_eq!(Unit::Micros.count(Duration::from_millis(3)), 3000);
        assert_eq!(Unit::Nanos.count(Duration::MAX), u64::MAX);
    }

    #[test]
    fn records_and_saturates() {
        let mut h = new_histogram();
        record(&mut h, Duration::from_millis(2));
        record(&mut h, Duration::from_secs(7200));
        record(&mut h, Duration::ZERO);
        assert_eq!(h.len(), 3);
        assert!(h.max() >= MAX_MICROS - MAX_MICROS / 1000);
        assert_eq!(h.min(), 1);
    }

    #[test]
    fn correction_fills_the_missed_schedule() {
        let mut raw = new_histogram();
        let mut corrected = new_histogram();
        // One 100 ms stall on a 10 ms schedule: 9 more samples the schedule implies.
        record_with_schedule(
            &mut raw,
            &mut corrected,
            Duration::from_millis(100),
            Duration::from_millis(10),
        );
        assert_eq!(raw.len(), 1);
        assert_eq!(corrected.len(), 10);
        let mut merged = new_histogram();
        merge(&mut merged, &raw);
        merge(&mut merged, &corrected);
        assert_eq!(merged.len(), 11);
    }

    #[test]
    fn equal_gaps_recorded_at_once_match_one_by_one() {
        let (mut raw_n, mut corrected_n) = (new_histogram(), new_histogram());
        record_n_with_schedule(&mut raw_n, &mut corrected_n, 35_000, 10_000, 4);
        let (mut raw, mut corrected) = (new_histogram(), new_histogram());
        for _ in 0..4 {
            record_with_schedule(
                &mut raw,
                &mut corrected,
                Duration::from_millis(35),
                Duration::from_millis(10),
            );
        }
        assert_eq!(raw_n, raw);
        assert_eq!(corrected_n, corrected);
        assert_eq!(corrected.len(), 4 * 3);
    }
}
