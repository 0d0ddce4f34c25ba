//! The SSE client against the real reference server, in-process on a free loopback port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use http::{StatusCode, Uri};
use sse_bench::client::http::HttpConnection;
use sse_bench::client::{
    ClientError, ConnectOptions, ErrorKind, Item, SseConnection, Target, connect, event_number, get_json,
    post,
};
use sse_server::{Config, Running, Server};
use tokio::net::TcpListener;

use testkit::wait::{WAIT, within};

/// The reference server serving on `127.0.0.1:0` in this process ([`Running`]).
struct TestServer {
    addr: SocketAddr,
    /// A handle on the serving server, for its counters.
    server: Server,
    running: Running,
}

impl TestServer {
    async fn start(config: Config) -> Self {
        let running = Running::start(config).await.unwrap();
        Self {
            addr: running.addr(),
            server: running.server().clone(),
            running,
        }
    }

    fn url(&self, path_and_query: &str) -> Uri {
        format!("http://{}{path_and_query}", self.addr).parse().unwrap()
    }

    /// Triggers graceful shutdown and waits for `serve` to return.
    async fn shut_down(self) {
        self.running.stop(WAIT).await.unwrap();
    }
}

/// An event received, owned.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    id: Option<String>,
    event: String,
    data: String,
}

/// What one `read` loop saw until the stream ended or `limit` events arrived.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<Received>,
    comments: usize,
    /// Receive times were non-decreasing.
    ordered_times: bool,
}

