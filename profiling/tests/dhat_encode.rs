//! dhat testing mode: encoding one SSE event costs at most one allocation, whatever its fields and size.
//!
//! One dhat profiler per process, so this file holds exactly one test and its own
//! global allocator.

use std::time::Duration;

use sse_server::frame::Event;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The budget: the encoder sizes its buffer exactly and fills it in place.
const ALLOCATIONS_PER_ENCODE: u64 = 1;

#[test]
fn encoding_an_event_allocates_at_most_once() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let big = vec![b'x'; 64 * 1024];
    let multi_line = b"one\ntwo\r\nthree\rfour\n".to_vec();
    let events = [
        Event::data(b""),
        Event::data(b"hello"),
        Event::data(b"t=1").id("123456789"),
        Event::data(&multi_line)
            .id("7")
            .event("tick")
            .retry(Duration::from_millis(1500)),
        Event::data(&big).id("18446744073709551615").event("bulk"),
    ];
    for event in events {
        let before = dhat::HeapStats::get();
        let bytes = event.encode().expect("valid event");
        let after = dhat::HeapStats::get();
        let allocations = after.total_blocks - before.total_blocks;
        dhat::assert!(
            allocations <= ALLOCATIONS_PER_ENCODE,
            "encoding {} bytes took {allocations} allocations",
            bytes.len()
        );
        // The allocation is the frame itself (no scratch space left behind).
        dhat::assert_eq!(after.curr_bytes - before.curr_bytes, bytes.len());
    }
}
