//! Fan-out: every subscriber receives the same events, in order, with no gap (lean and hyper paths).

use sse_server::Config;

use crate::util::{InProcess, SseReader, assert_consecutive, eventually, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_subscribers_receive_every_event_in_order_lean() {
    hundred_subscribers_receive_every_event_in_order(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_subscribers_receive_every_event_in_order_hyper() {
    hundred_subscribers_receive_every_event_in_order(false).await;
}

async fn hundred_subscribers_receive_every_event_in_order(lean_streams: bool) {
    const SUBSCRIBERS: usize = 100;
    const EVENTS: usize = 500;
    let server = InProcess::start(Config {
        replay_capacity: 1024,
        lean_streams,
        ..Config::default()
    })
    .await;
    let mut readers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let reader = SseReader::open(server.addr, "/events", &[]).await;
        assert_eq!(reader.status, 200);
        assert_eq!(reader.headers["content-type"], "text/event-stream");
        assert_eq!(reader.headers["cache-control"], "no-store");
        assert_eq!(reader.headers["x-accel-buffering"], "no");
        readers.push(reader);
    }
    eventually("all subscribers registered", || {
        server.metrics().registered_events == SUBSCRIBERS as u64
    })
    .await;

    let tasks: Vec<_> = readers
        .into_iter()
        .map(|mut reader| tokio::spawn(async move { within("events", reader.take(EVENTS)).await }))
        .collect();
    for i in 0..EVENTS {
        server
            .server
            .hub()
            .publish(None, format!("payload {i}\nline two").as_bytes())
            .unwrap();
    }
    for task in tasks {
        let events = task.await.unwrap();
        assert_consecutive(&events, 1);
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.data, format!("payload {i}\nline two"));
        }
    }
    let metrics = server.metrics();
    assert_eq!(metrics.events_published, EVENTS as u64);
    assert_eq!(metrics.events_delivered, (EVENTS * SUBSCRIBERS) as u64);
    assert_eq!(metrics.clients_lagged, 0);
    // Coalescing: a backlog goes out in vectored writes of several frames.
    assert!(
        metrics.write_calls < metrics.events_delivered,
        "{} writes for {} deliveries",
        metrics.write_calls,
        metrics.events_delivered
    );
    server.stop().await;
}

#[tokio::test]
async fn generated_stream_follows_the_contract() {
    let server = InProcess::start(Config::default()).await;
    let mut reader = SseReader::open(server.addr, "/sse?delay=0&count=5&size=32", &[]).await;
    let events = reader.take(5).await;
    assert_consecutive(&events, 1);
    assert_eq!(events[2].data, format!("event-3{}", ".".repeat(32 - 7)));
    assert_eq!(reader.next().await, Err(crate::util::End::Clean));

    let mut finite = SseReader::open(server.addr, "/sse/finite?count=3", &[]).await;
    assert_consecutive(&finite.take(3).await, 1);
    assert_eq!(finite.next().await, Err(crate::util::End::Clean));

    let mut slow = SseReader::open(server.addr, "/sse/slow?delay=0", &[]).await;
    assert_eq!(slow.take(1).await[0].data.len(), 4096);
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_pings_arrive_when_idle_lean() {
    keep_alive_pings_arrive_when_idle(true).await;
}

#[tokio::test]
async fn keep_alive_pings_arrive_when_idle_hyper() {
    keep_alive_pings_arrive_when_idle(false).await;
}

async fn keep_alive_pings_arrive_when_idle(lean_streams: bool) {
    let config = Config {
        ping_interval: Some(std::time::Duration::from_millis(50)),
        lean_streams,
        ..Config::default()
    };
    let server = InProcess::start(config).await;
    let mut reader = SseReader::open(server.addr, "/events", &[]).await;
    eventually("subscriber registered", || {
        server.metrics().registered_events == 1
    })
    .await;
    eventually("three pings sent", || server.metrics().pings_sent >= 3).await;
    server.server.hub().publish(None, b"after pings").unwrap();
    let event = within("event after pings", reader.next()).await.unwrap();
    assert_eq!(event.data, "after pings");
    assert!(reader.comments >= 1, "the pings reached the client as comments");
    server.stop().await;
}
