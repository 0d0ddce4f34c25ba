//! dhat testing mode: delivering to more subscribers costs a per-subscriber constant, and nothing per delivered event.
//!
//! Drives the server's real per-subscriber path — [`Hub`], [`HubSource`] and
//! [`SseStream`] with a [`Watcher`] registration — by polling the streams directly in a
//! current-thread runtime (no sockets, so only the server's own allocations are counted).
//! One dhat profiler per process, so this file holds exactly one test.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::Stream;
use sse_server::Hub;
use sse_server::metrics::Counters;
use sse_server::source::HubSource;
use sse_server::stream::{SseStream, StreamOptions};
use sse_server::watcher::Watcher;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Events published (and delivered to every subscriber) per measurement.
const EVENTS: u64 = 1_000;
/// Events published between two rounds of polling; far below the channel capacity.
const BATCH: u64 = 100;
/// Allocations one more subscriber may add. It takes 3: the broadcast receiver's boxed
/// future, the watcher registration's boxed shutdown future and the boxed ping timer.
/// Deliveries must add none.
const PER_SUBSCRIBER_BUDGET: u64 = 4;

/// Allocations made while setting up `subscribers` streams and while publishing and
/// delivering [`EVENTS`] events to each.
struct Cost {
    setup: u64,
    delivery: u64,
    delivered: u64,
}

fn measure(subscribers: usize) -> Cost {
    let hub = Hub::new(1024);
    let counters = Arc::new(Counters::default());
    let watcher = Watcher::new();
    let options = StreamOptions {
        ping_interval: None,
        frame_delay: Duration::ZERO,
    };
    let mut streams = Vec::with_capacity(subscribers);
    let before_setup = dhat::HeapStats::get();
    for _ in 0..subscribers {
        let source = HubSource::new(hub.subscribe(None), Arc::clone(&counters));
        streams.push(SseStream::new(
            source,
            watcher.register(),
            Arc::clone(&counters),
            options,
        ));
    }
    let before = dhat::HeapStats::get();
    let mut cx = Context::from_waker(Waker::noop());
    let mut delivered = 0;
    let mut published = 0;
    while published < EVENTS {
        for _ in 0..BATCH {
            hub.publish(None, b"t=1700000000000000000 payload")
                .expect("valid event");
        }
        published += BATCH;
        for stream in &mut streams {
            for id in published - BATCH + 1..=published {
                match Pin::new(&mut *stream).poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        assert_eq!(frame_id(&frame), Some(id), "frames arrive in order, none lost");
                        delivered += 1;
                    }
                    other => panic!("event {id}: expected a frame, got {other:?}"),
                }
            }
            assert!(
                Pin::new(&mut *stream).poll_next(&mut cx).is_pending(),
                "no frame beyond the published ones"
            );
        }
    }
    let after = dhat::HeapStats::get();
    Cost {
        setup: before.total_blocks - before_setup.total_blocks,
        delivery: after.total_blocks - before.total_blocks,
        delivered,
    }
}

/// The id of an encoded frame (`id: N\n...`), read without allocating.
fn frame_id(frame: &[u8]) -> Option<u64> {
    let rest = frame.strip_prefix(b"id: ")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[test]
fn delivery_cost_does_not_grow_with_subscribers() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    // Once-per-process initialisation (thread-locals, lazy statics) is not the hub's cost.
    let _ = measure(1);
    let one = measure(1);
    let hundred = measure(100);
    println!(
        "allocations: 1 subscriber setup {} + delivery {}; 100 subscribers setup {} + delivery {}",
        one.setup, one.delivery, hundred.setup, hundred.delivery
    );
    dhat::assert_eq!(one.delivered, EVENTS);
    dhat::assert_eq!(hundred.delivered, 100 * EVENTS);
    // Zero per delivery: 99,000 more deliveries, not one more allocation.
    dhat::assert!(
        hundred.delivery <= one.delivery,
        "delivering {EVENTS} events: {} allocations for 1 subscriber, {} for 100",
        one.delivery,
        hundred.delivery
    );
    let total_one = one.setup + one.delivery;
    let total_hundred = hundred.setup + hundred.delivery;
    dhat::assert!(
        total_hundred <= total_one + 99 * PER_SUBSCRIBER_BUDGET,
        "1 subscriber: {total_one} allocations, 100 subscribers: {total_hundred} (budget {PER_SUBSCRIBER_BUDGET} per extra subscriber)"
    );
}
