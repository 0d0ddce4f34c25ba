//! The comparator ladder's designs over real loopback HTTP: each serves numbered, stamped hub events in order, counts its streams in `/metrics`, and shuts down.

use std::future::Future;
use std::time::{Duration, Instant};

use clap::Parser as _;
use http::Uri;
use sse_bench::client::{ConnectOptions, Item, connect, get_json};
use sse_bench::ladder::{self, Design};
use sse_server::publisher::publish_time;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// `/metrics`' `registered_events`, once it equals `want` (polled, bounded by [`WAIT`]).
async fn registered_becomes(metrics: &Uri, want: u64) {
    within("registered_events to settle", async {
        loop {
            let figures = get_json(metrics).await.unwrap();
            if figures["registered_events"].as_u64() == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn serves_stamped_events_in_order(design: Design) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut args =
        sse_server::Args::try_parse_from(["test", "--publish-rate", "500", "--payload-size", "64"]).unwrap();
    args.bind = addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ladder::serve(design, listener, args.into(), async move {
        let _ = stopped.await;
    }));
    let url = |path: &str| -> Uri { format!("http://{addr}{path}").parse().unwrap() };

    let health = within("/health", get_json(&url("/health"))).await.unwrap();
    assert_eq!(health["status"], "healthy", "{design}");
    let mut stream = within("the stream", connect(&url("/events"), &ConnectOptions::default()))
        .await
        .unwrap();
    registered_becomes(&url("/metrics"), 1).await;

    let mut ids = Vec::new();
    let mut stamped = 0;
    within("20 events", async {
        while ids.len() < 20 {
            let open = stream
                .read(&mut |item, _at: Instant| {
                    if let Item::Event(event) = item {
                        ids.push(event.id.unwrap().parse::<u64>().unwrap());
                        stamped += usize::from(publish_time(event.data).is_some() && event.data.len() == 64);
                    }
                })
                .await
                .unwrap();
            assert!(open, "{design}: the stream ended early");
        }
    })
    .await;
    let first = ids[0];
    assert_eq!(
        ids,
        (first..first + ids.len() as u64).collect::<Vec<_>>(),
        "{design}: ids in order, no gap"
    );
    assert_eq!(
        stamped,
        ids.len(),
        "{design}: every event carries a t= stamp, 64 bytes"
    );

    drop(stream);
    registered_becomes(&url("/metrics"), 0).await;
    stop.send(()).unwrap();
    within("the server to stop", task).await.unwrap().unwrap();
}

#[tokio::test]
async fn floor_serves_stamped_events_in_order() {
    serves_stamped_events_in_order(Design::Floor).await;
}

#[tokio::test]
async fn naive_serves_stamped_events_in_order() {
    serves_stamped_events_in_order(Design::Naive).await;
}

#[tokio::test]
async fn reference_serves_stamped_events_in_order() {
    serves_stamped_events_in_order(Design::Reference).await;
}
