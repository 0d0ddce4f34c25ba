//! Last-Event-ID: a reconnecting client gets every missed event still held, then live ones (lean and hyper paths).

use sse_server::Config;

use crate::util::{InProcess, SseReader, assert_consecutive, eventually, within};

#[tokio::test]
async fn resume_has_no_gap_and_no_duplicate_lean() {
    resume_has_no_gap_and_no_duplicate(true).await;
}

#[tokio::test]
async fn resume_has_no_gap_and_no_duplicate_hyper() {
    resume_has_no_gap_and_no_duplicate(false).await;
}

async fn resume_has_no_gap_and_no_duplicate(lean_streams: bool) {
    let server = InProcess::start(Config {
        replay_capacity: 64,
        lean_streams,
        ..Config::default()
    })
    .await;
    let hub = server.server.hub().clone();
    let mut first = SseReader::open(server.addr, "/events", &[]).await;
    eventually("subscriber registered", || {
        server.metrics().registered_events == 1
    })
    .await;
    for i in 1..=10 {
        hub.publish(None, format!("e{i}").as_bytes()).unwrap();
    }
    let seen = first.take(4).await;
    assert_consecutive(&seen, 1);
    drop(first); // the client goes away after id 4 ...
    for i in 11..=20 {
        hub.publish(None, format!("e{i}").as_bytes()).unwrap(); // ... and misses these
    }
    // ... and comes back with the header; a second client uses the query form.
    let mut header = SseReader::open(server.addr, "/events", &[("last-event-id", "4")]).await;
    let mut query = SseReader::open(server.addr, "/events?last_event_id=4", &[]).await;
    eventually("both registered", || server.metrics().registered_events == 2).await;
    for i in 21..=25 {
        hub.publish(None, format!("e{i}").as_bytes()).unwrap();
    }
    for reader in [&mut header, &mut query] {
        let events = within("replay then live", reader.take(21)).await;
        assert_consecutive(&events, 5);
        assert_eq!(events.last().unwrap().data, "e25");
    }
    server.stop().await;
}

#[tokio::test]
async fn id_older_than_the_ring_is_announced_then_replayed_lean() {
    id_older_than_the_ring_is_announced_then_replayed(true).await;
}

#[tokio::test]
async fn id_older_than_the_ring_is_announced_then_replayed_hyper() {
    id_older_than_the_ring_is_announced_then_replayed(false).await;
}

async fn id_older_than_the_ring_is_announced_then_replayed(lean_streams: bool) {
    let server = InProcess::start(Config {
        replay_capacity: 8,
        lean_streams,
        ..Config::default()
    })
    .await;
    for i in 1..=20 {
        server
            .server
            .hub()
            .publish(None, format!("e{i}").as_bytes())
            .unwrap();
    }
    let mut reader = SseReader::open(server.addr, "/events", &[("last-event-id", "3")]).await;
    let notice = reader.next().await.unwrap();
    assert_eq!(notice.event.as_deref(), Some("replay-gap"));
    assert_eq!(notice.id, None, "the notice leaves the client's last id alone");
    assert_eq!(notice.data, r#"{"last_event_id":3,"oldest_held":13,"missed":9}"#);
    assert_consecutive(&reader.take(8).await, 13);

    // An id from the future (say, before a server restart): live events only.
    let mut ahead = SseReader::open(server.addr, "/events", &[("last-event-id", "999")]).await;
    eventually("registered", || server.metrics().registered_events == 2).await;
    server.server.hub().publish(None, b"live").unwrap();
    assert_eq!(ahead.next().await.unwrap().id, Some(21));
    server.stop().await;
}

#[tokio::test]
async fn generated_stream_resumes_after_last_event_id() {
    let server = InProcess::start(Config::default()).await;
    let mut reader = SseReader::open(server.addr, "/sse/finite?count=10", &[("last-event-id", "6")]).await;
    assert_consecutive(&reader.take(4).await, 7);
    assert_eq!(reader.next().await, Err(crate::util::End::Clean));
    server.stop().await;
}
