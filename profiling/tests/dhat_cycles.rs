//! dhat testing mode: 1,000 connect → first event → close cycles over real HTTP leave the heap where it started.
//!
//! The reference server runs in-process on `127.0.0.1:0`; the client is the project's
//! SSE client (`sse_bench::client`) over loopback, in the same current-thread runtime. After a
//! warm-up, the live heap is taken, then after 100 cycles and after 1,000: both must be
//! within [`ALLOWED_GROWTH_BYTES`] of the start, a constant that does not grow with the
//! number of cycles — a leak of even 2 bytes per cycle fails the second check.
//! One dhat profiler per process, so this file holds exactly one test.

use std::time::{Duration, Instant};

use sse_bench::client::{ConnectOptions, Target};
use sse_bench::drive::generator::one_cycle;
use sse_profiling::server::{self, profiling_config};
use sse_server::Running;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Live heap the cycles may leave behind, whatever their number: room for containers
/// that keep the capacity they grew to (tokio's per-worker deferred-wake list, say).
const ALLOWED_GROWTH_BYTES: i64 = 1024;
/// Every wait's limit.
const TIMEOUT: Duration = Duration::from_secs(60);

async fn cycle(target: &Target) {
    one_cycle(target, &ConnectOptions::default())
        .await
        .expect("one cycle");
}

/// Waits until the server has no connection left and the live heap is unchanged for 60 ms.
async fn settle(server: &Running) -> dhat::HeapStats {
    let deadline = Instant::now() + TIMEOUT;
    while server.metrics().connections != 0 {
        assert!(
            Instant::now() < deadline,
            "connections still open after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut last = dhat::HeapStats::get().curr_bytes;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_millis(60) {
        assert!(
            Instant::now() < deadline,
            "the heap did not settle within {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = dhat::HeapStats::get().curr_bytes;
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    dhat::HeapStats::get()
}

async fn cycles(target: &Target, count: u32) {
    for _ in 0..count {
        tokio::time::timeout(TIMEOUT, cycle(target))
            .await
            .expect("a cycle finishes");
    }
}

#[test]
fn thousand_connect_close_cycles_leave_the_heap_where_it_started() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = server::start(profiling_config(), |serve| serve).await.expect("server starts");
        let target = Target::resolve(&format!("{}/sse?count=1&delay=0", server.base_url()).parse().expect("url"))
            .await
            .expect("target");
        // One-time initialisation (thread-locals, lazy statics, /proc readers) is not a leak.
        cycles(&target, 20).await;
        let start = settle(&server).await;
        cycles(&target, 100).await;
        let after_100 = settle(&server).await;
        cycles(&target, 900).await;
        let after_1000 = settle(&server).await;
        let growth_100 = after_100.curr_bytes as i64 - start.curr_bytes as i64;
        let growth_1000 = after_1000.curr_bytes as i64 - start.curr_bytes as i64;
        println!(
            "live heap: start {} bytes, +{growth_100} after 100 cycles, +{growth_1000} after 1000 ({} allocations in all)",
            start.curr_bytes,
            after_1000.total_blocks - start.total_blocks
        );
        dhat::assert!(
            growth_100 <= ALLOWED_GROWTH_BYTES,
            "100 cycles left {growth_100} bytes behind (allowed {ALLOWED_GROWTH_BYTES})"
        );
        dhat::assert!(
            growth_1000 <= ALLOWED_GROWTH_BYTES,
            "1000 cycles left {growth_1000} bytes behind (allowed {ALLOWED_GROWTH_BYTES})"
        );
        dhat::assert!(
            growth_1000 - growth_100 <= ALLOWED_GROWTH_BYTES,
            "the heap kept growing: +{growth_100} bytes after 100 cycles, +{growth_1000} after 1000"
        );
        server.stop(TIMEOUT).await.expect("server stops");
    });
}
