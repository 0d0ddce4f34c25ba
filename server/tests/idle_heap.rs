//! dhat testing mode: the server's live heap per idle `/events` subscriber stays under a budget.
//!
//! The reference server runs in-process on `127.0.0.1:0` on a current-thread runtime. The
//! clients are plain blocking `std` sockets on a thread of their own, so they put next to
//! nothing on the heap: each sends `GET /events` and reads the response head, then stays
//! open and silent. Once every stream is subscribed and the heap has been still for 60 ms,
//! the growth of the live heap over [`SUBSCRIBERS`] is the heap each idle subscriber costs
//! the server (its connection, its buffers, its stream and its hub subscription). The
//! kernel's socket memory is not on the heap; RSS per idle stream is measured by
//! `sse-load calibrate --workload idle`.
//!
//! Three cases are measured, one server after the other: the lean path that serves plain
//! HTTP/1.1 subscribers by default, hyper's HTTP/1.1 path (`--lean-streams off`), and
//! HTTP/2 with [`H2_STREAMS_PER_CONNECTION`] streams per connection (h2c with prior
//! knowledge; the client writes the few frames it needs by hand, so that it allocates
//! nothing a crate client would). One dhat profiler per process, so this file holds
//! exactly one test.

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
/// The same under HTTP/2, [`H2_STREAMS_PER_CONNECTION`] streams per connection (hyper
/// serves every stream as a task of its own; a connection's buffers are shared by its
/// streams). Measured: 3,324 bytes; the budget leaves about 8%.
const H2_BUDGET_BYTES: u64 = 3_600;
/// Streams one HTTP/2 client connection opens (so [`SUBSCRIBERS`] use 2 connections).
const H2_STREAMS_PER_CONNECTION: usize = 100;
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

/// The HTTP/2 client connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// HTTP/2 frame types the client reads or writes (RFC 9113, section 6).
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
/// Frame flags: END_STREAM and END_HEADERS (HEADERS), ACK (SETTINGS, PING).
const END_STREAM_AND_HEADERS: u8 = 0x5;
const ACK: u8 = 0x1;
/// `GET http://localhost/events` in HPACK: `:method GET` and `:scheme http` from the static
/// table (indices 2 and 6), `:path` and `:authority` as literals without indexing whose
/// names are static indices 4 and 1.
const H2_GET_EVENTS: &[u8] = b"\x82\x86\x04\x07/events\x01\x09localhost";

/// Appends one HTTP/2 frame to `out`.
fn h2_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Opens `count` idle `/events` streams on `addr` over HTTP/2 (prior knowledge),
/// [`H2_STREAMS_PER_CONNECTION`] per connection, and reads until every stream has its
/// response head; returns the open sockets.
fn open_idle_h2_streams(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::new();
    for first in (0..count).step_by(H2_STREAMS_PER_CONNECTION) {
        let streams = H2_STREAMS_PER_CONNECTION.min(count - first);
        let mut socket = TcpStream::connect(addr).expect("connect to the server");
        socket.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        let mut out = H2_PREFACE.to_vec();
        h2_frame(&mut out, SETTINGS, 0, 0, &[]);
        for i in 0..streams {
            h2_frame(
                &mut out,
                HEADERS,
                END_STREAM_AND_HEADERS,
                2 * i as u32 + 1,
                H2_GET_EVENTS,
            );
        }
        socket.write_all(&out).expect("send the requests");
        let mut heads = 0;
        while heads < streams {
            let mut header = [0u8; 9];
            socket.read_exact(&mut header).expect("read a frame header");
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let (kind, flags) = (header[3], header[4]);
            let mut payload = vec![0u8; len];
            socket.read_exact(&mut payload).expect("read a frame payload");
            let mut reply = Vec::new();
            match kind {
                HEADERS => {
                    // `:status 200` is static index 8.
                    assert_eq!(payload.first(), Some(&0x88), "a 200 response head");
                    heads += 1;
                }
                SETTINGS if flags & ACK == 0 => h2_frame(&mut reply, SETTINGS, ACK, 0, &[]),
                PING if flags & ACK == 0 => h2_frame(&mut reply, PING, ACK, 0, &payload),
                GOAWAY => panic!("the server refused the connection: {payload:?}"),
                _ => {}
            }
            socket.write_all(&reply).expect("answer the server");
        }
        sockets.push(socket);
    }
    sockets
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

/// How the clients open their streams: [`open_idle_streams`] or [`open_idle_h2_streams`].
type Open = fn(SocketAddr, usize) -> Vec<TcpStream>;

/// Opens `count` streams on a client thread and returns it (the sockets are its result).
fn clients(open: Open, addr: SocketAddr, count: usize) -> std::thread::JoinHandle<Vec<TcpStream>> {
    std::thread::spawn(move || open(addr, count))
}

/// The live heap each of [`SUBSCRIBERS`] idle subscribers, opened by `open`, adds to a
/// server of `config`.
async fn heap_per_idle_subscriber(config: Config, open: Open) -> u64 {
    let server = Running::start(config).await.expect("server starts");
    let addr = server.addr();
    let hub = server.hub().clone();
    // One-time initialisation (thread-locals, lazy statics, tokio's slabs) first.
    let warm = clients(open, addr, 16);
    settle("16 warm-up subscribers", || hub.subscribers() == 16).await;
    drop(warm.join().expect("warm-up clients"));
    let connections = server.server().clone();
    settle("the warm-up streams to close", || {
        connections.metrics().connections == 0
    })
    .await;

    let before = settle("a quiet server", || true).await;
    let idle = clients(open, addr, SUBSCRIBERS);
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
        let lean = heap_per_idle_subscriber(
            Config {
                lean_streams: true,
                ..Config::default()
            },
            open_idle_streams,
        )
        .await;
        let hyper = heap_per_idle_subscriber(
            Config {
                lean_streams: false,
                ..Config::default()
            },
            open_idle_streams,
        )
        .await;
        let h2 = heap_per_idle_subscriber(Config::default(), open_idle_h2_streams).await;
        println!(
            "per idle subscriber: lean {lean} bytes (budget {LEAN_BUDGET_BYTES}), \
             hyper {hyper} bytes (budget {HYPER_BUDGET_BYTES}), \
             HTTP/2 {h2} bytes (budget {H2_BUDGET_BYTES}, {H2_STREAMS_PER_CONNECTION} streams per connection)"
        );
        dhat::assert!(
            lean <= LEAN_BUDGET_BYTES,
            "an idle lean subscriber costs {lean} bytes of heap (budget {LEAN_BUDGET_BYTES})"
        );
        dhat::assert!(
            hyper <= HYPER_BUDGET_BYTES,
            "an idle hyper subscriber costs {hyper} bytes of heap (budget {HYPER_BUDGET_BYTES})"
        );
        dhat::assert!(
            h2 <= H2_BUDGET_BYTES,
            "an idle HTTP/2 subscriber costs {h2} bytes of heap (budget {H2_BUDGET_BYTES})"
        );
    });
}
