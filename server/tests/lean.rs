//! Lean `/events` subscribers: the same response head as hyper's, the fallbacks hyper answers, a closed client noticed with no event to send.

use std::net::SocketAddr;

use sse_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{InProcess, SseReader, eventually, within};

const PLAIN: &[u8] = b"GET /events HTTP/1.1\r\nhost: localhost\r\n\r\n";

/// Sends `request` in `pieces` writes and reads the response head.
async fn head(addr: SocketAddr, request: &[u8], pieces: usize) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for piece in request.chunks(request.len().div_ceil(pieces)) {
        stream.write_all(piece).await.unwrap();
        stream.flush().await.unwrap();
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    within("the response head", async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.unwrap();
            assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
            head.push(byte[0]);
        }
    })
    .await;
    (stream, String::from_utf8(head).unwrap())
}

/// The head with the date's value blanked (it is the only part that may differ).
fn undated(head: &str) -> String {
    head.lines()
        .map(|line| {
            if line.starts_with("date: ") {
                "date: <now>"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn server(lean_streams: bool) -> InProcess {
    InProcess::start(Config {
        lean_streams,
        ping_interval: None,
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn the_lean_head_is_the_hyper_head() {
    let lean = server(true).await;
    let hyper = server(false).await;
    let (_a, lean_head) = head(lean.addr, PLAIN, 1).await;
    let (_b, hyper_head) = head(hyper.addr, PLAIN, 1).await;
    assert_eq!(undated(&lean_head), undated(&hyper_head));
    assert!(
        lean_head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"),
        "{lean_head}"
    );
    // A head that arrives in pieces is read whole before it is judged.
    let (_c, pieces) = head(lean.addr, PLAIN, 5).await;
    assert_eq!(undated(&pieces), undated(&hyper_head));
    eventually("two lean streams", || lean.metrics().registered_events == 2).await;
    lean.stop().await;
    hyper.stop().await;
}

#[tokio::test]
async fn requests_off_the_lean_path_are_answered_by_hyper() {
    let lean = server(true).await;
    let hyper = server(false).await;
    let cases: &[&[u8]] = &[
        b"GET /events HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        b"GET /events HTTP/1.0\r\n\r\n",
        b"GET /events HTTP/1.1\r\nlast-event-id: seven\r\n\r\n",
        b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n",
    ];
    for request in cases {
        let (_a, from_lean) = head(lean.addr, request, 1).await;
        let (_b, from_hyper) = head(hyper.addr, request, 1).await;
        assert_eq!(
            undated(&from_lean),
            undated(&from_hyper),
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    lean.stop().await;
    hyper.stop().await;
}

#[tokio::test]
async fn a_closed_client_is_noticed_with_nothing_to_send() {
    let server = server(true).await;
    let (stream, _) = head(server.addr, PLAIN, 1).await;
    eventually("the stream registered", || {
        server.metrics().registered_events == 1
    })
    .await;
    drop(stream);
    // No event and no ping is sent: only the read side can tell the client has gone.
    eventually("the stream and its connection to close", || {
        let m = server.metrics();
        m.registered_events == 0 && m.connections == 0
    })
    .await;
    // The server goes on serving lean streams.
    let mut reader = SseReader::open(server.addr, "/events", &[]).await;
    eventually("registered again", || server.metrics().registered_events == 1).await;
    server.server.hub().publish(None, b"after").unwrap();
    assert_eq!(within("an event", reader.next()).await.unwrap().data, "after");
    server.stop().await;
}
