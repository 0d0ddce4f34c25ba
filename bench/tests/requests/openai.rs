//! A small OpenAI-style streaming server for tests (no model): `POST /v1/chat/completions` with `"stream": true` answers `max_tokens` chunks, one every 2 ms, then `data: [DONE]`.
//!
//! Requests without `"stream": true` get 400, as the real API answers a non-streaming
//! request differently; without the bearer token, 401.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio_stream::StreamExt as _;

/// Gap between two chunks of an answer.
pub const TOKEN_INTERVAL: Duration = Duration::from_millis(2);

/// A running server.
pub struct Running {
    /// Its address.
    pub addr: SocketAddr,
    /// Completions started.
    pub completions: Arc<AtomicU64>,
}

/// Starts the server on a free loopback port (a background thread, for the test's life).
pub fn start(token: &'static str) -> Running {
    let completions = Arc::new(AtomicU64::new(0));
    let state = (token, Arc::clone(&completions));
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
                .route("/v1/chat/completions", post(completion))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server started");
    Running { addr, completions }
}

async fn completion(
    State((token, completions)): State<(&'static str, Arc<AtomicU64>)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!("Bearer {token}");
    if headers
        .get(header::AUTHORIZATION)
        .is_none_or(|v| v.as_bytes() != expected.as_bytes())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
    };
    if request["stream"] != true {
        return (StatusCode::BAD_REQUEST, "this test server only streams").into_response();
    }
    let tokens = request["max_tokens"].as_u64().unwrap_or(16);
    let n = completions.fetch_add(1, Ordering::Relaxed) + 1;
    let start = tokio::time::Instant::now();
    let chunks = tokio_stream::iter(0..=tokens).then(move |i| async move {
        tokio::time::sleep_until(start + TOKEN_INTERVAL * u32::try_from(i).unwrap_or(0)).await;
        let frame = if i == tokens {
            "data: [DONE]\n\n".to_owned()
        } else {
            format!(
                "data: {{\"id\":\"chatcmpl-{n}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n"
            )
        };
        Ok::<_, Infallible>(Bytes::from(frame))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}
