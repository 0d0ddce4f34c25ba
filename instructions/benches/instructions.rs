//! Instruction counts of the hot paths under callgrind (gungraun): encoder, hub fan-out, `/events` delivery, parser, recorder.
//!
//! Run by `ci/instructions`, which installs the matching `gungraun-runner`, runs this bench and
//! compares the counts with `baselines/instructions/`. Each benchmark function runs once under
//! callgrind; only the function itself is counted, its setup (building payloads, runtimes,
//! subscribers, streams) is not. The bodies live in `sse_instructions::fixtures`, where native
//! tests check that they do the work they claim.

// gungraun's macros generate a module per benchmark function, without docs.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use gungraun::prelude::*;
use sse_instructions::fixtures::{self, Delivery, FanOut, RecorderFixture, Stream};

// Encoding one event (id, name and the payload) into SSE wire format.
#[library_benchmark]
#[bench::bytes_16(args = ("16B"), setup = fixtures::encode_payload)]
#[bench::bytes_256(args = ("256B"), setup = fixtures::encode_payload)]
#[bench::bytes_4096(args = ("4KiB"), setup = fixtures::encode_payload)]
#[bench::multi_line_64x30(args = ("multi_line_64x30B"), setup = fixtures::encode_payload)]
fn encode(data: Vec<u8>) -> (Vec<u8>, Bytes) {
    // The payload is handed back so that freeing it is not counted.
    let bytes = black_box(fixtures::encode(black_box(&data)));
    (data, bytes)
}

// Publishing one 64-byte event on the hub and awaiting it on every subscriber, on a
// current-thread runtime.
#[library_benchmark]
#[bench::subscribers_1(args = (1), setup = FanOut::new)]
#[bench::subscribers_100(args = (100), setup = FanOut::new)]
#[bench::subscribers_1000(args = (1_000), setup = FanOut::new)]
fn fan_out(mut fan_out: FanOut) -> FanOut {
    black_box(fan_out.publish_and_drain());
    fan_out
}

// The reference server's `/events` streams (hub subscription, pings on) polled through 16
// published 64-byte events: a wake-up per event (paced) or one per 16 events (a backlog).
#[library_benchmark]
#[bench::subscribers_100_wake_per_event(args = ((100, 1)), setup = Delivery::new)]
#[bench::subscribers_100_wake_per_16(args = ((100, 16)), setup = Delivery::new)]
fn deliver(mut delivery: Delivery) -> Delivery {
    black_box(delivery.publish_and_poll());
    delivery
}

// The load client's parser on a whole stream, fed in 8 KiB chunks.
#[library_benchmark]
#[bench::small_events_1000(setup = Stream::small_events)]
#[bench::large_events_16x16kib(setup = Stream::large_events)]
fn parse(stream: Stream) -> Stream {
    black_box(fixtures::parse(black_box(&stream)));
    stream
}

// The load generator's per-event recorder: one event mid-stream, and a chunk of 64 events
// with the flush into the worker's histograms.
#[library_benchmark]
#[bench::one_event(setup = RecorderFixture::new)]
fn record_one(mut fixture: RecorderFixture) -> RecorderFixture {
    fixture.record_one();
    fixture
}

#[library_benchmark]
#[bench::chunk_64(setup = RecorderFixture::new)]
fn record_chunk(mut fixture: RecorderFixture) -> RecorderFixture {
    fixture.record_chunk();
    fixture
}

library_benchmark_group!(name = frame, benchmarks = [encode]);
library_benchmark_group!(name = hub, benchmarks = [fan_out]);
library_benchmark_group!(name = stream, benchmarks = [deliver]);
library_benchmark_group!(name = parser, benchmarks = [parse]);
library_benchmark_group!(name = recorder, benchmarks = [record_one, record_chunk]);

main!(library_benchmark_groups = [frame, hub, stream, parser, recorder]);