/// Reads until `limit` events, a clean end (`Ok(true)` when the stream ended cleanly,
/// `Ok(false)` when `limit` was reached first) or an error.
async fn read_events(stream: &mut SseConnection, limit: usize) -> (Seen, Result<bool, ClientError>) {
    let mut seen = Seen {
        ordered_times: true,
        ..Seen::default()
    };
    let mut last_time = stream.started_at();
    let result = within("the stream", async {
        while seen.events.len() < limit {
            let open = stream
                .read(&mut |item, at: Instant| {
                    seen.ordered_times &= at >= last_time;
                    last_time = at;
                    match item {
                        Item::Event(e) => seen.events.push(Received {
                            id: e.id.map(str::to_owned),
                            event: e.event.to_owned(),
                            data: String::from_utf8(e.data.to_vec()).unwrap(),
                        }),
                        Item::Comment(_) => seen.comments += 1,
                        Item::Retry(_) => {}
                    }
                })
                .await?;
            if !open {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .await;
    (seen, result)
}

fn ids(events: &[Received]) -> Vec<u64> {
    events
        .iter()
        .map(|e| event_number(e.id.as_deref().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn finite_stream_is_received_whole_with_a_clean_end() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = within(
        "connect",
        connect(&server.url("/sse/finite?count=50"), &ConnectOptions::default()),
    )
    .await
    .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.time_to_headers() > Duration::ZERO);

    let (seen, end) = read_events(&mut stream, usize::MAX).await;
    assert!(end.unwrap(), "the stream must end cleanly");
    assert_eq!(ids(&seen.events), (1..=50).collect::<Vec<_>>());
    assert!(
        seen.events
            .iter()
            .all(|e| e.event == "message" && e.data.starts_with("event-"))
    );
    assert!(seen.ordered_times);
    assert_eq!(stream.last_event_id(), Some("50"));
    assert!(stream.bytes_received() > 50 * 10);
    // Reading past the end keeps reporting the clean end.
    let again = within(
        "read after end",
        stream.read(&mut |_, _| panic!("no items after the end")),
    )
    .await;
    assert!(!again.unwrap());
    server.shut_down().await;
}

#[tokio::test]
async fn a_read_takes_every_chunk_that_has_arrived() {
    // The server sends one chunk per event; the client reads HTTP/1.1 itself and parses
    // every chunk a socket read returned, so a fast stream takes far fewer reads than events.
    let server = TestServer::start(Config::default()).await;
    let url = server.url("/sse/finite?count=2000&size=100");
    let mut stream = within("connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap();
    let (mut reads, mut events) = (0u64, Vec::new());
    within("the stream", async {
        let mut on_item = |item: Item<'_>, _| {
            if let Item::Event(e) = item {
                events.push(event_number(e.id.unwrap()).unwrap());
            }
        };
        while stream.read(&mut on_item).await.unwrap() {
            reads += 1;
        }
    })
    .await;
    assert_eq!(events, (1..=2000).collect::<Vec<_>>());
    assert!(reads < 2000 / 2, "{reads} reads for 2000 events");
    assert!(stream.bytes_received() > 2000 * 100);
    server.shut_down().await;
}

#[tokio::test]
async fn last_event_id_resumes_events_after_a_disconnect() {
    let server = TestServer::start(Config::default()).await;
    let events_url = server.url("/events");
    let publish_url = server.url("/publish?event=tick");

    let mut first = within("connect", connect(&events_url, &ConnectOptions::default()))
        .await
        .unwrap();
    let mut published = Vec::new();
    for n in 1..=3 {
        if n == 3 {
            // A read delivers every event that has arrived: read the first two before the
            // third is published, which then reaches the socket but is never read.
            let (seen, end) = read_events(&mut first, 2).await;
            assert!(!end.unwrap(), "the hub stream stays open");
            assert_eq!(ids(&seen.events), published[..2]);
            assert_eq!(seen.events[0].event, "tick");
            assert_eq!(seen.events[0].data, "payload 1");
        }
        let answer = within("publish", post(&publish_url, format!("payload {n}")))
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        published.push(json["id"].as_u64().unwrap());
    }
    let resume_from = first.last_event_id().unwrap().to_owned();
    assert_eq!(event_number(&resume_from), Some(published[1]));
    drop(first);

    // Published while nobody is connected: only the replay ring has them.
    for n in 4..=5 {
        let answer = within("publish", post(&publish_url, format!("payload {n}")))
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        published.push(json["id"].as_u64().unwrap());
    }
    let options = ConnectOptions {
        last_event_id: Some(resume_from.clone()),
        ..ConnectOptions::default()
    };
    let mut resumed = within("reconnect", connect(&events_url, &options)).await.unwrap();
    assert_eq!(resumed.last_event_id(), Some(resume_from.as_str()));
    let (seen, end) = read_events(&mut resumed, 3).await;
    assert!(!end.unwrap());
    assert_eq!(ids(&seen.events), published[2..], "no event lost or repeated");
    assert_eq!(
        seen.events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["payload 3", "payload 4", "payload 5"]
    );
    server.shut_down().await;
}

#[tokio::test]
async fn bad_parameter_is_a_status_error_with_the_body() {
    let server = TestServer::start(Config::default()).await;
    let err = within(
        "connect",
        connect(&server.url("/sse?delay=abc"), &ConnectOptions::default()),
    )
    .await
    .unwrap_err();
    match &err {
        ClientError::Status { status, body_excerpt } => {
            assert_eq!(*status, StatusCode::BAD_REQUEST);
            assert!(
                body_excerpt.contains("delay"),
                "body names the parameter: {body_excerpt}"
            );
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert_eq!(err.kind().name(), "http_400");
    server.shut_down().await;
}

#[tokio::test]
async fn connection_limit_is_http_503() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let url = server.url("/sse?delay=1");
    let _held = within("first connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap();
    let err = within("second connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind().name(), "http_503", "{err}");
    server.shut_down().await;
}

#[tokio::test]
async fn graceful_shutdown_is_a_clean_end() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = within(
        "connect",
        connect(&server.url("/sse?delay=0.01"), &ConnectOptions::default()),
    )
    .await
    .unwrap();
    let (seen, end) = read_events(&mut stream, 1).await;
    assert!(!end.unwrap());
    assert_eq!(ids(&seen.events), [1]);

    let stopping = tokio::spawn(server.shut_down());
    let (rest, end) = read_events(&mut stream, usize::MAX).await;
    assert!(
        end.unwrap(),
        "shutdown must end the stream cleanly, not with an error"
    );
    // Whatever arrived before the end continues the sequence without gaps.
    let rest_ids = ids(&rest.events);
    assert!(
        rest_ids.iter().copied().eq(2..2 + rest_ids.len() as u64),
        "{rest_ids:?}"
    );
    within("the server to stop", stopping).await.unwrap();
}

#[tokio::test]
async fn aborted_stream_is_an_error_not_a_clean_end() {
    // A client that does not read cannot take the final chunk: after the grace the
    // server aborts its connection, which the client must see as an unclean end.
    let config = Config {
        shutdown_grace: Duration::from_millis(400),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut stream = within(
        "connect",
        connect(&server.url("/sse?delay=0&size=65536"), &ConnectOptions::default()),
    )
    .await
    .unwrap();
    // Let the server fill the socket buffers until it is blocked mid-stream (its count of
    // delivered events stops moving), so that it cannot write the final chunk: a server
    // still writing when the shutdown comes would end the body cleanly instead.
    let (mut last, mut unchanged) = (0, 0);
    testkit::wait::eventually("the server to block on a full socket", || {
        let delivered = server.server.metrics().events_delivered;
        unchanged = if delivered == last && delivered > 0 {
            unchanged + 1
        } else {
            0
        };
        last = delivered;
        unchanged >= 20
    })
    .await;
    // Stop reading until the server has given up on us.
    server.shut_down().await;
    let (_, end) = read_events(&mut stream, usize::MAX).await;
    let err = end.expect_err("an aborted stream is not a clean end");
    println!("aborted stream: {} ({err})", err.kind());
    assert!(
        matches!(err.kind(), ErrorKind::Reset | ErrorKind::Incomplete),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_event_stream_answer_is_a_content_type_error() {
    let server = TestServer::start(Config::default()).await;
    let err = within(
        "connect",
        connect(&server.url("/health"), &ConnectOptions::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind().name(), "content_type", "{err}");
    server.shut_down().await;
}

#[tokio::test]
async fn refused_connection_has_its_own_kind() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url: Uri = format!("http://{addr}/sse").parse().unwrap();
    let err = within("connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind().name(), "connect_refused", "{err}");
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts (in the kernel backlog) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: Uri = format!("http://{}/sse", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let options = ConnectOptions {
        timeout: Duration::from_millis(200),
        ..ConnectOptions::default()
    };
    let err = within("connect", connect(&url, &options)).await.unwrap_err();
    assert_eq!(err.kind().name(), "timeout", "{err}");
}

#[tokio::test]
async fn invalid_urls_are_rejected_with_a_reason() {
    for url in ["ftp://127.0.0.1/sse", "/sse"] {
        let err = connect(&url.parse().unwrap(), &ConnectOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind().name(), "invalid_url", "{url}: {err}");
    }
}

#[tokio::test]
async fn host_names_resolve_preferring_ipv4() {
    let server = TestServer::start(Config::default()).await;
    let url: Uri = format!("http://localhost:{}/sse/finite?count=2", server.addr.port())
        .parse()
        .unwrap();
    let mut stream = within("connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap();
    let (seen, end) = read_events(&mut stream, usize::MAX).await;
    assert!(end.unwrap());
    assert_eq!(ids(&seen.events), [1, 2]);
    server.shut_down().await;
}

#[tokio::test]
async fn source_address_can_be_chosen() {
    let server = TestServer::start(Config::default()).await;
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let options = ConnectOptions {
        local_addr: Some(source),
        ..ConnectOptions::default()
    };
    let target = Target::resolve(&server.url("/sse/finite?count=3")).await.unwrap();
    let mut stream = within("connect", SseConnection::open(&target, &options))
        .await
        .unwrap();
    assert_eq!(stream.local_addr().map(|a| a.ip()), Some(source));
    let (seen, end) = read_events(&mut stream, usize::MAX).await;
    assert!(end.unwrap());
    assert_eq!(ids(&seen.events), [1, 2, 3]);
    server.shut_down().await;
}

#[tokio::test]
async fn metrics_and_keep_alive_publishing() {
    let server = TestServer::start(Config::default()).await;
    let metrics = within("metrics", get_json(&server.url("/metrics")))
        .await
        .unwrap();
    assert_eq!(metrics["events_published"], 0);

    let target = Target::resolve(&server.url("/publish")).await.unwrap();
    let mut publisher = HttpConnection::new(target, WAIT);
    let mut ids = Vec::new();
    for n in 0..5 {
        let answer = within("publish", publisher.post(format!("n={n}").into()))
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        ids.push(json["id"].as_u64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert_eq!(
        publisher.connects(),
        1,
        "keep-alive: one connection for every request"
    );
    let metrics = within("metrics", get_json(&server.url("/metrics")))
        .await
        .unwrap();
    assert_eq!(metrics["events_published"], 5);

    // An event name with a line break would inject fields: the server refuses it.
    let bad = publisher.target().with_path("/publish?event=a%0Ab").unwrap();
    let mut bad_publisher = HttpConnection::new(bad, WAIT);
    let err = within("bad publish", bad_publisher.post("x".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind().name(), "http_400", "{err}");
    assert!(
        err.to_string().contains("event"),
        "the message names the parameter: {err}"
    );
    // After an error the connection is not reused.
    let err = within("bad publish again", bad_publisher.post("x".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind().name(), "http_400");
    assert_eq!(bad_publisher.connects(), 2);
    server.shut_down().await;
}

#[tokio::test]
async fn read_is_cancel_safe() {
    // Cancelling `read` again and again (a timeout shorter than the event interval) must
    // neither lose nor repeat events.
    let server = TestServer::start(Config::default()).await;
    let url = server.url("/sse?delay=0.002&count=200");
    let mut stream = within("connect", connect(&url, &ConnectOptions::default()))
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut cancelled = 0u32;
    within("the stream", async {
        loop {
            let mut on_item = |item: Item<'_>, _| {
                if let Item::Event(e) = item {
                    received.push(event_number(e.id.unwrap()).unwrap());
                }
            };
            match tokio::time::timeout(Duration::from_micros(500), stream.read(&mut on_item)).await {
                Err(_) => cancelled += 1,
                Ok(open) => {
                    if !open.unwrap() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert_eq!(received, (1..=200).collect::<Vec<_>>());
    assert!(cancelled > 0, "no read was cancelled; the test proved nothing");
    server.shut_down().await;
}

#[tokio::test]
async fn dropping_a_stream_frees_its_server_connection() {
    let server = TestServer::start(Config::default()).await;
    let url = server.url("/sse?delay=0.005");
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(
            within("connect", connect(&url, &ConnectOptions::default()))
                .await
                .unwrap(),
        );
    }
    assert_eq!(server.server.metrics().connections, 5);
    for stream in &mut streams {
        let (seen, end) = read_events(stream, 1).await;
        assert!(!end.unwrap());
        assert_eq!(seen.events.len(), 1);
    }
    drop(streams);
    // The server notices at its next write (every 5 ms): poll its counter, bounded.
    within("the server to close the dropped streams", async {
        while server.server.metrics().connections > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.shut_down().await;
}
