//! HTTP/2: many streams on one connection get every event in order; one stream whose window is withheld is reset alone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::util::{Process, metrics, within};

/// Streams opened on the one connection.
pub const STREAMS: usize = 100;
/// The server's send timeout in these tests.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Server flags of these tests: 100 events/s of 128 bytes, no pings, a 2 s send timeout.
/// (100 streams of that are 10,000 frames/s through a debug build on a shared machine.)
pub const SERVER_ARGS: [&str; 8] = [
    "--send-timeout",
    "2s",
    "--publish-rate",
    "100",
    "--payload-size",
    "128",
    "--ping-interval",
    "0",
];

/// An HTTP/2 client over `io`: 16 KiB of window per stream, plenty for the connection.
pub async fn h2_client<T>(io: T) -> SendRequest<Bytes>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(16 * 1024)
        .initial_connection_window_size(64 << 20)
        .handshake::<_, Bytes>(io)
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Opens `GET /events` on `client`; returns the response body.
async fn open_events(client: &SendRequest<Bytes>, authority: &str) -> RecvStream {
    let mut client = client.clone().ready().await.expect("a stream slot");
    let request = hyper::Request::get(format!("{authority}/events")).body(()).unwrap();
    let (response, _) = client.send_request(request, true).expect("a stream");
    let response = within("stream headers", response).await.expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

/// Reads events, releasing window as it goes, until an id of at least the watched one;
/// returns how many events arrived, all consecutive.
async fn read_in_order(mut body: RecvStream, until: watch::Receiver<u64>) -> u64 {
    let mut buf = BytesMut::new();
    let mut expected: Option<u64> = None;
    let mut count = 0;
    loop {
        let chunk = body.data().await.expect("the stream stays open").expect("no stream error");
        body.flow_control().release_capacity(chunk.len()).unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(at) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame = buf.split_to(at + 2);
            let text = std::str::from_utf8(&frame).unwrap();
            let id: u64 = text
                .lines()
                .find_map(|line| line.strip_prefix("id: "))
                .expect("an id")
                .parse()
                .unwrap();
            if let Some(expected) = expected {
                assert_eq!(id, expected, "no gap, no duplicate");
            }
            expected = Some(id + 1);
            count += 1;
            let last = *until.borrow();
            if last > 0 && id >= last {
                return count;
            }
        }
    }
}

/// Reads a stream without ever releasing window; returns when and how it was reset.
async fn frozen_until_reset(mut body: RecvStream, opened: Instant) -> (Duration, Option<Reason>) {
    loop {
        match body.data().await {
            Some(Ok(_)) => {}
            Some(Err(err)) => return (opened.elapsed(), err.reason()),
            None => return (opened.elapsed(), None),
        }
    }
}

/// The whole check over one HTTP/2 connection made by `client` to the server at `addr`.
pub async fn frozen_stream_is_reset_alone(addr: SocketAddr, client: SendRequest<Bytes>, authority: &str) {
    let (until_tx, until_rx) = watch::channel(0u64);
    let mut healthy = Vec::new();
    for _ in 0..STREAMS - 1 {
        let body = open_events(&client, authority).await;
        healthy.push(tokio::spawn(read_in_order(body, until_rx.clone())));
    }
    let opened = Instant::now();
    let frozen = open_events(&client, authority).await;
    let (reset_after, reason) = within("the frozen stream to be reset", frozen_until_reset(frozen, opened)).await;
    let at_reset = metrics(addr).await;
    // The other streams keep receiving: one more second of events after the reset.
    until_tx.send(at_reset.events_published + 100).unwrap();
    for reader in healthy {
        let count = within("a healthy stream to read on", reader).await.unwrap();
        assert!(count > 100, "a healthy stream got {count} events");
    }
    println!(
        "HTTP/2 ({authority}): stream without window reset ({reason:?}) {reset_after:?} after opening \
         (send timeout {SEND_TIMEOUT:?}); {} other streams on the connection received every event in order",
        STREAMS - 1
    );
    assert_eq!(reason, Some(Reason::CANCEL), "reset, not ended");
    // 16 KiB of window lasts about a second at 100 events/s of ~160 bytes; then the timeout.
    assert!(
        reset_after <= SEND_TIMEOUT + Duration::from_secs(3),
        "reset after {reset_after:?}"
    );
    assert!(reset_after >= SEND_TIMEOUT, "reset early, after {reset_after:?}");
    // The readers dropped their streams (a reset from the client): the server lets go too.
    let end = within("the server to let go of the dropped streams", async {
        loop {
            let m = metrics(addr).await;
            if m.registered_events == 0 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(end.clients_evicted, 1, "only the frozen stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streams_on_one_connection_and_a_frozen_one() {
    let server = Process::start(&SERVER_ARGS).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let client = h2_client(tcp).await;
    frozen_stream_is_reset_alone(server.addr, client, &format!("http://{}", server.addr)).await;
}
