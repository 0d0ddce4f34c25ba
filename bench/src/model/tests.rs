//! Tests of [`super`]: the report model.

use super::*;

fn histogram(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = crate::measure::histogram::new_histogram();
    for v in values_us {
        h.record(v).unwrap();
    }
    h
}

#[test]
fn from_histogram_converts_microseconds_to_milliseconds() {
    let h = histogram(1..=1000);
    let l = Latency::from_histogram(&h, "test");
    assert_eq!(l.count, 1000);
    assert_eq!(l.min_ms, 0.001);
    assert_eq!(l.max_ms, 1.0);
    assert!((l.p50_ms - 0.5).abs() < 0.001, "p50 {}", l.p50_ms);
    assert!((l.p99_ms - 0.99).abs() < 0.001, "p99 {}", l.p99_ms);
    assert!((l.mean_ms - 0.5005).abs() < 0.001, "mean {}", l.mean_ms);
    assert_eq!(l.measured, "test");
}

#[test]
fn distribution_is_bounded_monotonic_and_ends_at_max() {
    let h = histogram((1..=100_000).map(|v| v * 3));
    let l = Latency::from_histogram(&h, "x");
    assert!(l.distribution.len() <= Latency::DISTRIBUTION_POINTS);
    assert!(l.distribution.len() > 10);
    for pair in l.distribution.windows(2) {
        assert!(pair[0][0] < pair[1][0], "percentiles ascend: {pair:?}");
        assert!(pair[0][1] <= pair[1][1], "values ascend: {pair:?}");
    }
    assert_eq!(l.distribution[0][0], 0.0);
    assert_eq!(*l.distribution.last().unwrap(), [100.0, l.max_ms]);
    // 100k values support five nines and no more.
    assert!(l.distribution[l.distribution.len() - 2][0] <= 99.999 + 1e-9);
}

#[test]
fn empty_histogram_gives_zero_count() {
    let l = Latency::from_histogram(&histogram([]), "nothing");
    assert_eq!(l.count, 0);
    assert!(l.distribution.is_empty());
    assert_eq!(l.p99_ms, 0.0);
}

#[test]
fn single_value_histogram() {
    let l = Latency::from_histogram(&histogram([2500]), "one");
    assert_eq!(l.count, 1);
    // HDR keeps 3 significant digits: 2500 µs and 2501 µs share a bucket.
    assert!(
        (l.min_ms - 2.5).abs() <= 0.002 && (l.max_ms - 2.5).abs() <= 0.002,
        "{l:?}"
    );
    assert_eq!(l.distribution, vec![[0.0, l.min_ms], [100.0, l.max_ms]]);
}

#[test]
fn primary_latency_prefers_publish_to_receive() {
    let mut r = ScenarioReport::default();
    let l = Latency::from_histogram(&histogram([1000]), "x");
    r.latency.insert("time_to_first_event".into(), l.clone());
    assert_eq!(r.primary_latency().unwrap().0, "time_to_first_event");
    r.latency.insert("inter_event".into(), l.clone());
    assert_eq!(r.primary_latency().unwrap().0, "inter_event");
    r.latency.insert("publish_to_receive".into(), l);
    assert_eq!(r.primary_latency().unwrap().0, "publish_to_receive");
}

proptest::proptest! {
    #[test]
    fn summaries_are_ordered_for_any_data(values in proptest::collection::vec(1u64..10_000_000, 1..2000)) {
        let l = Latency::from_histogram(&histogram(values.iter().copied()), "any");
        proptest::prop_assert_eq!(l.count, values.len() as u64);
        let order = [l.min_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p999_ms, l.max_ms];
        proptest::prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "{:?}", order);
        proptest::prop_assert!(l.distribution.len() <= Latency::DISTRIBUTION_POINTS);
        proptest::prop_assert!(l.distribution.windows(2).all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1]));
        proptest::prop_assert_eq!(*l.distribution.last().unwrap(), [100.0, l.max_ms]);
    }
}

#[test]
fn spread_of_values() {
    let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
    assert_eq!(
        s,
        Spread {
            min: 1.0,
            p50: 2.5,
            mean: 2.5,
            max: 4.0
        }
    );
    assert_eq!(Spread::of(&[]), Spread::default());
}

#[test]
fn report_round_trips_through_json() {
    let mut r = ScenarioReport {
        scenario: "s".into(),
        ..ScenarioReport::default()
    };
    r.latency.insert(
        "inter_event".into(),
        Latency::from_histogram(&histogram([10, 20, 30]), "gap").with_corrected(&histogram([10, 40])),
    );
    let json = serde_json::to_string(&r).unwrap();
    let back: ScenarioReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}
