//! dhat testing mode: the server's live heap per idle `/events` subscriber stays under a budget.
//!
//! The reference server runs in-process on `127.0.0.1:0` on a current-thread runtime. The
//! clients are plain blocking `std` sockets on a thread of their own, so they put next to
//! nothing on the heap: each sends `GET /events` over HTTP/1.1 and reads the response head,
//! then stays open and silent. Once every stream is subscribed and the heap has been still
//! for 60 ms, the growth of the live heap over [`SUBSCRIBERS`] is the heap each idle
//! subscriber costs the server (its connection, its buffers, its stream and its hub
//! subscription). The kernel's socket memory is not on the heap; RSS per idle stream is
//! measured by `sse-load calibrate --workload idle`.
//!
//! Both paths are measured, one server after the other: the lean one that serves plain
//! HTTP/1.1 subscribers by default, and hyper's (`--lean-streams off`). One dhat profiler
//! per process, so this file holds exactly one test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use sse_server::{Config, Running};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Idle subscribers opened at once.
const SUBSCRIBERS: usize = 200;
/// Live heap one idle lean subscriber (`--lean-streams on`, the default) may cost the
/// server, in this (debug) test build. Measured: 2,427 bytes: its task 1,408 (the
/// subscriber's state: socket, frame stream, one chunk of up to 16 frames), the socket
/// wrapper 312, tokio's IO registration 256, the ping timer 112, the broadcast receiver
/// 104, the connection's admission state 88, the watcher registration 72 and the
/// shutdown-grace future 72. The budget leaves about 7% for allocator and library changes.
const LEAN_BUDGET_BYTES: u64 = 2_600;
/// The same on the hyper path (`--lean-streams off`). Measured: 21,571 bytes, of which
/// hyper's HTTP/1 read buffer is 8,192 (capped by `MAX_HEAD_BYTES`; 16,384 uncapped) and
/// its write buffer 8,192, the connection task 2,240, hyper's dispatcher 944, the
/// response headers 624, the socket wrapper 312 and tokio's IO registration 256.
const HYPER_BUDGET_BYTES: u64 = 22_500;
/// Every wait's limit.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Opens `count` idle `/events` streams on `addr`, each read up to the end of its
/// response head; returns the open sockets.
fn open_idle_streams(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send the request head");
        let mut head = [0u8; 1024];
        let mut filled = 0;
        while !head[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut head[filled..]).expect("read the response head");
            assert!(n > 0, "the server closed the stream before its head");
            filled += n;
            assert!(filled < head.len(), "a response head of over 1 KiB");
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{:?}",
            String::from_utf8_lossy(&head[..filled])
        );
        streams.push(stream);
    }
    streams
}

/// Waits until `done` holds and then until the live heap has been unchanged for 60 ms.
async fn settle(what: &str, done: impl Fn() -> bool) -> dhat::HeapStats {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut last = dhat::HeapStats::get().curr_bytes;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_millis(60) {
        assert!(
            Instant::now() < deadline,
            "{what}: the heap did not settle within {TIMEOUT:?}"
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

/// Opens `count` streams on a client thread and returns it (the sockets are its result).
fn clients(addr: SocketAddr, count: usize) -> std::thread::JoinHandle<Vec<TcpStream>> {
    std::thread::spawn(move || open_idle_streams(addr, count))
}

/// The live heap each of [`SUBSCRIBERS`] idle subscribers adds to a server of `config`.
async fn heap_per_idle_subscriber(config: Config) -> u64 {
    let server = Running::start(config).await.expect("server starts");
    let addr = server.addr();
    let hub = server.hub().clone();
    // One-time initialisation (thread-locals, lazy statics, tokio's slabs) first.
    let warm = clients(addr, 16);
    settle("16 warm-up subscribers", || hub.subscribers() == 16).await;
    drop(warm.join().expect("warm-up clients"));
    let connections = server.server().clone();
    settle("the warm-up streams to close", || {
        connections.metrics().connections == 0
    })
    .await;

    let before = settle("a quiet server", || true).await;
    let idle = clients(addr, SUBSCRIBERS);
    let during = settle("every subscriber", || hub.subscribers() == SUBSCRIBERS).await;
    let per_subscriber = (during.curr_bytes - before.curr_bytes) as u64 / SUBSCRIBERS as u64;
    println!(
        "live heap: {} bytes before, {} with {SUBSCRIBERS} idle subscribers: {per_subscriber} bytes each",
        before.curr_bytes, during.curr_bytes
    );
    drop(idle.join().expect("idle clients"));
    settle("the idle streams to close", || {
        connections.metrics().connections == 0
    })
    .await;
    server.stop(TIMEOUT).await.expect("server stops");
    per_subscriber
}

#[test]
fn idle_subscribers_cost_the_heap_budget_at_most() {
    let _profiler = dhat::Profiler::builder()
        .testing()
        .file_name(concat!(env!("CARGO_TARGET_TMPDIR"), "/idle-heap-dhat.json"))
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let lean = heap_per_idle_subscriber(Config {
            lean_streams: true,
            ..Config::default()
        })
        .await;
        let hyper = heap_per_idle_subscriber(Config {
            lean_streams: false,
            ..Config::default()
        })
        .await;
        println!(
            "per idle subscriber: lean {lean} bytes (budget {LEAN_BUDGET_BYTES}), \
             hyper {hyper} bytes (budget {HYPER_BUDGET_BYTES})"
        );
        dhat::assert!(
            lean <= LEAN_BUDGET_BYTES,
            "an idle lean subscriber costs {lean} bytes of heap (budget {LEAN_BUDGET_BYTES})"
        );
        dhat::assert!(
            hyper <= HYPER_BUDGET_BYTES,
            "an idle hyper subscriber costs {hyper} bytes of heap (budget {HYPER_BUDGET_BYTES})"
        );
    });
}
