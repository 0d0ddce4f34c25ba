//! Proves the client's hot path allocation-free: a counting global allocator, counting only on the test's thread.

use std::time::Duration;

use sse_bench::client::{ConnectOptions, Item, Parser, connect};
use sse_server::frame;

#[global_allocator]
static ALLOCATOR: testkit::alloc::Counting = testkit::alloc::Counting;

/// Runs `f` and returns its result with the allocations it made on this thread.
fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let (out, allocations) = testkit::alloc::count(f);
    (out, allocations.count)
}

/// A stream of `n` events with every field the parser handles, plus comments and retry.
fn wire(n: u64) -> Vec<u8> {
    let mut wire = b"\xEF\xBB\xBF".to_vec();
    for i in 1..=n {
        let id = i.to_string();
        let data = format!(
            "line one of {i}\r\nline two\rline three {}",
            "x".repeat((i % 7) as usize * 40)
        );
        let event = if i % 3 == 0 {
            frame::Event::data(data.as_bytes()).event("tick")
        } else {
            frame::Event::data(data.as_bytes())
        };
        wire.extend_from_slice(&event.id(&id).retry(Duration::from_millis(i)).encode().unwrap());
        if i % 5 == 0 {
            wire.extend_from_slice(&frame::PING);
        }
    }
    wire
}

#[test]
fn parser_allocates_nothing_per_event_in_steady_state() {
    const EVENTS: u64 = 2_000;
    let wire = wire(EVENTS);
    // Odd chunk sizes so that lines and CRLF pairs straddle chunk boundaries.
    let chunks: Vec<&[u8]> = wire.chunks(97).collect();
    let (warm, steady) = chunks.split_at(chunks.len() / 4);

    let mut parser = Parser::new();
    let (mut events, mut comments, mut retries, mut id_sum) = (0u64, 0u64, 0u64, 0u64);
    let mut sink = |item: Item<'_>| match item {
        Item::Event(e) => {
            events += 1;
            id_sum += e.id.and_then(sse_bench::client::event_number).unwrap_or(0);
        }
        Item::Comment(_) => comments += 1,
        Item::Retry(_) => retries += 1,
    };
    // Warm-up: the buffers grow to the largest event.
    for chunk in warm {
        parser.feed(chunk, &mut sink);
    }
    let ((), allocations) = count_allocations(|| {
        for chunk in steady {
            parser.feed(chunk, &mut sink);
        }
    });
    assert_eq!(events, EVENTS);
    assert_eq!(retries, EVENTS);
    assert_eq!(comments, EVENTS / 5);
    assert_eq!(id_sum, EVENTS * (EVENTS + 1) / 2);
    assert_eq!(allocations, 0, "the parser allocated in steady state");
}

#[test]
fn counting_allocator_sees_allocations() {
    // The proof above is only as good as the counter: make sure it counts.
    let (boxed, allocations) = count_allocations(|| Box::new(42u64));
    assert_eq!(*boxed, 42);
    assert_eq!(allocations, 1);
}

#[test]
fn reading_a_stream_allocates_nothing_per_event() {
    const EVENTS: u64 = 3_000;
    // The server runs on its own runtime threads; only the client's thread counts.
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(sse_server::Server::new(sse_server::Config::default()).serve(
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("http://{addr}/sse/finite?count={EVENTS}&size=200")
        .parse()
        .unwrap();
    let (chunks, events, allocations) = client_rt.block_on(async {
        let mut stream =
            tokio::time::timeout(Duration::from_secs(20), connect(&url, &ConnectOptions::default()))
                .await
                .expect("connect timed out")
                .unwrap();
        let (mut chunks, mut events) = (0u64, 0u64);
        // Warm-up: the first events size the parser's buffers.
        while events < 100 {
            assert!(
                stream
                    .read(&mut |item, _| events += u64::from(matches!(item, Item::Event(_))))
                    .await
                    .unwrap()
            );
        }
        let before = events;
        let counter = testkit::alloc::Counter::start();
        let read_all = async {
            while stream
                .read(&mut |item, _| events += u64::from(matches!(item, Item::Event(_))))
                .await?
            {
                chunks += 1;
            }
            Ok::<_, sse_bench::client::ClientError>(())
        };
        let result = tokio::time::timeout(Duration::from_secs(20), read_all).await;
        let allocations = counter.stop().count;
        result.expect("stream timed out").unwrap();
        (chunks, events - before, allocations)
    });
    stop_tx.send(()).unwrap();
    server_rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), server).await })
        .unwrap()
        .unwrap()
        .unwrap();

    assert_eq!(events, EVENTS - 100);
    let per_chunk = allocations as f64 / chunks as f64;
    println!("{allocations} allocations over {chunks} chunks ({per_chunk:.2}/chunk) and {events} events");
    // hyper allocates when its read buffer grows (a handful per stream here); the client
    // adds nothing per chunk or per event. One allocation per event or per chunk
    // anywhere on the path would put the count at or above `events`.
    assert!(
        chunks >= 100,
        "the stream arrived in {chunks} chunks; too few to judge"
    );
    assert!(
        allocations < events / 10,
        "{allocations} allocations for {events} events in {chunks} chunks"
    );
}
