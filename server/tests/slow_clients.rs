//! Slow clients: a frozen client is evicted after send_timeout without stalling anyone else.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sse_server::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::util::{End, Process, SseReader, lean_flag, metrics, within, within_for};

/// A raw TCP client with a tiny receive buffer that subscribes and then never reads.
async fn frozen_client(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    stream
}

/// POSTs events over one kept-alive connection.
struct Publisher(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Publisher {
    async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self(sender)
    }

    async fn publish(&mut self, data: Bytes) {
        within("publish", async {
            self.0.ready().await.unwrap();
            let req = hyper::Request::post("/publish")
                .header("host", "localhost")
                .body(Full::new(data))
                .unwrap();
            let resp = self.0.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.into_body().collect().await.unwrap();
        })
        .await;
    }
}

/// Reads `reader` until the event whose data is `last`, checking ids are consecutive.
async fn read_all_until(mut reader: SseReader, last: &'static str) -> (u64, SseReader) {
    let mut expected = None;
    let mut count = 0;
    loop {
        let event = reader.next().await.expect("healthy stream stays open");
        let id = event.id.unwrap();
        if let Some(expected) = expected {
            assert_eq!(id, expected, "no gap, no duplicate");
        }
        expected = Some(id + 1);
        count += 1;
        if event.data == last {
            return (count, reader);
        }
    }
}

