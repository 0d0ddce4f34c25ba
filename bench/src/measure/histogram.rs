//! Latency histograms: fixed-size HDR histograms in microseconds, one set per worker.
//!
//! A histogram covers 1 µs to 1 hour at 3 significant digits (about 180 KB, allocated
//! once when a worker starts); recording is an index computation and an increment,
//! so it is fine on the per-event path. Values beyond the range saturate at the top.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest recordable value: one hour, in microseconds.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// Significant digits kept (0.1 % value resolution).
const SIGFIG: u8 = 3;

/// A new empty latency histogram (values in microseconds).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants within hdrhistogram's limits, so creation cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("constant histogram bounds are valid")
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
