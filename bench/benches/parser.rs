//! The load client's WHATWG SSE parser (`sse_bench::client::Parser`) on realistic streams, in bytes/s.

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sse_bench::client::{Item, Parser};

/// Bytes per `feed` call: about what one socket read hands over.
const CHUNK: usize = 8 * 1024;

/// A stream and the number of events in it.
struct Stream {
    name: &'static str,
    bytes: Vec<u8>,
    events: u64,
}

fn streams() -> Vec<Stream> {
    let small = |newline: &str, comments: usize| {
        let mut bytes = Vec::new();
        for i in 0..2_000 {
            for _ in 0..comments {
                bytes.extend_from_slice(format!(": keep-alive{newline}").as_bytes());
            }
            let event = format!(
                "id: {i}{newline}event: tick{newline}data: event-{i} t=1700000000000000000{newline}{newline}"
            );
            bytes.extend_from_slice(event.as_bytes());
        }
        bytes
    };
    let mut large = Vec::new();
    for i in 0..32 {
        large.extend_from_slice(format!("id: {i}\ndata: ").as_bytes());
        large.resize(large.len() + 16 * 1024, b'.');
        large.extend_from_slice(b"\n\n");
    }
    vec![
        Stream {
            name: "small_events",
            bytes: small("\n", 0),
            events: 2_000,
        },
        Stream {
            name: "large_events_16KiB",
            bytes: large,
            events: 32,
        },
        Stream {
            name: "crlf",
            bytes: small("\r\n", 0),
            events: 2_000,
        },
        Stream {
            name: "many_comments",
            bytes: small("\n", 4),
            events: 2_000,
        },
    ]
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parser/feed");
    for stream in streams() {
        group.throughput(Throughput::Bytes(stream.bytes.len() as u64));
        let mut parser = Parser::new();
        group.bench_with_input(BenchmarkId::from_parameter(stream.name), &stream, |b, stream| {
            b.iter(|| {
                let mut events = 0u64;
                for chunk in stream.bytes.chunks(CHUNK) {
                    parser.feed(black_box(chunk), &mut |item| {
                        if let Item::Event(event) = item {
                            events += 1;
                            black_box(event.data);
                        }
                    });
                }
                // A check, not a timing aid: every event of the stream was dispatched.
                assert_eq!(events, stream.events, "{}", stream.name);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = parse
}
criterion_main!(benches);
