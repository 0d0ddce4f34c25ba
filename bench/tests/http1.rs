//! The client's own HTTP/1.1 reader against a tiny scripted server on a loopback socket: awkward framing, every kind of end, and the errors.
//!
//! Each test accepts the client's connection itself and writes the answer piece by piece,
//! reading the stream between pieces, so that size lines, CRLFs and trailers arrive split
//! across socket reads (loopback usually delivers each write whole; the assertions hold
//! however the pieces coalesce).

use std::time::Duration;

use sse_bench::client::{ClientError, ConnectOptions, ErrorKind, Item, SseConnection, connect, event_number};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use testkit::wait::within;

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n";

/// A scripted server connection and the client stream opened on it.
struct Scripted {
    server: TcpStream,
    client: SseConnection,
    /// Event numbers received, in order.
    events: Vec<u64>,
}

/// Accepts the client's connection, checks its request, and answers with `head` plus
/// `first` (body bytes sent in the same write as the head).
async fn open(head: &str, first: &[u8]) -> Result<Scripted, (ClientError, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sse?x=1", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let opts = ConnectOptions {
        timeout: Duration::from_secs(20),
        ..ConnectOptions::default()
    };
    let client = tokio::spawn(async move { connect(&url, &opts).await });
    let (mut server, _) = within("accept", listener.accept()).await.unwrap();
    let request = read_request(&mut server).await;
    assert!(request.starts_with("GET /sse?x=1 HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("\r\naccept: text/event-stream\r\n"), "{request}");
    let mut answer = head.as_bytes().to_vec();
    answer.extend_from_slice(first);
    server.write_all(&answer).await.unwrap();
    match within("the response head", client).await.unwrap() {
        Ok(client) => Ok(Scripted {
            server,
            client,
            events: Vec::new(),
        }),
        Err(err) => Err((err, server)),
    }
}

/// The request head the client sent.
async fn read_request(server: &mut TcpStream) -> String {
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        assert_eq!(within("the request", server.read(&mut byte)).await.unwrap(), 1);
        request.push(byte[0]);
    }
    String::from_utf8(request).unwrap()
}

impl Scripted {
    /// Writes `piece`, then reads the stream once.
    async fn send(&mut self, piece: &[u8]) -> Result<bool, ClientError> {
        self.server.write_all(piece).await.unwrap();
        self.read().await
    }

    /// One `read` of the stream, recording the events.
    async fn read(&mut self) -> Result<bool, ClientError> {
        let events = &mut self.events;
        let mut on_item = |item: Item<'_>, _| {
            if let Item::Event(event) = item {
                events.push(event.id.and_then(event_number).unwrap());
            }
        };
        within("a read", self.client.read(&mut on_item)).await
    }

    /// Reads until the stream ends: `Ok(())` at a clean end.
    async fn read_to_end(&mut self) -> Result<(), ClientError> {
        while self.read().await? {}
        // A clean end stays one.
        assert!(!self.read().await?);
        Ok(())
    }
}

/// An event as the server frames it.
fn event(n: u64) -> String {
    format!("id: {n}\ndata: event {n}\n\n")
}

#[tokio::test]
async fn chunks_split_mid_size_line_with_extensions_and_trailers() {
    let (one, two, three) = (event(1), event(2), event(3));
    let mut s = open(&format!("{SSE_HEAD}transfer-encoding: chunked\r\n\r\n"), b"")
        .await
        .unwrap();
    let pieces = [
        format!("{:x}", one.len()),
        format!(";name=\"quoted\"\r\n{one}\r\n{:X}", two.len()),
        format!(" \r\n{}", &two[..4]),
        format!("{}\r", &two[4..]),
        format!("\n{:x}\r\n{three}\r\n0", three.len()),
        "\r\nx-trailer: one\r\nx-other".into(),
        ": two\r\n\r".into(),
    ];
    for piece in &pieces {
        assert!(s.send(piece.as_bytes()).await.unwrap());
    }
    assert_eq!(s.events, [1, 2, 3]);
    // The LF of the empty line after the trailers ends the body, with the server still open.
    s.send(b"\n").await.unwrap();
    s.read_to_end().await.unwrap();
    let payload = one.len() + two.len() + three.len();
    assert_eq!(s.client.bytes_received(), payload as u64);
}

#[tokio::test]
async fn many_chunks_in_one_read_and_body_bytes_with_the_head() {
    // The first chunk comes in the head's write; then many chunks in one write.
    let first = format!("{:x}\r\n{}\r\n", event(1).len(), event(1));
    let mut s = open(
        &format!("{SSE_HEAD}transfer-encoding: chunked\r\n\r\n"),
        first.as_bytes(),
    )
    .await
    .unwrap();
    let rest: String = (2..=50)
        .map(|n| format!("{:x}\r\n{}\r\n", event(n).len(), event(n)))
        .chain(["0\r\n\r\n".to_owned()])
        .collect();
    s.server.write_all(rest.as_bytes()).await.unwrap();
    s.read_to_end().await.unwrap();
    assert_eq!(s.events, (1..=50).collect::<Vec<_>>());
}

