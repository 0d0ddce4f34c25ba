//! Bounded published data and strict input: replay bytes, event size, publish access, id range, echoed values.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::util::{End, Process, SseReader, assert_consecutive, request, within};

const MIB: f64 = 1024.0 * 1024.0;

/// POSTs over one kept-alive connection; returns status and JSON body.
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

    async fn post(&mut self, data: Bytes, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        within("publish", async {
            self.0.ready().await.unwrap();
            let mut req = hyper::Request::post("/publish").header("host", "localhost");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = self
                .0
                .send_request(req.body(Full::new(data)).unwrap())
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice(&body).expect("a JSON answer"))
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_publishes_cannot_take_rss_past_the_replay_bytes() {
    // A quarter of the defaults (1 MiB events, 8 MiB ring) keeps the debug-built run short;
    // the bound is the same arithmetic.
    const REPLAY_BYTES: f64 = 2.0 * MIB;
    /// Allocator slack, the body being read and the frame being encoded, hyper's buffers.
    const SLACK_MIB: f64 = 16.0;
    let server = Process::start(&["--max-event-bytes", "256KiB", "--replay-bytes", "2MiB"]).await;
    let addr = server.addr;
    let start = server.metrics().await;
    let mut publisher = Publisher::connect(addr).await;
    // "id: NNNN\n" + "data: " + body + "\n\n" stays within 256 KiB for ids below 10^6.
    let body = Bytes::from(vec![b'x'; (1 << 18) - 32]);
    let mut rss_peak: f64 = 0.0;
    for i in 1..=1024 {
        let (status, json) = publisher.post(body.clone(), &[]).await;
        assert_eq!(status, 200, "{json}");
        if i % 64 == 0 {
            rss_peak = rss_peak.max(server.metrics().await.memory_rss_mb);
        }
    }
    let end = server.metrics().await;
    rss_peak = rss_peak.max(end.memory_rss_mb);
    println!(
        "1,024 publishes of 256 KiB: server RSS {:.1} -> peak {rss_peak:.1} -> {:.1} MiB \
         (--replay-bytes 2 MiB, allowed {SLACK_MIB} MiB of slack)",
        start.memory_rss_mb, end.memory_rss_mb
    );
    assert_eq!(end.events_published, 1024);
    assert!(
        rss_peak <= start.memory_rss_mb + REPLAY_BYTES / MIB + SLACK_MIB,
        "RSS peaked at {rss_peak:.1} MiB from {:.1}",
        start.memory_rss_mb
    );
    // The ring holds the newest events that fit in 2 MiB: 8 of about 256 KiB.
    let mut reader = SseReader::open(addr, "/events?last_event_id=1000", &[]).await;
    let gap = within("the replay-gap notice", reader.next()).await.unwrap();
    assert_eq!(gap.event.as_deref(), Some("replay-gap"));
    let replay = reader.take(8).await;
    assert_consecutive(&replay, 1017);
}

#[tokio::test]
async fn over_limit_and_unauthorized_publishes_get_json_naming_the_limit() {
    let server = Process::start(&["--max-event-bytes", "1KiB", "--replay-bytes", "4KiB"]).await;
    let mut publisher = Publisher::connect(server.addr).await;
    let (status, json) = publisher.post(Bytes::from(vec![b'x'; 2000]), &[]).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["limit"], "--max-event-bytes");
    assert_eq!(json["max"], 1024);
    // Under the byte limit, but many line breaks make the encoded event too large.
    let (status, json) = publisher.post(Bytes::from(vec![b'\n'; 500]), &[]).await;
    assert_eq!(status, 413, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("encoded event"),
        "{json}"
    );
    let (status, json) = publisher.post(Bytes::from_static(b"fits"), &[]).await;
    assert_eq!((status, json["id"].as_u64()), (200, Some(1)));

    let guarded = Process::start_with_env(&[], &[("SSE_PUBLISH_TOKEN", "s3cret")]).await;
    let mut publisher = Publisher::connect(guarded.addr).await;
    let (status, json) = publisher.post(Bytes::from_static(b"x"), &[]).await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["parameter"], "Authorization");
    let wrong = [("authorization", "Bearer guess")];
    assert_eq!(publisher.post(Bytes::from_static(b"x"), &wrong).await.0, 401);
    let right = [("authorization", "Bearer s3cret")];
    assert_eq!(publisher.post(Bytes::from_static(b"x"), &right).await.0, 200);
    assert!(
        !guarded.stderr_so_far().contains("s3cret"),
        "the token is never logged"
    );
}

#[tokio::test]
async fn ids_end_at_u64_max_instead_of_wrapping() {
    let server = Process::start(&[]).await;
    let near_end = (u64::MAX - 2).to_string();
    let mut reader = SseReader::open(
        server.addr,
        "/sse?delay=0",
        &[("last-event-id", near_end.as_str())],
    )
    .await;
    let events = reader.take(2).await;
    assert_eq!(events[0].id, Some(u64::MAX - 1));
    assert_eq!(events[1].id, Some(u64::MAX));
    assert_eq!(within("the end", reader.next()).await, Err(End::Clean));
    let max = u64::MAX.to_string();
    let mut reader = SseReader::open(server.addr, "/sse?delay=0", &[("last-event-id", max.as_str())]).await;
    assert_eq!(reader.status, 200);
    assert_eq!(within("the end", reader.next()).await, Err(End::Clean));
}

#[tokio::test]
async fn bad_input_is_refused_without_echoing_it_whole() {
    let server = Process::start(&[]).await;
    // Long, but inside the 8 KiB request head limit.
    let long = "7".repeat(7 * 1024) + "x";
    let (status, body) = request(
        server.addr,
        "GET",
        "/events",
        &[("last-event-id", long.as_str())],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.len() < 300, "the 400 is {} bytes", body.len());
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["parameter"], "Last-Event-ID");
    // A head past the limit is refused whole, before any handler sees it.
    let huge = "7".repeat(sse_server::connection::MAX_HEAD_BYTES);
    let (status, body) = request(
        server.addr,
        "GET",
        "/events",
        &[("last-event-id", huge.as_str())],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 431);
    assert!(body.len() < 300, "the 431 is {} bytes", body.len());

    let (status, body) = request(
        server.addr,
        "POST",
        "/publish?event=a%00b",
        &[],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(status, 400);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["parameter"], "event");
}

#[tokio::test]
async fn binding_beyond_loopback_warns_what_is_exposed() {
    use tokio::io::AsyncBufReadExt;
    // Bound for a moment on every interface; nothing connects.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse-server"))
        .args(["--bind", "0.0.0.0:0"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let log = within("the server to start", async {
        let mut log = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if line.contains("listening on") {
                return log;
            }
        }
        panic!("sse-server exited: {log}");
    })
    .await;
    child.kill().await.unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("non-loopback address 0.0.0.0"), "{log}");
    assert!(log.contains("POST /publish is refused (403)"), "{log}");
}
