//! The inputs and bodies of the instruction-count benches, shared with native tests that check them.
//!
//! Every body here is what `benches/instructions.rs` measures under callgrind, so it must do the
//! same work on every run: no clock reads that feed a branch, no randomness, no threads. Building
//! a fixture (runtimes, subscribers, streams) happens in the bench's setup, outside the count.
//! The tests at the bottom run each body natively and check it did the work it claims (every
//! subscriber got the event, every event was parsed, every event was recorded), so a bench that
//! silently measures nothing fails `cargo test`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream as _, StreamExt};
use sse_bench::client::{Item, Parser};
use sse_bench::measure::send_time::SendTime;
use sse_bench::measure::sequence::SequenceTracker;
use sse_bench::measure::stats::{Pending, Shard};
use sse_bench::runner::recorder::Recorder;
use sse_server::Hub;
use sse_server::frame::Event;
use sse_server::hub::Subscription;
use sse_server::metrics::Counters;
use sse_server::source::HubSource;
use sse_server::stream::{SseStream, StreamOptions};
use sse_server::watcher::Watcher;

/// The event id every encoded event carries (seven digits, as after a long run).
pub const ENCODE_ID: &str = "1234567";
/// The event name every encoded event carries.
pub const ENCODE_NAME: &str = "tick";

/// Encoder payloads by name: a tiny event, a typical one, a large one and a multi-line one
/// (64 lines of 30 bytes, so the line splitter does real work).
pub fn encode_payload(name: &str) -> Vec<u8> {
    match name {
        "16B" => vec![b'x'; 16],
        "256B" => vec![b'x'; 256],
        "4KiB" => vec![b'x'; 4096],
        "multi_line_64x30B" => (0..64)
            .flat_map(|i| format!("line {i:02} of a multi-line event\n").into_bytes())
            .collect(),
        other => panic!("no encoder payload named {other:?}"),
    }
}

/// The body of the encoder bench: one event with id, name and `data`, encoded once.
pub fn encode(data: &[u8]) -> Bytes {
    Event::data(data)
        .id(ENCODE_ID)
        .event(ENCODE_NAME)
        .encode()
        .expect("a valid event")
}

/// A hub with `subscribers` subscribers and the current-thread runtime that drains them.
#[derive(Debug)]
pub struct FanOut {
    runtime: tokio::runtime::Runtime,
    hub: Hub,
    subscribers: Vec<Subscription>,
}

/// Bytes of data in each fanned-out event (a typical small event).
pub const FAN_OUT_PAYLOAD: usize = 64;

impl FanOut {
    /// A hub with `subscribers` subscribers, warmed by one published and drained event so
    /// that the measured event takes the steady-state path.
    pub fn new(subscribers: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        let hub = Hub::new(16);
        let subscribers = (0..subscribers).map(|_| hub.subscribe(None)).collect();
        let mut fan_out = Self {
            runtime,
            hub,
            subscribers,
        };
        fan_out.publish_and_drain();
        fan_out
    }

    /// The body of the fan-out bench: publishes one event and awaits it on every subscriber
    /// on the current-thread runtime. Returns the deliveries (one per subscriber).
    pub fn publish_and_drain(&mut self) -> usize {
        let id = self
            .hub
            .publish(None, &[b'x'; FAN_OUT_PAYLOAD])
            .expect("no event name");
        let subscribers = &mut self.subscribers;
        self.runtime.block_on(async {
            let mut delivered = 0;
            for subscriber in subscribers.iter_mut() {
                let frame = subscriber
                    .live
                    .next()
                    .await
                    .expect("hub open")
                    .expect("not lagged");
                // A check, not a measurement aid: every subscriber gets this very event.
                assert_eq!(frame.id, id);
                delivered += 1;
            }
            delivered
        })
    }
}

/// `/events` streams as the reference server sets them up (a hub subscription, keep-alive pings
/// every 15 s, a watcher registration, the shared counters), polled through published events.
///
/// This is the per-delivery path of the server short of the socket: every frame a stream yields
/// is what the lean path or hyper writes. The streams are polled with a no-op waker on the
/// thread that publishes, so the count holds the hub's publish (shared by every subscriber),
/// the broadcast receive and the stream's own work per frame and per wake-up (the shutdown
/// check, the ping timer), and nothing of a scheduler.
pub struct Delivery {
    runtime: tokio::runtime::Runtime,
    hub: Hub,
    streams: Vec<SseStream<HubSource>>,
    /// Events published per wake-up: each stream is polled until it is pending after every
    /// `per_wake` events (1: a wake-up per event, as when paced; 16: a backlog, as when saturated).
    per_wake: usize,
    /// Owns the registrations' shutdown token, as the server does.
    _watcher: Watcher,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("streams", &self.streams.len())
            .field("per_wake", &self.per_wake)
            .field("published", &self.hub.published())
            .finish_non_exhaustive()
    }
}