#[tokio::test]
async fn close_before_the_final_chunk_is_incomplete() {
    let mut s = open(&format!("{SSE_HEAD}transfer-encoding: chunked\r\n\r\n"), b"")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", event(7).len(), event(7));
    assert!(s.send(chunk.as_bytes()).await.unwrap());
    s.server.shutdown().await.unwrap();
    let err = s.read_to_end().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete, "{err}");
    assert!(err.to_string().contains("before the final chunk"), "{err}");
    assert_eq!(s.events, [7]);
}

#[tokio::test]
async fn reset_mid_body_is_a_reset() {
    let mut s = open(&format!("{SSE_HEAD}transfer-encoding: chunked\r\n\r\n"), b"")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", event(1).len(), event(1));
    assert!(s.send(chunk.as_bytes()).await.unwrap());
    // Closing with a zero linger time makes the kernel send a RST instead of a FIN.
    s.server.set_zero_linger().unwrap();
    let Scripted {
        server, mut client, ..
    } = s;
    drop(server);
    let err = within("the reset", async {
        while client.read(&mut |_, _| {}).await? {}
        Ok::<(), ClientError>(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
}

#[tokio::test]
async fn content_length_and_close_delimited_bodies_end_cleanly() {
    let body = format!("{}{}", event(1), event(2));
    let head = format!("{SSE_HEAD}content-length: {}\r\n\r\n", body.len());
    let mut s = open(&head, &body.as_bytes()[..5]).await.unwrap();
    s.server.write_all(&body.as_bytes()[5..]).await.unwrap();
    s.read_to_end().await.unwrap();
    assert_eq!(s.events, [1, 2]);

    // Without a length, the body ends when the server closes.
    let mut s = open(&format!("{SSE_HEAD}\r\n"), event(3).as_bytes())
        .await
        .unwrap();
    assert!(s.send(event(4).as_bytes()).await.unwrap());
    s.server.shutdown().await.unwrap();
    s.read_to_end().await.unwrap();
    assert_eq!(s.events, [3, 4]);

    // A close before the Content-Length is complete is not a clean end.
    let head = format!("{SSE_HEAD}content-length: 1000\r\n\r\n");
    let mut s = open(&head, event(5).as_bytes()).await.unwrap();
    s.server.shutdown().await.unwrap();
    let err = s.read_to_end().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete, "{err}");
    assert_eq!(s.events, [5]);
}

#[tokio::test]
async fn malformed_chunk_size_is_a_protocol_error() {
    let mut s = open(&format!("{SSE_HEAD}transfer-encoding: chunked\r\n\r\n"), b"")
        .await
        .unwrap();
    let err = s.send(b"1g\r\nx\r\n").await.unwrap_err();
    assert_eq!(err.kind().name_on_stream(), "stream_http", "{err}");
    assert_eq!(
        err.to_string(),
        "HTTP/1.1 protocol error: chunk size is not hexadecimal"
    );
    // The stream is over after an error.
    assert!(!s.read().await.unwrap());
}

#[tokio::test]
async fn head_errors_interim_answers_and_status_excerpts() {
    let (err, _) = open(
        "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n",
        b"6\r\nfull, \r\n9\r\ntry later\r\n0\r\n\r\n",
    )
    .await
    .err()
    .unwrap();
    match &err {
        ClientError::Status { status, body_excerpt } => {
            assert_eq!((status.as_u16(), body_excerpt.as_str()), (503, "full, try later"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    let (err, _) = open(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        b"",
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::ContentType, "{err}");
    let (err, _) = open("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", b"")
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "HTTP/1.1 protocol error: malformed response head: invalid header name"
    );
    // An interim answer before the real one is skipped.
    let head = format!("HTTP/1.1 100 Continue\r\n\r\n{SSE_HEAD}\r\n");
    let mut s = open(&head, event(9).as_bytes()).await.unwrap();
    s.server.shutdown().await.unwrap();
    s.read_to_end().await.unwrap();
    assert_eq!(s.events, [9]);
}

#[tokio::test]
async fn close_before_the_head_is_incomplete_and_silence_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sse", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let closing = tokio::spawn(async move {
        let (mut server, _) = listener.accept().await.unwrap();
        read_request(&mut server).await;
        server.write_all(b"HTTP/1.1 200 OK\r\ncontent-").await.unwrap();
        // Dropped here: the head is never finished.
        listener
    });
    let err = within("the close", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete, "{err}");
    let listener = within("the scripted server", closing).await.unwrap();
    let opts = ConnectOptions {
        timeout: Duration::from_millis(200),
        ..ConnectOptions::default()
    };
    // Accepted by the kernel, never answered.
    let err = within("the timeout", connect(&url, &opts)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(listener);
}
