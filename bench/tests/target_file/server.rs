//! A hub SSE server that is not the reference server, for target-file tests: its own paths, a bearer token, its own publish request, Prometheus process metrics, and a self-publishing ticker.
//!
//! * `GET /api/v1/stream?topic=bench`: the hub stream; 401 without `Authorization: Bearer <token>`,
//!   400 without the `topic` query.
//! * `POST /api/v1/notify?topic=bench`: publishes the body as one event (same token).
//! * `GET /api/v1/ticks`: the server publishes by itself every 10 ms,
//!   data `{"seq":N,"meta":{"sent_ms":<unix ms>}}`.
//! * `GET /healthz`, `GET /prom` (Prometheus text: `process_cpu_seconds_total`, RSS, fds).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Stream requests refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
    /// Stream requests accepted.
    pub streams: AtomicU64,
    /// Events published through `/api/v1/notify`.
    pub published: AtomicU64,
}

#[derive(Clone)]
struct AppState {
    token: Arc<str>,
    hub: broadcast::Sender<Bytes>,
    ids: Arc<AtomicU64>,
    seen: Arc<Seen>,
}

/// A running server: its address and what it saw.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Counters.
    pub seen: Arc<Seen>,
}

/// Starts the server on a free loopback port in a background thread (it lives until the
/// test process exits) and returns once it listens.
pub fn start(token: &str) -> Running {
    let seen = Arc::new(Seen::default());
    let state = AppState {
        token: token.into(),
        hub: broadcast::channel(4096).0,
        ids: Arc::new(AtomicU64::new(0)),
        seen: Arc::clone(&seen),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new()
                .route("/api/v1/stream", get(stream))
                .route("/api/v1/notify", post(notify))
                .route("/api/v1/ticks", get(ticks))
                .route("/healthz", get(|| async { "ok" }))
                .route("/prom", get(prometheus))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("test server started");
    Running { addr, seen }
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", state.token);
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn event_stream(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&state, &headers) {
        state.seen.unauthorized.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    }
    if query.get("topic").is_none_or(|t| t != "bench") {
        return (StatusCode::BAD_REQUEST, "topic=bench expected").into_response();
    }
    state.seen.streams.fetch_add(1, Ordering::Relaxed);
    let frames = BroadcastStream::new(state.hub.subscribe()).filter_map(|r| r.ok().map(Ok::<_, Infallible>));
    event_stream(Body::from_stream(frames))
}

async fn notify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let id = state.ids.fetch_add(1, Ordering::Relaxed) + 1;
    let frame = format!("id: {id}\ndata: {}\n\n", String::from_utf8_lossy(&body));
    let _ = state.hub.send(Bytes::from(frame));
    state.seen.published.fetch_add(1, Ordering::Relaxed);
    (StatusCode::ACCEPTED, format!("{{\"id\":{id}}}")).into_response()
}

async fn ticks() -> Response {
    let started = tokio::time::Instant::now();
    let frames = tokio_stream::iter(1u64..).then(move |seq| async move {
        tokio::time::sleep_until(started + Duration::from_millis(10 * seq)).await;
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        Ok::<_, Infallible>(Bytes::from(format!(
            "id: {seq}\ndata: {{\"seq\":{seq},\"meta\":{{\"sent_ms\":{ms}}}}}\n\n"
        )))
    });
    event_stream(Body::from_stream(frames))
}

async fn prometheus() -> String {
    let stats = sse_server::metrics::ProcessStats::read(None);
    format!(
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
         # TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {}\n\
         # HELP process_resident_memory_bytes Resident memory size in bytes.\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes {}\n\
         # HELP process_open_fds Number of open file descriptors.\n\
         # TYPE process_open_fds gauge\n\
         process_open_fds {}\n",
        stats.cpu_user + stats.cpu_system,
        stats.rss_bytes,
        stats.fds
    )
}