async fn wait_registered(addr: SocketAddr, n: u64) {
    within("subscribers registered", async {
        while metrics(addr).await.registered_events != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Waits until two readings 20 ms apart both count `n` connections and the same number of
/// open descriptors; returns the second. Connections close asynchronously, so one reading
/// alone can count a descriptor that is about to go.
async fn wait_until_settled(addr: SocketAddr, n: u64, what: &str) -> Snapshot {
    within(what, async {
        loop {
            let first = metrics(addr).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let second = metrics(addr).await;
            if first.connections == n && second.connections == n && first.num_fds == second.num_fds {
                return second;
            }
        }
    })
    .await
}

/// Publishes 64 KiB events, eight at a time, until the server reports one client evicted
/// (failing after ~40 s); returns how long after the first publish that was and how many
/// events were published.
async fn publish_until_evicted(publisher: &mut Publisher, addr: SocketAddr) -> (Duration, u64) {
    let payload = Bytes::from(vec![b'x'; 64 * 1024]);
    let started = Instant::now();
    let mut published = 0u64;
    loop {
        for _ in 0..8 {
            publisher.publish(payload.clone()).await;
            published += 1;
        }
        let now = metrics(addr).await;
        if now.clients_evicted == 1 {
            return (started.elapsed(), published);
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "frozen client never evicted"
        );
    }
}

/// Asserts every healthy reader received all `published` events in order; returns the
/// readers, still open.
async fn assert_every_event_received(
    readers: Vec<JoinHandle<(u64, SseReader)>>,
    published: u64,
) -> Vec<SseReader> {
    let mut still_open = Vec::new();
    for reader in readers {
        let (count, reader) = within("healthy reader", reader).await.unwrap();
        assert_eq!(count, published, "a healthy client received every event");
        still_open.push(reader);
    }
    still_open
}

/// Reads and discards until the server's end of `frozen`'s connection arrives.
async fn wait_until_frozen_sees_eof(frozen: &mut TcpStream) {
    let mut sink = vec![0u8; 1 << 16];
    within("frozen client to see EOF", async {
        loop {
            match frozen.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_client_is_evicted_and_healthy_clients_get_every_event_lean() {
    frozen_client_is_evicted_and_healthy_clients_get_every_event(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_client_is_evicted_and_healthy_clients_get_every_event_hyper() {
    frozen_client_is_evicted_and_healthy_clients_get_every_event(false).await;
}

async fn frozen_client_is_evicted_and_healthy_clients_get_every_event(lean: bool) {
    const SEND_TIMEOUT: Duration = Duration::from_millis(500);
    let [flag, value] = lean_flag(lean);
    let server = Process::start(&[
        flag,
        value,
        "--send-timeout",
        "500ms",
        "--replay-capacity",
        "4096",
        "--ping-interval",
        "0",
    ])
    .await;
    let addr = server.addr;
    let mut healthy = Vec::new();
    for _ in 0..10 {
        healthy.push(SseReader::open(addr, "/events", &[]).await);
    }
    let mut frozen = frozen_client(addr).await;
    wait_registered(addr, 11).await;
    // Earlier metrics requests close their connections asynchronously: wait for them, and
    // for their descriptors.
    let before = wait_until_settled(addr, 12, "earlier requests' connections to close").await;
    assert_eq!(
        before.connections, 12,
        "10 healthy + 1 frozen + this metrics request"
    );

    let readers: Vec<_> = healthy
        .into_iter()
        .map(|r| tokio::spawn(read_all_until(r, "last")))
        .collect();
    let mut publisher = Publisher::connect(addr).await;
    // Publish until the server reports the eviction (bounded: at most ~40 s of publishing).
    let (evicted_after, mut published) = publish_until_evicted(&mut publisher, addr).await;
    publisher.publish(Bytes::from_static(b"last")).await;
    published += 1;
    println!(
        "frozen client evicted {evicted_after:?} after the first publish ({published} events of 64 KiB)"
    );
    // Eviction needs the socket buffers to fill first, then send_timeout to pass.
    assert!(
        evicted_after < SEND_TIMEOUT + Duration::from_secs(5),
        "evicted after {evicted_after:?} (send_timeout {SEND_TIMEOUT:?})"
    );

    drop(publisher);
    let _still_open = assert_every_event_received(readers, published).await;
    // The frozen client sees the server's end of the connection once it drains what was sent.
    wait_until_frozen_sees_eof(&mut frozen).await;
    // The publisher's connection closes asynchronously; wait for the server to see it.
    let after = wait_until_settled(addr, 11, "the publisher connection to close").await;
    assert_eq!(after.clients_evicted, 1);
    assert_eq!(after.connections, 12 - 1, "the frozen connection is closed");
    assert_eq!(after.num_fds, before.num_fds - 1, "its fd is freed");
    assert_eq!(after.clients_lagged, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_within_grace_with_a_frozen_client() {
    const GRACE: Duration = Duration::from_secs(2);
    // A long send timeout: only the shutdown grace can free the frozen client here.
    let mut server = Process::start(&[
        "--send-timeout",
        "60s",
        "--shutdown-grace",
        "2s",
        "--ping-interval",
        "0",
    ])
    .await;
    let addr = server.addr;
    let healthy = SseReader::open(addr, "/events", &[]).await;
    let _frozen = frozen_client(addr).await;
    wait_registered(addr, 2).await;
    let reader = tokio::spawn(read_all_until(healthy, "last"));
    let mut publisher = Publisher::connect(addr).await;
    // Far more than the frozen socket's buffers hold, so its writes are pending.
    let payload = Bytes::from(vec![b'y'; 256 * 1024]);
    for _ in 0..40 {
        publisher.publish(payload.clone()).await;
    }
    publisher.publish(Bytes::from_static(b"last")).await;
    let (count, mut healthy) = within("healthy reader", reader).await.unwrap();
    assert_eq!(count, 41);

    let signalled = Instant::now();
    server.terminate();
    assert_eq!(
        within("the healthy stream to end", healthy.next()).await,
        Err(End::Clean)
    );
    let status = within_for(
        GRACE + Duration::from_secs(3),
        "the server to exit",
        server.child.wait(),
    )
    .await
    .unwrap();
    let took = signalled.elapsed();
    println!("exit {took:?} after SIGTERM with a frozen client attached (grace {GRACE:?})");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        took < GRACE + Duration::from_millis(1500),
        "exited after {took:?}, grace {GRACE:?}"
    );
}
