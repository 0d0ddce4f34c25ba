//! Lifecycle: one watcher, no leaks after churn, clean shutdown of many streams, the connection limit.

use std::time::{Duration, Instant};

use crate::util::{End, Process, SseReader, lean_flag, metrics, request, within, within_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_sequential_connections_leave_nothing_behind() {
    let server = Process::start(&[]).await;
    let addr = server.addr;
    let (status, _) = request(addr, "POST", "/publish", &[], bytes::Bytes::from_static(b"hello")).await;
    assert_eq!(status, 200);
    // The publishing connection closes asynchronously: start once only this request is open.
    let start = within("the publishing connection to close", async {
        loop {
            let m = metrics(addr).await;
            if m.connections == 1 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(start.watcher_count, 1);
    for i in 0..1000 {
        // Alternate hub subscriptions (replaying the one held event) and generated streams.
        let path = if i % 2 == 0 {
            "/events?last_event_id=0"
        } else {
            "/sse?delay=0&count=1"
        };
        let mut reader = SseReader::open(addr, path, &[]).await;
        within("first event", reader.next()).await.expect("an event");
    }
    let end = within("server to settle", async {
        loop {
            let m = metrics(addr).await;
            if m.registered_events == 0 && m.connections == 1 && m.num_fds <= start.num_fds {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    println!(
        "after 1,000 connections: watcher_count {}, registered_events {}, fds {} -> {}",
        end.watcher_count, end.registered_events, start.num_fds, end.num_fds
    );
    assert_eq!(
        end.watcher_count, 1,
        "one watcher, whatever the number of streams"
    );
    assert!(end.watcher_started);
    assert_eq!(end.registered_events, 0);
    assert_eq!(end.num_fds, start.num_fds, "no fd leaked");
    assert_eq!(end.events_delivered - start.events_delivered, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_200_streams_cleanly_within_grace_lean() {
    shutdown_ends_200_streams_cleanly_within_grace(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_200_streams_cleanly_within_grace_hyper() {
    shutdown_ends_200_streams_cleanly_within_grace(false).await;
}

async fn shutdown_ends_200_streams_cleanly_within_grace(lean: bool) {
    const GRACE: Duration = Duration::from_secs(3);
    const STREAMS: usize = 200;
    let [flag, value] = lean_flag(lean);
    let mut server = Process::start(&["--shutdown-grace", "3s", flag, value]).await;
    let addr = server.addr;
    let mut readers = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        readers.push(SseReader::open(addr, "/events", &[]).await);
    }
    within("all registered", async {
        while metrics(addr).await.registered_events != STREAMS as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (status, _) = request(
        addr,
        "POST",
        "/publish",
        &[],
        bytes::Bytes::from_static(b"before shutdown"),
    )
    .await;
    assert_eq!(status, 200);

    let signalled = Instant::now();
    server.terminate();
    let ends: Vec<_> = readers
        .into_iter()
        .map(|mut reader| {
            tokio::spawn(async move {
                let event = reader.next().await.expect("the event published before shutdown");
                assert_eq!(event.data, "before shutdown");
                reader.next().await
            })
        })
        .collect();
    for end in ends {
        let end = within_for(GRACE, "a stream to end", end).await.unwrap();
        assert_eq!(
            end,
            Err(End::Clean),
            "a clean end of the chunked body, not a reset"
        );
    }
    let status = within_for(GRACE, "the server to exit", server.child.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    println!(
        "200 streams ended cleanly; exit {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert!(signalled.elapsed() < GRACE);
}

#[tokio::test]
async fn over_the_connection_limit_answers_503_with_retry_after() {
    let server = Process::start(&["--max-connections", "4"]).await;
    let addr = server.addr;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(SseReader::open(addr, "/events", &[]).await);
    }
    let refused = SseReader::open(addr, "/events", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers["retry-after"], "1");
    drop(refused);
    open.pop();
    // Once a slot is free, the server accepts again.
    let m = within("a free slot", async {
        loop {
            let (status, body) = request(addr, "GET", "/metrics", &[], bytes::Bytes::new()).await;
            if status == 200 {
                return serde_json::from_slice::<serde_json::Value>(&body).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(m["connections_rejected"].as_u64().unwrap() >= 1);
}