/// Events published per run of the delivery bench.
pub const DELIVERY_EVENTS: usize = 16;

impl Delivery {
    /// `subscribers` streams, warmed by one run so that the measured one takes the steady-state
    /// path (ping timers and shutdown futures registered, receivers caught up).
    pub fn new((subscribers, per_wake): (usize, usize)) -> Self {
        assert!(
            per_wake > 0 && DELIVERY_EVENTS % per_wake == 0,
            "per_wake must divide {DELIVERY_EVENTS}"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        let hub = Hub::new(2 * DELIVERY_EVENTS);
        let watcher = Watcher::new();
        let counters = Arc::new(Counters::default());
        let options = StreamOptions {
            ping_interval: Some(Duration::from_secs(15)),
            frame_delay: Duration::ZERO,
            frame_cost: Duration::ZERO,
            drop_event: None,
        };
        let streams = {
            // The ping timers belong to this runtime's clock.
            let _runtime = runtime.enter();
            (0..subscribers)
                .map(|_| {
                    let source = HubSource::new(hub.subscribe(None), Arc::clone(&counters));
                    SseStream::new(source, watcher.register(), Arc::clone(&counters), options)
                })
                .collect()
        };
        let mut delivery = Self {
            runtime,
            hub,
            streams,
            per_wake,
            _watcher: watcher,
        };
        delivery.publish_and_poll();
        delivery
    }

    /// The body of the delivery bench: publishes [`DELIVERY_EVENTS`] 64-byte events, polling
    /// every stream until it is pending after each `per_wake` of them. Returns the frames the
    /// streams yielded.
    pub fn publish_and_poll(&mut self) -> usize {
        let _runtime = self.runtime.enter();
        let mut cx = Context::from_waker(Waker::noop());
        let mut delivered = 0;
        for _ in 0..DELIVERY_EVENTS / self.per_wake {
            for _ in 0..self.per_wake {
                self.hub
                    .publish(None, &[b'x'; FAN_OUT_PAYLOAD])
                    .expect("no event name");
            }
            for stream in &mut self.streams {
                loop {
                    match Pin::new(&mut *stream).poll_next(&mut cx) {
                        Poll::Ready(Some(Ok(frame))) => {
                            std::hint::black_box(frame);
                            delivered += 1;
                        }
                        Poll::Ready(Some(Err(never))) => match never {},
                        Poll::Ready(None) => panic!("a stream ended"),
                        Poll::Pending => break,
                    }
                }
            }
        }
        delivered
    }

    /// Deliveries per run: every subscriber gets every event.
    pub fn deliveries(&self) -> usize {
        self.streams.len() * DELIVERY_EVENTS
    }
}

/// A stream for the parser bench, with the number of events in it.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The raw bytes, as a server sends them.
    pub bytes: Vec<u8>,
    /// Events in `bytes`.
    pub events: u64,
}

/// Bytes per `feed` call: about what one socket read hands over.
pub const PARSE_CHUNK: usize = 8 * 1024;

impl Stream {
    /// 1,000 small events (id, name, 40 bytes of data), as the reference server's publisher sends them.
    pub fn small_events() -> Self {
        let mut bytes = Vec::new();
        for i in 0..1_000 {
            bytes.extend_from_slice(
                format!("id: {i}\nevent: tick\ndata: event-{i} t=1700000000000000000\n\n").as_bytes(),
            );
        }
        Self { bytes, events: 1_000 }
    }

    /// 16 events of 16 KiB data each.
    pub fn large_events() -> Self {
        let mut bytes = Vec::new();
        for i in 0..16 {
            bytes.extend_from_slice(format!("id: {i}\ndata: ").as_bytes());
            bytes.resize(bytes.len() + 16 * 1024, b'.');
            bytes.extend_from_slice(b"\n\n");
        }
        Self { bytes, events: 16 }
    }
}

/// The body of the parser bench: feeds `stream` in socket-sized chunks to a fresh parser and
/// returns the events dispatched.
pub fn parse(stream: &Stream) -> u64 {
    let mut parser = Parser::new();
    let mut events = 0u64;
    for chunk in stream.bytes.chunks(PARSE_CHUNK) {
        parser.feed(chunk, &mut |item| {
            if let Item::Event(event) = item {
                events += 1;
                std::hint::black_box(event.data);
            }
        });
    }
    events
}

