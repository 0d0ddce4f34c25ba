//! The naive design most tutorials show: axum's `Sse` over `tokio::sync::broadcast`, an `Event` built per subscriber.
//!
//! The publisher sends each event's data as a `String`; every subscriber's stream clones
//! it, formats its id, and builds and encodes its own `axum::response::sse::Event`. Nothing
//! is shared after the channel, so the per-delivery cost includes an allocation and an
//! encoding per subscriber: the cost the reference server's encode-once design avoids.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures_util::{Stream, StreamExt as _};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use super::{ComparatorCounters, Design, pace};

#[derive(Debug)]
struct Shared {
    events: broadcast::Sender<(u64, String)>,
    counters: ComparatorCounters,
    stop: CancellationToken,
}

/// Serves the naive design until `shutdown` completes.
///
/// # Errors
/// The listener's IO errors.
pub async fn serve<F>(listener: TcpListener, config: sse_server::Config, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (events, _) = broadcast::channel(config.replay_capacity.max(1));
    let shared = Arc::new(Shared {
        events,
        counters: ComparatorCounters::default(),
        stop: CancellationToken::new(),
    });
    if let Some(publisher) = config.publisher {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let stop = shared.stop.clone();
            pace(publisher, stop, |id, data| {
                shared
                    .counters
                    .published
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = shared
                    .events
                    .send((id, String::from_utf8_lossy(data).into_owned()));
            })
            .await;
        });
    }
    let router = Router::new()
        .route("/events", get(subscribe))
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }),
        )
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&shared));
    let stop = shared.stop.clone();
    let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        stop.cancel();
    });
    serving.await
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl axum::response::IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        shared.counters.to_json(Design::Naive),
    )
}

async fn subscribe(State(shared): State<Arc<Shared>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = shared.events.subscribe();
    let stop = shared.stop.clone().cancelled_owned();
    let registered = Registered::new(Arc::clone(&shared));
    let stream = BroadcastStream::new(receiver)
        // A subscriber that fell a whole channel behind is ended, as the reference server does.
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(move |message| {
            // Moved into the stream: counted in `registered_events` until the body is dropped.
            let _registered = &registered;
            let event = message
                .ok()
                .map(|(id, data)| Ok(Event::default().id(id.to_string()).data(data)));
            std::future::ready(event)
        })
        .take_until(stop);
    Sse::new(stream)
}

/// Counts one open stream in `registered_events` while it lives.
#[derive(Debug)]
struct Registered(Arc<Shared>);

impl Registered {
    fn new(shared: Arc<Shared>) -> Self {
        shared
            .counters
            .streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.0
            .counters
            .streams
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
