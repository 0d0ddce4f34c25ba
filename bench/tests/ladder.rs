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

/// A design serving in this process on `127.0.0.1:0` with `flags`: its address, the
/// sender that stops it, and its task.
type Started = (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Starts `design` in this process with server `flags` (see [`Started`]).
async fn start(design: Design, flags: &[&str]) -> Started {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut args =
        sse_server::Args::try_parse_from(std::iter::once("test").chain(flags.iter().copied())).unwrap();
    args.bind = addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ladder::serve(design, listener, args.into(), async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

async fn serves_stamped_events_in_order(design: Design) {
    let (addr, stop, task) = start(design, &["--publish-rate", "500", "--payload-size", "64"]).await;
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

/// The reference server in this process with `flags`, once it answers `/health`.
async fn reference_with(flags: &[&str]) -> Started {
    let started = start(Design::Reference, flags).await;
    let health = format!("http://{}/health", started.0).parse().unwrap();
    within("/health", get_json(&health)).await.unwrap();
    started
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lean_reader_counts_every_streams_events_and_both_cpus() {
    let (addr, stop, task) = reference_with(&["--publish-rate", "500", "--payload-size", "64"]).await;
    let pid = std::process::id();
    let figures = within(
        "the lean reader",
        tokio::task::spawn_blocking(move || {
            ladder::lean::read_streams(addr, 20, Duration::from_millis(200), Duration::from_secs(1), pid)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(figures.clients, 20);
    assert_eq!(
        figures.silent_clients, 0,
        "every stream received events in the window: {figures:?}"
    );
    // 500 events/s to 20 streams for 1 s: about 10,000 frames, each counted once.
    assert!(figures.events >= 20, "{figures:?}");
    assert!(
        figures.reads >= 20 && figures.reads <= figures.events,
        "{figures:?}"
    );
    assert!(
        figures.reader_ns_per_event > 0.0 && figures.server_ns_per_delivery > 0.0,
        "{figures:?}"
    );
    stop.send(()).unwrap();
    within("the server to stop", task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lean_reader_says_when_nothing_arrives_and_what_it_could_not_reach() {
    // No publisher: the streams open and stay silent.
    let (addr, stop, task) = reference_with(&["--ping-interval", "0ms"]).await;
    let pid = std::process::id();
    let err = within(
        "the lean reader",
        tokio::task::spawn_blocking(move || {
            ladder::lean::read_streams(
                addr,
                2,
                Duration::from_millis(50),
                Duration::from_millis(300),
                pid,
            )
        }),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().contains("no event arrived on 2 streams"), "{err}");
    stop.send(()).unwrap();
    within("the server to stop", task).await.unwrap().unwrap();

    // A port held by a socket that never listens: every connect to it is refused.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = held.local_addr().unwrap();
    let err = within(
        "the refused connect",
        tokio::task::spawn_blocking(move || {
            ladder::lean::read_streams(addr, 1, Duration::ZERO, Duration::from_millis(10), pid)
        }),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!("stream 0 to {addr}: connect")),
        "{err}"
    );
}

/// `shape` read by the lean reader from `addr` on a blocking thread, bounded by [`WAIT`]
/// (`what` names the wait); the reader's CPU is this process's.
async fn read_shape(
    what: &str,
    addr: std::net::SocketAddr,
    shape: ladder::shape::Shape,
) -> ladder::lean::LeanFigures {
    let pid = std::process::id();
    within(
        what,
        tokio::task::spawn_blocking(move || ladder::shape::read(addr, &shape, pid)),
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lean_reader_at_a_scenario_shape_leaves_each_stream_with_its_events() {
    let (addr, stop, task) = reference_with(&["--ping-interval", "0ms"]).await;
    let shape = ladder::shape::Shape {
        path: "/sse?delay=0.01&size=16".into(),
        starts: (0..5).map(|i| Duration::from_millis(10 * i)).collect(),
        events_per_client: Some(3),
        // Far beyond WAIT: the read ends within it only if every client leaves with its events.
        duration: Duration::from_secs(600),
    };
    let figures = read_shape("every client to leave with its events", addr, shape).await;
    assert_eq!((figures.clients, figures.silent_clients), (5, 0), "{figures:?}");
    // Each stream is read until it has 3 events; a read may bring one more along.
    assert!((15..=20).contains(&figures.events), "{figures:?}");
    assert!(
        figures.reader_ns_per_event > 0.0 && figures.server_ns_per_delivery > 0.0,
        "{figures:?}"
    );
    // The server saw every stream close.
    registered_becomes(&format!("http://{addr}/metrics").parse().unwrap(), 0).await;
    stop.send(()).unwrap();
    within("the server to stop", task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lean_reader_at_a_scenario_shape_holds_its_streams_to_the_end() {
    let (addr, stop, task) = reference_with(&["--publish-rate", "200", "--payload-size", "32"]).await;
    let shape = ladder::shape::Shape {
        path: "/events".into(),
        starts: vec![Duration::ZERO; 4],
        events_per_client: None,
        duration: Duration::from_secs(1),
    };
    let figures = read_shape("the lean reader", addr, shape).await;
    assert_eq!((figures.clients, figures.silent_clients), (4, 0), "{figures:?}");
    // A stream's first read may bring its response head alone.
    assert!(
        figures.events >= 4 && figures.reads <= figures.events + 4,
        "{figures:?}"
    );
    stop.send(()).unwrap();
    within("the server to stop", task).await.unwrap().unwrap();
}
