//! Hostile and half-dead connections: slow and silent request heads, idle keep-alive, slow bodies, SIGTERM mid-request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sse_server::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::util::{Process, SseReader, metrics, request, within, within_for};

const SLOW_HEAD: &[u8] = b"GET /events HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n";

/// Sends one byte of a request head every `every` until the server closes the
/// connection; returns how long after connecting that was.
async fn slow_header_client(addr: SocketAddr, every: Duration) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let connected = Instant::now();
    let mut sink = [0u8; 256];
    for &byte in SLOW_HEAD.iter().cycle() {
        tokio::select! {
            read = stream.read(&mut sink) => match read {
                Ok(0) | Err(_) => return connected.elapsed(),
                Ok(_) => panic!("the server answered a request head that never ended"),
            },
            () = tokio::time::sleep(every) => {
                if stream.write_all(&[byte]).await.is_err() {
                    return connected.elapsed();
                }
            }
        }
    }
    unreachable!("cycle never ends")
}

/// Connects and sends nothing; returns how long after connecting the server closed it.
async fn silent_client(addr: SocketAddr) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let connected = Instant::now();
    let mut sink = [0u8; 256];
    match stream.read(&mut sink).await {
        Ok(0) | Err(_) => connected.elapsed(),
        Ok(_) => panic!("the server sent data to a client that never asked"),
    }
}

/// Reads until the server closes; returns what arrived.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all).await;
    all
}

/// Opens `slow` clients that send a request head one byte a second and `silent` ones that
/// send nothing; each task returns how long its connection lived.
fn open_hostile_clients(addr: SocketAddr, slow: usize, silent: usize) -> Vec<JoinHandle<Duration>> {
    let mut hostile = Vec::with_capacity(slow + silent);
    for _ in 0..slow {
        hostile.push(tokio::spawn(slow_header_client(
            addr,
            Duration::from_millis(1000),
        )));
    }
    for _ in 0..silent {
        hostile.push(tokio::spawn(silent_client(addr)));
    }
    hostile
}

