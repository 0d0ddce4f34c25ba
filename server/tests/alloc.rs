//! Allocation budget of the fan-out path, counted by a global allocator on this test's thread.
//!
//! Delivering E events to N subscribers must cost the same allocations as delivering
//! them to one subscriber plus a per-subscriber constant (its setup): nothing per delivery.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use sse_server::Hub;
use sse_server::metrics::Counters;
use sse_server::source::HubSource;
use sse_server::stream::{SseStream, StreamOptions};
use sse_server::watcher::Watcher;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Allocations to subscribe `subscribers` streams and deliver `events` events to each,
/// the streams being polled exactly as hyper polls a response body.
fn fan_out(subscribers: usize, events: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let hub = Hub::new(1024);
    let watcher = Watcher::new();
    let counters = Arc::new(Counters::default());
    let options = StreamOptions {
        ping_interval: Some(std::time::Duration::from_secs(15)),
        frame_delay: Default::default(),
    };
    let payload = vec![b'p'; 256];
    let mut cx = Context::from_waker(Waker::noop());
    let mut delivered = 0;
    let mut streams = Vec::with_capacity(subscribers);
    let allocations = count(|| {
        for _ in 0..subscribers {
            let source = HubSource::new(hub.subscribe(None), Arc::clone(&counters));
            let mut stream = SseStream::new(source, watcher.register(), Arc::clone(&counters), options);
            assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
            streams.push(stream);
        }
        for _ in 0..events {
            hub.publish(None, &payload).unwrap();
            for stream in &mut streams {
                while let Poll::Ready(Some(Ok(_frame))) = Pin::new(&mut *stream).poll_next(&mut cx) {
                    delivered += 1;
                }
            }
        }
    });
    assert_eq!(delivered, subscribers * events);
    drop(streams);
    allocations
}

#[test]
fn fan_out_allocates_nothing_per_subscriber_delivery() {
    let one_idle = fan_out(1, 0);
    let many_idle = fan_out(100, 0);
    let one = fan_out(1, 1000);
    let many = fan_out(100, 1000);
    let per_subscriber = (many_idle - one_idle) / 99;
    println!(
        "allocations: 1 sub/0 ev {one_idle}, 100 subs/0 ev {many_idle}, 1 sub/1000 ev {one}, 100 subs/1000 ev {many}; \
         per-subscriber setup {per_subscriber}"
    );
    assert_eq!(
        (many_idle - one_idle) % 99,
        0,
        "setup cost is the same for every subscriber"
    );
    assert_eq!(
        many,
        one + 99 * per_subscriber,
        "100,000 deliveries cost what 1,000 do, plus setup"
    );
    // Per event: the encoding (one allocation) and the shared header made when the frame is
    // first cloned into the replay ring; nothing per delivery.
    assert_eq!(one - one_idle, 2 * 1000);
}
