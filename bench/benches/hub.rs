//! The broadcast hub in process: fan-out to 1–10,000 subscribers (deliveries/s), subscribe/unsubscribe, watcher registration.

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{FutureExt, StreamExt};
use sse_server::Hub;
use sse_server::hub::Subscription;
use sse_server::watcher::Watcher;

/// Publishes one event and drains it from every subscriber; one iteration = N deliveries.
///
/// Polling with `now_or_never` needs no runtime: a published frame is already in the
/// channel, so every subscriber's next item is ready.
fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub/fan_out");
    let data = [b'x'; 64];
    for subscribers in [1usize, 100, 1_000, 10_000] {
        let hub = Hub::new(16);
        let mut subs: Vec<Subscription> = (0..subscribers).map(|_| hub.subscribe(None)).collect();
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter(|| {
                let id = hub.publish(None, black_box(&data)).expect("no event name");
                for sub in &mut subs {
                    let frame = sub
                        .live
                        .next()
                        .now_or_never()
                        .flatten()
                        .expect("frame ready")
                        .expect("not lagged");
                    // A check, not a timing aid: every subscriber gets this very event.
                    assert_eq!(frame.id, id);
                    black_box(frame);
                }
            });
        });
    }
    group.finish();
}

/// Joining and leaving the hub while 1,000 others stay subscribed.
fn subscribe_unsubscribe(c: &mut Criterion) {
    let hub = Hub::new(1024);
    let _others: Vec<Subscription> = (0..1_000).map(|_| hub.subscribe(None)).collect();
    c.bench_function("hub/subscribe_unsubscribe", |b| {
        b.iter(|| drop(black_box(hub.subscribe(None))))
    });
}

/// A stream's registration with the single shutdown watcher (and its deregistration on drop).
fn watcher_register(c: &mut Criterion) {
    let watcher = Watcher::new();
    c.bench_function("hub/watcher_register", |b| {
        b.iter(|| drop(black_box(watcher.register())))
    });
    assert_eq!(watcher.registered(), 0, "every registration was dropped");
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = fan_out, subscribe_unsubscribe, watcher_register
}
criterion_main!(benches);
