//! Encoding one event into SSE wire format (`sse_server::frame::Event::encode`), in bytes/s.
//!
//! `SSE_BENCH_SLOW_ENCODER=1` encodes every event twice: a deliberate regression used to
//! show that `ci/bench-compare.sh` catches one. It is read here only, never by the server.

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sse_server::frame::Event;

/// The payloads: a tiny event, a typical one, a large one and a multi-line one.
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let multi_line: Vec<u8> = (0..64)
        .flat_map(|i| format!("line {i:02} of a multi-line event\n").into_bytes())
        .collect();
    vec![
        ("16B", vec![b'x'; 16]),
        ("256B", vec![b'x'; 256]),
        ("4KiB", vec![b'x'; 4096]),
        ("multi_line_64x30B", multi_line),
    ]
}

fn encode(c: &mut Criterion) {
    let slow = std::env::var_os("SSE_BENCH_SLOW_ENCODER").is_some_and(|v| v == "1");
    if slow {
        eprintln!("SSE_BENCH_SLOW_ENCODER=1: every event is encoded twice (deliberate regression)");
    }
    let mut group = c.benchmark_group("frame/encode");
    for (name, data) in payloads() {
        let event = Event::data(&data).id("1234567").event("tick");
        let wire = event.encode().expect("valid event");
        // Bytes of wire format produced per iteration.
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &event, |b, event| {
            b.iter(|| {
                if slow {
                    black_box(black_box(event).encode().expect("valid event"));
                }
                black_box(event).encode().expect("valid event")
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = encode
}
criterion_main!(benches);