/// Waits until the server holds at least `n` unfinished connections; returns its metrics then.
async fn wait_until_unfinished(addr: SocketAddr, n: usize) -> Snapshot {
    within("the hostile connections to be accepted", async {
        loop {
            let m = metrics(addr).await;
            if m.connections_unfinished >= n as u64 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Opens a real subscriber, publishes one event and asserts it arrives; returns the
/// stream, still open.
async fn assert_real_client_gets_its_event(addr: SocketAddr) -> SseReader {
    let mut stream = SseReader::open(addr, "/events", &[]).await;
    assert_eq!(stream.status, 200, "a real client is admitted");
    let (status, _) = request(addr, "POST", "/publish", &[], Bytes::from_static(b"through")).await;
    assert_eq!(status, 200);
    let event = within("the event", stream.next()).await.expect("an event");
    assert_eq!(event.data, "through");
    stream
}

/// Asks `/health` until no unfinished connection is left, asserting every answer is
/// 200; the task returns how many answers there were.
fn spawn_health_checks(addr: SocketAddr) -> JoinHandle<u32> {
    tokio::spawn(async move {
        let mut answered = 0u32;
        loop {
            let (status, _) = request(addr, "GET", "/health", &[], Bytes::new()).await;
            assert_eq!(status, 200, "/health while {answered} answers so far");
            answered += 1;
            if metrics(addr).await.connections_unfinished == 0 {
                return answered;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Waits for every hostile connection to be closed, asserting none was closed before
/// the header timeout `head`; returns the longest one lived.
async fn wait_until_hostile_closed(hostile: Vec<JoinHandle<Duration>>, head: Duration) -> Duration {
    let mut slowest = Duration::ZERO;
    for client in hostile {
        let lived = within("a hostile connection to be closed", client).await.unwrap();
        assert!(
            lived >= head - Duration::from_millis(100),
            "closed early, after {lived:?}"
        );
        slowest = slowest.max(lived);
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_heads_do_not_lock_out_real_clients() {
    const HEAD: Duration = Duration::from_secs(3);
    const SLOW: usize = 500;
    const SILENT: usize = 20;
    let _ = sse_server::limits::raise_fd_limit();
    let server = Process::start(&[
        "--max-connections",
        "520",
        "--header-timeout",
        "3s",
        "--ping-interval",
        "0",
    ])
    .await;
    let addr = server.addr;
    let hostile = open_hostile_clients(addr, SLOW, SILENT);
    let crowded = wait_until_unfinished(addr, SLOW + SILENT).await;
    assert!(crowded.connections as usize > SLOW + SILENT, "{crowded:?}");

    // A real client gets its stream and its event while the crowd holds 520 sockets.
    let _stream = assert_real_client_gets_its_event(addr).await;

    // /health answers 200 until every hostile connection is gone.
    let health = spawn_health_checks(addr);
    let slowest = wait_until_hostile_closed(hostile, HEAD).await;
    let answered = within("/health loop", health).await.unwrap();
    let end = metrics(addr).await;
    println!(
        "{SLOW} slow + {SILENT} silent heads: all closed within {slowest:?} (header timeout {HEAD:?}); \
         /health answered {answered} times meanwhile; connections_timed_out {}",
        end.connections_timed_out
    );
    assert!(
        slowest <= HEAD + Duration::from_secs(2),
        "slowest closed after {slowest:?}"
    );
    // Every hostile connection was closed by the server (each lived at least the head
    // timeout, above); a helper connection of this test may time out too on a slow machine.
    assert!(
        end.connections_timed_out + end.connections_pending_evicted >= (SLOW + SILENT) as u64,
        "timed out {}, pending evicted {}",
        end.connections_timed_out,
        end.connections_pending_evicted
    );
    assert_eq!(end.connections_unfinished, 0);
    assert_eq!(end.registered_events, 1, "the real stream is still open");
}

/// Sends `GET /health` on `stream` and reads the whole answer.
async fn health_on(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"}") {
        let n = within("the /health answer", stream.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(1);
    let server = Process::start(&["--idle-timeout", "1s"]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    health_on(&mut stream).await;
    // A second request within the idle timeout restarts it.
    tokio::time::sleep(IDLE * 6 / 10).await;
    health_on(&mut stream).await;
    let answered = Instant::now();
    let rest = within("the idle connection to be closed", read_to_close(&mut stream)).await;
    let idle = answered.elapsed();
    println!("kept-alive connection closed {idle:?} after its last answer (idle timeout {IDLE:?})");
    assert!(rest.is_empty(), "nothing more was sent");
    assert!(idle >= IDLE - Duration::from_millis(50), "closed early: {idle:?}");
    assert!(idle <= IDLE + Duration::from_secs(3), "closed late: {idle:?}");
    assert_eq!(server.metrics().await.connections_timed_out, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_half_sent_requests_exits_within_a_second() {
    // The default grace is 5 s: exiting within 1 s shows nobody waits for the heads.
    let mut server = Process::start(&[]).await;
    let addr = server.addr;
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /events HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    // A kept-alive connection half-way through its second request.
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = within("the first answer", second.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    second.write_all(b"GET /health HTTP/1.1\r\nho").await.unwrap();
    within("the half-sent head to be seen", async {
        while metrics(addr).await.connections_unfinished != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let signalled = Instant::now();
    server.terminate();
    let status = within_for(Duration::from_secs(1), "the server to exit", server.child.wait())
        .await
        .unwrap();
    println!(
        "exit {:?} after SIGTERM with two half-sent requests",
        signalled.elapsed()
    );
    assert!(status.success(), "{status:?}");
    assert!(read_to_close(&mut first).await.is_empty());
}

#[tokio::test]
async fn health_and_metrics_answer_while_streams_fill_the_cap() {
    let server = Process::start(&["--max-connections", "2"]).await;
    let addr = server.addr;
    let _a = SseReader::open(addr, "/events", &[]).await;
    let _b = SseReader::open(addr, "/events", &[]).await;
    let refused = SseReader::open(addr, "/events", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.headers["connection"], "close");
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = within("/health at the cap", read_to_close(&mut raw)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let m = metrics(addr).await;
    assert_eq!(m.registered_events, 2);
    assert_eq!(m.connections_rejected, 1);
}

#[tokio::test]
async fn a_publish_body_that_stalls_gets_408_naming_the_limit() {
    let server = Process::start(&["--body-timeout", "500ms"]).await;
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    raw.write_all(b"POST /publish HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\nonly ten..")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = within("the 408", read_to_close(&mut raw)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(json["limit"], "--body-timeout");
    assert_eq!(json["max"], 500);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.metrics().await.events_published, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_pending_connections_the_oldest_unfinished_one_goes() {
    // A long header timeout: only the pending limit can close the silent ones here.
    let server = Process::start(&["--max-pending-connections", "10", "--header-timeout", "60s"]).await;
    let addr = server.addr;
    // Eleven silent connections, accepted in the order they connect: the eleventh pushes
    // out the first.
    let mut silent = Vec::new();
    for _ in 0..11 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let oldest = within(
        "the oldest silent connection to be closed",
        read_to_close(&mut silent[0]),
    )
    .await;
    assert!(oldest.is_empty());
    let m = metrics(addr).await;
    assert!(m.connections_unfinished <= 10, "{m:?}");
    assert!(m.connections_pending_evicted >= 1, "{m:?}");
    // A real client is served however many silent connections arrive.
    let (status, _) = request(addr, "GET", "/health", &[], Bytes::new()).await;
    assert_eq!(status, 200);
    let mut stream = SseReader::open(addr, "/sse?delay=0&count=1", &[]).await;
    assert_eq!(stream.status, 200);
    assert_eq!(within("an event", stream.next()).await.unwrap().id, Some(1));
}
