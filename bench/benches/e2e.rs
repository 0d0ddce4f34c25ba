//! End to end over loopback HTTP against the real reference server: fan-out events/s, time to first event, publish-to-receive latency.
//!
//! The server runs in process (`support::server`) in its own multi-threaded runtime; the
//! clients are the load client's hyper connections on a current-thread runtime in the
//! bench thread, so client and server share the two cores as two processes would.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sse_bench::client::{ConnectOptions, Item, SseConnection, connect};
use sse_server::publisher::{publish_time, stamp, unix_nanos};
use support::server::RunningServer;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// Events published per fan-out iteration: far below the replay capacity, so no subscriber lags.
const BATCH: u64 = 100;
/// Hub capacity of the bench server.
const REPLAY_CAPACITY: usize = 4_096;
/// Bytes of data per published event (the publisher's stamp plus padding).
const PAYLOAD: usize = 64;
/// Longest wait for anything; a bench that stalls this long fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(60);

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

async fn open(server: &RunningServer, path: &str) -> SseConnection {
    let uri = server.uri(path);
    tokio::time::timeout(TIMEOUT, connect(&uri, &ConnectOptions::default()))
        .await
        .expect("connected in time")
        .unwrap_or_else(|err| panic!("connecting to {uri}: {err}"))
}

/// Events received by all clients together, and a wake-up for the bench thread.
#[derive(Default)]
struct Delivered {
    events: AtomicU64,
    notify: Notify,
}

impl Delivered {
    async fn wait_for(&self, target: u64) {
        tokio::time::timeout(TIMEOUT, async {
            // `notify_one` stores a permit, so a delivery between the check and the wait is not lost.
            while self.events.load(Ordering::Acquire) < target {
                self.notify.notified().await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "only {} of {target} deliveries arrived",
                self.events.load(Ordering::Acquire)
            )
        });
    }
}

/// One event published in-process, delivered over HTTP to 1, 10, 100 and 1,000 subscribers
/// of `/events`; throughput = deliveries (1 client: single-client events/s).
fn fan_out(c: &mut Criterion, server: &RunningServer) {
    let mut group = c.benchmark_group("e2e/fan_out");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let mut data = Vec::with_capacity(PAYLOAD);
    for clients in [1u64, 10, 100, 1_000] {
        let runtime = client_runtime();
        let delivered = Arc::new(Delivered::default());
        let before = server.hub().subscribers();
        runtime.block_on(async {
            for _ in 0..clients {
                let mut conn = open(server, "/events").await;
                let delivered = Arc::clone(&delivered);
                tokio::spawn(async move {
                    let mut events = 0;
                    while let Ok(true) = conn
                        .read(&mut |item, _| events += u64::from(matches!(item, Item::Event(_))))
                        .await
                    {
                        delivered
                            .events
                            .fetch_add(std::mem::take(&mut events), Ordering::Release);
                        delivered.notify.notify_one();
                    }
                });
            }
        });
        assert_eq!(
            server.hub().subscribers(),
            before + clients as usize,
            "every client subscribed"
        );
        let mut target = 0;
        group.throughput(Throughput::Elements(clients * BATCH));
        group.bench_function(BenchmarkId::from_parameter(clients), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..BATCH {
                            stamp(&mut data, PAYLOAD);
                            server.hub().publish(None, &data).expect("no event name");
                        }
                        target += clients * BATCH;
                        delivered.wait_for(target).await;
                    }
                    start.elapsed()
                })
            });
        });
        // Dropping the runtime drops every client connection; the server notices a closed
        // socket when it next writes to it, so publish until every stale subscriber is gone
        // (they would otherwise cost the next bench writes).
        drop(runtime);
        let deadline = Instant::now() + TIMEOUT;
        while server.hub().subscribers() > before {
            assert!(
                Instant::now() < deadline,
                "closed clients still subscribed after {TIMEOUT:?}"
            );
            server
                .hub()
                .publish(Some("flush"), b"")
                .expect("valid event name");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    group.finish();
}

/// From the start of the TCP connect to the first event of `/sse/finite?count=1`.
fn time_to_first_event(c: &mut Criterion, server: &RunningServer) {
    let runtime = client_runtime();
    c.bench_function("e2e/time_to_first_event", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut conn = open(server, "/sse/finite?count=1&delay=0").await;
                    let mut first = None;
                    while first.is_none()
                        && conn
                            .read(&mut |item, at| {
                                if matches!(item, Item::Event(_)) {
                                    first.get_or_insert(at);
                                }
                            })
                            .await
                            .expect("stream read")
                    {}
                    total += first.expect("one event") - start;
                }
                total
            })
        });
    });
}

/// The whole life of a short stream: connect, first event, and the server's clean end of it.
fn connect_first_event_close(c: &mut Criterion, server: &RunningServer) {
    let runtime = client_runtime();
    c.bench_function("e2e/connect_first_event_close", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut conn = open(server, "/sse/finite?count=1&delay=0").await;
                let mut events = 0;
                while conn
                    .read(&mut |item, _| events += u32::from(matches!(item, Item::Event(_))))
                    .await
                    .expect("stream read")
                {}
                assert_eq!(events, 1);
            });
        });
    });
}

/// From `hub.publish` to the client's parser handing over the event, using the publish time
/// embedded in the data (`t=<unix-nanos>`) and the receive time of the chunk.
fn publish_to_receive(c: &mut Criterion, server: &RunningServer) {
    let runtime = client_runtime();
    let mut conn = runtime.block_on(open(server, "/events"));
    let mut data = Vec::with_capacity(PAYLOAD);
    c.bench_function("e2e/publish_to_receive", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    stamp(&mut data, PAYLOAD);
                    server.hub().publish(None, &data).expect("no event name");
                    let mut latency = None;
                    while latency.is_none() {
                        let mut on_item = |item: Item<'_>, _: Instant| {
                            if let Item::Event(event) = item {
                                let sent = publish_time(event.data).expect("stamped data");
                                latency = Some(Duration::from_nanos(unix_nanos().saturating_sub(sent)));
                            }
                        };
                        let read = conn.read(&mut on_item);
                        let open = tokio::time::timeout(TIMEOUT, read)
                            .await
                            .expect("event in time")
                            .expect("stream read");
                        assert!(open, "the server ended /events");
                    }
                    total += latency.expect("one event");
                }
                total
            })
        });
    });
}

fn e2e(c: &mut Criterion) {
    let server = RunningServer::start(REPLAY_CAPACITY);
    fan_out(c, &server);
    time_to_first_event(c, &server);
    connect_first_event_close(c, &server);
    publish_to_receive(c, &server);
}

criterion_group! {
    name = benches;
    config = support::criterion().sample_size(20);
    targets = e2e
}
criterion_main!(benches);
