//! Allocation budgets of the hot path, counted by a global allocator on this test's thread.
//!
//! * Encoding one event costs one allocation up to `frame::INLINE_MAX` encoded bytes and
//!   two above (the exact bytes and a fixed header), whatever its fields; cloning the
//!   frame costs none (`frame.rs`'s claims).
//! * Publishing costs what encoding does (at most 2), and delivering E events to N
//!   subscribers costs the same allocations as delivering them to one subscriber plus a
//!   per-subscriber constant (its setup): nothing per delivery, whether the streams are
//!   polled as hyper polls a body or written by the lean path.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use sse_server::Hub;
use sse_server::frame::{Event, INLINE_MAX};
use sse_server::metrics::Counters;
use sse_server::source::HubSource;
use sse_server::stream::{SseStream, StreamOptions};
use sse_server::watcher::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[global_allocator]
static ALLOCATOR: testkit::alloc::Counting = testkit::alloc::Counting;

/// Allocations made by `f` on this thread.
fn count(f: impl FnOnce()) -> u64 {
    testkit::alloc::count(f).1.count
}

/// How the subscribers' streams are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Polled exactly as hyper polls a response body.
    Hyper,
    /// Written by the lean path ([`sse_server::lean::serve`]) to a socket that takes everything.
    Lean,
}

/// A socket that takes every write whole and never has anything to read.
struct Sink;

impl AsyncRead for Sink {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Allocations to subscribe `subscribers` streams and deliver `events` events of
/// `payload` data bytes to each, the streams being driven along `path`.
fn fan_out(path: Path, subscribers: usize, events: usize, payload: usize) -> u64 {
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
        frame_cost: Default::default(),
        drop_event: None,
    };
    let payload = vec![b'p'; payload];
    let mut cx = Context::from_waker(Waker::noop());
    let mut streams = Vec::with_capacity(subscribers);
    let mut lean = Vec::with_capacity(subscribers);
    let allocations = count(|| {
        for _ in 0..subscribers {
            let source = HubSource::new(hub.subscribe(None), Arc::clone(&counters));
            let mut stream = SseStream::new(source, watcher.register(), Arc::clone(&counters), options);
            match path {
                Path::Hyper => {
                    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
                    streams.push(stream);
                }
                Path::Lean => {
                    let mut subscriber = Box::pin(sse_server::lean::serve(Sink, stream));
                    assert!(subscriber.as_mut().poll(&mut cx).is_pending());
                    lean.push(subscriber);
                }
            }
        }
        for _ in 0..events {
            hub.publish(None, &payload).unwrap();
            for stream in &mut streams {
                while let Poll::Ready(Some(Ok(_frame))) = Pin::new(&mut *stream).poll_next(&mut cx) {}
            }
            for subscriber in &mut lean {
                assert!(subscriber.as_mut().poll(&mut cx).is_pending());
            }
        }
    });
    let delivered = counters
        .events_delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(delivered, (subscribers * events) as u64);
    drop(streams);
    drop(lean);
    allocations
}

#[test]
fn fan_out_allocates_nothing_per_subscriber_delivery() {
    // A typical event (256 bytes of data, stored inline) and a large one, on both paths.
    let cases = [(256, 1), (4096, 2)];
    for (path, (payload, per_publish)) in [Path::Hyper, Path::Lean]
        .into_iter()
        .flat_map(|p| cases.map(|c| (p, c)))
    {
        let one_idle = fan_out(path, 1, 0, payload);
        let many_idle = fan_out(path, 100, 0, payload);
        let one = fan_out(path, 1, 1000, payload);
        let many = fan_out(path, 100, 1000, payload);
        let per_subscriber = (many_idle - one_idle) / 99;
        println!(
            "{path:?} path, {payload}-byte events: allocations 1 sub/0 ev {one_idle}, 100 subs/0 ev {many_idle}, \
             1 sub/1000 ev {one}, 100 subs/1000 ev {many}; per-subscriber setup {per_subscriber}; \
             per publish {}",
            (one - one_idle) as f64 / 1000.0
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
        // Per event: its encoding only (already shared, so the replay ring's clone and
        // every delivery are reference-count bumps); nothing per delivery.
        assert_eq!(one - one_idle, per_publish * 1000, "{payload}-byte events");
    }
}

#[test]
fn encoding_allocates_at_most_twice_and_cloning_never() {
    let big = vec![b'x'; 64 * 1024];
    let multi_line = b"one\ntwo\r\nthree\rfour\n".to_vec();
    let events = [
        Event::data(b""),
        Event::data(b"hello"),
        Event::data(b"t=1").id("123456789"),
        Event::data(&multi_line)
            .id("7")
            .event("tick")
            .retry(std::time::Duration::from_millis(1500)),
        Event::data(&big[..INLINE_MAX - "data: \n\n".len()]),
        Event::data(&big[..INLINE_MAX]),
        Event::data(&big).id("18446744073709551615").event("bulk"),
    ];
    for event in events {
        let (bytes, allocations) = testkit::alloc::count(|| event.encode().expect("valid event"));
        let len = bytes.len() as u64;
        if bytes.len() <= INLINE_MAX {
            // The bytes inline beside their reference count: one block, at most twice
            // the frame's size (the size classes) plus a 16-byte header.
            assert_eq!(allocations.count, 1, "encoding {len} bytes");
            assert!(
                allocations.bytes <= (2 * len).max(128) + 16,
                "encoding {len} bytes: {allocations:?}"
            );
        } else {
            // The bytes, sized exactly, and a fixed shared header; no scratch space.
            assert_eq!(allocations.count, 2, "encoding {len} bytes");
            assert!(
                allocations.bytes - len <= 64,
                "encoding {len} bytes: {allocations:?}"
            );
        }
        let (clones, allocations) = testkit::alloc::count(|| [bytes.clone(), bytes.clone()]);
        assert_eq!(allocations.count, 0, "cloning a {len}-byte frame");
        drop(clones);
    }
}