/// A load-generator recorder in the middle of a stream, with a fixed clock.
///
/// The recorder borrows its client's tracker, sample buffer and shard; the fixture leaks them
/// (a few KiB, once per bench process) so the recorder can outlive the setup function.
#[derive(Debug)]
pub struct RecorderFixture {
    recorder: Recorder<'static>,
    started: Instant,
    next_id: u64,
    ids: Vec<String>,
}

/// Events the recorder has seen before the measured one (a stream in steady state).
pub const RECORDER_WARM_EVENTS: u64 = 8;

/// Data of each recorded event: no `t=` publish time, so no clock is read while recording.
const RECORDER_DATA: &[u8] = b"event-9 ................................";

impl RecorderFixture {
    /// A recorder that has recorded [`RECORDER_WARM_EVENTS`] events, one every millisecond
    /// (as if on a fixed-rate stream of 1,000 events/s), and flushed them.
    pub fn new() -> Self {
        let tracker = Box::leak(Box::new(SequenceTracker::new(Some(1))));
        let pending = Box::leak(Box::new(Pending::default()));
        let shard = Box::leak(Box::new(Mutex::new(Shard::default())));
        let send_time = Box::leak(Box::new(SendTime::Reference));
        let started = Instant::now();
        let recorder = Recorder::new(
            tracker,
            pending,
            shard,
            Some(Duration::from_millis(1)),
            started,
            None,
            send_time,
        );
        let mut fixture = Self {
            recorder,
            started,
            next_id: 1,
            ids: (1..=RECORDER_WARM_EVENTS + Pending::CAPACITY as u64 + 1)
                .map(|id| id.to_string())
                .collect(),
        };
        for _ in 0..RECORDER_WARM_EVENTS {
            fixture.record_one();
        }
        fixture.recorder.flush();
        fixture
    }

    /// The body of the one-event bench: records the next event, received exactly 1 ms after
    /// the previous one.
    pub fn record_one(&mut self) {
        let id = self.next_id;
        let event = sse_bench::client::Event {
            id: Some(&self.ids[(id - 1) as usize]),
            event: "message",
            data: RECORDER_DATA,
        };
        let at = self.started + Duration::from_millis(id);
        self.recorder.on_item(Item::Event(event), at);
        self.next_id += 1;
    }

    /// The body of the chunk bench: records [`Pending::CAPACITY`] events and flushes them into
    /// the shard's histograms, as a reading client does once per chunk.
    pub fn record_chunk(&mut self) {
        for _ in 0..Pending::CAPACITY {
            self.record_one();
        }
        self.recorder.flush();
    }

    /// Events recorded so far, as the recorder's tracker counts them.
    pub fn received(&self) -> u64 {
        self.recorder.received()
    }
}

impl Default for RecorderFixture {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_payloads_encode_to_the_expected_lengths() {
        let overhead = "id: 1234567\n".len() + "event: tick\n".len() + 1;
        for (name, data_len, lines) in [("16B", 16, 1), ("256B", 256, 1), ("4KiB", 4096, 1)] {
            let data = encode_payload(name);
            assert_eq!(
                encode(&data).len(),
                overhead + "data: \n".len() * lines + data_len
            );
        }
        // 64 lines and the empty one after the trailing newline.
        let multi = encode(&encode_payload("multi_line_64x30B"));
        assert_eq!(
            multi
                .split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"data: "))
                .count(),
            65
        );
    }

    #[test]
    fn fan_out_delivers_to_every_subscriber() {
        for subscribers in [1, 100, 1_000] {
            let mut fan_out = FanOut::new(subscribers);
            assert_eq!(fan_out.publish_and_drain(), subscribers);
            assert_eq!(fan_out.publish_and_drain(), subscribers);
        }
    }

    #[test]
    fn delivery_polls_every_event_out_of_every_stream() {
        for (subscribers, per_wake) in [(1, 1), (100, 1), (100, 16)] {
            let mut delivery = Delivery::new((subscribers, per_wake));
            assert_eq!(delivery.publish_and_poll(), delivery.deliveries());
            assert_eq!(delivery.publish_and_poll(), subscribers * DELIVERY_EVENTS);
        }
    }

    #[test]
    fn parser_streams_dispatch_every_event() {
        for stream in [Stream::small_events(), Stream::large_events()] {
            assert_eq!(parse(&stream), stream.events);
        }
    }

    #[test]
    fn recorder_counts_every_event_and_loses_none() {
        let mut fixture = RecorderFixture::new();
        assert_eq!(fixture.received(), RECORDER_WARM_EVENTS);
        fixture.record_one();
        assert_eq!(fixture.received(), RECORDER_WARM_EVENTS + 1);
        let mut fixture = RecorderFixture::new();
        fixture.record_chunk();
        assert_eq!(
            fixture.received(),
            RECORDER_WARM_EVENTS + Pending::CAPACITY as u64
        );
    }
}
